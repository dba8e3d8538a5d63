"""Retention end to end: ``porch serve`` prunes its store as it runs, on SQLite and PostgreSQL.

An old finished event's text and an audit entry past ``store.retention.audit_days`` are gone
shortly after porch starts, without ``porch prune``; the event's row and key stay, so its
redelivery is still known.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bridges.model import EventKind, Platform
from bridges.store.audit import AuditEntry
from bridges.store.inbox import NewEvent
from bridges.store.retention import DAY
from bridges.store.store import Store
from tests.e2e.conftest import Linked
from tests.rig.wait import wait_until

OLD = NewEvent(
    source=Platform.CHAT,
    kind=EventKind.CHAT_MESSAGE,
    conversation="matrix:room:!gone:localhost",
    payload='{"body": "what ann wrote a long time ago"}',
    keys=("matrix:event:$long-ago",),
)


def test_a_running_porch_prunes_old_text_and_old_audit_entries(
    linked: Callable[..., Linked], store_url: str
) -> None:
    town = linked(start=False, store_url=store_url)
    now = time.time()
    store = Store.open(store_url)
    try:
        (old,) = store.inbox.append([OLD], now - 10 * DAY)
        assert old is not None
        store.inbox.complete(old, now - 8 * DAY)
        store.audit.record(
            AuditEntry(now - 400 * DAY, old, "town", "carried", "direction", "b-1", "ann")
        )
        town.porch.start()

        def pruned() -> bool:
            row = store.inbox.get(old)
            return row is not None and row.payload == "" and not store.audit.entries(old)

        wait_until(pruned, 30, "porch to prune the old event's text and audit entry")
        assert store.inbox.append([OLD], time.time()) == [None], "still known as recorded"
    finally:
        store.close()
