"""The Matrix side of the test rig: one real Synapse per session, real users through matrix-nio.

Fixtures (all session-scoped unless noted):

- ``appservice_port``: the loopback port the homeserver expects porch's appservice on.
- ``matrix_config``: the ``MatrixConfig`` porch runs with in tests (appservice ``porch-test``,
  bot ``@porch:localhost``, ghosts ``@forum_*:localhost``, random tokens).
- ``synapse``: a started :class:`SandboxSynapse` with porch's registration loaded.
- ``matrix_user_factory``: ``make(localpart=None, password=None) -> ChatUser``, a logged-in
  person on the homeserver that tests drive from synchronous code.
- ``appservice_api`` (per test): porch's :class:`AppserviceAPI`, its bot registered.
- ``appservice_stub`` (per test): a stand-in listener on ``appservice_port`` that answers the
  homeserver's pings and transactions and records them (for tests of the client alone).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
from nio import (
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    JoinResponse,
    LoginResponse,
    MessageDirection,
    ProfileGetResponse,
    RoomCreateResponse,
    RoomGetStateEventResponse,
    RoomInviteResponse,
    RoomMessagesResponse,
    RoomPreset,
    RoomPutStateResponse,
    RoomRedactResponse,
    RoomSendResponse,
    RoomVisibility,
)
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from bridges.matrix.api import AppserviceAPI
from bridges.matrix.matrix_config import MatrixConfig
from bridges.matrix.registration import registration_yaml
from bridges.model import EventID, RoomID, UserID
from sandbox.synapse import SandboxSynapse, free_port
from tests.rig.wait import wait_until

T = TypeVar("T")


# --- the homeserver ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def appservice_port() -> int:
    """The port porch's appservice listens on in tests; the registration points here."""
    return free_port()


@pytest.fixture(scope="session")
def synapse_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def matrix_config(synapse_port: int, appservice_port: int) -> MatrixConfig:
    """Porch's matrix section for the session's homeserver, with fresh random tokens."""
    return MatrixConfig.model_validate(
        {
            "homeserver": f"http://127.0.0.1:{synapse_port}",
            "server_name": "localhost",
            "appservice": {
                "id": "porch-test",
                "url": f"http://127.0.0.1:{appservice_port}",
                "as_token": secrets.token_hex(24),
                "hs_token": secrets.token_hex(24),
                "bot_localpart": "porch",
                "ghost_prefix": "forum_",
            },
            "timeout": 10,
        }
    )


@pytest.fixture(scope="session")
def synapse(
    tmp_path_factory: pytest.TempPathFactory, matrix_config: MatrixConfig, synapse_port: int
) -> Iterator[SandboxSynapse]:
    """The session's homeserver, with porch's registration (``matrix_config``) loaded.

    The homeserver pushes events of rooms porch's bot or ghosts are in to
    ``http://127.0.0.1:<appservice_port>``. While nothing listens there it retries with a
    growing backoff (2 s, 4 s, ... up to minutes), so a test that expects transactions must
    start its listener (porch, or ``appservice_stub``) *before* it causes events; porch's start
    pings the homeserver, which makes Synapse resend what it queued at once.

    Tests may stop, kill and restart it; the next test that needs it finds it running again.
    """
    workdir = tmp_path_factory.mktemp("synapse")
    registration = workdir / "porch-registration.yaml"
    registration.write_text(registration_yaml(matrix_config), encoding="utf-8")
    homeserver = SandboxSynapse(
        workdir / "homeserver", port=synapse_port, registrations=[registration]
    )
    homeserver.start()
    try:
        yield homeserver
    finally:
        homeserver.stop()


@pytest.fixture(autouse=True)
def _synapse_running(request: pytest.FixtureRequest) -> None:
    """A test that left the homeserver stopped does not break the tests after it."""
    if "synapse" in request.fixturenames:
        homeserver: SandboxSynapse = request.getfixturevalue("synapse")
        if not homeserver.running:
            homeserver.start()


@pytest.fixture
def appservice_api(
    matrix_config: MatrixConfig, synapse: SandboxSynapse
) -> Iterator[AppserviceAPI]:
    """Porch's appservice client for this test (fresh membership cache), bot registered."""
    session = requests.Session()
    api = AppserviceAPI(matrix_config, session=session)
    assert matrix_config.appservice is not None
    api.ensure_registered(matrix_config.appservice.bot_localpart)
    yield api
    session.close()


# --- people on the homeserver -----------------------------------------------------------------


