"""A retraction interrupted by a crash is finished by the retry, and nothing is redacted twice:
the relay, a real store, the Discourse double and a real homeserver."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import sqlalchemy as sa

from bridges.model import EventKind
from sandbox.forum import SandboxForum
from tests.bridges.relay.forum_to_chat.test_forum_retraction_props import Bench, bench  # noqa: F401


def _redactions(relay: Bench) -> dict[str, int]:
    counts: dict[str, int] = {}
    for event in relay.dana.room_messages(relay.room, limit=200):
        if event.get("type") == "m.room.redaction":
            target = str(event.get("redacts") or event.get("content", {}).get("redacts"))
            counts[target] = counts.get(target, 0) + 1
    return counts


def _copies(relay: Bench) -> list[Any]:
    with relay.store.db.read() as conn:
        return list(conn.execute(sa.text("SELECT event_id, redacted FROM messages")))


def test_a_retry_after_a_crash_finishes_the_retraction_without_redacting_twice(
    bench: Callable[..., Bench],  # noqa: F811  (the fixture imported above)
    forum: SandboxForum,
) -> None:
    relay = bench(None, None, {"staff": "town-square"})
    topic_id = relay.carried_topic()
    assert [redacted for _, redacted in _copies(relay)] == [False, False]

    forum.set_topic_visible(topic_id, False)
    relay.deliver()
    copies = _copies(relay)
    assert all(redacted for _, redacted in copies)
    assert _redactions(relay) == {event_id: 1 for event_id, _ in copies}

    # The worker died after the redactions and before it recorded them; the homeserver has
    # forgotten the transaction ids by the time the event is tried again (a new id here).
    with relay.store.db.begin() as conn:
        conn.execute(sa.text("UPDATE messages SET redacted = false"))
        conn.execute(sa.text("DELETE FROM retractions"))
    (row,) = [r for r in relay.store.inbox.rows() if r.kind is EventKind.TOPIC_EDITED]
    relay.worker.handler.handle(replace(row, id=row.id + 1000, last_error="worker crashed"))
    assert all(redacted for _, redacted in _copies(relay))
    assert _redactions(relay) == {event_id: 1 for event_id, _ in copies}
    withdrawn = [e for e in relay.store.audit.entries() if e.outcome == "retracted"]
    assert [e.rule for e in withdrawn] == ["retract-unlisted", "retract-unlisted"]
