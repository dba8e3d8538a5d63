"""Retraction, end to end: a real Synapse, the Discourse double and a ``porch serve`` process.

What porch carried into a room is taken back, every copy of it, when it may no longer be shown
there, and the audit log says why:

- a topic published from behind the wall (tagged for publication), moved back behind it;
- a topic unlisted; nothing more of it is carried, not even once it is listed again;
- a post hidden by flags;
- a topic deleted: every post's copy, not only the root; recovered, it comes back whole.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bridges.store.audit import AuditEntry
from tests.e2e.chat_side import audit_entries
from tests.e2e.conftest import BOT, Linked, is_text
from tests.e2e.forum_helpers import (
    edits_of,
    events,
    is_redacted,
    redactions_of,
    wait_handled,
)
from tests.e2e.test_boundary import PUBLISH_TAGGED
from tests.rig.wait import wait_until


def _retracted(town: Linked) -> list[AuditEntry]:
    return [e for e in audit_entries(town.porch) if e.outcome == "retracted"]


def _bodies(town: Linked) -> list[str]:
    return [
        str(e.get("content", {}).get("body", ""))
        for e in events(town)
        if e.get("type") == "m.room.message"
    ]


def _carry_topic(
    town: Linked, forum: Any, author: str, category: str, title: str, tags: tuple[str, ...] = ()
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A topic with two replies, carried: its first post and the three copies."""
    first = forum.create_topic(author, category, title, f"{title}: the first post.", tags=tags)
    root = town.dana.wait_for_event(town.room, is_text(title), timeout=30)
    copies = [root]
    for n, text in enumerate(("First reply, about the park.", "Second reply, about the pond.")):
        forum.reply(author, first["topic_id"], text)
        copies.append(town.dana.wait_for_event(town.room, is_text(text.split(",")[0]), timeout=30))
        assert len(copies) == n + 2
    return first, copies


def _all_redacted(town: Linked, copies: list[dict[str, Any]]) -> bool:
    return all(is_redacted(town, c["event_id"]) for c in copies)


def test_a_published_topic_moved_back_behind_the_wall_is_redacted_everywhere(
    linked: Callable[..., Linked], forum: Any
) -> None:
    forum.add_user("sam", name="Sam Sterling", moderator=True)
    forum.add_category("staff-room", "Staff room", read_restricted=True)
    forum.add_category("board-room", "Board room", read_restricted=True)
    town = linked(start=False, forum={"category": "staff-room"}, policy="publish-tagged")
    town.porch.data["policies"] = {"publish-tagged": PUBLISH_TAGGED}
    town.porch.write()
    town.porch.start()

    first, copies = _carry_topic(
        town, forum, "sam", "staff-room", "Library opening hours from April", ("publish",)
    )
    assert all(c["sender"] == BOT for c in copies), "published anonymised"

    forum.move_topic(first["topic_id"], "board-room")
    wait_until(lambda: _all_redacted(town, copies), 30, "every copy of the topic redacted")
    (entry,) = _retracted(town)
    assert (entry.outcome, entry.rule, entry.actor) == ("retracted", "retract-moved", "porch")
    assert "refused by boundary" in str(entry.detail) and "3 copies" in str(entry.detail)
    # Each copy is redacted once, by the account that sent it.
    for copy in copies:
        (redaction,) = redactions_of(town, copy["event_id"])
        assert redaction["sender"] == BOT

    # Behind the wall it goes on; nothing of it is carried again, not even once it is back
    # where it was published from (half a topic would show).
    forum.reply("sam", first["topic_id"], "A third reply, now among the board only.")
    forum.move_topic(first["topic_id"], "staff-room")
    forum.reply("sam", first["topic_id"], "A fourth reply, back in the staff room.")
    wait_handled(town, "forum.post_created", "the later replies decided", count=5, timeout=30)
    assert not any("among the board" in b or "fourth reply" in b for b in _bodies(town))
    assert len(_retracted(town)) == 1


def test_an_unlisted_topic_is_redacted_and_not_carried_half_when_listed_again(
    linked: Callable[..., Linked], forum: Any
) -> None:
    town = linked()
    first, copies = _carry_topic(town, forum, "alice", "town-square", "Where should the bench go?")
    forum.edit_post(_post_id(forum, first["topic_id"], 2), "First reply, about the park gate.")
    (edit,) = wait_until(lambda: edits_of(town, copies[1]["event_id"]), 30, "the edit carried")

    forum.set_topic_visible(first["topic_id"], False)
    wait_until(lambda: _all_redacted(town, copies), 30, "every copy of the topic redacted")
    # An edit holds the text it brought: it goes too.
    assert is_redacted(town, edit["event_id"])
    (entry,) = _retracted(town)
    assert entry.rule == "retract-unlisted"
    assert "unlisted" in str(entry.detail)

    forum.set_topic_visible(first["topic_id"], True)
    forum.reply("bob", first["topic_id"], "Listed again: the library steps, surely.")
    wait_handled(town, "forum.post_created", "the reply after listing", count=4, timeout=30)
    assert not any("Listed again" in body for body in _bodies(town)), "half a topic"
    withdrawn = [e for e in audit_entries(town.porch) if e.rule == "withdrawn"]
    assert withdrawn and "unlisted" in str(withdrawn[-1].detail)


def test_a_hidden_post_is_redacted(linked: Callable[..., Linked], forum: Any) -> None:
    town = linked()
    first, copies = _carry_topic(town, forum, "alice", "town-square", "Parking on Mill Lane")
    root, reply, other = copies

    forum.hide_post(_post_id(forum, first["topic_id"], 2))
    wait_until(lambda: is_redacted(town, reply["event_id"]), 30, "the hidden reply redacted")
    (entry,) = _retracted(town)
    assert entry.rule == "retract-hidden"
    assert not is_redacted(town, root["event_id"]) and not is_redacted(town, other["event_id"])


def test_a_deleted_topic_has_every_posts_copy_redacted(
    linked: Callable[..., Linked], forum: Any
) -> None:
    town = linked()
    first, copies = _carry_topic(town, forum, "alice", "town-square", "Summer fair stalls")

    forum.delete_post(first["id"])
    wait_until(lambda: _all_redacted(town, copies), 30, "every copy of the topic redacted")
    rules = sorted(e.rule for e in _retracted(town))
    assert rules == ["retract-deleted", "retract-topic-deleted"], rules
    for copy in copies:
        assert len(redactions_of(town, copy["event_id"])) == 1


def test_a_recovered_topic_comes_back_whole(linked: Callable[..., Linked], forum: Any) -> None:
    """A deletion is not a withdrawal: the forum's undo carries the topic again, all of it."""
    town = linked()
    first, copies = _carry_topic(town, forum, "alice", "town-square", "Lost and found in the park")
    forum.delete_post(first["id"])
    wait_until(lambda: _all_redacted(town, copies), 30, "every copy of the topic redacted")

    forum.recover_post(first["id"])
    old = {c["event_id"] for c in copies}
    again = [
        town.dana.wait_for_event(
            town.room,
            lambda e, text=text: is_text(text)(e) and e["event_id"] not in old,
            what=f"{text!r} carried again",
        )
        for text in ("Lost and found in the park", "First reply", "Second reply")
    ]
    root = again[0]["event_id"]
    assert [e["content"]["m.relates_to"]["event_id"] for e in again[1:]] == [root, root]


def _post_id(forum: Any, topic_id: int, post_number: int) -> int:
    return int(next(p["id"] for p in forum.posts(topic_id) if p["post_number"] == post_number))