class _Loop:
    """A private asyncio loop in a thread, so synchronous tests can drive nio clients."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="nio-loop", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class ChatUserError(AssertionError):
    """The homeserver refused something a test user did."""


class ChatUser:
    """A real Matrix user (matrix-nio underneath) with a synchronous, test-friendly face.

    Reads go through ``/messages`` and state endpoints, so no sync loop is needed.
    """

    def __init__(self, loop: _Loop, client: AsyncClient, password: str) -> None:
        self._loop = loop
        self.client = client
        self.password = password
        self.user_id = UserID(client.user_id)

    def __repr__(self) -> str:
        return f"ChatUser({self.user_id})"

    @property
    def access_token(self) -> str:
        return str(self.client.access_token)

    def _ok(self, response: Any, expected: type, what: str) -> Any:
        if not isinstance(response, expected):
            detail = response
            if isinstance(response, ErrorResponse):
                detail = f"{response.status_code} {response.message}"
            raise ChatUserError(f"{self.user_id}: {what} failed: {detail}")
        return response

    # rooms

    def create_room(
        self,
        *,
        name: str | None = None,
        invite: Sequence[str] = (),
        preset: str = "private_chat",
        public: bool = False,
        alias: str | None = None,
        initial_state: Sequence[dict[str, Any]] = (),
        power_level_override: dict[str, Any] | None = None,
    ) -> RoomID:
        """Create a room; ``alias`` is the local part of an alias to publish."""
        response = self._loop.run(
            self.client.room_create(
                visibility=RoomVisibility.public if public else RoomVisibility.private,
                alias=alias,
                name=name,
                preset=RoomPreset(preset),
                invite=list(invite),
                initial_state=list(initial_state),
                power_level_override=power_level_override,
            )
        )
        return RoomID(self._ok(response, RoomCreateResponse, "create room").room_id)

    def join(self, room: str) -> RoomID:
        """Join a room by id or alias; returns the room id."""
        response = self._loop.run(self.client.join(room))
        return RoomID(self._ok(response, JoinResponse, f"join {room}").room_id)

    def leave(self, room: str) -> None:
        self._loop.run(self.client.room_leave(room))

    def invite(self, room: str, user_id: str) -> None:
        response = self._loop.run(self.client.room_invite(room, user_id))
        self._ok(response, RoomInviteResponse, f"invite {user_id} to {room}")

    def room_state(self, room: str, event_type: str, state_key: str = "") -> dict[str, Any] | None:
        """The content of one state event, or ``None`` if there is none."""
        response = self._loop.run(self.client.room_get_state_event(room, event_type, state_key))
        if isinstance(response, ErrorResponse) and response.status_code == "M_NOT_FOUND":
            return None
        content: dict[str, Any] = self._ok(
            response, RoomGetStateEventResponse, f"get {event_type} in {room}"
        ).content
        return content

    def profile(self, user_id: str) -> dict[str, Any]:
        """A user's global profile: ``displayname`` and ``avatar_url``."""
        response = self._loop.run(self.client.get_profile(user_id))
        got = self._ok(response, ProfileGetResponse, f"profile of {user_id}")
        return {"displayname": got.displayname, "avatar_url": got.avatar_url}

    # sending

    def send(
        self, room: str, content: dict[str, Any], event_type: str = "m.room.message"
    ) -> EventID:
        response = self._loop.run(
            self.client.room_send(room, event_type, content, tx_id=uuid.uuid4().hex)
        )
        return EventID(self._ok(response, RoomSendResponse, f"send to {room}").event_id)

    def put_state(
        self, room: str, event_type: str, content: dict[str, Any], state_key: str = ""
    ) -> EventID:
        """Send a state event (a new join rule, say); returns its event id."""
        response = self._loop.run(
            self.client.room_put_state(room, event_type, content, state_key=state_key)
        )
        return EventID(self._ok(response, RoomPutStateResponse, f"put {event_type}").event_id)

    def send_text(
        self,
        room: str,
        body: str,
        thread_root: str | None = None,
        reply_to: str | None = None,
        *,
        msgtype: str = "m.text",
        formatted_body: str | None = None,
    ) -> EventID:
        """Send a text; inside a thread if ``thread_root``, as a reply to ``reply_to`` if given."""
        content: dict[str, Any] = {"msgtype": msgtype, "body": body}
        if formatted_body is not None:
            content["format"] = "org.matrix.custom.html"
            content["formatted_body"] = formatted_body
        if thread_root is not None:
            content["m.relates_to"] = {
                "rel_type": "m.thread",
                "event_id": thread_root,
                "is_falling_back": reply_to is None,
                "m.in_reply_to": {"event_id": reply_to or thread_root},
            }
        elif reply_to is not None:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
        return self.send(room, content)

    def edit(self, room: str, event_id: str, body: str) -> EventID:
        """Replace the text of one of this user's messages (``m.replace``)."""
        return self.send(
            room,
            {
                "msgtype": "m.text",
                "body": f"* {body}",
                "m.new_content": {"msgtype": "m.text", "body": body},
                "m.relates_to": {"rel_type": "m.replace", "event_id": event_id},
            },
        )

    def react(self, room: str, event_id: str, key: str) -> EventID:
        return self.send(
            room,
            {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}},
            event_type="m.reaction",
        )

    def redact(self, room: str, event_id: str, reason: str | None = None) -> EventID:
        response = self._loop.run(
            self.client.room_redact(room, event_id, reason=reason, tx_id=uuid.uuid4().hex)
        )
        return EventID(self._ok(response, RoomRedactResponse, f"redact {event_id}").event_id)

    # reading

    def room_messages(self, room: str, limit: int = 50) -> list[dict[str, Any]]:
        """The room's latest ``limit`` timeline events as raw dicts, oldest first."""
        response = self._loop.run(
            self.client.room_messages(room, direction=MessageDirection.back, limit=limit)
        )
        got = self._ok(response, RoomMessagesResponse, f"messages of {room}")
        return [dict(event.source) for event in reversed(got.chunk)]

    def wait_for_event(
        self,
        room: str,
        predicate: Callable[[dict[str, Any]], object],
        timeout: float = 10.0,
        what: str = "a matching event",
    ) -> dict[str, Any]:
        """The first recent event of ``room`` that ``predicate`` accepts; fails on timeout."""

        def find() -> dict[str, Any] | None:
            return next((e for e in self.room_messages(room) if predicate(e)), None)

        return wait_until(find, timeout, f"{what} in {room} as seen by {self.user_id}")

    def wait_for_text(self, room: str, contains: str, timeout: float = 10.0) -> dict[str, Any]:
        """The first recent message whose body contains ``contains``."""
        return self.wait_for_event(
            room,
            lambda e: (
                e.get("type") == "m.room.message"
                and contains in str(e.get("content", {}).get("body", ""))
            ),
            timeout,
            f"a message containing {contains!r}",
        )


