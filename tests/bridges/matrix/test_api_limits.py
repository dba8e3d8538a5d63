"""How porch's Matrix client behaves when the homeserver is slow, down or rate-limiting.

These cases cannot be provoked on demand from a real Synapse, so a scripted stand-in for the
*homeserver* answers over real loopback HTTP (porch's own code runs unmodified).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from bridges.matrix.api import AppserviceAPI
from bridges.matrix.matrix_config import MatrixConfig
from bridges.matrix.matrix_errors import (
    MatrixError,
    MatrixRateLimited,
    MatrixUnavailable,
    is_errcode,
)
from bridges.model import RoomID, UserID
from sandbox.synapse import free_port

AS_TOKEN = "as_" + "s3cr3t" * 6
ROOM = RoomID("!room:stub")
GHOST = UserID("@forum_alice:localhost")


@dataclass
class ScriptedHomeserver:
    """Answers each request with the next scripted answer (the last one repeats)."""

    answers: list[tuple[int, Any, dict[str, str]]] = field(default_factory=list)
    seen: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def script(self, *answers: tuple[int, Any] | tuple[int, Any, dict[str, str]]) -> None:
        self.answers = [(a[0], a[1], a[2] if len(a) > 2 else {}) for a in answers]

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        self.seen.append(
            {
                "method": request.method,
                "path": request.path,
                "args": dict(request.args),
                "authorization": request.headers.get("Authorization"),
            }
        )
        status, body, headers = self.answers[0] if len(self.answers) == 1 else self.answers.pop(0)
        text = body if isinstance(body, str) else json.dumps(body)
        content_type = "text/plain" if isinstance(body, str) else "application/json"
        response = Response(text, status, content_type=content_type, headers=headers)
        return response(environ, start_response)


@pytest.fixture
def homeserver() -> Iterator[ScriptedHomeserver]:
    stub = ScriptedHomeserver()
    server = make_server("127.0.0.1", free_port(), stub, threaded=True)
    stub.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=lambda: server.serve_forever(0.05), daemon=True)
    thread.start()
    yield stub
    server.shutdown()
    server.server_close()
    thread.join(10)


def _config(url: str, timeout: float = 5.0) -> MatrixConfig:
    return MatrixConfig.model_validate(
        {
            "homeserver": url,
            "server_name": "localhost",
            "appservice": {
                "id": "porch",
                "url": "http://127.0.0.1:9",
                "as_token": AS_TOKEN,
                "hs_token": "hs_" + "x" * 20,
            },
            "timeout": timeout,
        }
    )


def _send(api: AppserviceAPI) -> str:
    return api.send(ROOM, {"msgtype": "m.text", "body": "hi"}, as_user=GHOST, txn_id="t1")


def _limited(ms: int) -> tuple[int, dict[str, Any]]:
    return 429, {"errcode": "M_LIMIT_EXCEEDED", "error": "Too many requests", "retry_after_ms": ms}


def test_a_short_rate_limit_is_waited_out_and_the_message_sent(
    homeserver: ScriptedHomeserver,
) -> None:
    homeserver.script(_limited(50), _limited(50), (200, {"event_id": "$sent"}))
    api = AppserviceAPI(_config(homeserver.url))
    started = time.monotonic()
    assert _send(api) == "$sent"
    assert time.monotonic() - started >= 0.1
    assert len(homeserver.seen) == 3
    # Every attempt is the same call, as the ghost, with the token in the header only.
    for request in homeserver.seen:
        assert request["method"] == "PUT"
        assert request["path"] == "/_matrix/client/v3/rooms/!room:stub/send/m.room.message/t1"
        assert request["args"] == {"user_id": GHOST}
        assert request["authorization"] == f"Bearer {AS_TOKEN}"


def test_a_long_rate_limit_raises_at_once_with_the_wait(homeserver: ScriptedHomeserver) -> None:
    homeserver.script(_limited(5000))
    api = AppserviceAPI(_config(homeserver.url))
    started = time.monotonic()
    with pytest.raises(MatrixRateLimited) as caught:
        _send(api)
    assert time.monotonic() - started < 1.0
    assert caught.value.retry_after == pytest.approx(5.0)
    assert caught.value.errcode == "M_LIMIT_EXCEEDED"
    assert len(homeserver.seen) == 1


def test_short_rate_limits_are_retried_three_times_only(homeserver: ScriptedHomeserver) -> None:
    homeserver.script(_limited(10))
    api = AppserviceAPI(_config(homeserver.url))
    with pytest.raises(MatrixRateLimited):
        _send(api)
    assert len(homeserver.seen) == 4


def test_a_plain_429_uses_retry_after(homeserver: ScriptedHomeserver) -> None:
    homeserver.script((429, "slow down", {"Retry-After": "30"}))
    with pytest.raises(MatrixRateLimited) as caught:
        _send(AppserviceAPI(_config(homeserver.url)))
    assert caught.value.retry_after == pytest.approx(30.0)


def test_a_server_error_is_transient_and_not_retried_inside(
    homeserver: ScriptedHomeserver,
) -> None:
    homeserver.script((502, {"errcode": "M_UNKNOWN", "error": "bad gateway"}))
    with pytest.raises(MatrixUnavailable) as caught:
        _send(AppserviceAPI(_config(homeserver.url)))
    assert caught.value.status == 502
    assert len(homeserver.seen) == 1


def test_a_refusal_is_an_error_with_its_errcode(homeserver: ScriptedHomeserver) -> None:
    homeserver.script((403, {"errcode": "M_FORBIDDEN", "error": "not in room"}))
    with pytest.raises(MatrixError) as caught:
        _send(AppserviceAPI(_config(homeserver.url)))
    assert not isinstance(caught.value, MatrixUnavailable | MatrixRateLimited)
    assert is_errcode(caught.value, "M_FORBIDDEN")
    assert "PUT /_matrix/client/v3/rooms/!room:stub/send/m.room.message/t1" in str(caught.value)


def test_no_token_in_errors_or_logs(
    homeserver: ScriptedHomeserver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    homeserver.script(_limited(10), (401, {"errcode": "M_UNKNOWN_TOKEN", "error": "nope"}))
    with pytest.raises(MatrixError) as caught:
        _send(AppserviceAPI(_config(homeserver.url)))
    assert AS_TOKEN not in str(caught.value)
    assert AS_TOKEN not in repr(caught.value)
    assert AS_TOKEN not in caplog.text


def test_a_homeserver_that_never_answers_fails_within_the_timeout() -> None:
    # A socket that listens but never accepts: the connection opens, no answer ever comes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        api = AppserviceAPI(_config(f"http://127.0.0.1:{port}", timeout=0.5))
        started = time.monotonic()
        with pytest.raises(MatrixUnavailable) as caught:
            _send(api)
        elapsed = time.monotonic() - started
    assert 0.4 <= elapsed < 3.0
    assert caught.value.status is None
    assert "0.5s" in str(caught.value)


def test_a_homeserver_that_is_down_is_unavailable() -> None:
    api = AppserviceAPI(_config(f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(MatrixUnavailable):
        api.versions()


def test_transaction_ids_never_repeat_across_threads() -> None:
    api = AppserviceAPI(_config("http://127.0.0.1:9"))
    ids: list[str] = []

    def make() -> None:
        ids.extend(api.new_txn_id() for _ in range(500))

    threads = [threading.Thread(target=make) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ids) == 2000 == len(set(ids))
