"""Reading the audit log by what happened: a time range, a link, outcomes, a rule, an actor.

For ``porch audit`` (:mod:`webhooks.audit_cmd`); entries come oldest first.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import sqlalchemy as sa

from bridges.store.audit import AuditEntry, audit, entry_of
from bridges.store.db import Database


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which entries to read; ``None`` (or empty) means any.

    ``rule`` matches a rule exactly, or every rule it begins when it ends with ``*``
    (``policy:publish/*``).
    """

    since: float | None = None
    until: float | None = None
    link: str | None = None
    outcomes: tuple[str, ...] = ()
    rule: str | None = None
    actor: str | None = None
    limit: int | None = None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search(db: Database, wanted: AuditFilter, batch: int = 1000) -> Iterator[AuditEntry]:
    """The entries ``wanted`` describes, oldest first, read ``batch`` at a time (an export of
    the whole log never holds it all in memory)."""
    conditions = []
    if wanted.since is not None:
        conditions.append(audit.c.at >= wanted.since)
    if wanted.until is not None:
        conditions.append(audit.c.at < wanted.until)
    if wanted.link is not None:
        conditions.append(audit.c.link == wanted.link)
    if wanted.outcomes:
        conditions.append(audit.c.outcome.in_(wanted.outcomes))
    if wanted.rule is not None:
        if wanted.rule.endswith("*"):
            prefix = _escape_like(wanted.rule[:-1])
            conditions.append(audit.c.rule.like(f"{prefix}%", escape="\\"))
        else:
            conditions.append(audit.c.rule == wanted.rule)
    if wanted.actor is not None:
        conditions.append(audit.c.actor == wanted.actor)
    after, left = None, wanted.limit
    while left is None or left > 0:
        size = batch if left is None else min(batch, left)
        query = sa.select(audit).where(*conditions).order_by(audit.c.id).limit(size)
        if after is not None:
            query = query.where(audit.c.id > after)
        with db.read() as conn:
            rows = list(conn.execute(query))
        yield from (entry_of(r) for r in rows)
        if len(rows) < size:
            return
        after = rows[-1].id
        left = None if left is None else left - len(rows)
