"""Reserved for the watching work; filled in by its owner."""

from __future__ import annotations

from alembic.operations import Operations

DESCRIPTION = "watching"


def upgrade(op: Operations) -> None:
    pass
