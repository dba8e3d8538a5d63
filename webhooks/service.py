"""Assembles porch from its config and runs it: the HTTP face, the relay worker, or both."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import requests
from flask import Flask

from bridges.context import RelayContext
from bridges.discourse.client import ForumClient
from bridges.link_tiers import TierRefresher
from bridges.matrix.api import AppserviceAPI
from bridges.matrix.bot_api import chat_api
from bridges.matrix.bot_sync import BotSync
from bridges.matrix.matrix_errors import MatrixError
from bridges.membership.rooms import MembershipTicker
from bridges.relay.components import RelayComponents
from bridges.reload import WatchingSlot
from bridges.room_joins import RoomJoins
from bridges.store.store import Store
from bridges.store.sync_state import SyncState
from bridges.watching.runner import Watching
from bridges.worker import Worker
from webhooks.app import create_app, create_ops_app
from webhooks.config import PorchConfig
from webhooks.http_server import HttpServer
from webhooks.lifecycle import (
    DEFAULT_GRACE,
    InFlight,
    Lifecycle,
    Signals,
    note_unjoined_rooms,
    refuse_orphans,
)
from webhooks.link_pages import public_base_url
from webhooks.matrix_sync import bot_sync

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

log = logging.getLogger(__name__)

#: The ops listener's limits: a probe or a scrape at a time from a few tools, with no body.
_OPS_THREADS = 4
_OPS_CONNECTIONS = 50
_OPS_MAX_BODY = 64 * 1024


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
    #: the public listener: the doors and the web pages (roles all and web)
    server: HttpServer | None = None
    #: the operators' listener, /healthz, /readyz and /metrics (``listen.ops``), in every role
    ops: HttpServer | None = None
    chat: AppserviceAPI | None = None
    #: reads every link's tiers again now and then (:mod:`bridges.link_tiers`)
    tiers: TierRefresher | None = None
    #: asks for a reconciliation of managed rooms' members now and then (bridges.membership)
    membership: MembershipTicker | None = None
    #: the relay's context, whose links and policies a reload swaps (:mod:`webhooks.lifecycle`)
    ctx: RelayContext | None = None
    #: joins the bot to every linked room at start (:mod:`bridges.room_joins`)
    joins: RoomJoins | None = None
    #: the web face's requests in hand, which a stop lets finish
    in_flight: InFlight | None = None
    #: watching's due alerts and digests (:mod:`bridges.watching`), when watches are set
    watching: Watching | None = None
    #: bot mode's door: porch's account syncing its rooms (:mod:`webhooks.matrix_sync`)
    sync: BotSync | None = None
    #: the relay's watching observer, which a reload points at a rebuilt watching
    watching_slot: WatchingSlot | None = None
    #: the Flask apps served (the web face or the ops listener), whose metrics a reload updates
    apps: list[Flask] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)
    #: Set by :meth:`stop`: the announcement gives up its retries.
    _stopping: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        """Start the parts of this role in background threads."""
        if self.server is not None:
            self._background(self.server.serve_forever, "porch-web")
        if self.ops is not None:
            self._background(self.ops.serve_forever, "porch-ops")
        if self.worker is not None:
            self._background(self.worker.run, "porch-worker")
        if self.chat is not None and self.config.matrix.mode == "appservice":
            self._background(self._announce, "porch-announce")
        if self.sync is not None:
            self._background(self.sync.run, "porch-bot-sync")
        if self.tiers is not None:
            self._background(self.tiers.run, "porch-tiers")
        if self.membership is not None:
            self._background(self.membership.run, "porch-membership")
        if self.joins is not None:
            self._background(self.joins.run, "porch-join")
        if self.watching is not None:
            self._background(self.watching.run, "porch-watching")

    def run_part(self, target: Callable[[], None], name: str) -> None:
        """Run a part started after start (a reload rebuilt it) in the background; a stop
        waits for it as for the others."""
        self._background(target, name)

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
                if self._stopping.is_set():
                    return
                log.warning("porch: homeserver not reachable yet (%s); retrying", exc)
                if self._stopping.wait(min(2**attempt, 30)):
                    return  # a stopped porch no longer calls the homeserver
        log.error("porch: gave up announcing to the homeserver; transactions may be delayed")

    def stop(self, timeout: float = 30.0) -> bool:
        """Drain: stop claiming events and taking requests, let the worker finish the event in
        hand (at most ``timeout`` seconds in all), give back the events it claimed but did not
        start, close the store. True when everything finished within ``timeout``."""
        deadline = time.monotonic() + timeout
        self._stopping.set()
        if self.worker is not None:
            self.worker.stop()
        if self.joins is not None:
            self.joins.stop()
        if self.sync is not None:
            self.sync.stop()
        if self.tiers is not None:
            self.tiers.stop()
        if self.watching is not None:
            self.watching.stop()
        if self.membership is not None:
            self.membership.stop()
        if self.server is not None:
            self.server.stop_listening()
            # Requests read whole and waiting for a thread, then those in the app's hands.
            self.server.wait_idle(deadline - time.monotonic())
            if self.in_flight is not None:
                self.in_flight.wait_idle(deadline - time.monotonic())
            self.server.close(max(deadline - time.monotonic(), 1.0))
        if self.ops is not None:
            self.ops.close()
        drained = True
        for thread in self._threads:
            if thread.name not in ("porch-announce", "porch-join"):
                thread.join(max(deadline - time.monotonic(), 0.0))
                if thread.is_alive():
                    drained = False
                    log.warning("porch: %s did not stop within %gs", thread.name, timeout)
        if self.worker is not None and self.worker.current is not None:
            log.warning(
                "porch: the shutdown grace (%gs) is over with event %s in hand; it will be "
                "retried",
                timeout,
                self.worker.current,
            )
            self.worker.release_unstarted()
        self.store.close()
        return drained


def build(
    config: PorchConfig,
    role: Role = Role.ALL,
    *,
    clock: Callable[[], float] = time.time,
    ops_port: int | None = None,
) -> Porch:
    """Open the store (migrating it) and wire up the parts ``role`` runs.

    ``ops_port``: the port of the ops listener (``/healthz``, ``/readyz``, ``/metrics``, on
    ``listen.ops.host``) instead of ``listen.ops.port``, so that several processes on one
    machine can share a config file.
    """
    store = Store.open(config.store.url, pool_size=config.store.pool_size)
    porch = Porch(config, store, role)
    wake: Callable[[], None] = lambda: None  # noqa: E731
    if role in (Role.ALL, Role.WORKER):
        session = requests.Session()
        # The composition root builds every long-lived part the worker runs, once.
        root = RelayComponents(
            discourse=config.discourse,
            matrix=config.matrix,
            relay=config.relay,
            links=config.links,
            store=store,
            forum=ForumClient(config.discourse, session=session),
            chat=chat_api(config.matrix, SyncState(store.db), session=session),
            clock=clock,
            public_url=public_base_url(config),
            policies=config.policies,
            moderation=config.moderation,
            watching=config.watching,
        )
        porch.chat = root.chat
        porch.ctx = root.ctx
        porch.tiers = root.tier_refresher
        porch.joins = root.room_joins
        porch.watching = root.watching
        porch.watching_slot = root.watching_slot
        porch.worker = root.worker
        wake = porch.worker.wake.set
        porch.membership = root.membership_ticker
    if role is Role.WEB:
        porch.chat = chat_api(config.matrix, SyncState(store.db))
    if role in (Role.ALL, Role.WEB):
        porch.sync = bot_sync(config, store, wake, clock)
        app = create_app(config, store, clock=clock, on_accepted=wake)
        note_unjoined_rooms(app, porch.joins)
        porch.apps.append(app)
        porch.in_flight = InFlight(app)
    ops = create_ops_app(config, store)
    note_unjoined_rooms(ops, porch.joins)
    porch.apps.append(ops)
    listen = config.listen
    try:
        if porch.in_flight is not None:
            porch.server = _listener(
                porch.in_flight,
                host=listen.host,
                port=listen.port,
                threads=listen.threads,
                connection_limit=listen.connection_limit,
                read_timeout=listen.read_timeout,
                max_body_bytes=listen.max_body_bytes,
            )
        porch.ops = _listener(
            ops,
            host=listen.ops.host,
            port=listen.ops.port if ops_port is None else ops_port,
            # Probes and scrapes: a few at once, no body.
            threads=_OPS_THREADS,
            connection_limit=_OPS_CONNECTIONS,
            read_timeout=listen.read_timeout,
            max_body_bytes=_OPS_MAX_BODY,
            name="ops",
        )
    except ListenError:
        if porch.server is not None:
            porch.server.close()
        store.close()
        raise
    return porch


class ListenError(Exception):
    """A listener could not open its port (in use, or not an address of this machine)."""


def _listener(app: WSGIApplication, *, host: str, port: int, **limits: Any) -> HttpServer:
    try:
        return HttpServer(app, host=host, port=port, **limits)
    except OSError as exc:
        raise ListenError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from exc


def serve(
    config: PorchConfig,
    role: Role = Role.ALL,
    *,
    ops_port: int | None = None,
    config_path: str | None = None,
    grace: float = DEFAULT_GRACE,
    allow_orphans: bool = False,
) -> int:
    """Run porch until SIGINT or SIGTERM, reloading on SIGHUP (:mod:`webhooks.lifecycle`);
    returns the process exit code (1 when the config would orphan mappings)."""
    # First: a SIGHUP or SIGTERM while the store opens would otherwise kill porch; it is
    # acted on once porch has started.
    signals = Signals()
    signals.install()
    if not refuse_orphans(config, config_path or "config", allow=allow_orphans):
        return 1
    try:
        porch = build(config, role, ops_port=ops_port)
    except ListenError as exc:
        log.error("porch: %s", exc)
        return 1
    lifecycle = Lifecycle(
        porch, config_path, grace=grace, allow_orphans=allow_orphans, signals=signals
    )
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
            porch.ops.host,
            porch.ops.port,
        )
    return lifecycle.run()
