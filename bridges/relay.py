"""The relay: turns one inbox event into deliveries on the other platform.

For every event it finds the links involved, asks ``policies`` for a decision, writes the
decision to the audit log and, when the event may cross, delivers it and records the mapping.
Delivery code per direction lives in :mod:`bridges.to_matrix` and :mod:`bridges.to_forum`;
reactions and likes, both ways, in :mod:`bridges.reactions`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from bridges import codec
from bridges.context import RelayContext
from bridges.discourse.errors import ForumRateLimited, ForumUnavailable
from bridges.facts import TierEvents
from bridges.identity.commands import BotCommands
from bridges.matrix.errors import MatrixRateLimited, MatrixUnavailable
from bridges.membership.ghosts import GhostGate, GhostRefused
from bridges.membership.rooms import Membership
from bridges.model import ChatReaction, ChatRedaction, ForumLike, IdentityLinked, InboxPayload
from bridges.moderation.sanctions import SanctionRelay
from bridges.reactions import ReactionRelay
from bridges.review.desk import ReviewDesk
from bridges.store.inbox import InboxRow
from bridges.to_forum import ToForum
from bridges.to_matrix import ToMatrix
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
        observers: Sequence[Callable[[InboxRow, InboxPayload], None]] = (),
    ) -> None:
        self.ctx = ctx
        #: Called with each event once it is routed (watching, :mod:`bridges.watching`).
        self.observers = tuple(observers)
        self.to_matrix = ToMatrix(ctx)
        self.to_forum = ToForum(ctx)
        self.reactions = ReactionRelay(ctx)
        self.commands = BotCommands(ctx)
        self.tier_events = TierEvents(ctx)
        #: Policy lists and sanctions across the boundary (:mod:`bridges.moderation.sanctions`).
        self.sanctions = SanctionRelay(ctx, ctx.moderation.sanctions, ctx.policy_lists)
        self.membership = Membership(ctx)
        ctx.ghosts.admits = GhostGate(ctx, self.membership.facts)
        self.commands.on_unlinked = self.membership.unlinked
        #: Held crossings: the moderators room, decisions, the forum's own queue.
        self.review = ReviewDesk(ctx, self._route)
        #: Consecutive deliveries that found a platform unreachable.
        self._outage = 0

    def handle(self, row: InboxRow) -> None:
        """Deliver one inbox event; raises :class:`RetryLater` when it must wait."""
        try:
            event = codec.decode(row.kind, row.payload)
        except ValueError as exc:  # pydantic's ValidationError is one
            raise Unfixable(f"the recorded event cannot be read: {exc}") from exc
        try:
            self._route(row, event)
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

    def _route(self, row: InboxRow, event: InboxPayload) -> None:
        if self.commands.owns(event):
            self.commands.handle(row, event)
            if isinstance(event, IdentityLinked):
                self.membership.linked(row, event)
        elif self.membership.owns(event):
            self.membership.handle(row, event)
        elif self.review.owns(event):
            self.review.handle(row, event)
        elif self.tier_events.owns(event):
            self.tier_events.handle(row, event)
            # A category now closed to its room takes back what was carried from it.
            self.to_matrix.retraction.category_closed(row, event)
        elif isinstance(event, ForumLike):
            self.reactions.forum_like(row, event)
        elif isinstance(event, ChatReaction):
            self.reactions.chat_reaction(row, event)
        elif isinstance(event, ChatRedaction) and self.reactions.owns_redaction(event):
            self.reactions.chat_unreaction(row, event)
        elif self.sanctions.owns(event):
            self.sanctions.handle(row, event)
        elif row.kind.value.startswith("forum."):
            self.to_matrix.handle(row, event)
        else:
            self.sanctions.on_sight(row, event)
            self.to_forum.handle(row, event)

    def _outage_wait(self) -> float:
        """Exponential backoff over the whole outage (not per event), capped."""
        config = self.ctx.relay
        wait = config.backoff_initial * 2.0 ** min(self._outage, 30)
        self._outage += 1
        return min(wait, config.backoff_max, OUTAGE_MAX_WAIT)
