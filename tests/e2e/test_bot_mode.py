"""Bot mode end to end: ``porch serve`` logged in as an ordinary account of the real Synapse.

No appservice: the account (registered like any user) is invited to the room, porch logs in
with its password (``${PORCH_BOT_PASSWORD}`` in the config) and follows the room with
``/sync``; forum posts come from that account with their authors named, and Matrix messages
reach the forum as in appservice mode, under the same policies.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from bridges.model import UserID
from bridges.store.sync_state import SyncState
from sandbox.forum import SandboxForum
from sandbox.synapse import SandboxSynapse
from tests.e2e.chat_side import audit_entries, live_posts, porch_store, wait_for_post
from tests.e2e.conftest import is_text
from tests.rig.matrix import ChatUser
from tests.rig.porch import PorchProcess
from tests.rig.wait import wait_until

PASSWORD_VAR = "PORCH_BOT_PASSWORD"


@dataclass
class BotLinked:
    """A room linked to ``town-square``, its member ``dana``, and porch's bot account."""

    room: str
    dana: ChatUser
    porch: PorchProcess
    bot: str

    def start(self, *args: str) -> None:
        """Start porch (``args``: e.g. ``--role web``) and wait until its account syncs
        (``/readyz``), so that what is said from now on is heard."""
        self.porch.start(*args)

        def ready() -> bool:
            answer = requests.get(f"{self.porch.ops_url}/readyz", timeout=5)
            return answer.status_code == 200 and answer.json()["checks"]["matrix_sync"] == "ok"

        wait_until(ready, 30, "porch's account to sync")
        wait_until(
            lambda: (
                (self.dana.room_state(self.room, "m.room.member", self.bot) or {}).get(
                    "membership"
                )
                == "join"
            ),
            30,
            "porch's account to join the room",
        )


@pytest.fixture
def bot_linked(
    porch_factory: Callable[..., PorchProcess],
    matrix_user_factory: Callable[..., ChatUser],
    synapse: SandboxSynapse,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., BotLinked]:
    """``bot_linked(start=True, policies=None, **link)``: a fresh room and account, porch in
    bot mode serving them."""

    def make(start: bool = True, policies: dict[str, Any] | None = None, **link: Any) -> BotLinked:
        password = secrets.token_hex(12)
        bot = synapse.register_user(f"porchbot_{uuid.uuid4().hex[:8]}", password)
        # The child process reads the password from its environment, as an admin would set it.
        monkeypatch.setenv(PASSWORD_VAR, password)
        dana = matrix_user_factory()
        room = dana.create_room(name="Town square", preset="public_chat")
        dana.invite(room, bot)
        spec = {"name": "town", "forum": {"category": "town-square"}, "room": room, **link}
        porch = porch_factory(links=[spec])
        porch.data["matrix"] = {
            "homeserver": synapse.base_url,
            "server_name": "localhost",
            "mode": "bot",
            "bot": {"user_id": bot, "password": f"${{{PASSWORD_VAR}}}", "sync_timeout": 2},
            "timeout": 5,
        }
        if policies:
            porch.data["policies"] = policies
        porch.write()
        linked = BotLinked(room, dana, porch, bot)
        if start:
            linked.start()
        return linked

    return make


def bodies(town: BotLinked, contains: str) -> list[str]:
    return [
        str(e["content"]["body"])
        for e in town.dana.room_messages(town.room, limit=200)
        if is_text(contains)(e)
    ]


def posts_with(forum: SandboxForum, topic_id: int, text: str) -> list[dict[str, Any]]:
    return [p for p in live_posts(forum, topic_id) if text in p["raw"]]


def test_forum_posts_come_from_the_bot_account_naming_their_authors(
    bot_linked: Callable[..., BotLinked], forum: SandboxForum
) -> None:
    town = bot_linked()
    first = forum.create_topic(
        "alice", "town-square", "Where should the new bench go?", "Park gate or library steps?"
    )
    root = town.dana.wait_for_event(town.room, is_text("Where should the new bench go?"), 20)
    assert root["sender"] == town.bot
    content = root["content"]
    assert "Alice Adams (forum): Park gate or library steps?" in content["body"]
    assert "<strong>Alice Adams</strong> (forum):" in content["formatted_body"]
    assert f"{forum.base_url}/t/{first['topic_slug']}/{first['topic_id']}" in content["body"]

    forum.reply("bob", first["topic_id"], "Library steps: people wait there for the bus.")
    reply = town.dana.wait_for_event(town.room, is_text("Library steps: people wait"))
    assert reply["sender"] == town.bot
    assert reply["content"]["body"].startswith("Bob Brown (forum): Library steps")
    relation = reply["content"]["m.relates_to"]
    assert (relation["rel_type"], relation["event_id"]) == ("m.thread", root["event_id"])


def test_a_matrix_message_reaches_the_forum(
    bot_linked: Callable[..., BotLinked], forum: SandboxForum
) -> None:
    town = bot_linked()
    first = forum.create_topic(
        "alice", "town-square", "Opening hours of the library", "Should it open on Sundays?"
    )
    root = town.dana.wait_for_event(town.room, is_text("Opening hours of the library"), 20)
    town.dana.send_text(
        town.room, "Sunday afternoons would suit families.", thread_root=root["event_id"]
    )
    post = wait_for_post(forum, first["topic_id"], "Sunday afternoons would suit", 20)
    assert post["username"] == "chat-relay"
    assert town.dana.user_id in post["raw"]
    # Porch's own copy does not come back (its account's events are not carried).
    forum.reply("bob", first["topic_id"], "Noted, thanks for the idea.")
    town.dana.wait_for_event(town.room, is_text("Noted, thanks for the idea."))
    assert len(bodies(town, "Opening hours of the library")) == 1
    assert len(posts_with(forum, first["topic_id"], "Sunday afternoons would suit")) == 1


