"""The relay: turns one inbox event into deliveries on the other platform.

For every event it finds the links involved, asks ``policies`` for a decision, writes the
decision to the audit log and, when the event may cross, delivers it and records the mapping.
Delivery code per direction lives in :mod:`bridges.to_matrix` and :mod:`bridges.to_forum`.
"""

from __future__ import annotations

import logging

from bridges import codec
from bridges.context import RelayContext
from bridges.discourse.errors import ForumRateLimited, ForumUnavailable
from bridges.matrix.errors import MatrixRateLimited, MatrixUnavailable
from bridges.store.inbox import InboxRow
from bridges.to_forum import ToForum
from bridges.to_matrix import ToMatrix
from bridges.worker import RetryLater

log = logging.getLogger(__name__)


class Relay:
    """The worker's handler: one inbox event in, deliveries out."""

    def __init__(self, ctx: RelayContext) -> None:
        self.ctx = ctx
        self.to_matrix = ToMatrix(ctx)
        self.to_forum = ToForum(ctx)

    def handle(self, row: InboxRow) -> None:
        """Deliver one inbox event; raises :class:`RetryLater` when it must wait."""
        event = codec.decode(row.kind, row.payload)
        try:
            if row.kind.value.startswith("forum."):
                self.to_matrix.handle(row, event)
            else:
                self.to_forum.handle(row, event)
        except ForumRateLimited as exc:
            raise RetryLater(f"forum rate limit: {exc}", exc.retry_after, counts=False) from exc
        except MatrixRateLimited as exc:
            raise RetryLater(
                f"homeserver rate limit: {exc}", exc.retry_after, counts=False
            ) from exc
        except (ForumUnavailable, MatrixUnavailable) as exc:
            raise RetryLater(str(exc)) from exc
