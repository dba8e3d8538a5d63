"""A linked category closed by its admin takes back what porch carried from it into a more
open room (when the link's policy publishes nothing that way). The relay, a real store, the
double and a real homeserver."""

from __future__ import annotations

from collections.abc import Callable

from sandbox.forum import SandboxForum
from tests.bridges.relay.forum_to_chat.test_forum_retraction_props import Bench, bench  # noqa: F401


def _bodies(relay: Bench) -> list[str]:
    return [
        str(e["content"].get("body"))
        for e in relay.dana.room_messages(relay.room)
        if e.get("type") == "m.room.message" and e.get("content")
    ]


def test_a_category_closed_to_the_room_has_its_topics_retracted(
    bench: Callable[..., Bench],  # noqa: F811  (the fixture imported above)
    forum: SandboxForum,
) -> None:
    relay = bench(None, None, {"staff": "town-square"})
    relay.carried_topic()
    assert len(_bodies(relay)) == 2

    forum.set_category_security(
        "town-square", read_restricted=True, group_permissions={"staff": 1}
    )
    relay.deliver()
    assert _bodies(relay) == []
    (entry,) = [e for e in relay.store.audit.entries() if e.outcome == "retracted"]
    assert entry.rule == "retract-withdrawn"
    assert "the category is now private and the room open" in str(entry.detail)
    assert "2 copies" in str(entry.detail)
