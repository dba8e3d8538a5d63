"""A running porch's life: the orphan check at start, SIGHUP reloads and the SIGTERM drain.

- **SIGTERM** (or SIGINT): stop claiming inbox events, stop the web server, let the worker
  settle the event in hand (at most ``--shutdown-grace`` seconds), give back the events it had
  claimed but not started, so another worker takes them at once, and exit 0.
- **SIGHUP**: read the config file again. An invalid file, or one that would orphan what the
  store maps to a link (:mod:`bridges.orphans`), is refused with every reason logged, and the
  running config stays. A valid one swaps links, policies and moderation's watched words and
  protections between two events (:mod:`bridges.reload`), and rebuilds what was built from
  them (:mod:`webhooks.reload_parts`: per-link metrics, watching, the membership ticker);
  other sections take effect at the next restart, which is logged.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import sqlalchemy as sa
from flask import Flask

from bridges.metrics import CONFIG_RELOADS
from bridges.moderation.words import with_words
from bridges.orphans import orphan_problems, read_footprint
from bridges.reload import link_changes, swap_links
from bridges.room_joins import RoomJoins
from bridges.store.db import Database
from bridges.store.retention import Pruner
from webhooks.config import ConfigError, PorchConfig, load_config
from webhooks.health import Readiness
from webhooks.reload_parts import refresh_parts

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from webhooks.service import Porch

log = logging.getLogger(__name__)

#: Seconds a stopping porch lets the worker finish the event in hand (``--shutdown-grace``).
DEFAULT_GRACE = 30.0

#: The sections a reload swaps in; every other one takes effect at the next restart.
RELOADABLE = frozenset({"links", "policies", "retired_links", "watching"})


def orphans_in_store(config: PorchConfig) -> list[str]:
    """What ``config`` would orphan in its store (read only: nothing is created or migrated).

    A SQLite file that does not exist yet holds nothing to orphan.
    """
    url = config.store.url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return []
    db = Database(url)
    try:
        return orphan_problems(read_footprint(db), config.links, config.retired_links)
    finally:
        db.close()


def refuse_orphans(
    config: PorchConfig, source: str, *, allow: bool, say: Callable[[str], None] | None = None
) -> bool:
    """Report what ``config`` would orphan; True when porch may go on (nothing would be
    orphaned, or the admin allowed it with ``--allow-orphans``).

    Problems go to the log, or to ``say`` (``porch check`` prints them as its other errors).
    """
    try:
        problems = orphans_in_store(config)
    except sa.exc.SQLAlchemyError as exc:
        # The text may hold the database URL and its password: only its type.
        log.warning(
            "%s: could not read the store to look for orphans (%s)", source, type(exc).__name__
        )
        return True
    if say is not None:
        if problems:
            verdict = "allowed by --allow-orphans" if allow else "refused"
            say(f"{source}: {len(problems)} link change(s) would orphan mappings ({verdict})")
        for problem in problems:
            say(f"  {problem}")
    else:
        for problem in problems:
            if allow:
                log.warning("%s: --allow-orphans: %s", source, problem)
            else:
                log.error("%s: %s", source, problem)
    return allow or not problems


def note_unjoined_rooms(app: Flask, joins: RoomJoins | None) -> None:
    """Show the linked rooms porch's bot could not join in ``app``'s ``/readyz`` answers
    (``notes.rooms_not_joined``: link name to why), without making porch unready."""
    readiness = app.extensions.get("porch.readiness")
    if joins is not None and isinstance(readiness, Readiness):
        readiness.notes["rooms_not_joined"] = lambda: {
            str(name): why for name, why in joins.problems.items()
        }


class InFlight:
    """WSGI middleware that counts the requests being handled, so that a stopping porch lets
    the doors finish recording what they were given before the process ends."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app
        self._count = 0
        self._idle = threading.Condition()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        with self._idle:
            self._count += 1
        try:
            return self.app(environ, start_response)
        finally:
            with self._idle:
                self._count -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds for no request to be in hand; True when none is."""
        with self._idle:
            return self._idle.wait_for(lambda: self._count == 0, max(timeout, 0.0))


class Signals:
    """The stop and reload requests porch's signals make, caught from the first moment of
    ``porch serve``: a signal's default action would kill a porch still opening its store or
    building its parts. They are flags only; :class:`Lifecycle` acts on them once porch has
    started."""

    def __init__(self) -> None:
        self.wake = threading.Event()
        self.stopping = False
        self.reload_asked = False

    def install(self) -> None:
        """SIGTERM and SIGINT ask porch to stop, SIGHUP to reload (main thread only)."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGHUP, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        # Only flags here: the work happens in Lifecycle.run(), outside the signal handler.
        if signum == signal.SIGHUP:
            self.reload_asked = True
        else:
            log.info("porch: %s received, stopping", signal.Signals(signum).name)
            self.stopping = True
        self.wake.set()


