"""``porch check --online``'s homeserver checks when the appservice ping fails once.

Synapse answers a ping 502 now and then when its keep-alive connection to porch's port has gone
stale; that cannot be provoked on demand from a real Synapse, so a scripted stand-in for the
*homeserver* answers over real loopback HTTP (porch's own code runs unmodified).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

from bridges import preflight
from bridges.matrix.api import AppserviceAPI
from bridges.matrix.matrix_config import MatrixConfig
from sandbox.synapse import free_port
from tests.bridges.matrix.test_api_limits import ScriptedHomeserver

PING = "/_matrix/client/v1/appservice/porch/ping"
CANCELLED = (
    502,
    {"errcode": "M_CONNECTION_FAILED", "error": "Ping failed: AlreadyCancelled"},
)


@pytest.fixture
def homeserver(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedHomeserver]:
    monkeypatch.setattr(preflight, "PING_BACKOFF", (0.01, 0.01, 0.01))
    stub = ScriptedHomeserver()
    server = make_server("127.0.0.1", free_port(), stub, threaded=True)
    stub.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=lambda: server.serve_forever(0.05), daemon=True)
    thread.start()
    yield stub
    server.shutdown()
    server.server_close()
    thread.join(10)


def _config(homeserver: str) -> MatrixConfig:
    return MatrixConfig.model_validate(
        {
            "homeserver": homeserver,
            "server_name": "localhost",
            "appservice": {
                "id": "porch",
                "url": "http://127.0.0.1:9",
                "as_token": "as_" + "s3cr3t" * 6,
                "hs_token": "hs_" + "x" * 20,
            },
            "timeout": 5,
        }
    )


def _problems(homeserver: ScriptedHomeserver) -> list[str]:
    config = _config(homeserver.url)
    return preflight._matrix_problems(AppserviceAPI(config), config, [])


def _answers(*pings: tuple[int, Any]) -> list[tuple[int, Any]]:
    return [(200, {"versions": ["v1.13"]}), (200, {"user_id": "@porch:localhost"}), *pings]


def test_a_ping_failing_once_with_a_stale_connection_passes(
    homeserver: ScriptedHomeserver,
) -> None:
    homeserver.script(*_answers(CANCELLED, (200, {"duration_ms": 3})))
    assert _problems(homeserver) == []
    assert [s["path"] for s in homeserver.seen].count(PING) == 2


def test_a_ping_that_keeps_failing_is_reported(homeserver: ScriptedHomeserver) -> None:
    homeserver.script(*_answers(CANCELLED))
    [problem] = _problems(homeserver)
    assert problem.startswith("matrix.appservice.url: the homeserver cannot reach porch")
    assert "AlreadyCancelled" in problem
    assert [s["path"] for s in homeserver.seen].count(PING) == 4


def test_a_refused_ping_is_reported_without_retrying(homeserver: ScriptedHomeserver) -> None:
    homeserver.script(*_answers((403, {"errcode": "M_FORBIDDEN", "error": "not yours"})))
    [problem] = _problems(homeserver)
    assert "M_FORBIDDEN" in problem
    assert [s["path"] for s in homeserver.seen].count(PING) == 1


def test_a_homeserver_that_does_not_answer_is_named() -> None:
    config = _config(f"http://127.0.0.1:{free_port()}")
    [problem] = preflight._matrix_problems(AppserviceAPI(config), config, [])
    assert problem.startswith("matrix.homeserver: the homeserver does not answer")
