"""The review queue end to end: a real Synapse, the Discourse double and ``porch serve``.

- A forum topic held by a crossing policy is announced in the moderators room and reaches the
  linked room only once a moderator approves it with a reaction (a member below the power
  level cannot); it arrives once.
- A chat message held the same way and rejected with ``!reject`` never reaches the forum; its
  sender is told.
- A held message approved on porch's ``/review`` page is delivered.
- A message porch posted as its linked sender that the forum queued for its own moderators is
  known as the message's copy once approved there: not carried back into the room.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import requests

from bridges.model import LinkName, Platform, PostID
from bridges.review.desk import decide
from bridges.store.audit import AuditEntry
from bridges.store.review import APPROVED
from tests.e2e.chat_side import (
    audit_entries,
    link_identity,
    open_thread,
    porch_store,
    wait_for_post,
)
from tests.e2e.conftest import BOT, Linked, is_text
from tests.e2e.forum_helpers import wait_handled
from tests.rig.matrix import ChatUser
from tests.rig.porch import PorchProcess
from tests.rig.wait import wait_until

TOKEN = "moderator-token-3c9e1a7f5b2d8046e1c3a5f7b9d0e2c4"


def _with_review(town: Linked, room: str, policy: dict[str, Any] | None = None) -> None:
    data = town.porch.data
    if policy is not None:
        data["policies"] = {"held": policy}
        data["links"][0]["policy"] = "held"
    data["moderation"] = {"review": {"room": room, "moderators": {"mona": TOKEN}}}
    town.porch.write()
    town.porch.start()


def _moderators(dana: ChatUser, others: list[ChatUser] = ()) -> str:  # type: ignore[assignment]
    room = dana.create_room(name="Moderators", preset="private_chat")
    dana.invite(room, BOT)
    for other in others:
        dana.invite(room, other.user_id)
        other.join(room)
    return room


def _entries(porch: PorchProcess, outcome: str) -> list[AuditEntry]:
    return [e for e in audit_entries(porch) if e.outcome == outcome]


def _notice(user: ChatUser, room: str, number: int) -> dict[str, Any]:
    return user.wait_for_event(
        room,
        is_text(f"Held for review #{number}:"),
        timeout=30,
        what=f"the notice of held message #{number}",
    )


def _texts(user: ChatUser, room: str, contains: str) -> list[dict[str, Any]]:
    return [e for e in user.room_messages(room, limit=100) if is_text(contains)(e)]


def test_a_held_topic_crosses_once_a_moderator_approves_it_by_reaction(
    linked: Callable[..., Linked],
    matrix_user_factory: Callable[..., ChatUser],
    forum: Any,
) -> None:
    town = linked(start=False)
    eve = matrix_user_factory()
    mods = _moderators(town.dana, [eve])
    _with_review(town, mods, {"forum-to-chat": {"action": "hold"}})

    forum.create_topic(
        "alice", "town-square", "A bench by the library", "Shall we ask the council for one?"
    )
    notice = _notice(town.dana, mods, 1)
    assert notice["sender"] == BOT
    assert "Shall we ask the council for one?" in notice["content"]["body"]
    assert "from alice" in notice["content"]["body"]
    (held,) = _entries(town.porch, "held")
    assert (held.rule, held.actor) == ("policy:held/forum-to-chat", "alice")

    # Someone in the room without a moderator's power level cannot decide.
    eve.react(mods, notice["event_id"], "✅")
    town.dana.wait_for_text(mods, "only members with power level 50", timeout=30)
    assert not _texts(town.dana, town.room, "A bench by the library")

    town.dana.react(mods, notice["event_id"], "✅")
    town.dana.wait_for_event(town.room, is_text("A bench by the library"), timeout=30)
    town.dana.wait_for_text(mods, "Approved #1", timeout=30)
    (approved,) = _entries(town.porch, "approved")
    assert approved.actor == town.dana.user_id, "the moderator, not the bot"
    assert approved.rule == "policy:held/forum-to-chat"
    (carried,) = _entries(town.porch, "carried")
    assert "approved by " + town.dana.user_id in str(carried.detail)
    # A second approval changes nothing: the topic arrived once.
    town.dana.react(mods, notice["event_id"], "✔️")
    wait_handled(town, "matrix.reaction", "the second reaction", timeout=30)
    assert len(_texts(town.dana, town.room, "A bench by the library")) == 1


def test_a_held_chat_message_rejected_by_command_never_reaches_the_forum(
    linked: Callable[..., Linked], forum: Any
) -> None:
    town = linked(start=False)
    mods = _moderators(town.dana)
    _with_review(
        town,
        mods,
        {"forum-to-chat": {"action": "allow"}, "chat-to-forum": {"action": "hold"}},
    )
    first, root = open_thread(town, forum, "Street party in June", "Who brings the tables?")

    town.dana.send_text(town.room, "Buy my miracle pills at example.com", root["event_id"])
    _notice(town.dana, mods, 1)
    told = town.dana.wait_for_text(town.room, "Held for a moderator", timeout=30)
    assert (
        told["sender"] == BOT and told["content"]["m.relates_to"]["event_id"] == root["event_id"]
    )
    town.dana.send_text(mods, "!pending")
    listed = town.dana.wait_for_text(mods, "Held for review:", timeout=30)
    assert "#1 town chat-to-forum" in listed["content"]["body"]
    town.dana.send_text(mods, "!reject 1 spam, obviously")
    town.dana.wait_for_text(mods, "Rejected #1", timeout=30)
    # The sender is told in their thread, as they were told it was held; the moderator's
    # reason stays in the moderators room.
    refused = town.dana.wait_for_text(town.room, "a moderator rejected it", timeout=30)
    assert refused["sender"] == BOT
    assert refused["content"]["m.relates_to"]["event_id"] == root["event_id"]
    assert refused["content"]["m.mentions"] == {"user_ids": [town.dana.user_id]}
    assert "spam" not in refused["content"]["body"]

    town.dana.send_text(town.room, "I can bring two tables.", root["event_id"])
    _notice(town.dana, mods, 2)
    town.dana.send_text(mods, "!approve #2")
    wait_for_post(forum, first["topic_id"], "I can bring two tables.", timeout=30)
    assert not any("miracle pills" in p["raw"] for p in forum.posts(first["topic_id"]))
    (rejected,) = _entries(town.porch, "rejected")
    assert (rejected.actor, rejected.detail) == (town.dana.user_id, "review #1: spam, obviously")
    assert [e.actor for e in _entries(town.porch, "approved")] == [town.dana.user_id]


def test_a_message_a_watched_word_holds_waits_for_a_moderator_too(
    linked: Callable[..., Linked], forum: Any
) -> None:
    town = linked(start=False)
    mods = _moderators(town.dana)
    town.porch.data["moderation"] = {
        "words": [{"word": "raffle", "action": "require_approval"}],
        "review": {"room": mods},
    }
    town.porch.write()
    town.porch.start()
    first, root = open_thread(town, forum, "Summer fair stalls", "Who runs which stall?")

    town.dana.send_text(town.room, "I will run the Raffle stall again.", root["event_id"])
    notice = _notice(town.dana, mods, 1)
    assert "watched_words:require_approval" in notice["content"]["body"]
    assert not any("Raffle stall" in p["raw"] for p in forum.posts(first["topic_id"]))
    town.dana.send_text(mods, "!approve 1")
    wait_for_post(forum, first["topic_id"], "I will run the Raffle stall again.", timeout=30)


def test_a_held_message_approved_on_the_review_page_is_delivered(
    linked: Callable[..., Linked], forum: Any
) -> None:
    town = linked(start=False)
    mods = _moderators(town.dana)
    _with_review(town, mods, {"forum-to-chat": {"action": "hold"}})
    forum.create_topic("alice", "town-square", "Lost cat near the park", "Grey, answers to Tom.")
    _notice(town.dana, mods, 1)

    web = requests.Session()
    assert web.get(f"{town.porch.url}/review", timeout=10).status_code == 401
    page = web.post(f"{town.porch.url}/review/login", data={"token": TOKEN}, timeout=10)
    assert page.status_code == 200 and "Lost cat near the park" in page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    forged = web.post(f"{town.porch.url}/review/1/approve", data={"csrf": "x"}, timeout=10)
    assert forged.status_code == 403
    done = web.post(f"{town.porch.url}/review/1/approve", data={"csrf": csrf.group(1)}, timeout=10)
    assert done.status_code == 200
    town.dana.wait_for_event(town.room, is_text("Lost cat near the park"), timeout=30)
    (approved,) = _entries(town.porch, "approved")
    assert approved.actor == "mona"


def test_a_post_the_forum_queued_is_the_messages_copy_once_approved_there(
    linked: Callable[..., Linked], forum: Any, forum_secret: str
) -> None:
    forum.add_user("dana_forum")
    town = linked(start=False)
    mods = _moderators(town.dana)
    _with_review(town, mods)
    forum.set_webhook(
        f"{town.porch.url}/discourse/webhook", forum_secret, events={"post", "topic", "reviewable"}
    )
    link_identity(town.porch, town.dana.user_id, "dana_forum")
    forum.require_approval("dana_forum")
    first, root = open_thread(town, forum, "Library opening hours", "Open later on Fridays?")

    town.dana.send_text(town.room, "Yes please, until eight would be great.", root["event_id"])
    town.dana.wait_for_text(town.room, "once a moderator approves it", timeout=30)
    (pending,) = wait_until(forum.pending_posts, 30, "the queued post")
    assert not any("until eight" in p["raw"] for p in forum.posts(first["topic_id"]))
    town.dana.send_text(town.room, "And free coffee for everyone, paid by me!", root["event_id"])
    (_, spam) = wait_until(
        lambda: forum.pending_posts() if len(forum.pending_posts()) == 2 else None,
        30,
        "the second queued post",
    )

    approved = forum.approve(pending.id)
    forum.reject(spam.id)
    wait_until(
        lambda: len([e for e in audit_entries(town.porch) if e.rule == "forum-review-queue"]) >= 4,
        30,
        "porch following both decisions",
    )
    forum.reply("alice", first["topic_id"], "Marker: after the approved reply.")
    town.dana.wait_for_event(town.room, is_text("Marker: after the approved reply."), timeout=30)
    # The approved post is the message's copy on the forum, not a new post to carry back.
    assert len(_texts(town.dana, town.room, "until eight would be great")) == 1
    followed = [
        (e.outcome, e.actor) for e in audit_entries(town.porch) if e.rule == "forum-review-queue"
    ]
    assert followed == [
        ("held", town.dana.user_id),
        ("held", town.dana.user_id),
        ("carried", "forum"),
        ("refused", "forum"),
    ]
    with porch_store(town.porch) as store:
        copy = store.mapping.message_for_post(LinkName("town"), PostID(approved["id"]))
    assert copy is not None and copy.origin is Platform.CHAT
    assert not any("free coffee" in p["raw"] for p in forum.posts(first["topic_id"]))


def test_a_decision_made_while_porch_is_down_is_carried_out_once_it_is_back(
    linked: Callable[..., Linked], forum: Any
) -> None:
    town = linked(start=False)
    mods = _moderators(town.dana)
    _with_review(town, mods, {"forum-to-chat": {"action": "hold"}})
    forum.create_topic("alice", "town-square", "Choir practice moves", "Thursdays from May on.")
    _notice(town.dana, mods, 1)
    town.porch.kill()

    # The review page's process may be the one that is up: it records the decision alone.
    with porch_store(town.porch) as store:
        item = store.review.get(1)
        assert item is not None
        assert decide(store.review, item, APPROVED, "mona", time.time()) is not None
    town.porch.start()
    town.dana.wait_for_event(town.room, is_text("Choir practice moves"), timeout=30)
    town.dana.wait_for_text(mods, "Approved #1", timeout=30)
    town.porch.stop()
    town.porch.start()
    forum.create_topic("bob", "town-square", "Marker topic after restart", "Nothing else to see.")
    _notice(town.dana, mods, 2)
    assert len(_texts(town.dana, town.room, "Choir practice moves")) == 1
    assert [e.actor for e in _entries(town.porch, "approved")] == ["mona"]
