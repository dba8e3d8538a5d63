"""Reserved for the membership work; filled in by its owner."""

from __future__ import annotations

from alembic.operations import Operations

DESCRIPTION = "membership"


def upgrade(op: Operations) -> None:
    pass
