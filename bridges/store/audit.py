"""The audit log: every crossing decision, with the rule and policy version that made it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

from bridges.store.db import Database
from policies.decision import Decision

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


def decided(
    at: float, inbox_id: int | None, link: str | None, decision: Decision, actor: str
) -> AuditEntry:
    """The entry recording ``decision`` about one inbox event (``link``: the link's name)."""
    return AuditEntry(
        at=at,
        inbox_id=inbox_id,
        link=link,
        outcome=decision.outcome.value,
        rule=decision.rule,
        policy_version=decision.policy_version,
        actor=actor,
        detail=decision.reason,
    )


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


#: Entries written longer ago than this are taken to be committed: an entry with a lower id
#: cannot appear after it (ids are handed out at insert, and porch's transactions are short).
SETTLE_SECONDS = 300.0

Tally = dict[tuple[str, str, str], int]


class DecisionTally:
    """Decisions per ``(link, outcome, rule)`` for the ``porch_decisions`` counters, without
    reading the whole log at each scrape.

    The first call counts the log once (by one grouped query); later calls read only the
    entries past the last settled id, a range of the primary key: what was written since,
    plus the last :data:`SETTLE_SECONDS`. Settled entries are kept in memory, so entries
    pruned later (:mod:`bridges.store.retention`) still count and the counters never go down.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._settled: Tally | None = None
        self._settled_id = 0

    def counts(self, now: float) -> list[tuple[str, str, str, int]]:
        """The current counts (link ``""`` when none), as at ``now``."""
        if self._settled is None:
            self._settled = self._first(now)
        recent = sa.select(audit.c.id, audit.c.at, audit.c.link, audit.c.outcome, audit.c.rule)
        with self.db.read() as conn:
            rows = list(
                conn.execute(recent.where(audit.c.id > self._settled_id).order_by(audit.c.id))
            )
        total = dict(self._settled)
        settling = True
        for row in rows:
            key = (row.link or "", str(row.outcome), str(row.rule))
            total[key] = total.get(key, 0) + 1
            # Settle the longest run of old entries only: an entry after a recent one might
            # still have a neighbour below it that is not committed yet.
            settling = settling and float(row.at) < now - SETTLE_SECONDS
            if settling:
                self._settled[key] = self._settled.get(key, 0) + 1
                self._settled_id = int(row.id)
        return [(link, outcome, rule, n) for (link, outcome, rule), n in sorted(total.items())]

    def _first(self, now: float) -> Tally:
        # The settled part by one grouped query, up to the newest entry old enough to settle
        # (found through the index on ``at``).
        with self.db.read() as conn:
            last = conn.execute(
                sa.select(sa.func.max(audit.c.id)).where(audit.c.at < now - SETTLE_SECONDS)
            ).scalar_one()
            if last is None:
                return {}
            grouped = (
                sa.select(audit.c.link, audit.c.outcome, audit.c.rule, sa.func.count())
                .where(audit.c.id <= last)
                .group_by(audit.c.link, audit.c.outcome, audit.c.rule)
            )
            tally = {
                (link or "", str(outcome), str(rule)): int(n)
                for link, outcome, rule, n in conn.execute(grouped)
            }
        self._settled_id = int(last)
        return tally
