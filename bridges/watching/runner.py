"""Watching in the worker: the relay's observer, and a loop that sends due alerts (those held
through quiet hours, or whose channel failed) and each period's digests."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from bridges.context import RelayContext
from bridges.model import RoomID
from bridges.store.link_requests import IdentityGroups
from bridges.watching.access import Readers
from bridges.watching.alerts import Dispatcher
from bridges.watching.digest import Digests
from bridges.watching.observer import Watcher
from bridges.watching.sinks import Audiences, porch_accounts
from bridges.watching.watching_config import WatchingConfig

log = logging.getLogger(__name__)


@dataclass
class Watching:
    """The parts of watching a worker runs."""

    config: WatchingConfig
    watcher: Watcher
    dispatcher: Dispatcher
    digests: Digests
    #: Set when an alert was raised: send it now rather than at the next tick.
    wake: threading.Event
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        """Due alerts, then digests: when woken, and every ``watching.tick`` seconds; until
        :meth:`stop`."""
        while not self._stop.is_set():
            self.wake.wait(self.config.tick)
            self.wake.clear()
            if self._stop.is_set():
                break
            self.run_once()

    def run_once(self) -> None:
        try:
            self.dispatcher.send_due()
            self.digests.tick()
        except Exception:
            log.exception("watching: scheduled run failed")

    def stop(self) -> None:
        self._stop.set()
        self.wake.set()


def build_watching(ctx: RelayContext, config: WatchingConfig) -> Watching | None:
    """Watching for ``ctx``'s worker; ``None`` when no watch is configured."""
    if not config.watches:
        return None
    joined: dict[str, RoomID] = {}

    def resolve(room: str) -> RoomID:
        found = joined.get(room)
        if found is None:
            found = ctx.chat.resolve_room(room) if room.startswith("#") else RoomID(room)
            # The admin invites the bot to a watch room; joining accepts it.
            ctx.chat.ensure_joined(found, ctx.chat.bot_user_id)
            joined[room] = found
        return found

    readers = Readers(ctx.store, ctx.links)
    ghosts = None if ctx.matrix.appservice is None else ctx.matrix.ghost_regex()
    audiences = Audiences(
        ctx.chat, IdentityGroups(ctx.store.db), porch_accounts(ctx.chat.bot_user_id, ghosts)
    )
    dispatcher = Dispatcher(
        config,
        readers.records,
        ctx.chat,
        resolve,
        clock=ctx.clock,
        readers=readers,
        audiences=audiences,
    )
    digests = Digests(config, readers, ctx.chat, resolve, clock=ctx.clock, audiences=audiences)
    wake = threading.Event()
    watcher = Watcher(ctx, config, wake.set)
    return Watching(config, watcher, dispatcher, digests, wake)
