"""Forum deletions and recoveries, end to end: the Matrix copies are redacted and come back.

Discourse deletes in two ways: staff trash a post
(``post_destroyed``, and ``topic_destroyed`` for a first post); a non-staff author's own delete
only rewrites the post to "(post deleted by author)" (``post_edited`` with ``user_deleted``),
then sends ``post_destroyed`` (and ``topic_destroyed``). The double does both.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import requests

from tests.e2e.conftest import Linked, is_text
from tests.e2e.forum_helpers import edits_of, events, is_redacted, redactions_of
from tests.rig.wait import wait_until
from webhooks.discourse import signature


def _topic_with_reply(town: Linked, forum: Any) -> tuple[dict[str, Any], ...]:
    first = forum.create_topic(
        "alice", "town-square", "Where should the new bench go?", "Park gate or library steps?"
    )
    root = town.dana.wait_for_event(town.room, is_text("Where should the new bench go?"))
    reply = forum.reply("bob", first["topic_id"], "The library steps, where people wait.")
    carried = town.dana.wait_for_event(town.room, is_text("where people wait"))
    return first, root, reply, carried


def _no_self_delete_text(town: Linked) -> bool:
    return not any(
        "deleted by author" in str(e.get("content", {}).get("body", ""))
        or "deleted by author" in str(e.get("content", {}).get("m.new_content", {}))
        for e in events(town)
    )


def test_a_post_deleted_by_staff_is_redacted(linked: Callable[..., Linked], forum: Any) -> None:
    town = linked()
    _first, root, reply, carried = _topic_with_reply(town, forum)
    forum.delete_post(reply["id"])  # by the system user: trashed
    wait_until(lambda: is_redacted(town, carried["event_id"]), 15, "the reply redacted")
    assert not is_redacted(town, root["event_id"])
    assert redactions_of(town, carried["event_id"])[0]["sender"] == "@forum_bob:localhost"


def test_an_authors_own_delete_redacts_once_and_never_shows_as_an_edit(
    linked: Callable[..., Linked], forum: Any
) -> None:
    town = linked()
    _first, root, reply, carried = _topic_with_reply(town, forum)
    forum.delete_post(reply["id"], by="bob")
    names = [e.name for e in forum.events()][-2:]
    assert names == ["post_edited", "post_destroyed"], names
    wait_until(lambda: is_redacted(town, carried["event_id"]), 15, "the reply redacted")
    forum.flush_webhooks()
    # A later post crossing proves the whole self-delete sequence was handled before it.
    forum.reply("alice", _first["topic_id"], "Fine, the park gate then. Thanks all.")
    town.dana.wait_for_event(town.room, is_text("the park gate then"))
    assert len(redactions_of(town, carried["event_id"])) == 1
    assert edits_of(town, carried["event_id"]) == []
    assert _no_self_delete_text(town)
    assert not is_redacted(town, root["event_id"])


def test_an_author_deleting_their_topic_redacts_the_root_once(
    linked: Callable[..., Linked], forum: Any
) -> None:
    town = linked()
    first, root, _reply, _carried = _topic_with_reply(town, forum)
    forum.delete_post(first["id"], by="alice")
    names = [e.name for e in forum.events()][-3:]
    assert names == ["post_edited", "post_destroyed", "topic_destroyed"], names
    wait_until(lambda: is_redacted(town, root["event_id"]), 15, "the root redacted")
    forum.flush_webhooks()
    forum.create_topic("bob", "town-square", "Benches, part two", "Let us start over here.")
    town.dana.wait_for_event(town.room, is_text("Benches, part two"))
    assert len(redactions_of(town, root["event_id"])) == 1
    assert edits_of(town, root["event_id"]) == []
    assert _no_self_delete_text(town)


def test_a_topic_deleted_by_staff_redacts_its_root(
    linked: Callable[..., Linked], forum: Any
) -> None:
    town = linked()
    first, root, _reply, _carried = _topic_with_reply(town, forum)
    forum.delete_post(first["id"])
    assert [e.name for e in forum.events()][-2:] == ["post_destroyed", "topic_destroyed"]
    wait_until(lambda: is_redacted(town, root["event_id"]), 15, "the root redacted")
    assert redactions_of(town, root["event_id"])[0]["sender"] == "@forum_alice:localhost"


def test_a_recovered_post_is_carried_again_and_follows_later_edits(
    linked: Callable[..., Linked], forum: Any
) -> None:
    town = linked()
    _first, root, reply, carried = _topic_with_reply(town, forum)
    forum.delete_post(reply["id"])
    wait_until(lambda: is_redacted(town, carried["event_id"]), 15, "the reply redacted")

    forum.recover_post(reply["id"])
    again = town.dana.wait_for_event(
        town.room,
        lambda e: is_text("where people wait")(e) and e["event_id"] != carried["event_id"],
        what="the recovered reply",
    )
    assert again["sender"] == "@forum_bob:localhost"
    assert again["content"]["m.relates_to"]["event_id"] == root["event_id"]

    # The mapping now points at the new event: an edit replaces it, not the redacted one.
    forum.edit_post(reply["id"], "The library steps, and a second bench by the pond.")
    edit = wait_until(lambda: edits_of(town, again["event_id"]), 15, "the edit of the copy")
    assert "by the pond" in edit[-1]["content"]["m.new_content"]["body"]
    assert edits_of(town, carried["event_id"]) == []


def test_an_authors_recovered_topic_gets_a_new_root_that_later_replies_follow(
    linked: Callable[..., Linked], forum: Any
) -> None:
    town = linked()
    first, root, _reply, _carried = _topic_with_reply(town, forum)
    forum.delete_post(first["id"], by="alice")
    wait_until(lambda: is_redacted(town, root["event_id"]), 15, "the root redacted")

    forum.recover_post(first["id"], by="alice")
    new_root = town.dana.wait_for_event(
        town.room,
        lambda e: (
            is_text("Where should the new bench go?")(e) and e["event_id"] != root["event_id"]
        ),
        what="the recovered root",
    )
    assert "m.relates_to" not in new_root["content"]
    assert _no_self_delete_text(town)
    forum.reply("bob", first["topic_id"], "Glad this topic is back, the pond it is.")
    later = town.dana.wait_for_event(town.room, is_text("Glad this topic is back"))
    assert later["content"]["m.relates_to"]["event_id"] == new_root["event_id"]


def test_the_deleted_by_author_rewrite_is_not_shown_even_before_user_deleted_is_set(
    linked: Callable[..., Linked], forum: Any, forum_secret: str
) -> None:
    """Discourse's ``PostDestroyer`` revises the post before it sets ``user_deleted``, so the
    ``post_edited`` may carry the "(post deleted by author)" text with ``user_deleted: false``.
    The double sets it first; this sends the other order to porch's door itself."""
    town = linked()
    _first, _root, reply, carried = _topic_with_reply(town, forum)
    post = forum.post(reply["id"])
    post.update(
        raw="(post deleted by author)",
        cooked="<p>(post deleted by author)</p>",
        version=post["version"] + 1,
        user_deleted=False,
    )
    body = json.dumps({"post": post}).encode()
    answer = requests.post(
        f"{town.porch.url}/discourse/webhook",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-Discourse-Event": "post_edited",
            "X-Discourse-Event-Type": "post",
            "X-Discourse-Event-Id": "900001",
            "X-Discourse-Event-Signature": signature(forum_secret, body),
        },
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    wait_until(lambda: is_redacted(town, carried["event_id"]), 15, "the reply redacted")
    assert edits_of(town, carried["event_id"]) == []
    assert _no_self_delete_text(town)
