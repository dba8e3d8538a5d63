"""Stores on real SQLite files and a real PostgreSQL (127.0.0.1:5432, database ``test``).

Each PostgreSQL test gets a schema of its own, dropped afterwards, so tests never see each
other's rows and can run against a database that other things use too.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from bridges.store.store import Store

PG_URL = os.environ.get("PORCH_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'porch.db'}"


#: Tries at dropping a test's schema: a porch process still stopping may hold its tables, and
#: PostgreSQL then ends the drop as a deadlock; the next try finds them free.
_DROP_TRIES = 5


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose connections use a fresh, empty schema.

    Ask for it before any fixture that starts porch, so it is torn down after porch stops.
    """
    schema = f"porch_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        for attempt in range(_DROP_TRIES):
            try:
                with admin.begin() as conn:
                    conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
                break
            except sa.exc.OperationalError:
                if attempt == _DROP_TRIES - 1:
                    raise
                time.sleep(0.5 * (attempt + 1))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store test runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store.open(store_url)
    yield s
    s.close()
