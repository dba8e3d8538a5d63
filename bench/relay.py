"""Relay benchmark: what porch costs over talking to each platform directly, on one machine.

One run starts its own sandbox on loopback (a Synapse homeserver with porch's appservice
registration, the Discourse double, and ``porch serve`` in a child process, so the real HTTP
doors are in the path) and measures, side by side:

- **forum -> chat**: from the moment porch answered 200 to the forum's webhook delivery to the
  moment the event arrives at a Matrix client long-polling ``/sync``; against the homeserver's
  own send path (a user's ``PUT /send`` to the same client's ``/sync``).
- **chat -> forum**: from a Matrix user's ``room_send`` returning to the post existing in the
  forum; against the forum's own API (``POST /posts.json`` to the post existing).

Each as a burst (``--posts`` / ``--messages`` items in one thread, throughput and latency) and
one at a time (``--sequential`` items, latency). The ratio porch / direct is the figure that
matters: both run on the same cores in the same minute.

Usage (from the repository root, after ``pip install -e '.[test]'``)::

    python bench/relay.py                       # default sizes, about a minute on 2 cores
    python bench/relay.py --posts 50 --messages 50 --sequential 10 --workdir /tmp/bench

Exit status 0 when every item arrived exactly once and in order, 1 otherwise (the table is
printed either way, the problems below it), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import importlib.metadata
import json
import math
import os
import platform
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

# The doubles (sandbox/) sit next to the packages in the checkout and are not installed;
# run as a script, this file's folder is on sys.path, not the checkout's root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
import requests
import yaml
from nio import (
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    JoinResponse,
    LoginResponse,
    RoomCreateResponse,
    RoomPreset,
    RoomSendResponse,
    RoomVisibility,
)
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bridges.matrix.api import AppserviceAPI
from bridges.matrix.matrix_config import MatrixConfig
from bridges.matrix.registration import registration_yaml
from bridges.model import UserID
from sandbox.forum import Delivery, SandboxForum
from sandbox.synapse import SandboxSynapse, free_port
from webhooks.config import parse_config

T = TypeVar("T")

#: Every measured message carries one marker, so each observation point can tell which it saw.
_MARK = re.compile(r"relay-bench ([a-z]+) (\d{5})")
_LINKED_CATEGORY = "town-square"
_OTHER_CATEGORY = "elsewhere"
_AUTHORS = ("alice", "bob")
#: How often the forum's event list is looked at for new posts (seconds).
_FORUM_POLL = 0.002
#: Long-poll length of the watching client's /sync (milliseconds).
_SYNC_TIMEOUT_MS = 5000


def mark(phase: str, index: int) -> str:
    """The marker of item ``index`` of ``phase`` (lower-case letters only)."""
    return f"relay-bench {phase} {index:05d}"


class BenchError(RuntimeError):
    """Something the benchmark needs did not work; the message says what."""


# --- observation points ------------------------------------------------------------------------


class Arrivals:
    """When each marked item was first seen at one observation point (thread-safe)."""

    def __init__(self, where: str) -> None:
        self.where = where
        self._cond = threading.Condition()
        self.first: dict[str, float] = {}
        self.ident: dict[str, str] = {}
        #: markers in the order they were seen, repeats included (for order and duplicates)
        self.seen: list[str] = []

    def record(self, text: str, at: float, ident: str) -> None:
        """Note the item whose text is ``text`` (if it has a marker) as seen at ``at``."""
        found = _MARK.search(text)
        if found is None:
            return
        marker = found.group(0)
        with self._cond:
            self.seen.append(marker)
            if marker not in self.first:
                self.first[marker] = at
                self.ident[marker] = ident
            self._cond.notify_all()

    def wait_for(self, markers: Sequence[str], stall: float) -> list[str]:
        """Wait until every marker was seen; give up when nothing new arrived for ``stall``
        seconds. Returns the markers still missing (empty when all arrived)."""
        wanted = set(markers)
        with self._cond:
            count = -1
            deadline = time.monotonic() + stall
            while True:
                missing = wanted - self.first.keys()
                if not missing:
                    return []
                if len(self.first) != count:
                    count = len(self.first)
                    deadline = time.monotonic() + stall
                left = deadline - time.monotonic()
                if left <= 0:
                    return sorted(missing)
                self._cond.wait(min(left, 0.5))

    def problems(self, markers: Sequence[str]) -> list[str]:
        """Duplicates and order breaks among ``markers`` (which are in sending order)."""
        wanted = set(markers)
        with self._cond:
            seen = [m for m in self.seen if m in wanted]
        out: list[str] = []
        repeats = len(seen) - len(set(seen))
        if repeats:
            out.append(f"{repeats} duplicate(s) at {self.where}")
        first_order = list(dict.fromkeys(seen))
        expected = [m for m in markers if m in set(first_order)]
        if first_order != expected:
            out.append(f"order broken at {self.where}")
        return out


class ForumWatcher:
    """Stamps the moment each marked post exists in the forum double (polls its event list)."""

    def __init__(self, forum: SandboxForum, arrivals: Arrivals) -> None:
        self.forum = forum
        self.arrivals = arrivals
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-forum-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        done = 0
        while not self._stop.is_set():
            events = self.forum.events()
            at = time.time()
            for event in events[done:]:
                if event.name == "post_created":
                    payload = event.payload
                    self.arrivals.record(str(payload.get("raw", "")), at, str(payload.get("id")))
            done = len(events)
            self._stop.wait(_FORUM_POLL)


class DeliveryWatcher:
    """Stamps the moment porch's 200 to each ``post_created`` webhook delivery came back."""

    def __init__(self, forum: SandboxForum, accepted: Arrivals) -> None:
        self.forum = forum
        self.accepted = accepted
        #: statuses of marked deliveries porch did not accept (-1: no connection)
        self.refused: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-hooks-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        done = 0
        while not self._stop.is_set():
            try:
                records = self.forum.wait_for_deliveries(done + 1, timeout=0.2)
            except TimeoutError:
                continue
            # The dispatcher files a delivery right after its response returned: now is when
            # the forum learnt that porch accepted it.
            at = time.time()
            for delivery in records[done:]:
                self._note(delivery, at)
            done = len(records)

    def _note(self, delivery: Delivery, at: float) -> None:
        if delivery.event_name != "post_created":
            return
        raw = str(delivery.payload.get("post", {}).get("raw", ""))
        if delivery.status == 200:
            self.accepted.record(raw, at, str(delivery.event_id))
        elif _MARK.search(raw):
            self.refused.append(-1 if delivery.status is None else delivery.status)


