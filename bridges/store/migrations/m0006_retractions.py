"""Reserved for the retractions work; filled in by its owner."""

from __future__ import annotations

from alembic.operations import Operations

DESCRIPTION = "retractions"


def upgrade(op: Operations) -> None:
    pass
