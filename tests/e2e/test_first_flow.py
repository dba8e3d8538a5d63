"""A forum topic appears as a Matrix thread, its replies inside it, each from its author's ghost.

Real Synapse, real Matrix client, the Discourse double posting signed webhooks to a real
``porch serve`` process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.e2e.conftest import Linked, is_text
from tests.rig.wait import wait_until


def messages_matching(linked: Linked, contains: str) -> list[dict[str, Any]]:
    return [e for e in linked.dana.room_messages(linked.room, limit=200) if is_text(contains)(e)]


def test_topic_becomes_a_thread_and_replies_land_inside_it(
    linked: Callable[..., Linked], forum: Any
) -> None:
    town = linked()
    first = forum.create_topic(
        "alice",
        "town-square",
        "Where should the new bench go?",
        "The council has one bench to place: park gate or library steps?",
    )
    root = town.dana.wait_for_event(town.room, is_text("Where should the new bench go?"))
    assert root["sender"] == "@forum_alice:localhost"
    body = root["content"]["body"]
    assert "park gate or library steps?" in body
    topic_url = f"{forum.base_url}/t/{first['topic_slug']}/{first['topic_id']}"
    assert topic_url in body
    assert "<strong>Where should the new bench go?</strong>" in root["content"]["formatted_body"]
    assert town.dana.profile("@forum_alice:localhost")["displayname"].startswith("Alice")

    forum.reply("bob", first["topic_id"], "Library steps: people wait there for the bus.")
    reply = town.dana.wait_for_event(town.room, is_text("Library steps"))
    assert reply["sender"] == "@forum_bob:localhost"
    relation = reply["content"]["m.relates_to"]
    assert relation["rel_type"] == "m.thread"
    assert relation["event_id"] == root["event_id"]


def test_a_reply_to_a_carried_post_is_a_real_reply_in_the_thread(
    linked: Callable[..., Linked], forum: Any
) -> None:
    town = linked()
    first = forum.create_topic(
        "alice", "town-square", "Opening hours of the library", "Should it open on Sundays?"
    )
    forum.reply("bob", first["topic_id"], "Yes, Sunday afternoons at least.")
    bob = town.dana.wait_for_event(town.room, is_text("Sunday afternoons"))
    forum.reply(
        "alice", first["topic_id"], "Agreed with Bob on the afternoons.", reply_to_post_number=2
    )
    answer = town.dana.wait_for_event(town.room, is_text("Agreed with Bob"))
    relation = answer["content"]["m.relates_to"]
    assert relation["rel_type"] == "m.thread"
    assert relation["is_falling_back"] is False
    assert relation["m.in_reply_to"]["event_id"] == bob["event_id"]


def test_a_category_that_is_not_linked_stays_on_the_forum(
    linked: Callable[..., Linked], forum: Any
) -> None:
    town = linked()
    forum.add_category("staff-room", "Staff room")
    forum.create_topic(
        "alice", "staff-room", "Budget draft for next year", "Not for the public yet."
    )
    forum.create_topic("alice", "town-square", "Street party in June", "Who is in for the party?")
    town.dana.wait_for_event(town.room, is_text("Street party in June"))
    # The unlinked topic was delivered first; the linked one arriving proves the worker passed it.
    assert messages_matching(town, "Budget draft") == []


def test_a_forum_to_chat_link_does_not_carry_chat_messages_back(
    linked: Callable[..., Linked], forum: Any
) -> None:
    town = linked(direction="forum-to-chat")
    first = forum.create_topic(
        "alice", "town-square", "Bike lanes on Main Street", "Paint or kerbs, what do you think?"
    )
    root = town.dana.wait_for_event(town.room, is_text("Bike lanes on Main Street"))
    town.dana.send_text(
        town.room, "Kerbs, paint does not stop cars.", thread_root=root["event_id"]
    )
    forum.reply("bob", first["topic_id"], "Kerbs are expensive but they work.")
    town.dana.wait_for_event(town.room, is_text("Kerbs are expensive"))
    audit = town.porch.cli("status")
    assert audit.returncode == 0, audit.stderr
    assert all("Kerbs, paint" not in p["raw"] for p in forum.posts(first["topic_id"]))


def test_event_acknowledged_before_a_crash_is_delivered_once_after_restart(
    linked: Callable[..., Linked], forum: Any
) -> None:
    """The web process acknowledges and dies (SIGKILL) before any worker delivered the event."""
    town = linked(start=False)
    town.porch.start("--role", "web")
    first = forum.create_topic(
        "alice", "town-square", "Lost cat near the station", "Grey, answers to Miso. Seen her?"
    )
    forum.flush_webhooks(timeout=10)
    assert [d for d in forum.deliveries() if d["status"] == 200], forum.deliveries()
    town.porch.kill()
    assert messages_matching(town, "Lost cat near the station") == []

    town.porch.start()
    town.dana.wait_for_event(town.room, is_text("Lost cat near the station"), timeout=20)
    forum.reply("bob", first["topic_id"], "Saw a grey cat by the bakery an hour ago.")
    town.dana.wait_for_event(town.room, is_text("grey cat by the bakery"))
    assert len(messages_matching(town, "Lost cat near the station")) == 1
    status = town.porch.cli("status")
    assert status.returncode == 0, status.stderr


def test_worker_killed_mid_burst_delivers_each_post_once_in_order(
    linked: Callable[..., Linked], forum: Any
) -> None:
    """SIGKILL of the worker while a burst is being delivered; the web process keeps accepting."""
    town = linked(start=False)
    town.porch.start("--role", "web")
    worker = town.porch.sibling("worker")
    worker.start("--role", "worker")
    first = forum.create_topic(
        "alice", "town-square", "Ideas for the summer fair", "Post one idea per reply, please."
    )
    town.dana.wait_for_event(town.room, is_text("Ideas for the summer fair"))
    for n in range(50):
        forum.reply("bob", first["topic_id"], f"Fair idea number {n:02d}: something fun for all.")
    wait_until(lambda: len(messages_matching(town, "Fair idea number")) >= 3, 20, "a few ideas")
    worker.kill()
    crossed_before_restart = len(messages_matching(town, "Fair idea number"))
    assert crossed_before_restart < 50, "the burst finished before the kill; nothing was tested"
    worker.start("--role", "worker")
    wait_until(lambda: len(messages_matching(town, "Fair idea number")) >= 50, 60, "all 50 ideas")
    bodies = [e["content"]["body"] for e in messages_matching(town, "Fair idea number")]
    numbers = [b.split("Fair idea number ")[1][:2] for b in bodies]
    assert numbers == [f"{n:02d}" for n in range(50)], numbers