class _Loop:
    """An asyncio loop in a thread: the Matrix clients live here, driven from the main thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="bench-nio", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> concurrent.futures.Future[None]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class SyncWatcher:
    """A Matrix client long-polling ``/sync``; stamps each marked message as it arrives.

    The time is taken as soon as the response body is in, before any parsing, so the cost of
    decoding a large batch does not count against the path being measured.
    """

    def __init__(self, client: AsyncClient, arrivals: Arrivals) -> None:
        self.client = client
        self.arrivals = arrivals
        self.errors: list[str] = []
        self._filter = json.dumps(
            {
                "room": {
                    "timeline": {"limit": 1000, "types": ["m.room.message"]},
                    "state": {"types": [], "lazy_load_members": True},
                    "ephemeral": {"types": []},
                    "account_data": {"types": []},
                },
                "presence": {"types": []},
                "account_data": {"types": []},
            },
            separators=(",", ":"),
        )

    async def watch(self) -> None:
        since: str | None = None
        while True:
            query = {"filter": self._filter, "timeout": str(_SYNC_TIMEOUT_MS if since else 0)}
            if since:
                query["since"] = since
            try:
                response = await self.client.send(
                    "GET",
                    f"/_matrix/client/v3/sync?{urlencode(query)}",
                    headers={"Authorization": f"Bearer {self.client.access_token}"},
                    timeout=_SYNC_TIMEOUT_MS / 1000 + 15,
                )
                raw = await response.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                # Keep watching (the run is failed anyway): a dead watcher would look like loss.
                self.errors.append(f"/sync failed: {type(exc).__name__}: {exc}")
                await asyncio.sleep(0.5)
                continue
            at = time.time()
            if response.status != 200:
                self.errors.append(f"/sync answered {response.status}: {raw[:200]!r}")
                await asyncio.sleep(0.5)
                continue
            body = json.loads(raw)
            for room_id, room in body.get("rooms", {}).get("join", {}).items():
                timeline = room.get("timeline", {})
                if timeline.get("limited") and since:
                    self.errors.append(f"/sync skipped events in {room_id} (limited timeline)")
                for event in timeline.get("events", []):
                    text = str(event.get("content", {}).get("body", ""))
                    self.arrivals.record(text, at, str(event.get("event_id")))
            since = str(body["next_batch"])


# --- the sandbox -------------------------------------------------------------------------------


def _ok(response: Any, expected: type, what: str) -> Any:
    if not isinstance(response, expected):
        detail = response
        if isinstance(response, ErrorResponse):
            detail = f"{response.status_code} {response.message}"
        raise BenchError(f"{what} failed: {detail}")
    return response


async def _send_text(client: AsyncClient, room: str, body: str, thread_root: str | None) -> str:
    content: dict[str, Any] = {"msgtype": "m.text", "body": body}
    if thread_root is not None:
        content["m.relates_to"] = {
            "rel_type": "m.thread",
            "event_id": thread_root,
            "is_falling_back": True,
            "m.in_reply_to": {"event_id": thread_root},
        }
    response = await client.room_send(room, "m.room.message", content, tx_id=uuid.uuid4().hex)
    return str(_ok(response, RoomSendResponse, f"{client.user_id} sending to {room}").event_id)


@dataclass
class Sandbox:
    """Everything one run starts, and what the phases need to reach it."""

    workdir: Path
    console: Console
    store_url: str | None = None
    synapse: SandboxSynapse | None = None
    forum: SandboxForum | None = None
    porch: subprocess.Popen[bytes] | None = None
    loop: _Loop | None = None
    clients: list[AsyncClient] = field(default_factory=list)
    watch_task: concurrent.futures.Future[None] | None = None
    threads: list[ForumWatcher | DeliveryWatcher] = field(default_factory=list)
    # filled in by start()
    api_key: str = ""
    webhook_secret: str = ""
    porch_url: str = ""
    room: str = ""
    root_event: str = ""
    topic_id: int = 0
    other_topic_id: int = 0
    direct_room: str = ""
    direct_root: str = ""
    carol: AsyncClient | None = None
    dave: AsyncClient | None = None
    sync: SyncWatcher | None = None
    deliveries: DeliveryWatcher | None = None
    in_chat: Arrivals = field(default_factory=lambda: Arrivals("the Matrix client"))
    in_forum: Arrivals = field(default_factory=lambda: Arrivals("the forum"))
    accepted: Arrivals = field(default_factory=lambda: Arrivals("porch's webhook door"))

    # --- start -----------------------------------------------------------------------------

    def start(self, stall: float) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.api_key = secrets.token_hex(16)
        self.webhook_secret = secrets.token_hex(16)
        synapse_port, porch_port = free_port(), free_port()
        self.porch_url = f"http://127.0.0.1:{porch_port}"
        matrix_data = {
            "homeserver": f"http://127.0.0.1:{synapse_port}",
            "server_name": "localhost",
            "appservice": {
                "id": "porch-bench",
                "url": self.porch_url,
                "as_token": secrets.token_hex(24),
                "hs_token": secrets.token_hex(24),
                "bot_localpart": "porch",
                "ghost_prefix": "forum_",
            },
        }
        matrix = MatrixConfig.model_validate(matrix_data)
        registration = self.workdir / "registration.yaml"
        registration.write_text(registration_yaml(matrix), encoding="utf-8")
        registration.chmod(0o600)  # it holds porch's tokens

        self.step("starting Synapse")
        self.synapse = SandboxSynapse(
            self.workdir / "synapse", port=synapse_port, registrations=[registration]
        )
        self.synapse.start()

        self.step("starting the forum double")
        forum = self.forum = SandboxForum(api_key=self.api_key)
        forum.start()
        forum.add_user("porch", name="Porch", admin=True)
        forum.add_user("chat-relay", name="Chat relay", trust_level=1)
        forum.add_user("alice", name="Alice Adams")
        forum.add_user("bob", name="Bob Brown")
        forum.add_category(_LINKED_CATEGORY, "Town square")
        forum.add_category(_OTHER_CATEGORY, "Elsewhere")
        # No webhook yet: this topic is the direct-API baseline's, porch never hears of it.
        other = forum.create_topic(
            "bob", _OTHER_CATEGORY, "Direct API baseline topic", "Posts made straight to the API."
        )
        self.other_topic_id = int(other["topic_id"])

        self.step("creating Matrix users and rooms")
        self.loop = _Loop()
        viewer = self._login("viewer")
        self.carol = self._login("carol")
        self.dave = self._login("dave")
        bot = AppserviceAPI(matrix)
        bot.ensure_registered("porch")
        self.room = bot.create_room(
            name="Relay bench",
            invite=[UserID(str(viewer.user_id)), UserID(str(self.carol.user_id))],
            preset="public_chat",
        )
        for client in (viewer, self.carol):
            self.loop.run(self._join(client, self.room))
        # The baseline room has no appservice member: the homeserver alone, no porch.
        created = self.loop.run(
            self.dave.room_create(
                visibility=RoomVisibility.private,
                name="Direct baseline",
                preset=RoomPreset.public_chat,
            )
        )
        self.direct_room = str(_ok(created, RoomCreateResponse, "creating a room").room_id)
        self.loop.run(self._join(viewer, self.direct_room))

        self.sync = SyncWatcher(viewer, self.in_chat)
        self.watch_task = self.loop.spawn(self.sync.watch())
        forum_watch = ForumWatcher(forum, self.in_forum)
        self.deliveries = DeliveryWatcher(forum, self.accepted)
        self.threads = [forum_watch, self.deliveries]
        for thread in self.threads:
            thread.start()

        self.step("starting porch serve")
        config = {
            "discourse": {
                "url": forum.base_url,
                "api_key": self.api_key,
                "api_username": "porch",
                "relay_username": "chat-relay",
                "webhook_secret": self.webhook_secret,
            },
            "matrix": matrix_data,
            "listen": {"host": "127.0.0.1", "port": porch_port, "ops": {"port": free_port()}},
            "store": {"url": self.store_url or f"sqlite:///{self.workdir / 'porch.db'}"},
            "links": [
                {
                    "name": "bench",
                    "forum": {"category": _LINKED_CATEGORY},
                    "room": self.room,
                    "direction": "both",
                }
            ],
        }
        text = yaml.safe_dump(config, sort_keys=False)
        parse_config(text, source="bench config")  # a mistake here fails now, not in the child
        config_path = self.workdir / "porch.yaml"
        config_path.write_text(text, encoding="utf-8")
        config_path.chmod(0o600)
        self._start_porch(config_path)
        forum.set_webhook(f"{self.porch_url}/discourse/webhook", self.webhook_secret)

        self.step("warming up (first ghosts, joins, connections; not measured)")
        self._warm_up(stall)

    def step(self, text: str) -> None:
        self.console.print(f"[dim]- {text}[/]")

    def _login(self, localpart: str) -> AsyncClient:
        assert self.synapse is not None and self.loop is not None
        password = secrets.token_hex(8)
        user_id = self.synapse.register_user(localpart, password)
        config = AsyncClientConfig(max_limit_exceeded=3, max_timeouts=3, request_timeout=30)
        client = AsyncClient(self.synapse.base_url, user_id, config=config)
        self.clients.append(client)
        _ok(
            self.loop.run(client.login(password, device_name="relay-bench")),
            LoginResponse,
            "login",
        )
        return client

    async def _join(self, client: AsyncClient, room: str) -> None:
        _ok(await client.join(room), JoinResponse, f"{client.user_id} joining {room}")

    def _start_porch(self, config_path: Path) -> None:
        log = (self.workdir / "porch.log").open("ab")
        self.porch = subprocess.Popen(
            [sys.executable, "-m", "webhooks.cli", "serve", "-c", str(config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.workdir,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.porch.poll() is not None:
                raise BenchError(f"porch exited with {self.porch.returncode}:\n{self.porch_log()}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.porch_url}/healthz", timeout=1).status_code == 200:
                    return
            time.sleep(0.05)
        raise BenchError(f"porch did not answer /healthz within 60 s:\n{self.porch_log()}")

    def _warm_up(self, stall: float) -> None:
        assert self.forum is not None and self.loop is not None
        assert self.carol is not None and self.dave is not None
        root, first_reply, chat, direct = (mark("warm", i) for i in range(4))
        topic = self.forum.create_topic(
            "alice",
            _LINKED_CATEGORY,
            "Relay benchmark thread",
            f"Every measured message lands in this thread. {root}",
        )
        self.topic_id = int(topic["topic_id"])
        self._expect(self.in_chat, [root], stall, "the topic's thread root")
        self.root_event = self.in_chat.ident[root]
        self.forum.reply(
            "bob", self.topic_id, f"A first reply from the other author. {first_reply}"
        )
        self._expect(self.in_chat, [first_reply], stall, "the first reply")
        self.loop.run(_send_text(self.carol, self.room, f"Warming up. {chat}", self.root_event))
        self._expect(self.in_forum, [chat], stall, "the first chat message on the forum")
        self.direct_root = self.loop.run(
            _send_text(self.dave, self.direct_room, f"Baseline thread. {direct}", None)
        )
        self._expect(self.in_chat, [direct], stall, "the baseline thread root")
        self.forum.flush_webhooks(timeout=stall)

    def _expect(self, arrivals: Arrivals, markers: list[str], stall: float, what: str) -> None:
        if arrivals.wait_for(markers, stall):
            raise BenchError(
                f"{what} did not arrive at {arrivals.where} within {stall:.0f} s\n"
                f"porch log (last lines):\n{self.porch_log()}"
            )

    # --- stop ------------------------------------------------------------------------------

    def porch_log(self, lines: int = 30) -> str:
        path = self.workdir / "porch.log"
        if not path.exists():
            return "(no porch log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        for thread in self.threads:
            thread.stop()
        if self.loop is not None:
            if self.watch_task is not None:
                self.loop.loop.call_soon_threadsafe(self.watch_task.cancel)
            for client in self.clients:
                with contextlib.suppress(Exception):
                    self.loop.run(client.close(), timeout=10)
            self.loop.close()
        if self.porch is not None and self.porch.poll() is None:
            self.porch.terminate()
            try:
                self.porch.wait(20)
            except subprocess.TimeoutExpired:
                self.porch.kill()
                self.porch.wait(10)
        if self.forum is not None:
            self.forum.stop()
        if self.synapse is not None:
            self.synapse.stop()


# --- measurements ------------------------------------------------------------------------------


@dataclass
class Measured:
    """One measured path: per-item latencies (s) and, for a burst, its span (s)."""

    label: str
    path: str
    count: int
    latencies: list[float] = field(default_factory=list)
    span: float | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: items that never arrived
    lost: int = 0

    def percentile(self, p: float) -> float | None:
        """Nearest-rank percentile of the latencies."""
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        rank = max(1, math.ceil(p / 100 * len(ordered)))
        return ordered[rank - 1]

    @property
    def rate(self) -> float | None:
        """Items per second over the burst: first item submitted to last item arrived."""
        if self.span is None or self.span <= 0 or len(self.latencies) < self.count:
            return None
        return self.count / self.span


def _measure(
    label: str,
    path: str,
    markers: list[str],
    starts: dict[str, float],
    arrivals: Arrivals,
    missing: list[str],
    burst_start: float | None,
) -> Measured:
    result = Measured(label, path, len(markers))
    for marker in markers:
        if marker in starts and marker in arrivals.first:
            result.latencies.append(arrivals.first[marker] - starts[marker])
    result.lost = len(missing)
    if missing:
        result.problems.append(
            f"{len(missing)} of {len(markers)} never arrived ({missing[0]} ...)"
        )
    result.problems.extend(arrivals.problems(markers))
    if burst_start is not None and not missing:
        result.span = max(arrivals.first[m] for m in markers) - burst_start
    return result


def porch_forum_to_chat(sb: Sandbox, n: int, burst: bool, stall: float) -> Measured:
    """Forum replies by alice and bob: porch's 200 to the webhook -> event in /sync."""
    assert sb.forum is not None and sb.deliveries is not None
    phase = "fcb" if burst else "fcs"
    markers = [mark(phase, i) for i in range(n)]
    missing: list[str] = []
    began = time.time()
    for i, marker in enumerate(markers):
        sb.forum.reply(
            _AUTHORS[i % 2], sb.topic_id, f"Reply {marker}: one more idea for the town square."
        )
        if not burst:
            missing = sb.in_chat.wait_for([marker], stall)
            if missing:
                missing += markers[i + 1 :]
                break
    if burst:
        missing = sb.in_chat.wait_for(markers, stall)
    sb.accepted.wait_for(markers, stall)
    result = _measure(
        f"forum -> chat, {'burst' if burst else 'one at a time'}",
        "porch: webhook accepted -> event in /sync",
        markers,
        sb.accepted.first,
        sb.in_chat,
        missing,
        began if burst else None,
    )
    refused = sb.deliveries.refused
    if refused:
        statuses = ", ".join(f"{n} x {status}" for status, n in Counter(refused).items())
        result.problems.append(f"porch did not accept {len(refused)} webhooks ({statuses})")
    refused.clear()
    accepted = [sb.accepted.first[m] for m in markers if m in sb.accepted.first]
    if burst and len(accepted) == n and max(accepted) > began:
        # Porch acknowledges a webhook once it is in the inbox; the relay catches up behind it.
        result.notes.append(
            f"porch's webhook door took the {n}-post burst at {n / (max(accepted) - began):.1f}"
            " posts/s; the burst's latencies include the wait in porch's inbox"
        )
    sb.forum.flush_webhooks(timeout=stall)
    return result


