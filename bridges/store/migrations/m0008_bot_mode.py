"""Reserved for the bot mode work; filled in by its owner."""

from __future__ import annotations

from alembic.operations import Operations

DESCRIPTION = "bot mode"


def upgrade(op: Operations) -> None:
    pass
