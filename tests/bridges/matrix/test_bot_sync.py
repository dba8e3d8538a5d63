"""Bot mode against the real homeserver: login, the sync loop, its client, its online check.

Porch's account is an ordinary user registered on the session's Synapse; people are matrix-nio
users (``matrix_user_factory``); the inbox is a real SQLite store.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from bridges import codec
from bridges.links import LinkConfig
from bridges.matrix.bot_api import AppserviceOnly, BotAPI, BotToken, chat_api
from bridges.matrix.bot_check import bot_problems
from bridges.matrix.bot_sync import BotSync
from bridges.matrix.matrix_config import MatrixConfig
from bridges.matrix.matrix_errors import MatrixUnavailable
from bridges.model import ChatInvite, ChatMessage, EventKind, RoomID, UserID
from bridges.store.store import Store
from bridges.store.sync_state import SyncState
from sandbox.synapse import SandboxSynapse, free_port
from tests.rig.matrix import ChatUser
from tests.rig.wait import wait_until


@dataclass
class Account:
    """Porch's bot account on the homeserver, and the config that logs it in."""

    user_id: UserID
    password: str
    homeserver: str

    def config(self, **bot: Any) -> MatrixConfig:
        section = {"user_id": self.user_id, "password": self.password, **bot}
        return MatrixConfig.model_validate(
            {
                "homeserver": self.homeserver,
                "server_name": "localhost",
                "mode": "bot",
                "bot": section,
                "timeout": 10,
            }
        )


@pytest.fixture
def account(synapse: SandboxSynapse) -> Account:
    localpart = f"porchbot_{uuid.uuid4().hex[:8]}"
    password = secrets.token_hex(12)
    return Account(synapse.register_user(localpart, password), password, synapse.base_url)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(f"sqlite:///{tmp_path / 'porch.db'}")
    yield opened
    opened.close()


@dataclass
class Running:
    """A sync loop in its thread."""

    sync: BotSync
    thread: threading.Thread
    woken: list[int] = field(default_factory=list)

    def stop(self) -> None:
        self.sync.stop()
        self.thread.join(20)
        assert not self.thread.is_alive(), "the sync loop did not stop"


@pytest.fixture
def run_sync(store: Store) -> Iterator[Callable[..., Running]]:
    running: list[Running] = []

    def start(
        config: MatrixConfig,
        room: str | None = None,
        *,
        joined: ChatUser | None = None,
        **knobs: Any,
    ) -> Running:
        """Run the sync loop with ``room`` linked; with ``joined``, once they see porch's
        account join the room."""
        assert config.bot is not None
        links = []
        if room is not None:
            links = [
                LinkConfig.model_validate(
                    {"name": "town", "forum": {"category": "town-square"}, "room": room}
                )
            ]
        sessions = SyncState(store.db)
        woken: list[int] = []
        sync = BotSync(
            config.base_url,
            config.bot,
            links,
            sessions,
            store.inbox,
            chat_api(config, sessions),
            on_accepted=lambda: woken.append(1),
            request_timeout=10,
            **knobs,
        )
        thread = threading.Thread(target=sync.run, daemon=True)
        thread.start()
        run = Running(sync, thread, woken)
        running.append(run)
        if joined is not None and room is not None:
            wait_joined(joined, room, config.bot.user_id)
        return run

    yield start
    for run in running:
        run.stop()


def messages(store: Store) -> list[ChatMessage]:
    out = []
    for row in store.inbox.rows():
        if row.kind is EventKind.CHAT_MESSAGE:
            event = codec.decode(row.kind, row.payload)
            assert isinstance(event, ChatMessage)
            out.append(event)
    return out


def bodies(store: Store) -> list[str]:
    return [m.body for m in messages(store)]


def linked_room(dana: ChatUser, account: Account) -> RoomID:
    room = dana.create_room(name="Town square", preset="public_chat")
    dana.invite(room, account.user_id)
    return room


def wait_joined(dana: ChatUser, room: str, user_id: str) -> None:
    wait_until(
        lambda: (
            (dana.room_state(room, "m.room.member", user_id) or {}).get("membership") == "join"
        ),
        20,
        f"{user_id} to join {room}",
    )


def recorded_then_down(
    run_sync: Callable[..., Running],
    config: MatrixConfig,
    dana: ChatUser,
    room: RoomID,
    store: Store,
    said: str,
) -> None:
    """Sync until dana's ``said`` is the inbox's only message, then stop: porch is down."""
    first = run_sync(config, room, joined=dana)
    dana.send_text(room, said)
    wait_until(lambda: bodies(store) == [said], 20, f"{said!r} in the inbox")
    first.stop()


