"""Reactions and likes, end to end, on links with ``reactions: true`` (off by default).

A like reaction by a Matrix user with a linked forum account is a forum like by that account,
and redacting it takes the like back; a forum like is a 👍 from the liker's ghost. Neither comes
back as an echo.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bridges.model import ForumUsername
from bridges.store.identities import Identity
from tests.e2e.conftest import Linked, is_text
from tests.e2e.forum_helpers import events, porch_store, wait_handled
from tests.rig.matrix import ChatUser
from tests.rig.wait import wait_until

TITLE = "Where should the new bench go?"


def subscribe_to_likes(town: Linked, forum: Any, secret: str) -> None:
    """The admin ticks "Like" in the forum's webhook settings."""
    forum.set_webhook(
        f"{town.porch.url}/discourse/webhook", secret, events={"post", "topic", "like"}
    )


def link_identity(town: Linked, user: ChatUser, username: str) -> None:
    with porch_store(town) as store:
        store.identities.link(Identity(user.user_id, ForumUsername(username), None, "test", 0.0))


def likers(forum: Any, post_id: int) -> int:
    return int(forum.topic(forum.post(post_id)["topic_id"])["like_count"])


def reactions_on(town: Linked, event_id: str) -> list[dict[str, Any]]:
    return [
        e
        for e in events(town)
        if e.get("type") == "m.reaction"
        and e.get("content", {}).get("m.relates_to", {}).get("event_id") == event_id
    ]


def _topic(town: Linked, forum: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    first = forum.create_topic("alice", "town-square", TITLE, "Park gate or library steps?")
    root = town.dana.wait_for_event(town.room, is_text(TITLE))
    return first, root


def test_a_linked_users_like_reaction_likes_the_post_and_redacting_it_unlikes(
    linked: Callable[..., Linked], forum: Any, forum_secret: str
) -> None:
    town = linked(reactions=True)
    subscribe_to_likes(town, forum, forum_secret)
    forum.add_user("carol", name="Carol Chen")
    link_identity(town, town.dana, "carol")
    first, root = _topic(town, forum)

    thumbs = town.dana.react(town.room, root["event_id"], "👍️")
    wait_until(lambda: likers(forum, first["id"]) == 1, 15, "carol's like on the forum")
    liked = [c for c in forum.requests_log() if c.path.startswith("/post_actions")]
    assert [c.api_username for c in liked] == ["carol"]

    # The forum echoes the like as post_liked; it must not come back as carol's ghost's 👍.
    forum.flush_webhooks()
    assert [d.event_name for d in forum.deliveries()][-1] == "post_liked"
    wait_handled(town, "forum.post_liked", "the like's echo to be handled")
    assert [e["sender"] for e in reactions_on(town, root["event_id"])] == [town.dana.user_id]

    town.dana.redact(town.room, thumbs)
    wait_until(lambda: likers(forum, first["id"]) == 0, 15, "the like taken back")


def test_a_forum_like_is_a_thumbs_up_from_the_likers_ghost(
    linked: Callable[..., Linked], forum: Any, forum_secret: str
) -> None:
    town = linked(reactions=True)
    subscribe_to_likes(town, forum, forum_secret)
    first, root = _topic(town, forum)
    forum.like("bob", first["id"])
    reaction = wait_until(
        lambda: reactions_on(town, root["event_id"]), 15, "bob's like as a reaction"
    )[0]
    assert reaction["sender"] == "@forum_bob:localhost"
    assert reaction["content"]["m.relates_to"]["key"] == "👍"
    # The homeserver pushes the ghost's reaction to porch like any event; a message after it
    # in the same room, handled, proves the reaction was dropped at the door, not carried.
    town.dana.send_text(town.room, "Marker after the reaction.")
    wait_handled(town, "matrix.message", "the marker message to be handled")
    with porch_store(town) as store:
        assert [r for r in store.inbox.rows() if r.kind.value == "matrix.reaction"] == []
    assert likers(forum, first["id"]) == 1, "porch's reaction did not come back as a like"


def test_reactions_and_likes_stay_put_when_the_link_does_not_carry_them(
    linked: Callable[..., Linked], forum: Any, forum_secret: str
) -> None:
    town = linked()  # reactions: false is the default
    subscribe_to_likes(town, forum, forum_secret)
    forum.add_user("carol", name="Carol Chen")
    link_identity(town, town.dana, "carol")
    first, root = _topic(town, forum)

    town.dana.react(town.room, root["event_id"], "👍")
    forum.like("bob", first["id"])
    wait_handled(town, "matrix.reaction", "the reaction to be handled")
    wait_handled(town, "forum.post_liked", "the like to be handled")
    assert likers(forum, first["id"]) == 1  # bob's, on the forum
    assert [c for c in forum.requests_log() if c.path.startswith("/post_actions")] == []
    assert [e["sender"] for e in reactions_on(town, root["event_id"])] == [town.dana.user_id]
    with porch_store(town) as store:
        rules = {e.rule for e in store.audit.entries()}
    assert "reactions-off" in rules


def test_reactions_of_unlinked_users_and_other_keys_are_not_carried(
    linked: Callable[..., Linked],
    forum: Any,
    matrix_user_factory: Callable[..., ChatUser],
) -> None:
    town = linked(reactions=True)
    forum.add_user("carol", name="Carol Chen")
    link_identity(town, town.dana, "carol")
    erin = matrix_user_factory()
    erin.join(town.room)
    first, root = _topic(town, forum)

    erin.react(town.room, root["event_id"], "👍")  # no forum account: no anonymous likes
    town.dana.react(town.room, root["event_id"], "🎉")  # not a like
    wait_handled(town, "matrix.reaction", "both reactions to be handled", count=2)
    assert likers(forum, first["id"]) == 0
    with porch_store(town) as store:
        rules = {e.rule for e in store.audit.entries()}
    assert {"reaction-unlinked", "not-a-like"} <= rules
