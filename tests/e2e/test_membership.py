"""Membership follows entitlement, end to end: a restricted room linked to the private
category of the forum group ``teachers``, managed by porch.

Real Synapse, real Matrix clients, the Discourse double (its ``group_user`` webhooks and
``/groups/{name}/members.json``), ``porch serve`` as a child process; accounts are linked
through the double's DiscourseConnect provider, as a person links theirs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import requests

from tests.e2e.chat_side import audit_entries
from tests.e2e.conftest import BOT
from tests.e2e.test_identity_link import SECRET, bot_says, open_direct_chat
from tests.rig.matrix import ChatUser
from tests.rig.porch import PorchProcess
from tests.rig.wait import wait_until
from webhooks.sandbox.forum import SandboxForum
from webhooks.sandbox.synapse import SandboxSynapse

_URL = re.compile(r"https?://\S+/link/\S+")
REASON = "You are no longer in a forum group this room is for."


def _staff_room(forum: SandboxForum) -> None:
    forum.add_user("tess", name="Tess Teacher", groups=["teachers"])
    forum.add_category("staff-room", "Staff room", group_permissions={"teachers": 1})


def _managed_room(
    dana: ChatUser,
    porch_factory: Callable[..., PorchProcess],
    forum: SandboxForum,
    forum_secret: str,
    *,
    group_webhooks: bool = True,
    refresh: float | None = None,
    facilitators_room: str | None = None,
) -> tuple[str, PorchProcess]:
    """Dana's knock-to-join room, linked to ``staff-room`` with managed membership; porch's
    bot moderates it (it invites and removes)."""
    room = dana.create_room(
        name="Staff room",
        preset="private_chat",
        initial_state=[{"type": "m.room.join_rules", "content": {"join_rule": "knock"}}],
        # Dana created it: she has every power; the bot gets a moderator's and more.
        power_level_override={"users": {BOT: 100}},
    )
    dana.invite(room, BOT)
    membership: dict[str, Any] = {"manage": True}
    if facilitators_room is not None:
        membership["facilitators_room"] = facilitators_room
    link = {
        "name": "staff",
        "forum": {"category": "staff-room"},
        "room": room,
        "direction": "chat-to-forum",
        "membership": membership,
    }
    porch = porch_factory(links=[link])
    porch.data["discourse"]["connect_secret"] = SECRET
    if refresh is not None:
        porch.data["relay"]["membership_refresh"] = refresh
    porch.write()
    forum.sso.set_secret("127.0.0.1", SECRET)
    events = {"post", "topic", "group_user"} if group_webhooks else {"post", "topic"}
    forum.set_webhook(f"{porch.url}/discourse/webhook", forum_secret, events=events)
    porch.start()
    return room, porch


def _link(synapse: SandboxSynapse, forum: SandboxForum, user: ChatUser, username: str) -> None:
    """``user`` links the forum account ``username`` through the forum's own login."""
    dm = open_direct_chat(synapse, user)
    user.send_text(dm, "!link")
    match = _URL.search(bot_says(user, dm, "/link/"))
    assert match is not None
    browser = requests.Session()
    login = browser.post(f"{forum.base_url}/sandbox/login", data={"username": username})
    login.raise_for_status()
    assert browser.get(match.group(0), timeout=30).status_code == 200
    bot_says(user, dm, f"Linked: you are {username} on the forum")


def _membership(watcher: ChatUser, room: str, user: ChatUser) -> dict[str, Any]:
    return watcher.room_state(room, "m.room.member", user.user_id) or {}


def _wait_membership(
    watcher: ChatUser, room: str, user: ChatUser, wanted: str, timeout: float = 30
) -> dict[str, Any]:
    return wait_until(
        lambda: (m := _membership(watcher, room, user)).get("membership") == wanted and m,
        timeout,
        f"{user.user_id} to be {wanted} in {room}",
    )


def _membership_rules(porch: PorchProcess) -> list[tuple[str, str]]:
    return [(e.rule, e.actor) for e in audit_entries(porch) if e.rule.startswith("membership")]


