"""Two workers saving the same ghost or upload at the same moment, on both stores.

One worker's insert is held open in its own transaction while the other saves the same key:
on PostgreSQL the second save then waits on the row's unique index, which is exactly where a
read-then-insert used to fail with an IntegrityError.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa

from bridges.model import ContentURI, UserID
from bridges.store.profiles import Ghost, ghosts, media
from bridges.store.store import Store
from tests.rig.wait import wait_until


@pytest.fixture
def other(store_url: str, store: Store) -> Iterator[Store]:
    """A second process's store on the same database (``store`` has migrated it)."""
    s = Store.open(store_url)
    yield s
    s.close()


def _while_held(
    store: Store, insert: sa.Insert, table: str, save: Callable[[], None]
) -> list[BaseException]:
    """Run ``save`` in a thread while ``insert`` sits uncommitted; returns what it raised."""
    raised: list[BaseException] = []

    def run() -> None:
        try:
            save()
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=run)
    with store.db.begin() as conn:
        conn.execute(insert)
        thread.start()
        if store.db.dialect == "postgresql":
            wait_until(lambda: _waiting_on_lock(store, table), 30, f"the save into {table}")
    thread.join(30)
    assert not thread.is_alive()
    return raised


def _waiting_on_lock(store: Store, table: str) -> bool:
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND query LIKE :q AND datname = current_database()"
    )
    with store.db.read() as conn:
        return bool(conn.execute(query, {"q": f"INSERT INTO {table}%"}).scalar())


def test_two_workers_saving_one_upload_keep_the_first(store: Store, other: Store) -> None:
    url = "http://forum/uploads/a.png"
    first = sa.insert(media).values(source_url=url, content_uri="mxc://x/first", created_at=1.0)
    raised = _while_held(
        store,
        first,
        "media",
        lambda: other.profiles.save_media(url, ContentURI("mxc://x/second"), now=2.0),
    )
    assert raised == []
    assert store.profiles.media_for(url) == "mxc://x/first"


def test_two_workers_saving_one_new_ghost_keep_the_latest(store: Store, other: Store) -> None:
    user = UserID("@forum_alice:x")
    first = sa.insert(ghosts).values(user_id=user, displayname="Alice (forum)", registered_at=1.0)
    later = Ghost(user, "Alice A. (forum)", "http://forum/a.png", ContentURI("mxc://x/a"))
    raised = _while_held(store, first, "ghosts", lambda: other.profiles.save_ghost(later, 2.0))
    assert raised == []
    assert store.profiles.ghost(user) == later
