"""Reserved for the policy lists and sanctions work; filled in by its owner."""

from __future__ import annotations

from alembic.operations import Operations

DESCRIPTION = "policy lists and sanctions"


def upgrade(op: Operations) -> None:
    pass
