"""Assembles porch from its config and runs it: the HTTP face, the relay worker, or both."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from types import FrameType

import requests
from werkzeug.serving import BaseWSGIServer, make_server

from bridges.context import RelayContext
from bridges.discourse.client import ForumClient
from bridges.matrix.api import AppserviceAPI
from bridges.matrix.errors import MatrixError
from bridges.matrix.ghosts import Ghosts
from bridges.relay import Relay
from bridges.store.inbox import worker_identity
from bridges.store.store import Store
from bridges.tiers import TierRefresher
from bridges.worker import Worker
from webhooks.app import create_app, create_ops_app
from webhooks.config import PorchConfig
from webhooks.link_pages import public_base_url

log = logging.getLogger(__name__)

#: Largest forum avatar porch mirrors to the homeserver.
_MAX_AVATAR_BYTES = 2 * 1024 * 1024


class Role(StrEnum):
    ALL = "all"
    WEB = "web"
    WORKER = "worker"


@dataclass
class Porch:
    """A running porch: some of the HTTP face and the worker, sharing one store."""

    config: PorchConfig
    store: Store
    role: Role
    worker: Worker | None = None
    server: BaseWSGIServer | None = None
    #: a worker's own listener for /healthz, /readyz and /metrics (``--ops-port``)
    ops: BaseWSGIServer | None = None
    chat: AppserviceAPI | None = None
    #: reads every link's tiers again now and then (:mod:`bridges.tiers`)
    tiers: TierRefresher | None = None
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        """Start the parts of this role in background threads."""
        if self.server is not None:
            self._background(self.server.serve_forever, "porch-web")
        if self.ops is not None:
            self._background(self.ops.serve_forever, "porch-ops")
        if self.worker is not None:
            self._background(self.worker.run, "porch-worker")
        if self.chat is not None:
            self._background(self._announce, "porch-announce")
        if self.tiers is not None:
            self._background(self.tiers.run, "porch-tiers")

    def _background(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _announce(self) -> None:
        """Register porch's bot and tell the homeserver porch is listening.

        A successful ping makes Synapse send the transactions it queued while porch was down at
        once, instead of at the end of a backoff that can reach 8.5 minutes.
        """
        assert self.chat is not None and self.config.matrix.appservice is not None
        for attempt in range(10):
            try:
                self.chat.ensure_registered(self.config.matrix.appservice.bot_localpart)
                if self.server is not None:
                    self.chat.ping()
                return
            except MatrixError as exc:
                log.warning("porch: homeserver not reachable yet (%s); retrying", exc)
                time.sleep(min(2**attempt, 30))
        log.error("porch: gave up announcing to the homeserver; transactions may be delayed")

    def stop(self, timeout: float = 30.0) -> None:
        """Stop taking requests, let the worker finish the event in hand, close the store."""
        if self.server is not None:
            self.server.shutdown()
        if self.ops is not None:
            self.ops.shutdown()
        if self.worker is not None:
            self.worker.stop()
        if self.tiers is not None:
            self.tiers.stop()
        for thread in self._threads:
            if thread.name != "porch-announce":
                thread.join(timeout)
        self.store.close()


def build(
    config: PorchConfig,
    role: Role = Role.ALL,
    *,
    clock: Callable[[], float] = time.time,
    ops_port: int | None = None,
) -> Porch:
    """Open the store (migrating it) and wire up the parts ``role`` runs.

    ``ops_port``: a worker also serves ``/healthz``, ``/readyz`` and ``/metrics`` there (on
    ``listen.host``); the web face already serves them on ``listen.port``.
    """
    store = Store.open(config.store.url, pool_size=config.store.pool_size)
    porch = Porch(config, store, role)
    wake: Callable[[], None] = lambda: None  # noqa: E731
    if role in (Role.ALL, Role.WORKER):
        session = requests.Session()
        forum = ForumClient(config.discourse, session=session)
        chat = AppserviceAPI(config.matrix, session=session)
        ghosts = Ghosts(
            chat,
            store.profiles,
            config.matrix,
            lambda url: forum.download(url, _MAX_AVATAR_BYTES),
            clock=clock,
        )
        ctx = RelayContext(
            discourse=config.discourse,
            matrix=config.matrix,
            relay=config.relay,
            links=config.links,
            store=store,
            forum=forum,
            chat=chat,
            ghosts=ghosts,
            clock=clock,
            public_url=public_base_url(config),
            policies=config.policies,
        )
        porch.tiers = TierRefresher(
            lambda: ctx.tiers.refresh(ctx.links, ctx.category_of, ctx.room_of),
            config.relay.tier_refresh,
        )
        porch.chat = chat
        porch.worker = Worker(
            store.inbox, Relay(ctx), config.relay, worker_identity(), clock=clock
        )
        wake = porch.worker.wake.set
    if role is Role.WEB:
        porch.chat = AppserviceAPI(config.matrix)
    if role in (Role.ALL, Role.WEB):
        app = create_app(config, store, clock=clock, on_accepted=wake)
        porch.server = make_server(config.listen.host, config.listen.port, app, threaded=True)
    elif ops_port is not None:
        ops = create_ops_app(config, store)
        porch.ops = make_server(config.listen.host, ops_port, ops, threaded=True)
    return porch


def serve(config: PorchConfig, role: Role = Role.ALL, *, ops_port: int | None = None) -> int:
    """Run porch until SIGINT or SIGTERM; returns the process exit code."""
    porch = build(config, role, ops_port=ops_port)
    stopping = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("porch: %s received, stopping", signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    porch.start()
    if porch.server is not None:
        log.info(
            "porch: listening on http://%s:%d (role %s)",
            config.listen.host,
            config.listen.port,
            role.value,
        )
    else:
        log.info("porch: worker running (role %s)", role.value)
    if porch.ops is not None:
        log.info(
            "porch: /healthz, /readyz and /metrics on http://%s:%d",
            config.listen.host,
            ops_port,
        )
    stopping.wait()
    porch.stop()
    return 0