class Lifecycle:
    """Handles porch's signals in the main thread until it is told to stop."""

    def __init__(
        self,
        porch: Porch,
        config_path: str | Path | None,
        *,
        grace: float = DEFAULT_GRACE,
        allow_orphans: bool = False,
        signals: Signals | None = None,
    ) -> None:
        self.porch = porch
        self.config = porch.config
        self.config_path = None if config_path is None else str(config_path)
        self.grace = grace
        self.allow_orphans = allow_orphans
        #: What was asked; signals caught while porch was still starting are already here.
        self.signals = signals or Signals()
        #: Where porch runs a worker, it prunes the store now and then (``store.retention``).
        self.pruner = Pruner(porch.store.db) if porch.worker is not None else None

    def install_signals(self) -> None:
        """SIGTERM and SIGINT stop porch, SIGHUP reloads its config (main thread only)."""
        self.signals.install()

    def request_stop(self) -> None:
        self.signals.stopping = True
        self.signals.wake.set()

    def request_reload(self) -> None:
        self.signals.reload_asked = True
        self.signals.wake.set()

    def run(self) -> int:
        """Serve reloads until told to stop, then drain; returns the exit code (0).

        A stop or reload asked while porch was starting is acted on at once, now that it has
        started."""
        signals = self.signals
        while True:
            # A signal may be delivered to any thread, while Python runs its handler in the
            # main one only once that thread runs again: a wait without a timeout could sleep
            # through it.
            while not signals.wake.wait(0.5):
                self.housekeeping()
            signals.wake.clear()
            if signals.stopping:
                break
            if signals.reload_asked:
                signals.reload_asked = False
                self.reload()
        if self.porch.stop(self.grace):
            log.info("porch: stopped")
        return 0

    def housekeeping(self) -> None:
        """Work of the main thread between signals: pruning, when it is due. A signal cuts a
        prune short between two batches; the next one resumes it."""
        if self.pruner is not None:
            signals = self.signals
            self.pruner.tick(
                self.config.store.retention, lambda: signals.stopping or signals.reload_asked
            )

    def reload(self) -> bool:
        """Read the config file again and swap its links and policies in; True when applied.

        An invalid file or one that would orphan mappings changes nothing: the errors are
        logged, each with its path, and the running config stays.
        """
        if self.config_path is None:
            log.warning("porch: SIGHUP: no config file to read again")
            return False
        source = self.config_path
        log.info("porch: SIGHUP received, reading %s again", source)
        try:
            new = load_config(source)
        except ConfigError as exc:
            log.error(
                "porch: reload refused, the running config stays: %s has %d error(s)",
                source,
                len(exc.errors),
            )
            for error in exc.errors:
                log.error("porch: reload: %s: %s", source, error)
            CONFIG_RELOADS.labels("invalid").inc()
            return False
        problems = orphan_problems(
            read_footprint(self.porch.store.db),
            new.links,
            new.retired_links,
            previous=self.config.links,
        )
        if problems and not self.allow_orphans:
            log.error("porch: reload refused, the running config stays: it would orphan mappings")
            for problem in problems:
                log.error("porch: reload: %s: %s", source, problem)
            CONFIG_RELOADS.labels("refused").inc()
            return False
        for problem in problems:
            log.warning("porch: reload: --allow-orphans: %s: %s", source, problem)
        # The watched words and protections of moderation: are reloaded; the rest of it is not.
        moderation = with_words(self.config.moderation, new.moderation)
        running = self.config.model_copy(update={"moderation": moderation})
        for name in type(new).model_fields:
            if name not in RELOADABLE and getattr(new, name) != getattr(running, name):
                log.warning(
                    "porch: reload: %s: the %s section changed; that takes effect when porch "
                    "restarts",
                    source,
                    name,
                )
        added, removed, changed = link_changes(self.config.links, new.links)
        ctx = self.porch.ctx
        if ctx is not None:
            swap_links(ctx, self.porch.worker, new.links, new.policies, new.moderation)
        if self.porch.sync is not None:
            # Bot mode's sync loop joins the rooms of the links it holds.
            self.porch.sync.links = new.links
        before = self.config
        self.config = running.model_copy(update={name: getattr(new, name) for name in RELOADABLE})
        self.porch.config = self.config
        # What was built once from the links: metrics, watching, the membership ticker.
        refresh_parts(self.porch, before, self.config)
        joins = self.porch.joins
        if joins is not None:
            # New or changed links' rooms, and those the bot could not join before (the admin
            # may have invited it since).
            retry = {*added, *changed, *joins.problems}
            fresh = [link for link in new.links if link.name in retry]
            if fresh:
                threading.Thread(
                    target=joins.run, args=(fresh,), name="porch-join", daemon=True
                ).start()
        log.info(
            "porch: reloaded links and policies from %s: %d link(s); added: %s; removed: %s; "
            "changed: %s",
            source,
            len(new.links),
            ", ".join(added) or "none",
            ", ".join(removed) or "none",
            ", ".join(changed) or "none",
        )
        CONFIG_RELOADS.labels("applied").inc()
        return True