def _knock(synapse: SandboxSynapse, user: ChatUser, room: str, reason: str) -> None:
    response = requests.post(
        f"{synapse.base_url}/_matrix/client/v3/knock/{room}",
        json={"reason": reason},
        headers={"Authorization": f"Bearer {user.access_token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def test_joining_and_leaving_the_forum_group_moves_a_linked_member(
    porch_factory: Callable[..., PorchProcess],
    matrix_user_factory: Callable[..., ChatUser],
    forum: SandboxForum,
    forum_secret: str,
    synapse: SandboxSynapse,
) -> None:
    _staff_room(forum)
    dana, erin = matrix_user_factory(), matrix_user_factory()
    room, porch = _managed_room(dana, porch_factory, forum, forum_secret)
    _link(synapse, forum, erin, "alice")  # alice is no teacher yet: not invited

    # While the forum cannot say which groups alice is in, nobody is let in on a guess.
    forum.fail_next(10_000, status=500, path_prefix="/users/alice")
    forum.add_to_group("alice", "teachers")
    wait_until(
        lambda: "the groups of alice are unknown" in porch.log_tail(400),
        30,
        "porch to find alice's groups unknown",
    )
    assert _membership(dana, room, erin).get("membership") is None
    forum.clear_faults()
    _wait_membership(dana, room, erin, "invite")
    erin.join(room)

    forum.remove_from_group("alice", "teachers")
    removed = _wait_membership(dana, room, erin, "leave")
    assert removed.get("reason") == REASON
    # The removal is recorded once the homeserver has done it.
    rules = wait_until(
        lambda: r if len(r := _membership_rules(porch)) >= 2 else None,
        30,
        "the removal in the audit log",
    )
    assert rules == [
        ("membership:invite", erin.user_id),
        ("membership:remove", erin.user_id),
    ]


def test_a_knock_is_accepted_for_a_member_and_queued_for_anyone_else(
    porch_factory: Callable[..., PorchProcess],
    matrix_user_factory: Callable[..., ChatUser],
    forum: SandboxForum,
    forum_secret: str,
    synapse: SandboxSynapse,
) -> None:
    _staff_room(forum)
    dana, erin, finn = matrix_user_factory(), matrix_user_factory(), matrix_user_factory()
    # No group_user webhooks: erin becomes a teacher without porch hearing of it, so it is her
    # knock that lets her in.
    room, porch = _managed_room(dana, porch_factory, forum, forum_secret, group_webhooks=False)
    _link(synapse, forum, erin, "alice")
    forum.add_to_group("alice", "teachers")

    _knock(synapse, erin, room, "I teach year 5 now")
    _wait_membership(dana, room, erin, "invite")

    _knock(synapse, finn, room, "Parent helper")
    notice = dana.wait_for_event(
        room,
        lambda e: e.get("sender") == BOT and "knocked on this room" in str(e["content"]),
        timeout=30,
        what="porch's notice of finn's knock",
    )
    assert notice["content"]["msgtype"] == "m.notice"
    assert finn.user_id in notice["content"]["body"]
    assert "Parent helper" in notice["content"]["body"]
    assert _membership(dana, room, finn).get("membership") == "knock"

    # Someone without the power to let people in cannot accept it; a moderator can.
    erin.join(room)
    erin.send_text(room, f"!accept {finn.user_id}")
    bot_says(erin, room, "Only a moderator of the room can accept")
    assert _membership(dana, room, finn).get("membership") == "knock"
    dana.send_text(room, f"!accept {finn.user_id}")
    _wait_membership(dana, room, finn, "invite")
    bot_says(dana, room, f"Accepted: {finn.user_id} is invited (by {dana.user_id})")
    # The bot answers after recording the acceptance: the audit log has all three by now.
    outcomes = [(e.rule, e.outcome, e.actor) for e in audit_entries(porch)]
    assert ("membership:knock", "carried", erin.user_id) in outcomes
    assert ("membership:knock", "held", finn.user_id) in outcomes
    assert ("membership:knock-accepted", "carried", finn.user_id) in outcomes
    # The commands stayed in the room: nothing of them reached the forum.
    assert not any("!accept" in p["raw"] for p in forum.posts())


def test_reconciliation_catches_a_removal_whose_webhook_was_missed(
    porch_factory: Callable[..., PorchProcess],
    matrix_user_factory: Callable[..., ChatUser],
    forum: SandboxForum,
    forum_secret: str,
    synapse: SandboxSynapse,
) -> None:
    _staff_room(forum)
    forum.add_to_group("alice", "teachers")
    dana, erin = matrix_user_factory(), matrix_user_factory()
    room, porch = _managed_room(
        dana, porch_factory, forum, forum_secret, group_webhooks=False, refresh=1.0
    )
    # Linking as a teacher is enough to be invited.
    _link(synapse, forum, erin, "alice")
    _wait_membership(dana, room, erin, "invite")
    erin.join(room)
    # Dana moderates the room: linked to bob, who is no teacher, she is never removed.
    _link(synapse, forum, dana, "bob")

    # While the forum cannot list the group, its members are unknown: nobody is removed.
    forum.fail_next(10_000, status=500, path_prefix="/groups/")
    forum.remove_from_group("alice", "teachers")  # the forum sends porch no webhook for it
    wait_until(
        lambda: porch.log_tail(400).count("members of group teachers unknown") >= 2,
        30,
        "two reconciliations that could not read the group",
    )
    assert _membership(dana, room, erin).get("membership") == "join"
    forum.clear_faults()
    removed = _wait_membership(dana, room, erin, "leave")
    assert removed.get("reason") == REASON
    assert _membership(dana, room, dana).get("membership") == "join"
    removals = wait_until(
        lambda: [actor for rule, actor in _membership_rules(porch) if rule == "membership:remove"],
        30,
        "the removal in the audit log",
    )
    assert removals == [erin.user_id]


def test_knocks_go_to_the_facilitators_room_and_are_accepted_there(
    porch_factory: Callable[..., PorchProcess],
    matrix_user_factory: Callable[..., ChatUser],
    forum: SandboxForum,
    forum_secret: str,
    synapse: SandboxSynapse,
) -> None:
    _staff_room(forum)
    dana, finn = matrix_user_factory(), matrix_user_factory()
    mods = dana.create_room(name="Facilitators", preset="private_chat")
    dana.invite(mods, BOT)
    room, _ = _managed_room(dana, porch_factory, forum, forum_secret, facilitators_room=mods)

    _knock(synapse, finn, room, "New parent helper")
    bot_says(dana, mods, f"{finn.user_id} knocked on the room of link staff")
    assert not any(
        e.get("sender") == BOT and e.get("type") == "m.room.message"
        for e in dana.room_messages(room)
    )
    dana.send_text(mods, f"!accept {finn.user_id}")
    _wait_membership(dana, room, finn, "invite")
    bot_says(dana, mods, f"Accepted: {finn.user_id} is invited")
    # The facilitators' room is no linked room: its talk stays there.
    assert not any("!accept" in p["raw"] for p in forum.posts())
