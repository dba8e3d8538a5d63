"""Policy lists end to end: a Matrix policy room (MSC2313) that porch follows.

A ``m.policy.rule.user`` ban (a glob) stops the matching member's messages from crossing, with
the list and the rule's reason in the audit log; emptying the rule (its removal) lets them cross
again, without a restart. With ``ban_from_rooms`` and ``silence_on_forum`` a listed member is
also banned from the bridged room and their linked forum account silenced; a room moderator
is not banned.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from tests.e2e.chat_side import link_identity, live_posts, wait_for_post
from tests.e2e.conftest import BOT
from tests.e2e.test_sanctions import Moderated, moderated  # noqa: F401  (the fixture)
from tests.rig.matrix import ChatUser
from tests.rig.wait import wait_until

RULE = "m.policy.rule.user"


def policy_room(lister: ChatUser) -> tuple[str, str]:
    """A policy list room (``lister`` moderates it) with porch's bot invited: its id, and the
    alias porch's config names it by."""
    alias = f"banlist{uuid.uuid4().hex[:10]}"
    room = lister.create_room(name="Ban list", alias=alias)
    lister.invite(room, BOT)
    return room, f"#{alias}:localhost"


def glob_for(user_id: str) -> str:
    """A glob matching ``user_id`` by a ``?`` and a ``*``: ``@user_abc?:*``."""
    local = user_id.split(":", 1)[0]
    return f"{local[:-1]}?:*"


def refusals(space: Moderated, rule: str) -> list[Any]:
    return [e for e in space.audit(rule) if e.outcome == "refused"]


def test_a_listed_member_is_not_carried_until_the_rule_is_removed(
    moderated: Callable[..., Moderated],  # noqa: F811
    matrix_user_factory: Callable[..., ChatUser],
) -> None:
    lister, erin = matrix_user_factory(), matrix_user_factory()
    lists, config_room = policy_room(lister)
    space = moderated(moderation={"policy_lists": [{"room": config_room}]})
    erin.join(space.room)
    first, root = space.benches_thread()
    topic = first["topic_id"]

    erin.send_text(space.room, "Carried before the rule.", thread_root=root["event_id"])
    wait_for_post(space.forum, topic, "Carried before the rule.", timeout=30)
    # Porch's bot joined the list when it first decided on a message.
    wait_until(
        lambda: (lister.room_state(lists, "m.room.member", BOT) or {}).get("membership") == "join",
        30,
        "porch's bot in the list room",
    )

    lister.put_state(
        lists,
        RULE,
        {"entity": glob_for(erin.user_id), "recommendation": "m.ban", "reason": "bench spam"},
        state_key="rule:erin",
    )
    wait_until(lambda: space.audit("policy_list:rule"), 30, "porch to follow the new rule")
    erin.send_text(space.room, "Refused while listed.", thread_root=root["event_id"])
    refused = wait_until(
        lambda: refusals(space, f"policy_list:{config_room}"), 30, "the refusal in the audit log"
    )
    assert refused[0].actor == erin.user_id
    assert refused[0].detail is not None and "bench spam" in refused[0].detail

    # An empty rule is a removed one: the next message crosses again, no restart.
    lister.put_state(lists, RULE, {}, state_key="rule:erin")
    wait_until(
        lambda: len(space.audit("policy_list:rule")) >= 2, 30, "porch to follow the removal"
    )
    erin.send_text(space.room, "Carried after the removal.", thread_root=root["event_id"])
    wait_for_post(space.forum, topic, "Carried after the removal.", timeout=30)
    assert not any("Refused while listed." in p["raw"] for p in live_posts(space.forum, topic))
    assert space.membership(erin.user_id) == "join"  # the list did not ask for bans


def test_a_list_can_ban_from_rooms_and_silence_on_the_forum_but_spares_moderators(
    moderated: Callable[..., Moderated],  # noqa: F811
    matrix_user_factory: Callable[..., ChatUser],
) -> None:
    lister, erin, frank = matrix_user_factory(), matrix_user_factory(), matrix_user_factory()
    lists, address = policy_room(lister)
    lister.put_state(
        lists,
        "m.policy.rule.server",
        {"entity": "localhost", "recommendation": "m.ban", "reason": "whole server listed"},
        state_key="rule:localhost",
    )
    config = {"room": address, "ban_from_rooms": True, "silence_on_forum": True}
    space = moderated(moderation={"policy_lists": [config]}, levels={frank.user_id: 50})
    erin.join(space.room)
    frank.join(space.room)
    link_identity(space.porch, erin.user_id, "bob")
    first, root = space.benches_thread()

    # The rule was there before porch started: read from the list's full state.
    erin.send_text(space.room, "Listed from the start.", thread_root=root["event_id"])
    space.wait_membership(erin.user_id, "ban")
    sanction = space.wait_sanction("list_ban")
    assert sanction.moderator == lister.user_id  # the rule's author, not porch's bot
    assert sanction.source == "list" and sanction.reason == "whole server listed"
    assert {a.step for a in sanction.actions} == {"ban", "silence"}
    assert space.forum_user("bob").get("silenced_by") == "porch"

    frank.send_text(space.room, "A moderator speaks.", thread_root=root["event_id"])
    wait_until(
        lambda: len(refusals(space, f"policy_list:{config['room']}")) >= 2,
        30,
        "frank's message refused too",
    )
    assert space.membership(frank.user_id) == "join"  # moderators are never banned by porch
    assert [s.target for s in space.sanctions()] == [erin.user_id]

    space.undo(sanction)
    space.wait_membership(erin.user_id, "leave")
    assert not space.forum_user("bob").get("silenced_by")
    assert first["topic_id"]


def test_a_new_rule_bans_listed_members_of_bridged_rooms_at_once(
    moderated: Callable[..., Moderated],  # noqa: F811
    matrix_user_factory: Callable[..., ChatUser],
) -> None:
    lister, erin = matrix_user_factory(), matrix_user_factory()
    lists, address = policy_room(lister)
    config = {"room": address, "ban_from_rooms": True}
    space = moderated(moderation={"policy_lists": [config]})
    erin.join(space.room)
    first, root = space.benches_thread()
    # A first message makes porch read (and join) the list.
    space.town.dana.send_text(space.room, "Welcome, everyone!", thread_root=root["event_id"])
    wait_for_post(space.forum, first["topic_id"], "Welcome, everyone!", timeout=30)

    lister.put_state(
        lists,
        RULE,
        {"entity": erin.user_id, "recommendation": "m.ban", "reason": "known spammer"},
        state_key="rule:erin",
    )

    space.wait_membership(erin.user_id, "ban")
    sanction = space.wait_sanction("list_ban")
    assert (sanction.moderator, sanction.reason) == (lister.user_id, "known spammer")
    assert space.membership(space.town.dana.user_id) == "join"
