"""The durable inbox: every accepted platform event, in arrival order, until it is delivered.

The doors append; the relay claims the head of each conversation, one at a time, so that a
conversation's order holds while different conversations proceed independently.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from bridges.model import EventKind, Platform
from bridges.store.db import Database

PENDING = "pending"
DONE = "done"
DEAD = "dead"

inbox = sa.table(
    "inbox",
    sa.column("id", sa.BigInteger),
    sa.column("source", sa.String),
    sa.column("kind", sa.String),
    sa.column("conversation", sa.String),
    sa.column("payload", sa.Text),
    sa.column("status", sa.String),
    sa.column("attempts", sa.Integer),
    sa.column("next_attempt_at", sa.Float),
    sa.column("last_error", sa.Text),
    sa.column("received_at", sa.Float),
    sa.column("finished_at", sa.Float),
    sa.column("claimed_by", sa.String),
    sa.column("claimed_until", sa.Float),
)
inbox_keys = sa.table("inbox_keys", sa.column("key", sa.String), sa.column("inbox_id"))
as_transactions = sa.table(
    "as_transactions",
    sa.column("txn_id", sa.String),
    sa.column("received_at", sa.Float),
    sa.column("event_count", sa.Integer),
)


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event a door accepted, before it has an inbox id.

    ``keys`` are every identity the platform may redeliver it under; the first key already
    present makes the whole event a duplicate.
    """

    source: Platform
    kind: EventKind
    conversation: str
    payload: str
    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class InboxRow:
    id: int
    source: Platform
    kind: EventKind
    conversation: str
    payload: str
    status: str
    attempts: int
    next_attempt_at: float
    last_error: str | None
    received_at: float

    @classmethod
    def from_row(cls, row: sa.Row[tuple[object, ...]]) -> InboxRow:
        m = row._mapping
        return cls(
            id=int(m["id"]),
            source=Platform(m["source"]),
            kind=EventKind(m["kind"]),
            conversation=str(m["conversation"]),
            payload=str(m["payload"]),
            status=str(m["status"]),
            attempts=int(m["attempts"]),
            next_attempt_at=float(m["next_attempt_at"]),
            last_error=m["last_error"],
            received_at=float(m["received_at"]),
        )


@dataclass(frozen=True, slots=True)
class ConversationStats:
    conversation: str
    pending: int
    oldest_pending_at: float | None
    dead: int


