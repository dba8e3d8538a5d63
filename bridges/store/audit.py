"""The audit log: every crossing decision, with the rule and policy version that made it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

from bridges.store.db import Database

audit = sa.table(
    "audit",
    sa.column("id", sa.BigInteger),
    sa.column("at", sa.Float),
    sa.column("inbox_id", sa.BigInteger),
    sa.column("link", sa.String),
    sa.column("outcome", sa.String),
    sa.column("rule", sa.String),
    sa.column("policy_version", sa.String),
    sa.column("actor", sa.String),
    sa.column("detail", sa.Text),
)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: float
    inbox_id: int | None
    link: str | None
    outcome: str
    rule: str
    policy_version: str
    actor: str
    detail: str | None = None


def entry_of(row: sa.Row[Any]) -> AuditEntry:
    """The entry an ``audit`` row holds."""
    return AuditEntry(
        at=float(row.at),
        inbox_id=row.inbox_id,
        link=row.link,
        outcome=row.outcome,
        rule=row.rule,
        policy_version=row.policy_version,
        actor=row.actor,
        detail=row.detail,
    )


class AuditLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, entry: AuditEntry) -> None:
        with self.db.begin() as conn:
            self.record_in(conn, entry)

    @staticmethod
    def record_in(conn: sa.Connection, entry: AuditEntry) -> None:
        """Record ``entry`` inside the caller's transaction (with the write it explains)."""
        conn.execute(sa.insert(audit).values(**asdict(entry)))

    def entries(self, inbox_id: int | None = None, limit: int = 1000) -> list[AuditEntry]:
        """The most recent entries, oldest first (all, or those of one inbox event)."""
        query = sa.select(audit).order_by(audit.c.id.desc()).limit(limit)
        if inbox_id is not None:
            query = query.where(audit.c.inbox_id == inbox_id)
        with self.db.read() as conn:
            rows = list(conn.execute(query))
        return [entry_of(r) for r in reversed(rows)]

    def counts(self) -> list[tuple[str, str, str, int]]:
        """How many decisions there are per ``(link, outcome, rule)`` (link ``""`` when none).

        For the ``porch_decisions_total`` metric; one grouped query over the whole log.
        """
        query = sa.select(audit.c.link, audit.c.outcome, audit.c.rule, sa.func.count()).group_by(
            audit.c.link, audit.c.outcome, audit.c.rule
        )
        with self.db.read() as conn:
            return [
                (link or "", str(outcome), str(rule), int(n))
                for link, outcome, rule, n in conn.execute(query)
            ]
