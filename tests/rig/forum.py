"""The Discourse double on loopback, ready for a test: members, a category, a config for porch.

Fixtures:

- ``forum_secret`` (session): a webhook secret of Discourse's minimum length or more.
- ``forum``: a started :class:`SandboxForum` with an "all users" key :data:`FORUM_API_KEY`,
  members ``porch`` (admin), ``chat-relay`` (trust level 1), ``alice`` and ``bob``, and the
  category ``town-square``. No webhook yet: a test points it at porch with
  ``forum.set_webhook(url, forum_secret)`` once porch listens.
- ``discourse_config``: porch's ``discourse:`` config section for that forum.
- ``webhook_sink``: a loopback receiver that records the forum's webhook deliveries.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import SecretStr
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request

from bridges.discourse.discourse_config import DiscourseConfig
from sandbox.forum import SandboxForum

FORUM_API_KEY = secrets.token_hex(32)


@pytest.fixture(scope="session")
def forum_secret() -> str:
    """The webhook secret porch and the forum share (Discourse requires 12+ characters)."""
    return "whsec-" + secrets.token_hex(12)


@pytest.fixture
def forum() -> Iterator[SandboxForum]:
    """A running sandbox forum with porch's accounts, two members and ``town-square``."""
    sandbox = SandboxForum(api_key=FORUM_API_KEY)
    sandbox.start()
    try:
        sandbox.add_user("porch", name="Porch", admin=True)
        sandbox.add_user("chat-relay", name="Chat relay", trust_level=1)
        sandbox.add_user("alice", name="Alice Adams")
        sandbox.add_user("bob", name="Bob Brown")
        sandbox.add_category("town-square", "Town square")
        yield sandbox
    finally:
        sandbox.stop()


class _Quiet(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


@dataclass(frozen=True)
class Received:
    """One request the sink received."""

    path: str
    headers: dict[str, str]
    body: bytes


class WebhookSink:
    """A tiny HTTP server on loopback that records what is POSTed to it (a stand-in for
    porch's webhook door when a test looks at deliveries themselves)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.status = 200
        self._lock = threading.Lock()
        self._server = make_server(
            "127.0.0.1", 0, self._app, threaded=True, request_handler=_Quiet
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/discourse/webhook"

    def _app(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        request = Request(environ)
        with self._lock:
            self.received.append(Received(request.path, dict(request.headers), request.get_data()))
            status = self.status
        start_response(f"{status} X", [("Content-Type", "text/plain")])
        return [b"ok"]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def webhook_sink() -> Iterator[WebhookSink]:
    """A recording webhook receiver: ``forum.set_webhook(webhook_sink.url, secret)``."""
    sink = WebhookSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def discourse_config(forum: SandboxForum, forum_secret: str) -> DiscourseConfig:
    """Porch's ``discourse:`` section for ``forum``: it acts as ``porch``, relays as
    ``chat-relay``, and gives up on a call after a few seconds."""
    return DiscourseConfig(
        url=forum.base_url,  # type: ignore[arg-type]  # pydantic parses the string
        api_key=SecretStr(FORUM_API_KEY),
        api_username="porch",
        relay_username="chat-relay",
        webhook_secret=SecretStr(forum_secret),
        timeout=5.0,
    )