def worker_identity() -> str:
    """``host:pid``: lets a restarted process recognise claims left by a dead one on its host."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Inbox:
    """The inbox table and its keys."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def append(self, events: Sequence[NewEvent], now: float) -> list[int | None]:
        """Record ``events`` in one transaction; returns each new id, or None for a duplicate."""
        with self.db.begin() as conn:
            return [self._append_one(conn, event, now) for event in events]

    def append_transaction(self, txn_id: str, events: Sequence[NewEvent], now: float) -> int:
        """Record a Matrix appservice transaction and its events atomically; returns how many
        of its events were new.

        Events are deduplicated by their own keys (the event id, unique across Matrix), never
        by ``txn_id``: a retried transaction records nothing twice, and a transaction id used
        again for other events records those. Synapse reuses ids: on SQLite it rebuilds its
        counter at start from the transactions it has not delivered yet (none, once porch took
        everything), so after a homeserver restart it numbers from 1 again
        (``synapse/storage/databases/main/appservice.py``, ``get_max_as_txn_id``). The
        ``as_transactions`` row only says when an id was last seen.
        """
        with self.db.begin() as conn:
            seen = conn.execute(
                sa.select(as_transactions.c.txn_id).where(as_transactions.c.txn_id == txn_id)
            ).first()
            if seen is None:
                conn.execute(
                    sa.insert(as_transactions).values(
                        txn_id=txn_id, received_at=now, event_count=len(events)
                    )
                )
            else:
                conn.execute(
                    sa.update(as_transactions)
                    .where(as_transactions.c.txn_id == txn_id)
                    .values(received_at=now, event_count=len(events))
                )
            return sum(self._append_one(conn, event, now) is not None for event in events)

    @staticmethod
    def append_in(conn: sa.Connection, event: NewEvent, now: float) -> int | None:
        """Record ``event`` inside the caller's transaction (with the change it follows from);
        returns its id, or None for a duplicate."""
        return Inbox._append_one(conn, event, now)

    @staticmethod
    def _append_one(conn: sa.Connection, event: NewEvent, now: float) -> int | None:
        if not event.keys:
            raise ValueError("an inbox event needs at least one deduplication key")
        known = conn.execute(
            sa.select(inbox_keys.c.key).where(inbox_keys.c.key.in_(event.keys)).limit(1)
        ).first()
        if known is not None:
            return None
        new_id = conn.execute(
            sa.insert(inbox)
            .values(
                source=event.source.value,
                kind=event.kind.value,
                conversation=event.conversation,
                payload=event.payload,
                status=PENDING,
                attempts=0,
                next_attempt_at=now,
                received_at=now,
            )
            .returning(inbox.c.id)
        ).scalar_one()
        conn.execute(sa.insert(inbox_keys), [{"key": k, "inbox_id": new_id} for k in event.keys])
        return int(new_id)

    def claim(self, worker: str, now: float, lease: float, limit: int = 16) -> list[InboxRow]:
        """Claim the due head event of up to ``limit`` conversations for ``worker``.

        Only the oldest pending event of a conversation is ever claimable, so one conversation
        is worked on by one worker at a time and in order. A claim lapses after ``lease``
        seconds, so a crashed worker's event is taken up again.

        Two workers claiming at once never take the same event: each candidate is taken by a
        compare-and-set update (only while it is still pending and unclaimed). On PostgreSQL
        the candidates are also selected ``FOR UPDATE SKIP LOCKED``, so a worker passes over
        the rows another worker is claiming instead of waiting for its transaction to end.
        """
        earlier = sa.alias(inbox, "earlier")
        head = sa.not_(
            sa.exists().where(
                earlier.c.conversation == inbox.c.conversation,
                earlier.c.status == PENDING,
                earlier.c.id < inbox.c.id,
            )
        )
        free = sa.or_(inbox.c.claimed_until.is_(None), inbox.c.claimed_until < now)
        query = (
            sa.select(inbox.c.id)
            .where(inbox.c.status == PENDING, inbox.c.next_attempt_at <= now, free, head)
            .order_by(inbox.c.id)
            .limit(limit)
        )
        if self.db.dialect == "postgresql":
            # Locks only the candidate rows (not those the head subquery reads). SQLite has no
            # row locks; its writers are serialised by BEGIN IMMEDIATE instead.
            query = query.with_for_update(skip_locked=True, of=inbox)
        with self.db.begin() as conn:
            candidates = conn.execute(query).scalars()
            claimed_ids = []
            for candidate in list(candidates):
                result = conn.execute(
                    sa.update(inbox)
                    .where(inbox.c.id == candidate, inbox.c.status == PENDING, free)
                    .values(claimed_by=worker, claimed_until=now + lease)
                )
                if result.rowcount == 1:
                    claimed_ids.append(candidate)
            if not claimed_ids:
                return []
            rows = conn.execute(
                sa.select(inbox).where(inbox.c.id.in_(claimed_ids)).order_by(inbox.c.id)
            )
            return [InboxRow.from_row(r) for r in rows]

    def renew(self, inbox_id: int, worker: str, now: float, lease: float) -> bool:
        """Extend ``worker``'s claim on an event it is about to handle; False when the claim
        is no longer its own (it lapsed and another worker took the event, or finished it).

        Once half its lease has passed, a worker renews each event of its batch just before
        handling it, so a batch that outlives its lease never delivers an event another worker
        has taken up meanwhile.
        """
        with self.db.begin() as conn:
            result = conn.execute(
                sa.update(inbox)
                .where(
                    inbox.c.id == inbox_id,
                    inbox.c.status == PENDING,
                    inbox.c.claimed_by == worker,
                )
                .values(claimed_until=now + lease)
            )
            return result.rowcount == 1

    def release_orphaned(self, worker: str) -> int:
        """Free claims that processes on this host which are no longer running left behind."""
        host = worker.rsplit(":", 1)[0]
        with self.db.begin() as conn:
            rows = conn.execute(
                sa.select(inbox.c.id, inbox.c.claimed_by).where(
                    inbox.c.status == PENDING, inbox.c.claimed_by.like(f"{host}:%")
                )
            ).all()
            orphaned = [r.id for r in rows if r.claimed_by != worker and not _alive(r.claimed_by)]
            if orphaned:
                conn.execute(
                    sa.update(inbox)
                    .where(inbox.c.id.in_(orphaned))
                    .values(claimed_by=None, claimed_until=None)
                )
        return len(orphaned)

    def release_claims(self, worker: str, keep: int | None = None) -> int:
        """Free every pending event ``worker`` claimed (but ``keep``, the one still in hand),
        so that another worker takes them at once instead of after their lease; a worker that
        stops calls this for the events it will not start."""
        query = sa.update(inbox).where(inbox.c.status == PENDING, inbox.c.claimed_by == worker)
        if keep is not None:
            query = query.where(inbox.c.id != keep)
        with self.db.begin() as conn:
            result = conn.execute(query.values(claimed_by=None, claimed_until=None))
            return int(result.rowcount)

    def complete(self, inbox_id: int, now: float) -> None:
        """The event was delivered (or deliberately not): it leaves the queue."""
        self._finish(inbox_id, DONE, now, None)

    def park(self, inbox_id: int, now: float, error: str) -> None:
        """Give up on the event: it becomes a dead letter shown by ``porch status``."""
        self._finish(inbox_id, DEAD, now, error)

    def _finish(self, inbox_id: int, status: str, now: float, error: str | None) -> None:
        values: dict[str, object] = {
            "status": status,
            "finished_at": now,
            "claimed_by": None,
            "claimed_until": None,
        }
        if error is not None:
            values["last_error"] = error
        with self.db.begin() as conn:
            conn.execute(sa.update(inbox).where(inbox.c.id == inbox_id).values(**values))

    def retry_later(self, inbox_id: int, at: float, error: str, *, count: bool = True) -> None:
        """Release the event to be tried again at ``at``.

        ``count=False`` is for waits that are not failures (a rate limit): they do not bring
        the event closer to being parked.
        """
        attempts = inbox.c.attempts + 1 if count else inbox.c.attempts
        with self.db.begin() as conn:
            conn.execute(
                sa.update(inbox)
                .where(inbox.c.id == inbox_id)
                .values(
                    attempts=attempts,
                    next_attempt_at=at,
                    last_error=error,
                    claimed_by=None,
                    claimed_until=None,
                )
            )

    def requeue_dead(self, now: float, inbox_id: int | None = None) -> int:
        """Put dead letters (all, or one) back in the queue, with their attempts reset."""
        query = sa.update(inbox).where(inbox.c.status == DEAD)
        if inbox_id is not None:
            query = query.where(inbox.c.id == inbox_id)
        with self.db.begin() as conn:
            result = conn.execute(
                query.values(status=PENDING, attempts=0, next_attempt_at=now, finished_at=None)
            )
            return int(result.rowcount)

    def get(self, inbox_id: int) -> InboxRow | None:
        with self.db.read() as conn:
            row = conn.execute(sa.select(inbox).where(inbox.c.id == inbox_id)).first()
        return None if row is None else InboxRow.from_row(row)

    def rows(self, status: str | None = None) -> list[InboxRow]:
        """Every row (or those with ``status``), oldest first. For status views and tests."""
        query = sa.select(inbox).order_by(inbox.c.id)
        if status is not None:
            query = query.where(inbox.c.status == status)
        with self.db.read() as conn:
            return [InboxRow.from_row(r) for r in conn.execute(query)]

    def stats(self) -> list[ConversationStats]:
        """Pending count, oldest pending time and dead letters per conversation."""
        pending = sa.case((inbox.c.status == PENDING, 1), else_=0)
        dead = sa.case((inbox.c.status == DEAD, 1), else_=0)
        oldest = sa.func.min(sa.case((inbox.c.status == PENDING, inbox.c.received_at)))
        query = (
            sa.select(inbox.c.conversation, sa.func.sum(pending), oldest, sa.func.sum(dead))
            .where(inbox.c.status.in_([PENDING, DEAD]))
            .group_by(inbox.c.conversation)
            .order_by(inbox.c.conversation)
        )
        with self.db.read() as conn:
            return [
                ConversationStats(
                    str(c), int(p or 0), None if o is None else float(o), int(d or 0)
                )
                for c, p, o, d in conn.execute(query)
            ]


def _alive(claimed_by: str | None) -> bool:
    if not claimed_by:
        return False
    try:
        os.kill(int(claimed_by.rsplit(":", 1)[1]), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True
