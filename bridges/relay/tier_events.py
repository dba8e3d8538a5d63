"""Inbox events that change a tier: ``category_*`` webhooks and a room's join rule or history
visibility, read again or followed into :mod:`bridges.link_tiers` before the next crossing is
decided.
"""

from __future__ import annotations

from bridges.context import RelayContext
from bridges.discourse.forum_errors import ForumError, ForumRateLimited
from bridges.matrix.matrix_errors import MatrixError, MatrixRateLimited
from bridges.model import EventKind, ForumCategory, InboxPayload, RoomSecurityChanged
from bridges.store.inbox import InboxRow
from bridges.worker import RetryLater


class TierEvents:
    """Inbox events that change a tier: ``category_*`` webhooks and a room's join rule or
    history visibility (:mod:`bridges.link_tiers`)."""

    def __init__(self, ctx: RelayContext) -> None:
        self.ctx = ctx

    def handle(self, row: InboxRow, event: InboxPayload) -> None:
        """Read the security again (categories), or follow the state event (rooms).

        Raises:
            RetryLater: the security could not be read; until it can, the tier is unknown.
        """
        tiers = self.ctx.tiers
        if isinstance(event, ForumCategory):
            linked = any(
                link.forum.matches(event.category_id, event.slug) for link in self.ctx.links
            )
            try:
                tiers.category_event(
                    event, destroyed=row.kind is EventKind.CATEGORY_DESTROYED, linked=linked
                )
            except ForumRateLimited:
                raise
            except ForumError as exc:
                raise RetryLater(f"category {event.category_id}: {exc}") from exc
        elif isinstance(event, RoomSecurityChanged):
            known = tiers.records.room(event.room_id) is not None
            if not known and self.ctx.link_for_room(event.room_id) is None:
                return
            try:
                tiers.room_state_changed(event)
            except MatrixRateLimited:
                raise
            except MatrixError as exc:
                raise RetryLater(f"room {event.room_id}: {exc}") from exc
