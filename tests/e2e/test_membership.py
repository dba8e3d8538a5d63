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

from bridges.store.audit import AuditEntry
from sandbox.forum import SandboxForum
from sandbox.synapse import SandboxSynapse
from tests.e2e.chat_side import (
    audit_entries,
    events_with,
    open_thread,
    porch_store,
    wait_for_post,
)
from tests.e2e.conftest import BOT, Linked, is_text
from tests.e2e.test_identity_link import SECRET, bot_says, follow_link, open_direct_chat
from tests.rig.matrix import ChatUser
from tests.rig.porch import PorchProcess
from tests.rig.wait import wait_until

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
    direction: str = "chat-to-forum",
    join_rule: str = "knock",
    start: bool = True,
) -> tuple[str, PorchProcess]:
    """Dana's knock-to-join (or ``join_rule``) room, linked to ``staff-room`` with managed
    membership; porch's bot moderates it (it invites and removes)."""
    room = dana.create_room(
        name="Staff room",
        preset="private_chat",
        initial_state=[{"type": "m.room.join_rules", "content": {"join_rule": join_rule}}],
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
        "direction": direction,
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
    if start:
        porch.start()
    return room, porch


def _link(synapse: SandboxSynapse, forum: SandboxForum, user: ChatUser, username: str) -> str:
    """``user`` links the forum account ``username`` through the forum's own login; their
    direct chat with porch's bot."""
    dm = open_direct_chat(synapse, user)
    user.send_text(dm, "!link")
    match = _URL.search(bot_says(user, dm, "/link/"))
    assert match is not None
    browser = requests.Session()
    login = browser.post(f"{forum.base_url}/sandbox/login", data={"username": username})
    login.raise_for_status()
    assert follow_link(browser, match.group(0)).status_code == 200
    bot_says(user, dm, f"Linked: you are {username} on the forum")
    return dm


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


# --- ghosts follow their forum user's access ----------------------------------------------------


def _ghost(dana: ChatUser, username: str) -> str:
    return f"@forum_{username}:{dana.user_id.split(':', 1)[1]}"


def _ghost_membership(dana: ChatUser, room: str, username: str) -> str | None:
    state = dana.room_state(room, "m.room.member", _ghost(dana, username)) or {}
    return state.get("membership")


def _entry(porch: PorchProcess, rule: str, actor: str) -> AuditEntry:
    return wait_until(
        lambda: next(
            (e for e in audit_entries(porch) if e.rule == rule and e.actor == actor), None
        ),
        30,
        f"an audit entry {rule} for {actor}",
    )


def _settled(porch: PorchProcess) -> list[str]:
    """The statuses of porch's inbox events once none is pending."""
    with porch_store(porch) as store:
        return [r.status for r in store.inbox.rows()]


def test_a_ghost_whose_forum_user_may_not_read_the_room_is_refused_once(
    porch_factory: Callable[..., PorchProcess],
    matrix_user_factory: Callable[..., ChatUser],
    forum: SandboxForum,
    forum_secret: str,
) -> None:
    _staff_room(forum)
    forum.add_to_group("alice", "teachers")
    dana = matrix_user_factory()
    room, porch = _managed_room(
        dana,
        porch_factory,
        forum,
        forum_secret,
        direction="both",
        join_rule="invite",
        group_webhooks=False,
        start=False,
    )
    # alice posts as a teacher while porch is down; she has left the group when the admin
    # redelivers the webhook to a running porch.
    forum.create_topic("alice", "staff-room", "Notes from a visitor", "I teach no more here.")
    forum.flush_webhooks()
    (missed,) = [d for d in forum.deliveries() if d.event_name == "post_created"]
    assert missed.status == -1
    forum.remove_from_group("alice", "teachers")
    porch.start()
    forum.redeliver(missed.event_id)

    refused = _entry(porch, "membership:ghost_not_entitled", "alice")
    assert refused.outcome == "refused"
    assert "alice may not read" in str(refused.detail)
    # Refused before the policy's verdict is recorded: the log never says it was carried.
    assert [e.outcome for e in audit_entries(porch) if e.actor == "alice"] == ["refused"]
    statuses = wait_until(
        lambda: s if "pending" not in (s := _settled(porch)) else None, 30, "a settled inbox"
    )
    assert set(statuses) == {"done"}, statuses  # not retried into a dead letter
    assert not events_with(dana, room, "I teach no more")
    assert _ghost_membership(dana, room, "alice") is None
    # A teacher's topic still crosses.
    forum.create_topic("tess", "staff-room", "Timetable for spring", "Year five swims on Tuesday.")
    dana.wait_for_event(room, is_text("Year five swims"), timeout=30, what="tess's topic")


def test_a_ghost_leaves_when_its_forum_user_leaves_the_group(
    porch_factory: Callable[..., PorchProcess],
    matrix_user_factory: Callable[..., ChatUser],
    forum: SandboxForum,
    forum_secret: str,
) -> None:
    _staff_room(forum)
    dana = matrix_user_factory()
    room, porch = _managed_room(
        dana, porch_factory, forum, forum_secret, direction="both", join_rule="invite"
    )
    forum.create_topic("tess", "staff-room", "Parents evening", "It is on Thursday this term.")
    dana.wait_for_event(
        room, is_text("It is on Thursday this term"), timeout=30, what="tess's topic"
    )

    forum.remove_from_group("tess", "teachers")  # the group_user webhook tells porch
    wait_until(
        lambda: _ghost_membership(dana, room, "tess") == "leave", 30, "tess's ghost to leave"
    )
    removed = _entry(porch, "membership:ghost_removed", _ghost(dana, "tess"))
    assert removed.outcome == "retracted"
    assert "tess may no longer read" in str(removed.detail)


def test_reconciliation_removes_a_ghost_whose_webhook_was_missed(
    porch_factory: Callable[..., PorchProcess],
    matrix_user_factory: Callable[..., ChatUser],
    forum: SandboxForum,
    forum_secret: str,
) -> None:
    _staff_room(forum)
    dana = matrix_user_factory()
    room, porch = _managed_room(
        dana,
        porch_factory,
        forum,
        forum_secret,
        direction="both",
        join_rule="invite",
        group_webhooks=False,
        refresh=1.0,
    )
    forum.create_topic(
        "tess", "staff-room", "Sports day plans", "Bring the cones out to the field."
    )
    dana.wait_for_event(room, is_text("Bring the cones"), timeout=30, what="tess's topic")
    forum.remove_from_group("tess", "teachers")  # no webhook: the reconciliation finds it
    wait_until(
        lambda: _ghost_membership(dana, room, "tess") == "leave", 30, "tess's ghost to leave"
    )
    _entry(porch, "membership:ghost_removed", _ghost(dana, "tess"))


# --- unlinking ----------------------------------------------------------------------------------


def test_unlinking_removes_the_member_but_never_a_moderator(
    porch_factory: Callable[..., PorchProcess],
    matrix_user_factory: Callable[..., ChatUser],
    forum: SandboxForum,
    forum_secret: str,
    synapse: SandboxSynapse,
) -> None:
    _staff_room(forum)
    forum.add_to_group("alice", "teachers")
    dana, erin, finn = matrix_user_factory(), matrix_user_factory(), matrix_user_factory()
    room, porch = _managed_room(dana, porch_factory, forum, forum_secret)
    erin_dm = _link(synapse, forum, erin, "alice")
    finn_dm = _link(synapse, forum, finn, "tess")
    for member in (erin, finn):
        _wait_membership(dana, room, member, "invite")
        member.join(room)
    # erin becomes a moderator of the room.
    levels = dana.room_state(room, "m.room.power_levels") or {}
    users = {**levels.get("users", {}), erin.user_id: 50}
    dana.put_state(room, "m.room.power_levels", {**levels, "users": users})

    finn.send_text(finn_dm, "!unlink")
    bot_says(finn, finn_dm, "Unlinked from forum account tess")
    removed = _wait_membership(dana, room, finn, "leave")
    assert removed.get("reason") == REASON
    entry = _entry(porch, "membership:remove", finn.user_id)
    assert entry.detail == "unlinked their forum account"

    erin.send_text(erin_dm, "!unlink")
    bot_says(erin, erin_dm, "Unlinked from forum account alice")
    # Settled once the bot answered: the moderator is still in the room.
    assert _membership(dana, room, erin).get("membership") == "join"
    assert ("membership:remove", erin.user_id) not in _membership_rules(porch)


# --- linked identities in access decisions --------------------------------------------------


def test_a_policy_on_forum_groups_carries_a_linked_member_and_refuses_anyone_else(
    linked: Callable[..., Linked],
    matrix_user_factory: Callable[..., ChatUser],
    forum: SandboxForum,
    synapse: SandboxSynapse,
) -> None:
    forum.add_to_group("alice", "teachers")
    town = linked(start=False, policy="teachers-only")
    town.porch.data["policies"] = {
        "teachers-only": {
            "chat-to-forum": {
                "action": "allow",
                "when": {"groups": ["teachers"]},
                "otherwise": "deny",
            }
        }
    }
    town.porch.data["discourse"]["connect_secret"] = SECRET
    town.porch.write()
    forum.sso.set_secret("127.0.0.1", SECRET)
    town.porch.start()
    dana, erin = town.dana, matrix_user_factory()
    _link(synapse, forum, dana, "alice")
    erin.join(town.room)
    first, root = open_thread(town, forum, "Reading week ideas", "What should year five read?")

    erin.send_text(town.room, "Claimed: I am alice, post this.", thread_root=root["event_id"])
    dana.send_text(town.room, "The Iron Man, by Ted Hughes.", thread_root=root["event_id"])
    carried = wait_for_post(forum, first["topic_id"], "The Iron Man", timeout=30)
    assert carried["username"] == "alice"
    refused = _entry(town.porch, "policy:teachers-only/chat-to-forum/otherwise", erin.user_id)
    assert refused.outcome == "refused"
    assert not any("Claimed" in p["raw"] for p in forum.posts(first["topic_id"]))