def direct_matrix(sb: Sandbox, n: int, burst: bool, stall: float) -> Measured:
    """A user sends into a thread of a room without porch: PUT /send -> event in /sync."""
    assert sb.loop is not None and sb.dave is not None
    dave = sb.dave
    phase = "mdb" if burst else "mds"
    markers = [mark(phase, i) for i in range(n)]
    starts: dict[str, float] = {}
    missing: list[str] = []

    async def send_all() -> None:
        for marker in markers:
            starts[marker] = time.time()
            await _send_text(dave, sb.direct_room, f"Direct {marker}.", sb.direct_root)

    began = time.time()
    if burst:
        sb.loop.run(send_all(), timeout=stall + n)
        missing = sb.in_chat.wait_for(markers, stall)
    else:
        for i, marker in enumerate(markers):
            starts[marker] = time.time()
            sb.loop.run(_send_text(dave, sb.direct_room, f"Direct {marker}.", sb.direct_root))
            missing = sb.in_chat.wait_for([marker], stall)
            if missing:
                missing += markers[i + 1 :]
                break
    return _measure(
        f"forum -> chat, {'burst' if burst else 'one at a time'}",
        "homeserver direct: PUT /send -> event in /sync",
        markers,
        starts,
        sb.in_chat,
        missing,
        began if burst else None,
    )


