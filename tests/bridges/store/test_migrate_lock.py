"""Processes that start at once migrate a fresh store together: each migration is applied once.

Each racer has its own engine, as separate processes would; a barrier makes them start the run
at the same moment. Without the advisory lock (PostgreSQL) or the version read inside the
write transaction (SQLite) the slower racer fails on a table the faster one just created.
"""

from __future__ import annotations

import threading

import sqlalchemy as sa

from bridges.store.db import Database, available_migrations

RACERS = 4


def test_concurrent_migrations_apply_each_migration_once(store_url: str) -> None:
    databases = [Database(store_url) for _ in range(RACERS)]
    barrier = threading.Barrier(RACERS)
    applied: list[list[int]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def migrate(db: Database) -> None:
        try:
            barrier.wait(10)
            numbers = db.migrate()
        except BaseException as exc:  # reported below, with the racer's own error
            with lock:
                errors.append(exc)
            return
        with lock:
            applied.append(numbers)

    threads = [threading.Thread(target=migrate, args=(db,)) for db in databases]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not errors, errors
        expected = [m.number for m in available_migrations()]
        assert sorted(n for numbers in applied for n in numbers) == expected
        with databases[0].engine.connect() as conn:
            versions = conn.execute(sa.text("SELECT version FROM schema_version")).scalars()
            assert sorted(versions) == expected
        assert all(db.schema_version() == expected[-1] for db in databases)
    finally:
        for db in databases:
            db.close()


def test_a_second_migrate_applies_nothing(store_url: str) -> None:
    db = Database(store_url)
    try:
        assert db.migrate() == [m.number for m in available_migrations()]
        assert db.migrate() == []
    finally:
        db.close()