def test_the_first_sync_carries_no_history_and_later_messages_are_recorded(
    account: Account,
    matrix_user_factory: Callable[..., ChatUser],
    run_sync: Callable[..., Running],
    store: Store,
) -> None:
    dana = matrix_user_factory()
    room = linked_room(dana, account)
    dana.send_text(room, "Said before porch was there")
    run = run_sync(account.config(sync_timeout=1), room, joined=dana)
    sent = dana.send_text(room, "Hello from the square")
    wait_until(lambda: "Hello from the square" in bodies(store), 20, "the message in the inbox")
    [message] = messages(store)
    assert message.event_id == sent and message.room_id == room and message.sender == dana.user_id
    assert run.woken, "the worker was not woken"
    session = SyncState(store.db).session(account.user_id)
    assert session is not None and session.access_token and session.device_id == "PORCH"
    assert session.next_batch and session.failure is None


def test_a_restart_resumes_the_sync_without_losing_or_repeating_anything(
    account: Account,
    matrix_user_factory: Callable[..., ChatUser],
    run_sync: Callable[..., Running],
    store: Store,
) -> None:
    dana = matrix_user_factory()
    room = linked_room(dana, account)
    config = account.config(sync_timeout=1)
    recorded_then_down(run_sync, config, dana, room, store, "Before the restart")
    token = SyncState(store.db).session(account.user_id)
    assert token is not None

    for n in range(3):
        dana.send_text(room, f"While porch was down {n}")
    run_sync(config, room)
    wanted = ["Before the restart"] + [f"While porch was down {n}" for n in range(3)]
    wait_until(lambda: bodies(store) == wanted, 20, f"exactly {wanted}")
    dana.send_text(room, "After the restart")
    wait_until(lambda: bodies(store) == [*wanted, "After the restart"], 20, "the last message")
    again = SyncState(store.db).session(account.user_id)
    assert again is not None and again.access_token == token.access_token, "logged in again"


def test_a_gap_longer_than_one_sync_is_fetched_in_full(
    account: Account,
    matrix_user_factory: Callable[..., ChatUser],
    run_sync: Callable[..., Running],
    store: Store,
) -> None:
    dana = matrix_user_factory()
    room = linked_room(dana, account)
    config = account.config(sync_timeout=1, timeline_limit=2)
    recorded_then_down(run_sync, config, dana, room, store, "Start")
    for n in range(7):
        dana.send_text(room, f"Missed {n}")
    run_sync(config, room)
    wanted = ["Start"] + [f"Missed {n}" for n in range(7)]
    wait_until(lambda: bodies(store) == wanted, 20, "every missed message, in order")


def test_porchs_own_messages_are_not_recorded(
    account: Account,
    matrix_user_factory: Callable[..., ChatUser],
    run_sync: Callable[..., Running],
    store: Store,
) -> None:
    dana = matrix_user_factory()
    room = linked_room(dana, account)
    config = account.config(sync_timeout=1)
    run = run_sync(config, room, joined=dana)
    api = run.sync.api
    api.send(room, {"msgtype": "m.text", "body": "porch speaking"}, as_user=None, txn_id="t1")
    dana.send_text(room, "dana speaking")
    wait_until(lambda: "dana speaking" in bodies(store), 20, "dana's message")
    assert "porch speaking" not in bodies(store)


def test_a_direct_invite_to_the_account_is_recorded(
    account: Account,
    matrix_user_factory: Callable[..., ChatUser],
    run_sync: Callable[..., Running],
    store: Store,
) -> None:
    run = run_sync(account.config(sync_timeout=1))
    assert run.sync.synced.wait(20)
    dana = matrix_user_factory()
    room = dana.create_room(name="Porch and me")
    dana.invite(room, account.user_id)

    def invites() -> list[ChatInvite]:
        rows = [r for r in store.inbox.rows() if r.kind is EventKind.CHAT_INVITE]
        return [i for r in rows if isinstance(i := codec.decode(r.kind, r.payload), ChatInvite)]

    [invite] = wait_until(invites, 20, "the invite in the inbox")
    assert (invite.room_id, invite.sender, invite.invitee) == (room, dana.user_id, account.user_id)


def test_a_wrong_password_gives_up_at_once_and_says_why(
    account: Account, run_sync: Callable[..., Running], store: Store
) -> None:
    bad = account.config(password="not-the-password")
    run = run_sync(bad)
    run.thread.join(30)
    assert not run.thread.is_alive()
    assert run.sync.failure is not None and "refused the login" in run.sync.failure
    session = SyncState(store.db).session(account.user_id)
    assert session is not None and session.failure == run.sync.failure
    assert "not-the-password" not in run.sync.failure