def porch_chat_to_forum(sb: Sandbox, n: int, burst: bool, stall: float) -> Measured:
    """carol writes in the bridged thread: room_send returned -> the post exists in the forum."""
    assert sb.loop is not None and sb.carol is not None and sb.forum is not None
    carol = sb.carol
    phase = "cfb" if burst else "cfs"
    markers = [mark(phase, i) for i in range(n)]
    sent: dict[str, float] = {}
    missing: list[str] = []

    async def send_all() -> None:
        for marker in markers:
            await _send_text(carol, sb.room, f"Chat {marker}, from Matrix.", sb.root_event)
            sent[marker] = time.time()

    began = time.time()
    if burst:
        sb.loop.run(send_all(), timeout=stall + n)
        missing = sb.in_forum.wait_for(markers, stall)
    else:
        for i, marker in enumerate(markers):
            sb.loop.run(_send_text(carol, sb.room, f"Chat {marker}, from Matrix.", sb.root_event))
            sent[marker] = time.time()
            missing = sb.in_forum.wait_for([marker], stall)
            if missing:
                missing += markers[i + 1 :]
                break
    result = _measure(
        f"chat -> forum, {'burst' if burst else 'one at a time'}",
        "porch: room_send returned -> post in forum",
        markers,
        sent,
        sb.in_forum,
        missing,
        began if burst else None,
    )
    # Porch's posts come back as webhooks (as on a real forum); let porch drop them before the
    # next phase starts.
    sb.forum.flush_webhooks(timeout=stall)
    return result


