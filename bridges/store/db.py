"""The database engine and the migration runner."""

from __future__ import annotations

import importlib
import logging
import pkgutil
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy.dialects import postgresql, sqlite

from bridges.store import migrations

log = logging.getLogger(__name__)

_VERSION = sa.table("schema_version", sa.column("version", sa.Integer), sa.column("applied_at"))


@dataclass(frozen=True)
class Migration:
    number: int
    description: str
    module: ModuleType


def available_migrations() -> list[Migration]:
    """The numbered migrations shipped with porch, in order (``mNNNN_name.py``)."""
    found = []
    for info in pkgutil.iter_modules(migrations.__path__):
        if not info.name.startswith("m") or not info.name[1:5].isdigit():
            continue
        module = importlib.import_module(f"{migrations.__name__}.{info.name}")
        found.append(Migration(int(info.name[1:5]), module.DESCRIPTION, module))
    found.sort(key=lambda m: m.number)
    numbers = [m.number for m in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..n without gaps, found {numbers}")
    return found


def create_engine(url: str, pool_size: int = 5) -> sa.Engine:
    """An engine for ``url``: SQLite in WAL mode, or PostgreSQL through psycopg."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, poolclass=sa.NullPool
        )

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            # WAL lets the web process read while the worker writes; a busy timeout instead of
            # "database is locked" when two writers meet.
            _enable_wal(cursor)
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _begin(conn: sa.Connection) -> None:
            # Writers take the write lock at BEGIN so that read-then-write transactions cannot
            # deadlock; readers must not, or every read would queue behind the worker's writes.
            read_only = conn.get_execution_options().get("porch_read_only", False)
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        # pysqlite's own transaction handling would issue a plain BEGIN first.
        @sa.event.listens_for(engine, "connect")
        def _no_pysqlite_begin(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return sa.create_engine(url, pool_size=pool_size, pool_pre_ping=True)


def _enable_wal(cursor: Any) -> None:
    """Switch the file to WAL. The switch needs the file to itself and SQLite reports a
    meeting with another connection at once, without its busy handler, which processes
    opening a fresh file together do: so it is tried again for a while (it is a no-op once
    the file is in WAL, which is persistent)."""
    for attempt in range(100):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 99:
                raise
            time.sleep(0.05)


class Database:
    """Porch's store. Data classes in the sibling modules run their SQL through it."""

    def __init__(self, url: str, pool_size: int = 5) -> None:
        self.url = url
        self.engine = create_engine(url, pool_size=pool_size)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def insert(self, table: sa.TableClause) -> postgresql.Insert | sqlite.Insert:
        """An INSERT in the dialect's own SQL, for ``ON CONFLICT`` (an upsert, or an insert
        that a retry makes once): both of porch's stores speak it."""
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    @contextmanager
    def begin(self) -> Iterator[sa.Connection]:
        """A connection in a transaction that commits on success and rolls back on error."""
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        """A connection in a read-only transaction (on SQLite it takes no write lock)."""
        with self.engine.connect().execution_options(porch_read_only=True) as conn, conn.begin():
            yield conn

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            if not sa.inspect(conn).has_table("schema_version"):
                return 0
            return int(conn.execute(sa.select(sa.func.max(_VERSION.c.version))).scalar() or 0)

    def migrate(self) -> list[int]:
        """Apply every migration newer than the database; returns the numbers applied.

        Each migration commits on its own with its version row, so a crash mid-way resumes at
        the first one that did not finish. Processes starting at once take turns: on
        PostgreSQL under an advisory lock (:meth:`_migration_lock`); on SQLite each migration's
        ``BEGIN IMMEDIATE`` holds the file's write lock, and the version is read again inside
        it, so a migration another process applied meanwhile is skipped.
        """
        with self._migration_lock():
            return self._migrate()

    @contextmanager
    def _migration_lock(self) -> Iterator[None]:
        """On PostgreSQL, a session advisory lock keyed by the schema, held on a connection
        of its own for the whole run; elsewhere nothing."""
        if self.dialect != "postgresql":
            yield
            return
        key = sa.text("SELECT hashtext('porch:migrate:' || current_schema())")
        with self.engine.connect() as conn:
            lock_id = int(conn.execute(key).scalar_one())
            conn.execute(sa.text("SELECT pg_advisory_lock(:id)"), {"id": lock_id})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:id)"), {"id": lock_id})
                conn.commit()

    def _migrate(self) -> list[int]:
        applied = []
        with self.begin() as conn:
            conn.execute(
                sa.text(
                    "CREATE TABLE IF NOT EXISTS schema_version "
                    "(version INTEGER PRIMARY KEY, applied_at FLOAT NOT NULL)"
                )
            )
        current = self.schema_version()
        known = available_migrations()
        if current > len(known):
            raise RuntimeError(
                f"the database is at schema version {current}, newer than this porch "
                f"({len(known)}); upgrade porch instead of running an older one"
            )
        for migration in known[current:]:
            with self.begin() as conn:
                done = conn.execute(sa.select(sa.func.max(_VERSION.c.version))).scalar()
                if done is not None and int(done) >= migration.number:
                    continue  # another process applied it since we looked
                migration.module.upgrade(Operations(MigrationContext.configure(conn)))
                conn.execute(
                    sa.insert(_VERSION).values(version=migration.number, applied_at=time.time())
                )
            log.info("store: applied migration %d (%s)", migration.number, migration.description)
            applied.append(migration.number)
        return applied

    def close(self) -> None:
        self.engine.dispose()
