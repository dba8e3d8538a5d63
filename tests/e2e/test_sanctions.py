"""Sanctions that hold on both sides, end to end: real Synapse, real clients, the forum double,
``porch serve`` as a child process.

- a forum suspension bans the user's ghost and linked Matrix account from the bridged room,
  and ``porch sanctions undo`` lifts the bans, both recorded with the forum moderator's name;
- a room moderator's ban silences the banned member's linked forum account (policy on);
- a room moderator's redaction of a ghost's copy hides the forum post (policy ``hide``), and
  the undo unhides it;
- a room moderator linked to a suspended forum account is spared.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from bridges.matrix.ghosts import ghost_localpart
from bridges.model import ForumUsername
from bridges.store.sanction_records import Sanction
from sandbox.forum import SandboxForum
from sandbox.synapse import SandboxSynapse
from tests.e2e.chat_side import link_identity, open_thread, porch_store, wait_for_post
from tests.e2e.conftest import BOT, Linked, is_text
from tests.rig.forum import FORUM_API_KEY
from tests.rig.matrix import ChatUser
from tests.rig.porch import PorchProcess
from tests.rig.wait import wait_until


@dataclass
class Moderated:
    """A linked room where porch's bot may ban and mute (power level 100), the room's
    creator ``dana`` (100), and a porch running with the given ``moderation:`` section."""

    town: Linked
    forum: SandboxForum
    synapse: SandboxSynapse

    @property
    def room(self) -> str:
        return self.town.room

    @property
    def porch(self) -> PorchProcess:
        return self.town.porch

    def ghost(self, username: str) -> str:
        prefix = self.porch.data["matrix"]["appservice"]["ghost_prefix"]
        return f"@{ghost_localpart(prefix, ForumUsername(username))}:localhost"

    def membership(self, user_id: str) -> str | None:
        member = self.town.dana.room_state(self.room, "m.room.member", user_id)
        return None if member is None else str(member.get("membership"))

    def wait_membership(self, user_id: str, wanted: str | None, timeout: float = 30.0) -> None:
        wait_until(
            lambda: self.membership(user_id) == wanted,
            timeout,
            f"{user_id} to have membership {wanted} (now {self.membership(user_id)})",
        )

    def sanctions(self) -> list[Sanction]:
        with porch_store(self.porch) as store:
            return store.sanctions.recent()

    def wait_sanction(self, kind: str, timeout: float = 30.0) -> Sanction:
        return wait_until(
            lambda: next((s for s in self.sanctions() if s.kind == kind), None),
            timeout,
            f"a {kind} sanction",
        )

    def audit(self, rule: str) -> list[Any]:
        with porch_store(self.porch) as store:
            return [e for e in store.audit.entries() if e.rule == rule]

    def benches_thread(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Alice's forum topic, carried into the room: (its first post, its thread root)."""
        return open_thread(
            self.town, self.forum, "Benches for the square", "Where should the benches go?"
        )

    def undo(self, sanction: Sanction) -> None:
        """Undo ``sanction`` as an operator does: ``porch sanctions undo``."""
        undone = self.porch.cli("sanctions", "undo", str(sanction.id))
        assert undone.returncode == 0, undone.stderr

    def forum_admin(self, method: str, path: str, as_user: str, **body: Any) -> Any:
        response = requests.request(
            method,
            f"{self.forum.base_url}{path}",
            headers={"Api-Key": FORUM_API_KEY, "Api-Username": as_user},
            json=body or None,
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return response.json() if response.content else None

    def forum_user(self, username: str) -> dict[str, Any]:
        found = self.forum_admin("GET", f"/u/{username}.json", "porch")["user"]
        result: dict[str, Any] = self.forum_admin(
            "GET", f"/admin/users/{found['id']}.json", "porch"
        )
        return result


def join(user: ChatUser, room: str) -> None:
    user.join(room)


def ban(
    synapse: SandboxSynapse, moderator: ChatUser, room: str, user_id: str, reason: str
) -> None:
    """A room moderator's ban, as a client sends it."""
    response = requests.post(
        f"{synapse.base_url}/_matrix/client/v3/rooms/{room}/ban",
        json={"user_id": user_id, "reason": reason},
        headers={"Authorization": f"Bearer {moderator.access_token}"},
        timeout=10,
    )
    response.raise_for_status()


@pytest.fixture
def moderated(
    porch_factory: Callable[..., PorchProcess],
    matrix_user_factory: Callable[..., ChatUser],
    forum: SandboxForum,
    synapse: SandboxSynapse,
    discourse_config: Any,
) -> Callable[..., Moderated]:
    """``moderated(moderation={...}, levels={user: level})``: the room, porch started."""

    def make(
        moderation: dict[str, Any] | None = None,
        levels: dict[str, int] | None = None,
        before_start: Callable[[Moderated], None] | None = None,
    ) -> Moderated:
        dana = matrix_user_factory()
        # Dana creates the room: her power is the creator's, not a users entry (room v12).
        users = {BOT: 100, **(levels or {})}
        room = dana.create_room(
            name="Town square", preset="public_chat", power_level_override={"users": users}
        )
        dana.invite(room, BOT)
        spec = {"name": "town", "forum": {"category": "town-square"}, "room": room}
        porch = porch_factory(links=[spec])
        porch.data["moderation"] = {"words_from_forum": False, **(moderation or {})}
        porch.write()
        # Porch needs the user events too (suspensions, silences).
        forum.set_webhook(
            f"{porch.url}/discourse/webhook",
            discourse_config.webhook_secret.get_secret_value(),
            events=["post", "topic", "user"],
        )
        made = Moderated(Linked(room, dana, porch), forum, synapse)
        if before_start is not None:
            before_start(made)
        porch.start()
        return made

    return make


def test_a_forum_suspension_bans_the_ghost_and_the_linked_account_until_undone(
    moderated: Callable[..., Moderated], matrix_user_factory: Callable[..., ChatUser]
) -> None:
    erin = matrix_user_factory()
    space = moderated()
    join(erin, space.room)
    link_identity(space.porch, erin.user_id, "bob")
    space.forum.add_user("mod", name="Mo Derator", moderator=True)
    bob_id = space.forum_admin("GET", "/u/bob.json", "porch")["user"]["id"]

    space.forum_admin(
        "PUT",
        f"/admin/users/{bob_id}/suspend.json",
        "mod",
        suspend_until="2121-02-22",
        reason="selling benches",
    )

    space.wait_membership(erin.user_id, "ban")
    space.wait_membership(space.ghost("bob"), "ban")
    sanction = space.wait_sanction("chat_ban")
    assert sanction.moderator == "forum:mod"  # the forum's moderator, not porch's bot
    assert sanction.source == "forum"
    assert sanction.reason == "selling benches"
    assert {(a.step, a.user) for a in sanction.actions} == {
        ("ban", erin.user_id),
        ("ban", space.ghost("bob")),
    }
    audited = space.audit("sanction:chat_ban")
    assert [(e.outcome, e.actor) for e in audited] == [("sanctioned", "forum:mod")]

    listed = space.porch.cli("sanctions", "list")
    assert listed.returncode == 0, listed.stderr
    assert f"#{sanction.id}" in listed.stdout and "moderator=forum:mod" in listed.stdout

    undone = space.porch.cli("sanctions", "undo", str(sanction.id), "--by", "operator:eve")
    assert undone.returncode == 0, undone.stderr
    space.wait_membership(erin.user_id, "leave")
    space.wait_membership(space.ghost("bob"), "leave")
    after = space.sanctions()[0]
    assert (after.active, after.undone_by) == (False, "operator:eve")
    audited = space.audit("sanction:chat_ban")
    assert [(e.outcome, e.actor) for e in audited] == [
        ("sanctioned", "forum:mod"),
        ("undone", "operator:eve"),
    ]
    # A second undo is refused: the sanction is undone once.
    again = space.porch.cli("sanctions", "undo", str(sanction.id))
    assert again.returncode == 1 and "undone already" in again.stderr


def test_a_room_moderator_linked_to_a_suspended_account_is_spared(
    moderated: Callable[..., Moderated], matrix_user_factory: Callable[..., ChatUser]
) -> None:
    frank = matrix_user_factory()
    space = moderated(levels={frank.user_id: 50})
    join(frank, space.room)
    link_identity(space.porch, frank.user_id, "bob")
    bob_id = space.forum_admin("GET", "/u/bob.json", "porch")["user"]["id"]

    space.forum_admin(
        "PUT",
        f"/admin/users/{bob_id}/suspend.json",
        "porch",
        suspend_until="2121-02-22",
        reason="testing",
    )

    space.wait_membership(space.ghost("bob"), "ban")
    sanction = space.wait_sanction("chat_ban")
    assert [a.user for a in sanction.actions] == [space.ghost("bob")]
    assert sanction.reason is not None and "spared" in sanction.reason
    assert space.membership(frank.user_id) == "join"


def test_a_forum_silence_mutes_the_linked_account(
    moderated: Callable[..., Moderated], matrix_user_factory: Callable[..., ChatUser]
) -> None:
    erin = matrix_user_factory()
    space = moderated()
    join(erin, space.room)
    link_identity(space.porch, erin.user_id, "bob")
    bob_id = space.forum_admin("GET", "/u/bob.json", "porch")["user"]["id"]
    space.forum.add_user("mod", moderator=True)

    space.forum_admin("PUT", f"/admin/users/{bob_id}/silence.json", "mod", reason="shouting")

    def level() -> int | None:
        levels = space.town.dana.room_state(space.room, "m.room.power_levels") or {}
        value = levels.get("users", {}).get(erin.user_id)
        return value if isinstance(value, int) else None

    wait_until(lambda: level() == -1, 30, "erin muted (power level -1)")
    sanction = space.wait_sanction("chat_mute")
    assert (sanction.moderator, sanction.reason) == ("forum:mod", "shouting")
    # Lifting the silence on the forum lifts the mute.
    space.forum_admin("PUT", f"/admin/users/{bob_id}/unsilence.json", "mod")
    wait_until(lambda: level() is None, 30, "erin's power level restored")
    wait_until(lambda: not space.sanctions()[0].active, 30, "the mute recorded as undone")


def test_a_room_ban_silences_the_linked_forum_account(
    moderated: Callable[..., Moderated], matrix_user_factory: Callable[..., ChatUser]
) -> None:
    erin = matrix_user_factory()
    space = moderated(moderation={"sanctions": {"chat_ban_silences_forum": True}})
    join(erin, space.room)
    link_identity(space.porch, erin.user_id, "bob")

    ban(space.synapse, space.town.dana, space.room, erin.user_id, "spamming links")

    def silenced_bob() -> dict[str, Any] | None:
        user = space.forum_user("bob")
        return user if user.get("silenced_by") else None

    silenced = wait_until(silenced_bob, 30, "bob silenced on the forum")
    assert silenced["silenced_by"] == "porch"
    assert space.town.dana.user_id in str(silenced["silence_reason"])
    sanction = space.wait_sanction("forum_silence")
    assert sanction.moderator == space.town.dana.user_id
    assert sanction.source == "room" and sanction.reason is not None
    assert "spamming links" in sanction.reason
    # Porch's own silence comes back as a user_updated webhook: it mutes nobody.
    space.forum.flush_webhooks()

    def echo_handled() -> bool:
        with porch_store(space.porch) as store:
            return any(r.kind.value == "forum.user_changed" for r in store.inbox.rows("done"))

    wait_until(echo_handled, 30, "porch to handle the forum's user_updated echo")
    assert [s.kind for s in space.sanctions()] == ["forum_silence"]
    levels = space.town.dana.room_state(space.room, "m.room.power_levels") or {}
    assert erin.user_id not in levels.get("users", {})

    space.undo(sanction)
    assert not space.forum_user("bob").get("silenced_by")


def test_a_room_ban_leaves_the_forum_alone_by_default(
    moderated: Callable[..., Moderated], matrix_user_factory: Callable[..., ChatUser]
) -> None:
    erin = matrix_user_factory()
    space = moderated()
    join(erin, space.room)
    link_identity(space.porch, erin.user_id, "bob")

    ban(space.synapse, space.town.dana, space.room, erin.user_id, "spamming links")

    wait_until(lambda: space.audit("sanction:chat_ban_silences_forum"), 30, "the ban considered")
    assert not space.forum_user("bob").get("silenced_by")
    assert space.sanctions() == []


def test_a_moderators_redaction_hides_the_forum_post_until_undone(
    moderated: Callable[..., Moderated],
) -> None:
    space = moderated(moderation={"sanctions": {"chat_redaction": "hide"}})
    first, root = space.benches_thread()
    reply = space.forum.reply("bob", first["topic_id"], "Buy my benches at bench.example!")
    copy = space.town.dana.wait_for_event(space.room, is_text("Buy my benches"), timeout=30)

    space.town.dana.redact(space.room, copy["event_id"], reason="advertising")

    wait_until(lambda: space.forum.post(reply["id"]).get("hidden"), 30, "the post hidden")
    sanction = space.wait_sanction("post_hide")
    assert sanction.moderator == space.town.dana.user_id
    assert (sanction.target, sanction.reason) == (f"post:{reply['id']}", "advertising")
    assert [(e.outcome, e.actor) for e in space.audit("sanction:post_hide")] == [
        ("sanctioned", space.town.dana.user_id)
    ]
    assert root["event_id"]

    space.undo(sanction)
    assert not space.forum.post(reply["id"]).get("hidden")
    assert [e.outcome for e in space.audit("sanction:post_hide")] == ["sanctioned", "undone"]


def test_a_moderators_redaction_of_a_chat_message_deletes_its_forum_post_until_undone(
    moderated: Callable[..., Moderated], matrix_user_factory: Callable[..., ChatUser]
) -> None:
    erin = matrix_user_factory()
    space = moderated(moderation={"sanctions": {"chat_redaction": "delete"}})
    join(erin, space.room)
    first, root = space.benches_thread()
    event_id = erin.send_text(
        space.room, "Cheap benches, message me privately!", thread_root=root["event_id"]
    )
    post = wait_for_post(space.forum, first["topic_id"], "Cheap benches", timeout=30)

    space.town.dana.redact(space.room, event_id, reason="scam")

    wait_until(lambda: space.forum.post(post["id"]).get("deleted_at"), 30, "the post deleted")
    sanction = space.wait_sanction("post_delete")
    assert (sanction.moderator, sanction.reason) == (space.town.dana.user_id, "scam")
    assert [a.step for a in sanction.actions] == ["delete"]

    space.undo(sanction)
    assert not space.forum.post(post["id"]).get("deleted_at")
    assert [e.outcome for e in space.audit("sanction:post_delete")] == ["sanctioned", "undone"]


def test_a_room_ban_leaves_a_silence_made_on_the_forum_to_its_moderator(
    moderated: Callable[..., Moderated], matrix_user_factory: Callable[..., ChatUser]
) -> None:
    erin = matrix_user_factory()
    space = moderated(moderation={"sanctions": {"chat_ban_silences_forum": True}})
    join(erin, space.room)
    link_identity(space.porch, erin.user_id, "bob")
    space.forum.add_user("mod", moderator=True)
    bob_id = space.forum_admin("GET", "/u/bob.json", "porch")["user"]["id"]
    space.forum_admin("PUT", f"/admin/users/{bob_id}/silence.json", "mod", reason="shouting")
    space.wait_sanction("chat_mute")

    ban(space.synapse, space.town.dana, space.room, erin.user_id, "still shouting")

    skipped = wait_until(lambda: space.audit("sanction:forum_silence"), 30, "the ban considered")
    assert skipped[0].detail is not None and "silenced already" in skipped[0].detail
    assert space.forum_user("bob")["silenced_by"] == "mod"
    assert [s.kind for s in space.sanctions()] == ["chat_mute"]