def direct_forum(sb: Sandbox, n: int, burst: bool, stall: float) -> Measured:
    """bob posts through the API: POST /posts.json sent -> the post exists in the forum."""
    assert sb.forum is not None
    forum = sb.forum
    phase = "fdb" if burst else "fds"
    markers = [mark(phase, i) for i in range(n)]
    starts: dict[str, float] = {}
    missing: list[str] = []
    problems: list[str] = []
    session = requests.Session()
    session.headers.update({"Api-Key": sb.api_key, "Api-Username": "bob"})
    # The forum alone: no webhook deliveries to porch competing for the same cores meanwhile.
    forum.set_webhook(None, None)
    began = time.time()
    try:
        for i, marker in enumerate(markers):
            starts[marker] = time.time()
            answer = session.post(
                f"{forum.base_url}/posts.json",
                json={"topic_id": sb.other_topic_id, "raw": f"Direct {marker}, by the API."},
                timeout=stall,
            )
            if answer.status_code != 200:
                problems.append(f"POST /posts.json answered {answer.status_code}")
                break
            if not burst:
                missing = sb.in_forum.wait_for([marker], stall)
                if missing:
                    missing += markers[i + 1 :]
                    break
        if burst:
            missing = sb.in_forum.wait_for(markers, stall)
    finally:
        forum.set_webhook(f"{sb.porch_url}/discourse/webhook", sb.webhook_secret)
        session.close()
    result = _measure(
        f"chat -> forum, {'burst' if burst else 'one at a time'}",
        "forum API direct: POST /posts.json -> post in forum",
        markers,
        starts,
        sb.in_forum,
        missing,
        began if burst else None,
    )
    result.problems = problems + result.problems
    return result


