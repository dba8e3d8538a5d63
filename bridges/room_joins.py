"""What the worker does once at start (and after a reload): join the bot to every linked room.

An admin links a room by inviting porch's bot; joining is how the bot accepts. Doing it at
start means an invitation made while porch was down is accepted at once, not when the room's
first message arrives, and a room the bot cannot join is reported (with its link) up front.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from bridges.context import RelayContext
from bridges.links import LinkConfig
from bridges.matrix.matrix_errors import MatrixError, MatrixRateLimited, MatrixUnavailable
from bridges.model import LinkName

log = logging.getLogger(__name__)


class RoomJoins:
    """Joins the bot to linked rooms and remembers which ones it could not join, and why."""

    def __init__(self, ctx: RelayContext, *, attempts: int = 8, max_delay: float = 30.0) -> None:
        self.ctx = ctx
        self.attempts = attempts
        self.max_delay = max_delay
        self._lock = threading.Lock()
        self._problems: dict[LinkName, str] = {}
        self._stop = threading.Event()

    @property
    def problems(self) -> dict[LinkName, str]:
        """``{link name: why the bot is not in its room}`` for the rooms it could not join."""
        with self._lock:
            return dict(self._problems)

    def join_all(self, links: Sequence[LinkConfig] | None = None) -> dict[LinkName, str]:
        """Join every link's room (``links``, by default all); retry while the homeserver is
        unreachable. Returns the problems left."""
        pending = list(self.ctx.links if links is None else links)
        linked = {link.name for link in self.ctx.links}
        with self._lock:
            for name in [n for n in self._problems if n not in linked]:
                del self._problems[name]
        for attempt in range(self.attempts):
            retry: list[LinkConfig] = []
            for link in pending:
                try:
                    self.ctx.room_of(link)
                except (MatrixUnavailable, MatrixRateLimited) as exc:
                    retry.append(link)
                    self._note(link.name, str(exc))
                except MatrixError as exc:
                    # Not invited, banned, no such alias: only the admin can change that.
                    log.error(
                        "links: %s: porch's bot cannot join room %s: %s", link.name, link.room, exc
                    )
                    self._note(link.name, str(exc))
                else:
                    self._note(link.name, None)
            pending = retry
            if not pending or self._stop.wait(min(2.0**attempt, self.max_delay)):
                break
        for link in pending:
            log.error(
                "links: %s: porch's bot could not join room %s: the homeserver did not answer",
                link.name,
                link.room,
            )
        return self.problems

    def run(self, links: Sequence[LinkConfig] | None = None) -> None:
        """:meth:`join_all`, as a thread's target."""
        self.join_all(links)

    def stop(self) -> None:
        self._stop.set()

    def _note(self, name: LinkName, problem: str | None) -> None:
        with self._lock:
            if problem is None:
                self._problems.pop(name, None)
            else:
                self._problems[name] = problem
