"""Reserved for the watched words and protections work; filled in by its owner."""

from __future__ import annotations

from alembic.operations import Operations

DESCRIPTION = "watched words and protections"


def upgrade(op: Operations) -> None:
    pass