# --- the report --------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f}"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None or b <= 0 else f"x{a / b:.2f}"


def report_table(pairs: Sequence[tuple[Measured, Measured]]) -> Table:
    """Each porch measurement, its direct baseline, and the ratio porch / direct."""
    table = Table(title="porch relay benchmark", title_justify="left")
    table.add_column("measure", no_wrap=True)
    table.add_column("path")
    table.add_column("n", justify="right")
    table.add_column("p50 ms", justify="right")
    table.add_column("p99 ms", justify="right")
    table.add_column("msgs/s", justify="right")
    for index, (porch, direct) in enumerate(pairs):
        for row in (porch, direct):
            table.add_row(
                row.label,
                row.path,
                str(row.count),
                _ms(row.percentile(50)),
                _ms(row.percentile(99)),
                _rate(row.rate),
            )
        table.add_row(
            "",
            "[bold]ratio porch / direct[/]",
            "",
            _ratio(porch.percentile(50), direct.percentile(50)),
            _ratio(porch.percentile(99), direct.percentile(99)),
            _ratio(porch.rate, direct.rate),
            end_section=index < len(pairs) - 1,
        )
    return table


def machine_facts(store_url: str | None) -> str:
    cores = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    try:
        synapse = importlib.metadata.version("matrix-synapse")
    except importlib.metadata.PackageNotFoundError:
        synapse = "?"
    store = (store_url or "sqlite").split(":", 1)[0]
    return (
        f"machine: {usable} usable of {cores} cores, {platform.machine()}, "
        f"{platform.system()} {platform.release()}; Python {platform.python_version()}; "
        f"Synapse {synapse} (SQLite); porch store {store}"
    )


