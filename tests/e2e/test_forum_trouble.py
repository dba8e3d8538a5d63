"""Forum -> chat under trouble: the homeserver goes down in the middle of a burst.

Porch keeps acknowledging the forum's webhooks (its door needs only its store) and the worker
retries with backoff until the homeserver is back; every post then shows once, in order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.e2e.conftest import Linked, is_text
from tests.e2e.forum_helpers import events, porch_store
from tests.rig.wait import wait_until

IDEA = "Bench idea number "


def ideas(town: Linked) -> list[str]:
    return [
        e["content"]["body"].split(IDEA)[1][:2]
        for e in events(town, limit=300)
        if is_text(IDEA)(e)
    ]


def test_homeserver_stopped_mid_burst_every_post_arrives_once_in_order(
    linked: Callable[..., Linked], forum: Any, synapse: Any
) -> None:
    town = linked()
    first = forum.create_topic(
        "alice", "town-square", "Ideas for the new benches", "One idea per reply, please."
    )
    town.dana.wait_for_event(town.room, is_text("Ideas for the new benches"))
    for n in range(50):
        forum.reply("bob", first["topic_id"], f"{IDEA}{n:02d}: something for everyone.")
    wait_until(lambda: len(ideas(town)) >= 3, 20, "a few ideas to cross")
    synapse.stop()
    try:
        # The forum's deliveries keep being accepted while the homeserver is away.
        forum.flush_webhooks(timeout=30)
        replies = [d for d in forum.deliveries() if d.event_name == "post_created"]
        assert len(replies) == 51 and all(d.status == 200 for d in replies)
        with porch_store(town) as store:
            waiting = [r for r in store.inbox.rows("pending") if r.kind.value.startswith("forum.")]
        assert waiting, "the burst finished before the homeserver stopped; nothing was tested"
        wait_until(lambda: _retried(town), 20, "the worker to try and fail while it is down")
        with porch_store(town) as store:
            # Waiting out an outage is not the event's failure: it never nears a dead letter.
            assert all(r.attempts == 0 for r in store.inbox.rows("pending"))
    finally:
        synapse.start()
    wait_until(lambda: len(ideas(town)) >= 50, 90, "all 50 ideas after the restart")
    assert ideas(town) == [f"{n:02d}" for n in range(50)]
    with porch_store(town) as store:
        assert store.inbox.rows("dead") == []


def _retried(town: Linked) -> bool:
    with porch_store(town) as store:
        return any(
            r.last_error and "homeserver unreachable" in r.last_error
            for r in store.inbox.rows("pending")
        )
