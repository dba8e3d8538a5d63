"""Porch's listeners hold every client to their limits, and the operators' endpoints stay off the
public one.

The server under test is the real one (:mod:`webhooks.http_server`, on loopback) serving the
real app on a real store; clients are raw sockets, so that a test can send half a request.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from bridges.store.store import Store
from sandbox.forum import SandboxForum
from sandbox.synapse import free_port
from tests.rig.forum import FORUM_API_KEY
from tests.rig.store import sqlite_url
from tests.rig.wait import wait_until
from tests.webhooks.configs import make_config
from webhooks.app import create_app, create_ops_app
from webhooks.config import ConfigError
from webhooks.http_server import HttpServer
from webhooks.lifecycle import InFlight
from webhooks.service import ListenError, Porch, Role, build

#: A request cut off in its headers: the server waits for the rest, which never comes.
HALF_SENT = b"POST /discourse/webhook HTTP/1.1\r\nHost: porch.test\r\nContent-Le"


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = Store.open(sqlite_url(tmp_path))
    yield store
    store.close()


@pytest.fixture
def serve(sqlite_store: Store) -> Iterator[Callable[..., HttpServer]]:
    """``serve(**limits)``: porch's public app on the real server, on a free loopback port."""
    running: list[tuple[HttpServer, threading.Thread]] = []

    def start(**limits: Any) -> HttpServer:
        settings: dict[str, Any] = {
            "threads": 2,
            "connection_limit": 400,
            "read_timeout": 2,
            "max_body_bytes": 1024 * 1024,
            **limits,
        }
        server = HttpServer(
            create_app(make_config(), sqlite_store), host="127.0.0.1", port=0, **settings
        )
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        running.append((server, thread))
        return server

    yield start
    for server, thread in running:
        server.close()
        thread.join(10)


def is_open(sock: socket.socket) -> bool:
    """Whether the server still holds ``sock``'s connection (nothing is consumed)."""
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True  # open, and nothing to read
    except OSError:
        return False  # reset


def half_open(port: int, count: int) -> list[socket.socket]:
    socks = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(HALF_SENT)
        socks.append(sock)
    return socks