# --- command line ------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench/relay.py",
        description="Measure porch's relay latency and throughput against direct sends.",
    )

    def positive(text: str) -> int:
        value = int(text)
        if value < 1:
            raise argparse.ArgumentTypeError("must be at least 1")
        return value

    parser.add_argument(
        "--posts", type=positive, default=200, help="forum -> chat burst size (default 200)"
    )
    parser.add_argument(
        "--messages", type=positive, default=200, help="chat -> forum burst size (default 200)"
    )
    parser.add_argument(
        "--sequential",
        type=positive,
        default=30,
        help="items sent one at a time, each way (default 30)",
    )
    parser.add_argument(
        "--workdir", help="an empty or new directory for the sandbox's files (default: temp)"
    )
    parser.add_argument(
        "--store", help="porch's store URL (default: SQLite in the work directory)"
    )
    parser.add_argument(
        "--stall",
        type=float,
        default=30.0,
        help="give up when nothing new arrived for this many seconds (default 30)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 140)
    if args.workdir:
        workdir = Path(args.workdir).resolve()
        if workdir.exists() and any(workdir.iterdir()):
            console.print(
                f"--workdir {workdir} is not empty; give a new or empty one", markup=False
            )
            return 2
        keep = True
    else:
        workdir = Path(tempfile.mkdtemp(prefix="porch-bench-"))
        keep = False
    # Stamps are taken by threads; a short switch interval keeps them close to the event.
    sys.setswitchinterval(0.001)
    sandbox = Sandbox(workdir, console, store_url=args.store)
    results: list[Measured] = []
    failed = False
    began = time.monotonic()
    try:
        sandbox.start(args.stall)
        plan: list[tuple[str, Callable[[Sandbox, int, bool, float], Measured], int, bool]] = [
            ("homeserver direct, burst", direct_matrix, args.posts, True),
            ("porch forum -> chat, burst", porch_forum_to_chat, args.posts, True),
            ("homeserver direct, one at a time", direct_matrix, args.sequential, False),
            ("porch forum -> chat, one at a time", porch_forum_to_chat, args.sequential, False),
            ("forum API direct, burst", direct_forum, args.messages, True),
            ("porch chat -> forum, burst", porch_chat_to_forum, args.messages, True),
            ("forum API direct, one at a time", direct_forum, args.sequential, False),
            ("porch chat -> forum, one at a time", porch_chat_to_forum, args.sequential, False),
        ]
        for what, run, size, burst in plan:
            sandbox.step(f"measuring {what} ({size})")
            results.append(run(sandbox, size, burst, args.stall))
            if results[-1].lost:
                break  # whatever broke would only make every later phase wait out its stall
        if sandbox.porch is not None and sandbox.porch.poll() is not None:
            raise BenchError(
                f"porch exited with {sandbox.porch.returncode} during the run:\n"
                + sandbox.porch_log()
            )
    except (BenchError, TimeoutError, OSError) as exc:
        console.print(f"[red]benchmark failed:[/] {escape(str(exc))}", highlight=False)
        failed = True
    except KeyboardInterrupt:
        console.print("[red]interrupted[/]")
        failed = True
    except Exception:
        console.print("[red]benchmark failed with an unexpected error:[/]")
        console.print_exception()
        failed = True
    finally:
        sandbox.stop()
    if sandbox.sync is not None and sandbox.sync.errors:
        errors = "; ".join(sandbox.sync.errors[:5])
        console.print(f"[red]watching client:[/] {escape(errors)}")
        failed = True
    # The plan measures each baseline just before its porch path; shown porch first.
    pairs = [(results[i + 1], results[i]) for i in range(0, len(results) - 1, 2)]
    if pairs:
        console.print(report_table(pairs))
    for note in (n for r in results for n in r.notes):
        console.print(f"note: {escape(note)}")
    problems = [f"{r.label} ({r.path}): {p}" for r in results for p in r.problems]
    for problem in problems:
        console.print(f"[red]problem:[/] {escape(problem)}")
    console.print(
        "latency: forum -> chat from porch's 200 to the forum's webhook (direct: from PUT /send)"
        " to the event in a client's long-polling /sync; chat -> forum from room_send returned"
        " (direct: from POST /posts.json) to the post existing in the forum. msgs/s: burst size"
        " / (first item submitted -> last item arrived). Direct senders send one after"
        " another; the forum fires a whole burst of webhooks at once, as a busy forum does."
    )
    console.print(machine_facts(args.store) + f"; run took {time.monotonic() - began:.0f} s")
    store = f" --store {args.store}" if args.store else ""
    console.print(
        "reproduce: pip install -e '.[test]' && python bench/relay.py "
        f"--posts {args.posts} --messages {args.messages} --sequential {args.sequential}{store}",
        markup=False,
    )
    failed = failed or bool(problems) or len(results) < 8
    if failed or keep:
        console.print(f"files (logs, config, databases): {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
