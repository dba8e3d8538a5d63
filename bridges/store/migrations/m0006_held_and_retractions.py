"""Reserved for the held and retractions work; filled in by its owner."""

from __future__ import annotations

from alembic.operations import Operations

DESCRIPTION = "held and retractions"


def upgrade(op: Operations) -> None:
    pass