def answer_to(port: int, raw: bytes, timeout: float = 10.0) -> bytes:
    """What the server answers to ``raw`` (read until it closes or the headers are in)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(raw)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        return received


def test_half_sent_requests_hold_no_thread_and_are_closed_after_the_read_timeout(
    serve: Callable[..., HttpServer],
) -> None:
    server = serve(threads=2, read_timeout=2)
    socks = half_open(server.port, 300)
    try:
        # 300 requests cut off in their headers, two threads: a whole request still gets in,
        # and is answered while every half-sent one is still waiting.
        response = requests.get(f"http://127.0.0.1:{server.port}/healthz", timeout=10)
        assert response.status_code == 200
        assert all(is_open(sock) for sock in socks), "closed before the normal request"
        # Then the read timeout hangs up on every one of them.
        wait_until(
            lambda: not any(is_open(sock) for sock in socks),
            15,
            "the half-sent requests to be closed",
        )
        assert requests.get(f"http://127.0.0.1:{server.port}/healthz", timeout=10).ok
    finally:
        for sock in socks:
            sock.close()


def test_a_request_dripped_byte_by_byte_is_closed_after_the_read_timeout(
    serve: Callable[..., HttpServer],
) -> None:
    """Never silent for the read timeout, yet it never ends: it gets the timeout too."""
    server = serve(read_timeout=2)
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    try:
        sock.sendall(b"POST /discourse/webhook HTTP/1.1\r\nX-Slow: ")
        started = time.monotonic()

        def dripped_and_closed() -> bool:
            try:
                sock.sendall(b"a")
            except OSError:
                return True
            return not is_open(sock)

        wait_until(dripped_and_closed, 15, "the dripping request to be closed")
        # Long after its last silence could have run out: it was the whole-request deadline.
        assert time.monotonic() - started >= 2
    finally:
        sock.close()


def test_connections_past_the_limit_wait_and_are_then_answered(
    serve: Callable[..., HttpServer],
) -> None:
    server = serve(connection_limit=20, read_timeout=2)
    socks = half_open(server.port, 40)
    try:
        # The limit is reached: a new request waits in the accept queue until the read
        # timeout frees room, then it is answered.
        response = requests.get(f"http://127.0.0.1:{server.port}/healthz", timeout=20)
        assert response.status_code == 200
    finally:
        for sock in socks:
            sock.close()


def test_a_huge_content_length_is_refused_413_before_the_body_is_read(
    serve: Callable[..., HttpServer],
) -> None:
    server = serve(max_body_bytes=64 * 1024)
    # 1 MB (which the door itself would take) and 10 GB announced, not one byte of either
    # sent: the answer comes from the headers alone, before any door or token check.
    for length in (1_000_000, 10_000_000_000):
        answer = answer_to(
            server.port,
            b"PUT /_matrix/app/v1/transactions/1 HTTP/1.1\r\nHost: porch.test\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % length,
        )
        assert answer.startswith(b"HTTP/1.1 413"), answer
    # At the limit itself, the body is read and reaches the door (which wants a token).
    body = b"{" + b" " * (64 * 1024 - 2) + b"}"
    answer = answer_to(
        server.port,
        b"PUT /_matrix/app/v1/transactions/1 HTTP/1.1\r\nHost: porch.test\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body,
    )
    assert answer.startswith(b"HTTP/1.1 401"), answer


def test_a_chunked_body_is_cut_off_at_the_limit(serve: Callable[..., HttpServer]) -> None:
    server = serve(max_body_bytes=64 * 1024)
    chunk = b"%x\r\n%s\r\n" % (4096, b"x" * 4096)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /discourse/webhook HTTP/1.1\r\nHost: porch.test\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        sent = 0
        try:
            # Up to 64 MB, far past the limit; the server answers and hangs up long before.
            while sent < 64 * 1024 * 1024:
                sock.sendall(chunk)
                sent += 4096
                if sent % (256 * 1024) == 0 and not is_open(sock):
                    break
                sock.setblocking(True)
                sock.settimeout(10)
        except OSError:
            pass
        sock.setblocking(True)
        sock.settimeout(10)
        try:
            answer = sock.recv(65536)
        except ConnectionResetError:
            answer = b""
    assert sent < 64 * 1024 * 1024
    assert answer == b"" or answer.startswith(b"HTTP/1.1 413"), answer


def test_a_stop_answers_the_request_in_hand_and_takes_no_new_one(sqlite_store: Store) -> None:
    entered, release = threading.Event(), threading.Event()

    def slow(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        entered.set()
        release.wait(10)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"recorded"]

    in_flight = InFlight(slow)
    server = HttpServer(
        in_flight,
        host="127.0.0.1",
        port=0,
        threads=2,
        connection_limit=10,
        read_timeout=5,
        max_body_bytes=1024,
    )
    porch = Porch(make_config(), sqlite_store, Role.WEB, server=server, in_flight=in_flight)
    porch.start()
    url = f"http://127.0.0.1:{server.port}/"
    with ThreadPoolExecutor(2) as pool:
        answer = pool.submit(requests.post, url, data=b"event", timeout=20)
        assert entered.wait(10)
        stopped = pool.submit(porch.stop, 15)

        def refused() -> bool:
            try:
                requests.get(url, timeout=2)
            except requests.ConnectionError:
                return True
            except requests.Timeout:
                # Connected in the instant before the listener closed, never read: not yet
                # the refusal this waits for; the next try comes after the close.
                return False
            return False

        wait_until(refused, 10, "the stopping porch to take no new connection")
        release.set()
        assert answer.result(20).text == "recorded"
        assert stopped.result(20) is True


# --- the ops listener ---------------------------------------------------------------------------


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Porch]:
    """A web-role porch from its config, both listeners started (the platforms are absent)."""
    config = make_config(
        store={"url": sqlite_url(tmp_path)},
        listen={"host": "127.0.0.1", "port": free_port(), "ops": {"port": 0}},
    )
    porch = build(config, Role.WEB)
    porch.start()
    yield porch
    porch.stop(5)


def test_metrics_and_readyz_are_on_the_ops_listener_only(web: Porch) -> None:
    assert web.server is not None and web.ops is not None
    public = f"http://127.0.0.1:{web.server.port}"
    ops = f"http://127.0.0.1:{web.ops.port}"
    for path in ("/metrics", "/readyz"):
        assert requests.get(public + path, timeout=10).status_code == 404, path
    assert requests.get(public + "/healthz", timeout=10).status_code == 200
    assert requests.get(ops + "/metrics", timeout=10).status_code == 200
    assert "porch_events_received_total" in requests.get(ops + "/metrics", timeout=10).text
    # The platforms are absent here: not ready, but answered (not 404).
    ready = requests.get(ops + "/readyz", timeout=10)
    assert ready.status_code == 503 and ready.json()["checks"]["store"] == "ok"
    assert requests.get(ops + "/healthz", timeout=10).status_code == 200


def test_the_ops_listener_is_on_loopback_unless_configured(web: Porch) -> None:
    assert make_config().listen.ops.host == "127.0.0.1"
    assert web.ops is not None and web.ops.host == "127.0.0.1"


def test_unsafe_limits_are_refused_with_their_paths() -> None:
    with pytest.raises(ConfigError) as caught:
        make_config(
            listen={
                "threads": 0,
                "connection_limit": 0,
                "read_timeout": 0,
                "max_body_bytes": 10,
                "ops": {"forum_check_interval": 0},
            }
        )
    paths = sorted(error.split(":", 1)[0] for error in caught.value.errors)
    assert paths == [
        "listen.connection_limit",
        "listen.max_body_bytes",
        "listen.ops.forum_check_interval",
        "listen.read_timeout",
        "listen.threads",
    ]


def test_a_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = make_config(store={"url": sqlite_url(tmp_path)}, listen={"ops": {"port": port}})
        with pytest.raises(ListenError, match=f"cannot listen on 127.0.0.1:{port}"):
            build(config, Role.WORKER)


def test_readyz_asks_the_forum_at_most_once_per_interval(
    sqlite_store: Store, forum: SandboxForum
) -> None:
    now = [1000.0]
    config = make_config(
        discourse={"url": forum.base_url, "api_key": FORUM_API_KEY},
        listen={"ops": {"forum_check_interval": 30}},
    )
    client = create_ops_app(config, sqlite_store, clock=lambda: now[0]).test_client()

    def forum_checks() -> int:
        return sum(1 for call in forum.requests_log() if "session/current" in call.path)

    def probe(_: int) -> str:
        body = client.get("/readyz").json
        assert body is not None
        return str(body["checks"]["forum"])

    # 40 probes, 8 at a time, within the interval: one request of the forum's budget.
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(probe, range(40)))
    assert outcomes == ["ok"] * 40
    assert forum_checks() == 1
    now[0] += 29
    assert probe(0) == "ok" and forum_checks() == 1
    # Once the interval is over, the next probe asks again.
    now[0] += 2
    assert probe(0) == "ok" and forum_checks() == 2
