"""The relay: turns one inbox event into deliveries on the other platform.

For every event it finds the links involved, asks ``policies`` for a decision, writes the
decision to the audit log and, when the event may cross, delivers it and records the mapping.
Which part handles which event is the table in :mod:`bridges.relay.routes`; the parts are built
once in :mod:`bridges.relay.components`. Delivery code per direction lives in
:mod:`bridges.relay.forum_to_chat` and :mod:`bridges.relay.chat_to_forum`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

from bridges import codec
from bridges.context import RelayContext
from bridges.discourse.forum_errors import ForumRateLimited, ForumUnavailable
from bridges.matrix.matrix_errors import MatrixRateLimited, MatrixUnavailable
from bridges.membership.ghost_gate import GhostRefused
from bridges.model import EventKind, InboxPayload
from bridges.relay.routes import Handler
from bridges.store.inbox import InboxRow
from bridges.worker import RetryLater, Unfixable

log = logging.getLogger(__name__)

#: Longest wait between two tries while the homeserver cannot be reached at all, so that its
#: return is noticed soon even with a long ``relay.backoff_max``.
OUTAGE_MAX_WAIT = 30.0
#: Answers that mean "the platform is not there" (a proxy in front of a stopped one, or the
#: forum's maintenance mode).
_GATEWAY_ERRORS = frozenset({502, 503, 504})


class Relay:
    """The worker's handler: one inbox event in, deliveries out."""

    def __init__(
        self,
        ctx: RelayContext,
        routes: Mapping[EventKind, Handler],
        observers: Sequence[Callable[[InboxRow, InboxPayload], None]] = (),
    ) -> None:
        self.ctx = ctx
        #: The handler of each kind of event (:func:`bridges.relay.routes.route_table`).
        self.routes = routes
        #: Called with each event once it is routed (watching, :mod:`bridges.watching`).
        self.observers = tuple(observers)
        #: Consecutive deliveries that found a platform unreachable.
        self._outage = 0

    def handle(self, row: InboxRow) -> None:
        """Deliver one inbox event; raises :class:`RetryLater` when it must wait."""
        try:
            event = codec.decode(row.kind, row.payload)
        except ValueError as exc:  # pydantic's ValidationError is one
            raise Unfixable(f"the recorded event cannot be read: {exc}") from exc
        try:
            self.route(row, event)
        except ForumRateLimited as exc:
            raise RetryLater(f"forum rate limit: {exc}", exc.retry_after, counts=False) from exc
        except MatrixRateLimited as exc:
            raise RetryLater(
                f"homeserver rate limit: {exc}", exc.retry_after, counts=False
            ) from exc
        except MatrixUnavailable as exc:
            if exc.status is None or exc.status in _GATEWAY_ERRORS:
                # An outage is the homeserver's, not this event's: waiting for it must never
                # make the event a dead letter, however long it lasts.
                raise RetryLater(
                    f"homeserver unreachable: {exc}", self._outage_wait(), counts=False
                ) from exc
            raise RetryLater(str(exc)) from exc
        except ForumUnavailable as exc:
            if exc.unreachable or exc.status in _GATEWAY_ERRORS:
                # The forum is down, in maintenance or behind a failing proxy: as with the
                # homeserver, its outage must never make this event a dead letter.
                raise RetryLater(
                    f"forum unreachable: {exc}", self._outage_wait(), counts=False
                ) from exc
            raise RetryLater(str(exc)) from exc
        except GhostRefused as refused:
            # A copy its author's ghost would send into a room the author may not read: refused
            # for good, never retried into a dead letter.
            self.ctx.audit(row, refused.link, refused.decision(), refused.username)
        self._outage = 0
        for observe in self.observers:
            observe(row, event)

    def route(self, row: InboxRow, event: InboxPayload) -> None:
        """Hand ``event`` to the handler of its kind (an approved held crossing comes back
        through here too)."""
        self.routes[row.kind](row, event)

    def _outage_wait(self) -> float:
        """Exponential backoff over the whole outage (not per event), capped."""
        config = self.ctx.relay
        wait = config.backoff_initial * 2.0 ** min(self._outage, 30)
        self._outage += 1
        return min(wait, config.backoff_max, OUTAGE_MAX_WAIT)
