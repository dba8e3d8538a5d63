"""Reserved for the review queue work; filled in by its owner."""

from __future__ import annotations

from alembic.operations import Operations

DESCRIPTION = "review queue"


def upgrade(op: Operations) -> None:
    pass
