from __future__ import annotations

import sqlalchemy as sa

from bridges.store.db import Database, available_migrations


def test_migrations_are_numbered_without_gaps_and_described() -> None:
    migrations = available_migrations()
    assert [m.number for m in migrations] == list(range(1, len(migrations) + 1))
    assert all(m.description for m in migrations)


def test_migrating_twice_applies_each_migration_once(store_url: str) -> None:
    db = Database(store_url)
    try:
        applied = db.migrate()
        assert applied == [m.number for m in available_migrations()]
        assert db.migrate() == []
        assert db.schema_version() == len(available_migrations())
        tables = set(sa.inspect(db.engine).get_table_names())
        assert {"inbox", "inbox_keys", "as_transactions", "threads", "messages"} <= tables
        assert {"identities", "audit", "ghosts", "media", "schema_version"} <= tables
    finally:
        db.close()


def test_a_database_newer_than_porch_is_refused(store_url: str) -> None:
    db = Database(store_url)
    try:
        db.migrate()
        with db.begin() as conn:
            conn.execute(sa.text("INSERT INTO schema_version VALUES (999, 0)"))
        try:
            db.migrate()
        except RuntimeError as exc:
            assert "newer than this porch" in str(exc)
        else:
            raise AssertionError("an unknown schema version must stop porch")
    finally:
        db.close()


def test_sqlite_runs_in_wal_mode(tmp_path: object) -> None:
    db = Database(f"sqlite:///{tmp_path}/wal.db")
    try:
        with db.read() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        db.close()