def test_a_restart_neither_repeats_old_messages_nor_loses_new_ones(
    bot_linked: Callable[..., BotLinked], forum: SandboxForum
) -> None:
    town = bot_linked()
    first = forum.create_topic(
        "alice", "town-square", "Ideas for the summer fair", "One idea per message, please."
    )
    root = town.dana.wait_for_event(town.room, is_text("Ideas for the summer fair"), 20)
    thread = root["event_id"]
    town.dana.send_text(town.room, "Idea one: a pie contest.", thread_root=thread)
    wait_for_post(forum, first["topic_id"], "Idea one", 20)

    town.porch.kill()
    town.dana.send_text(town.room, "Idea two: a dog show.", thread_root=thread)
    town.dana.send_text(town.room, "Idea three: a brass band.", thread_root=thread)
    town.start()

    wait_for_post(forum, first["topic_id"], "Idea two", 30)
    wait_for_post(forum, first["topic_id"], "Idea three", 30)
    town.dana.send_text(town.room, "Idea four: face painting.", thread_root=thread)
    wait_for_post(forum, first["topic_id"], "Idea four", 30)
    raws = [p["raw"] for p in live_posts(forum, first["topic_id"])]
    for idea in ("Idea one", "Idea two", "Idea three", "Idea four"):
        assert sum(idea in raw for raw in raws) == 1, (idea, raws)
    order = [next(i for i, raw in enumerate(raws) if idea in raw) for idea in ("one", "two")]
    assert order == sorted(order)
    assert len(bodies(town, "Ideas for the summer fair")) == 1
    # Neither the password nor the access token porch keeps reaches its (debug) log.
    with porch_store(town.porch) as store:
        session = SyncState(store.db).session(UserID(town.bot))
    assert session is not None and session.access_token
    log = town.porch.log_path.read_text(errors="replace")
    assert "bot sync: resuming the sync" in log
    assert session.access_token not in log
    assert os.environ[PASSWORD_VAR] not in log


def test_a_web_process_syncs_and_a_separate_worker_delivers(
    bot_linked: Callable[..., BotLinked], forum: SandboxForum
) -> None:
    """The worker has no login of its own: it uses the one the web process stored."""
    town = bot_linked(start=False)
    town.start("--role", "web")
    worker = town.porch.sibling("worker")
    worker.start("--role", "worker")
    first = forum.create_topic(
        "bob", "town-square", "Lost keys near the fountain", "A bunch of three keys, red tag."
    )
    root = town.dana.wait_for_event(town.room, is_text("Lost keys near the fountain"), 30)
    assert root["sender"] == town.bot
    assert "Bob Brown (forum):" in root["content"]["body"]
    town.dana.send_text(town.room, "They are mine, thank you!", thread_root=root["event_id"])
    wait_for_post(forum, first["topic_id"], "They are mine", 30)
    assert "bot sync" not in worker.log_tail(400)


PUBLISH_TAGGED = {
    "description": "only topics tagged publish go to the room",
    "forum-to-chat": {"action": "allow", "when": {"tags": ["publish"]}, "otherwise": "deny"},
    "chat-to-forum": {"action": "allow"},
}


def test_a_crossing_the_policy_denies_is_not_carried(
    bot_linked: Callable[..., BotLinked], forum: SandboxForum
) -> None:
    town = bot_linked(policy="publish-tagged", policies={"publish-tagged": PUBLISH_TAGGED})
    forum.create_topic(
        "alice", "town-square", "Draft minutes of the council", "Not ready for the room yet."
    )
    forum.create_topic(
        "alice",
        "town-square",
        "Fair opens on Saturday",
        "Gates open at ten in the morning.",
        tags=["publish"],
    )
    town.dana.wait_for_event(town.room, is_text("Fair opens on Saturday"), 20)
    # Topics are delivered in order: the denied one was decided before the allowed one came.
    assert bodies(town, "Draft minutes") == []
    refused = [
        e for e in audit_entries(town.porch) if e.outcome != "carried" and e.actor == "alice"
    ]
    assert [e.rule for e in refused] == ["policy:publish-tagged/forum-to-chat/otherwise"]


def test_the_commands_explain_bot_mode_and_check_its_login(
    bot_linked: Callable[..., BotLinked], monkeypatch: pytest.MonkeyPatch
) -> None:
    town = bot_linked(start=False)
    registration = town.porch.cli("registration")
    assert registration.returncode == 0, registration.stderr
    assert registration.stdout == ""
    assert "needs no registration file" in registration.stderr
    setup = town.porch.cli("setup", "matrix")
    assert setup.returncode == 0, setup.stderr
    assert "needs no registration file" in setup.stdout
    assert f"invite {town.bot}" in setup.stdout

    check = town.porch.cli("check", "--online")
    assert check.returncode == 0, check.stderr

    monkeypatch.setenv(PASSWORD_VAR, "not-the-password")
    refused = town.porch.cli("check", "--online")
    assert refused.returncode == 1
    assert "matrix.bot.password: the homeserver refused the login" in refused.stderr
    assert "not-the-password" not in refused.stderr + refused.stdout