def test_an_unreachable_homeserver_is_retried_a_bounded_number_of_times(
    account: Account, run_sync: Callable[..., Running], store: Store
) -> None:
    config = account.config(max_sync_failures=3).model_copy(
        update={"homeserver": f"http://127.0.0.1:{free_port()}"}
    )
    run = run_sync(config, backoff_initial=0.05)
    run.thread.join(30)
    assert not run.thread.is_alive()
    assert run.sync.failure is not None
    assert "could not log in 3 times in a row" in run.sync.failure


def test_the_client_acts_as_the_account_only(
    account: Account,
    matrix_user_factory: Callable[..., ChatUser],
    run_sync: Callable[..., Running],
    store: Store,
) -> None:
    config = account.config(sync_timeout=1)
    assert config.bot is not None
    waiting = BotAPI(config, BotToken(config.bot, SyncState(store.db)))
    with pytest.raises(MatrixUnavailable, match="has not logged in yet"):
        waiting.whoami()
    dana = matrix_user_factory()
    room = linked_room(dana, account)
    run_sync(config, room, joined=dana)
    # The same client works once the sync loop has logged in (it reads the stored token).
    assert waiting.whoami() == account.user_id
    event = waiting.send(
        room, {"msgtype": "m.text", "body": "as someone else?"}, as_user=dana.user_id, txn_id="x"
    )
    seen = dana.wait_for_text(room, "as someone else?")
    assert seen["event_id"] == event and seen["sender"] == account.user_id
    with pytest.raises(AppserviceOnly):
        waiting.ping()
    with pytest.raises(AppserviceOnly):
        waiting.ensure_registered("forum_alice")


def test_the_online_check_logs_in_and_out_and_finds_the_rooms(
    account: Account, matrix_user_factory: Callable[..., ChatUser]
) -> None:
    dana = matrix_user_factory()
    room = linked_room(dana, account)
    link = LinkConfig.model_validate(
        {"name": "town", "forum": {"category": "town-square"}, "room": room}
    )
    assert bot_problems(account.config(), [link]) == []
    wait_joined(dana, room, account.user_id)

    [refused] = bot_problems(account.config(password="wrong-password"), [link])
    assert refused.startswith("matrix.bot.password: the homeserver refused the login")
    assert "wrong-password" not in refused

    closed = dana.create_room(name="Not for porch")
    other = LinkConfig.model_validate(
        {"name": "closed", "forum": {"category": "town-square"}, "room": closed}
    )
    [cannot] = bot_problems(account.config(), [other])
    assert cannot.startswith("links[0].room: porch's account")


def test_what_was_said_before_porch_joined_a_room_is_not_carried(
    account: Account,
    matrix_user_factory: Callable[..., ChatUser],
    run_sync: Callable[..., Running],
    store: Store,
) -> None:
    """Porch has synced before; then it is invited to a room with a history, and joins."""
    config = account.config(sync_timeout=1)
    first = run_sync(config)
    assert first.sync.synced.wait(20)
    first.stop()
    dana = matrix_user_factory()
    room = dana.create_room(name="Older room", preset="public_chat")
    dana.send_text(room, "History porch never saw")
    dana.invite(room, account.user_id)
    run_sync(config, room, joined=dana)
    dana.send_text(room, "Said after porch joined")
    wait_until(lambda: "Said after porch joined" in bodies(store), 20, "the new message")
    assert bodies(store) == ["Said after porch joined"]


def test_a_stored_login_the_homeserver_dropped_is_replaced_and_the_sync_resumes(
    account: Account,
    matrix_user_factory: Callable[..., ChatUser],
    run_sync: Callable[..., Running],
    store: Store,
) -> None:
    dana = matrix_user_factory()
    room = linked_room(dana, account)
    config = account.config(sync_timeout=1)
    recorded_then_down(run_sync, config, dana, room, store, "Before the logout")
    old = SyncState(store.db).session(account.user_id)
    assert old is not None and old.access_token is not None
    # The admin logs porch's device out (say, from another client's device list).
    logout = requests.post(
        f"{account.homeserver}/_matrix/client/v3/logout",
        headers={"Authorization": f"Bearer {old.access_token}"},
        json={},
        timeout=10,
    )
    assert logout.status_code == 200, logout.text
    dana.send_text(room, "While logged out")
    run_sync(config, room)
    wait_until(
        lambda: bodies(store) == ["Before the logout", "While logged out"], 20, "the message"
    )
    new = SyncState(store.db).session(account.user_id)
    assert new is not None and new.access_token not in (None, old.access_token)