@pytest.fixture(scope="session")
def matrix_user_factory(synapse: SandboxSynapse) -> Iterator[Callable[..., ChatUser]]:
    """``make(localpart=None, password=None) -> ChatUser``: a real, logged-in user.

    Without a localpart the user gets a unique name, so tests never share people by accident.
    Clients never retry forever (bounded 429 and timeout retries) and are closed at session end.
    """
    loop = _Loop()
    clients: list[AsyncClient] = []

    def make(localpart: str | None = None, password: str | None = None) -> ChatUser:
        localpart = localpart or f"user_{uuid.uuid4().hex[:10]}"
        password = password or secrets.token_hex(8)
        user_id = synapse.register_user(localpart, password)
        config = AsyncClientConfig(max_limit_exceeded=3, max_timeouts=3, request_timeout=15)
        client = AsyncClient(synapse.base_url, user_id, config=config)
        clients.append(client)
        response = loop.run(client.login(password, device_name="porch-tests"))
        if not isinstance(response, LoginResponse):
            raise ChatUserError(f"{user_id}: login failed: {response}")
        return ChatUser(loop, client, password)

    yield make
    for client in clients:
        # Closing at session end must not hide the tests' results.
        with contextlib.suppress(Exception):
            loop.run(client.close(), timeout=10)
    loop.close()


# --- a stand-in for porch's appservice listener -------------------------------------------------


@dataclass
class AppserviceStub:
    """Records what the homeserver sends to the appservice URL and answers ``200 {}``.

    Checks the ``hs_token`` as porch does (``403 M_FORBIDDEN`` otherwise).
    """

    hs_token: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    server: BaseWSGIServer | None = None
    thread: threading.Thread | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        raw = request.get_data()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "authorization": request.headers.get("Authorization"),
                "body": body,
            }
        )
        if request.headers.get("Authorization") != f"Bearer {self.hs_token}":
            answer = {"errcode": "M_FORBIDDEN", "error": "bad hs_token"}
            return Response(json.dumps(answer), 403, content_type="application/json")(
                environ, start_response
            )
        if request.path.startswith(("/_matrix/app/v1/users/", "/_matrix/app/v1/rooms/")):
            answer = {"errcode": "M_NOT_FOUND", "error": "not here"}
            return Response(json.dumps(answer), 404, content_type="application/json")(
                environ, start_response
            )
        return Response("{}", 200, content_type="application/json")(environ, start_response)

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every event pushed in a transaction so far."""
        return [
            event
            for r in self.requests
            if r["path"].startswith("/_matrix/app/v1/transactions/") and r["body"]
            for event in r["body"].get("events", [])
        ]

    def pings(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"] == "/_matrix/app/v1/ping"]

    def start(self, port: int) -> None:
        server = make_server("127.0.0.1", port, self, threaded=True)
        self.server = server
        self.thread = threading.Thread(
            target=lambda: server.serve_forever(0.05), name="appservice-stub", daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        """Stop listening (idempotent): the homeserver finds nobody at the appservice URL."""
        if self.server is not None and self.thread is not None:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(10)
        self.server = self.thread = None


@pytest.fixture
def appservice_stub(matrix_config: MatrixConfig, appservice_port: int) -> Iterator[AppserviceStub]:
    """A stand-in listener on ``appservice_port`` for this test only (shut down afterwards)."""
    assert matrix_config.appservice is not None
    stub = AppserviceStub(matrix_config.appservice.hs_token.get_secret_value())
    stub.start(appservice_port)
    try:
        yield stub
    finally:
        stub.stop()


def registration_path(synapse: SandboxSynapse) -> Path:
    """Where the session's registration file is (for tests that read it back)."""
    return synapse.registrations[0]
