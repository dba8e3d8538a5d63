"""Retention: what porch's store forgets, and when (``store.retention``, ``porch prune``).

What goes, after its time:

- the text of finished inbox events (``inbox_days``): the payload of a ``done`` row is emptied.
  The row and its keys stay: they are how a redelivered webhook or event is recognised as one
  already recorded (:class:`bridges.store.inbox.Inbox`), for as long as the platforms may send
  it again. Pending events and dead letters keep everything: they still have work to do.
- audit entries older than ``audit_days``. The ``porch_decisions`` counters do not go down
  with them (:class:`bridges.store.audit.DecisionTally` counts as entries are written).
- forum post attempts (:mod:`bridges.store.forum_attempts`) older than ``inbox_days`` (two
  days at least: a repeated line is recognised a day back), and never one that an unfinished
  inbox event (pending, or a dead letter ``porch retry`` may put back) could still need: an
  attempt is started after its event was received, so attempts older than the oldest
  unfinished event are no longer anyone's.
- watching data older than ``watching_days``: the activity watches saw, finished alerts and
  digest records; expired dashboard sign-ins and nonces go at once.

Each kind goes in batches of short transactions, oldest first, so pruning never holds the
store for long; ``0`` days keeps a kind forever. The worker prunes every ``interval`` seconds
(:class:`Pruner`); ``porch prune`` does it now.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, fields

import sqlalchemy as sa
from pydantic import Field, field_validator

from bridges.configbase import Section
from bridges.store.audit import audit
from bridges.store.db import Database
from bridges.store.forum_attempts import forum_attempts
from bridges.store.inbox import DONE, inbox
from bridges.store.watch_records import (
    dashboard_nonces,
    dashboard_sessions,
    watch_activity,
    watch_alerts,
    watch_digests,
)

log = logging.getLogger(__name__)

DAY = 86400.0
#: The watching history and the weekly digest's baseline (8 weeks) read this far back; audit
#: entries and watching data are kept at least this long.
MIN_HISTORY_DAYS = 60
#: Forum post attempts are kept at least this long: a line repeated within a day is made
#: distinct from them (:mod:`bridges.relay.chat_to_forum.forum_once`).
MIN_ATTEMPT_DAYS = 2
#: Rows changed per transaction.
BATCH = 500


class RetentionConfig(Section):
    """``store.retention``: how long porch keeps what it no longer needs to work."""

    #: Days a finished inbox event keeps its text (the row and its deduplication keys stay).
    inbox_days: int = Field(default=7, ge=0)
    #: Days audit entries are kept (0: forever).
    audit_days: int = Field(default=365, ge=0)
    #: Days watching activity, finished alerts and digest records are kept (0: forever).
    watching_days: int = Field(default=90, ge=0)
    #: Seconds between two prunes in the worker.
    interval: float = Field(default=3600.0, gt=0)

    @field_validator("audit_days", "watching_days")
    @classmethod
    def _history(cls, days: int) -> int:
        if 0 < days < MIN_HISTORY_DAYS:
            raise ValueError(
                f"must be 0 (keep forever) or at least {MIN_HISTORY_DAYS}: the watching "
                "history and digests read that far back"
            )
        return days


@dataclass
class PruneReport:
    """How many of each were pruned (or, in a dry run, would be)."""

    inbox_payloads: int = 0
    forum_attempts: int = 0
    audit_entries: int = 0
    watch_activity: int = 0
    watch_alerts: int = 0
    watch_digests: int = 0
    dashboard_sign_ins: int = 0

    def items(self) -> list[tuple[str, int]]:
        return [(f.name, int(getattr(self, f.name))) for f in fields(self)]

    @property
    def total(self) -> int:
        return sum(n for _, n in self.items())


def prune(
    db: Database,
    retention: RetentionConfig,
    now: float,
    *,
    dry_run: bool = False,
    stop: Callable[[], bool] = lambda: False,
) -> PruneReport:
    """Forget what ``retention`` says is past its time at ``now``; with ``dry_run``, only
    count it. ``stop`` is asked between batches: a prune cut short resumes next time."""
    report = PruneReport()
    if retention.inbox_days:
        finished = sa.and_(
            inbox.c.status == DONE,
            inbox.c.finished_at < now - retention.inbox_days * DAY,
            inbox.c.payload != "",
        )
        report.inbox_payloads = _batched(
            db, inbox, inbox.c.id, finished, dry_run, stop, update={"payload": ""}
        )
        report.forum_attempts = _prune_attempts(db, retention, now, dry_run)
    if retention.audit_days:
        old = audit.c.at < now - retention.audit_days * DAY
        report.audit_entries = _batched(db, audit, audit.c.id, old, dry_run, stop)
    if retention.watching_days:
        cutoff = now - retention.watching_days * DAY
        report.watch_activity = _batched(
            db, watch_activity, watch_activity.c.id, watch_activity.c.at < cutoff, dry_run, stop
        )
        done = sa.and_(watch_alerts.c.done_at.is_not(None), watch_alerts.c.raised_at < cutoff)
        report.watch_alerts = _batched(db, watch_alerts, watch_alerts.c.id, done, dry_run, stop)
        report.watch_digests = _at_once(
            db, watch_digests, watch_digests.c.made_at < cutoff, dry_run
        )
    report.dashboard_sign_ins = _at_once(
        db, dashboard_nonces, dashboard_nonces.c.expires_at < now, dry_run
    ) + _at_once(db, dashboard_sessions, dashboard_sessions.c.expires_at < now, dry_run)
    return report


def _prune_attempts(db: Database, retention: RetentionConfig, now: float, dry_run: bool) -> int:
    """Forget forum post attempts past their time that no unfinished event can need."""
    cutoff = now - max(retention.inbox_days, MIN_ATTEMPT_DAYS) * DAY
    with db.read() as conn:
        unfinished = conn.execute(
            sa.select(sa.func.min(inbox.c.received_at)).where(inbox.c.status != DONE)
        ).scalar_one_or_none()
    if unfinished is not None:
        cutoff = min(cutoff, float(unfinished))
    return _at_once(db, forum_attempts, forum_attempts.c.started_at < cutoff, dry_run)


def _batched(
    db: Database,
    table: sa.TableClause,
    key: sa.ColumnClause[int],
    condition: sa.ColumnElement[bool],
    dry_run: bool,
    stop: Callable[[], bool],
    update: dict[str, object] | None = None,
) -> int:
    """Delete (or ``update``) the rows matching ``condition``, ``BATCH`` at a time in order
    of ``key``; each batch is one short transaction."""
    if dry_run:
        with db.read() as conn:
            count = sa.select(sa.func.count()).select_from(table).where(condition)
            return int(conn.execute(count).scalar_one())
    done, after = 0, None
    while not stop():
        query = sa.select(key).where(condition).order_by(key).limit(BATCH)
        if after is not None:
            # Rows already passed over stay passed over: an update that leaves a row matching
            # (it cannot, but a concurrent writer might) never loops.
            query = query.where(key > after)
        with db.begin() as conn:
            ids = list(conn.execute(query).scalars())
            if not ids:
                break
            if update is not None:
                conn.execute(sa.update(table).where(key.in_(ids), condition).values(**update))
            else:
                conn.execute(sa.delete(table).where(key.in_(ids), condition))
        done += len(ids)
        after = ids[-1]
    return done


def _at_once(
    db: Database, table: sa.TableClause, condition: sa.ColumnElement[bool], dry_run: bool
) -> int:
    """For small tables (one row per watch and period, per sign-in): one statement."""
    if dry_run:
        with db.read() as conn:
            count = sa.select(sa.func.count()).select_from(table).where(condition)
            return int(conn.execute(count).scalar_one())
    with db.begin() as conn:
        return int(conn.execute(sa.delete(table).where(condition)).rowcount)


class Pruner:
    """Prunes every ``retention.interval`` seconds, from the worker's housekeeping."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock
        self.next_at = 0.0

    def tick(self, retention: RetentionConfig, stop: Callable[[], bool]) -> PruneReport | None:
        """Prune when it is time (the first call prunes); ``None`` when it was not time."""
        now = self.clock()
        if now < self.next_at:
            return None
        self.next_at = now + retention.interval
        try:
            report = prune(self.db, retention, now, stop=stop)
        except Exception as exc:  # housekeeping must never stop porch
            # The next tick tries again; the store's own error text may hold its password.
            log.warning(
                "retention: pruning failed (%s); next try in %gs",
                type(exc).__name__,
                retention.interval,
            )
            return None
        if report.total:
            pruned = ", ".join(f"{n} {what}" for what, n in report.items() if n)
            log.info("retention: pruned %s", pruned)
        return report
