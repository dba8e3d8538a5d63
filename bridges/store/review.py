"""The review queue's tables: held crossings and the forum's queued posts porch follows.

A held item keeps the inbox event it came from (kind and neutral payload): an approval sends
that event through the relay again, whose normal delivery code then carries it. A held chat
message also keeps what it was judged on (``kept``: the text the forum gets, as the moderators
saw it), so that an approval posts that text and not a new rendering, and each item keeps the
tier of the space its content was written in (``source_tier``), which decides whether a
moderators room may quote it. A decision
(state change, its audit entry and the inbox event that delivers it) is one transaction, and
only a pending item can be decided, so two moderators deciding at once make one decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from bridges.store.audit import AuditEntry, AuditLog
from bridges.store.db import Database
from bridges.store.inbox import Inbox, NewEvent

PENDING = "pending"
APPROVED = "approved"
REJECTED = "rejected"
STATES = (PENDING, APPROVED, REJECTED)

review_items = sa.table(
    "review_items",
    sa.column("id", sa.BigInteger),
    sa.column("inbox_id", sa.BigInteger),
    sa.column("link", sa.String),
    sa.column("subject", sa.String),
    sa.column("direction", sa.String),
    sa.column("kind", sa.String),
    sa.column("payload", sa.Text),
    sa.column("author", sa.String),
    sa.column("preview", sa.Text),
    sa.column("rule", sa.String),
    sa.column("policy_version", sa.String),
    sa.column("reason", sa.Text),
    sa.column("state", sa.String),
    sa.column("created_at", sa.Float),
    sa.column("decided_by", sa.String),
    sa.column("decided_at", sa.Float),
    sa.column("decision_note", sa.Text),
    sa.column("notice_event_id", sa.String),
    sa.column("kept", sa.Text),
    sa.column("source_tier", sa.String),
)

forum_reviewables = sa.table(
    "forum_reviewables",
    sa.column("reviewable_id", sa.BigInteger),
    sa.column("inbox_id", sa.BigInteger),
    sa.column("link", sa.String),
    sa.column("room_id", sa.String),
    sa.column("event_id", sa.String),
    sa.column("sender", sa.String),
    sa.column("thread_root", sa.String),
    sa.column("topic_id", sa.BigInteger),
    sa.column("username", sa.String),
    sa.column("raw", sa.Text),
    sa.column("state", sa.String),
    sa.column("post_id", sa.BigInteger),
    sa.column("created_at", sa.Float),
    sa.column("decided_at", sa.Float),
    sa.column("decided_by", sa.String),
)


@dataclass(frozen=True, slots=True)
class NewHeld:
    """A crossing a decision held, before it has a queue number."""

    inbox_id: int
    link: str
    subject: str
    direction: str
    kind: str
    payload: str
    author: str
    preview: str
    rule: str
    policy_version: str
    reason: str
    #: What the crossing was judged on, to deliver on approval (JSON; chat messages).
    kept: str | None = None
    #: The tier of the space the content comes from; ``None``: unknown (taken as private).
    source_tier: str | None = None


@dataclass(frozen=True, slots=True)
class HeldItem:
    """A held crossing and what became of it. ``id`` is the number moderators use."""

    id: int
    inbox_id: int
    link: str
    subject: str
    direction: str
    kind: str
    payload: str
    author: str
    preview: str
    rule: str
    policy_version: str
    reason: str
    state: str
    created_at: float
    decided_by: str | None = None
    decided_at: float | None = None
    decision_note: str | None = None
    notice_event_id: str | None = None
    kept: str | None = None
    source_tier: str | None = None

    @property
    def pending(self) -> bool:
        return self.state == PENDING


#: The columns a new item fills from :class:`NewHeld`.
_HELD_COLUMNS = tuple(c for c in review_items.columns if c.name in NewHeld.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class ForumQueued:
    """A chat message the forum put in its own review queue (its reviewable's id)."""

    reviewable_id: int
    inbox_id: int
    link: str
    room_id: str
    event_id: str
    sender: str
    thread_root: str | None
    topic_id: int | None
    username: str
    raw: str
    state: str = PENDING
    post_id: int | None = None
    created_at: float = 0.0
    decided_at: float | None = None
    decided_by: str | None = None


def _held(row: sa.Row[tuple[object, ...]]) -> HeldItem:
    m = row._mapping
    return HeldItem(**{name: m[name] for name in HeldItem.__dataclass_fields__ if name in m})


def _queued(row: sa.Row[tuple[object, ...]]) -> ForumQueued:
    m = row._mapping
    return ForumQueued(**{name: m[name] for name in ForumQueued.__dataclass_fields__})


class ReviewQueue:
    """Held crossings (``review_items``) and followed forum reviewables."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # --- held crossings ----------------------------------------------------------------------

    def hold(self, new: NewHeld, now: float) -> HeldItem:
        """Queue ``new`` unless that crossing is queued already; returns its item either way
        (a retried event finds the item, and the decision on it, of its first attempt)."""
        where = sa.and_(
            review_items.c.inbox_id == new.inbox_id,
            review_items.c.link == new.link,
            review_items.c.subject == new.subject,
        )
        with self.db.begin() as conn:
            found = conn.execute(sa.select(review_items).where(where)).first()
            if found is None:
                conn.execute(
                    sa.insert(review_items).values(
                        **{c.name: getattr(new, c.name) for c in _HELD_COLUMNS},
                        state=PENDING,
                        created_at=now,
                    )
                )
                found = conn.execute(sa.select(review_items).where(where)).one()
        return _held(found)

    def find(self, inbox_id: int, link: str, subject: str) -> HeldItem | None:
        """The item of one crossing (an inbox event, on a link, for a subject), if held."""
        where = sa.and_(
            review_items.c.inbox_id == inbox_id,
            review_items.c.link == link,
            review_items.c.subject == subject,
        )
        with self.db.read() as conn:
            row = conn.execute(sa.select(review_items).where(where)).first()
        return None if row is None else _held(row)

    def get(self, item_id: int) -> HeldItem | None:
        with self.db.read() as conn:
            row = conn.execute(sa.select(review_items).where(review_items.c.id == item_id)).first()
        return None if row is None else _held(row)

    def by_notice(self, event_id: str) -> HeldItem | None:
        """The item announced by the moderators-room notice ``event_id``."""
        query = sa.select(review_items).where(review_items.c.notice_event_id == event_id)
        with self.db.read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _held(row)

    def items(self, state: str | None = PENDING, limit: int = 200) -> list[HeldItem]:
        """Items oldest first (pending ones by default; ``None``: every state)."""
        query = sa.select(review_items).order_by(review_items.c.id).limit(limit)
        if state is not None:
            query = query.where(review_items.c.state == state)
        with self.db.read() as conn:
            return [_held(r) for r in conn.execute(query)]

    def set_notice(self, item_id: int, event_id: str) -> None:
        with self.db.begin() as conn:
            conn.execute(
                sa.update(review_items)
                .where(review_items.c.id == item_id)
                .values(notice_event_id=event_id)
            )

    def decide(
        self,
        item_id: int,
        state: str,
        by: str,
        now: float,
        *,
        note: str | None = None,
        entry: AuditEntry,
        event: NewEvent,
    ) -> HeldItem | None:
        """Approve or reject a pending item, record ``entry`` in the audit log and append
        ``event`` (which delivers or closes it) to the inbox, all or nothing.

        Returns the decided item, or ``None`` when it was not pending (decided already, or
        no such item): then nothing is recorded.
        """
        if state not in (APPROVED, REJECTED):
            raise ValueError(f"a decision is approved or rejected, not {state!r}")
        with self.db.begin() as conn:
            changed = conn.execute(
                sa.update(review_items)
                .where(review_items.c.id == item_id, review_items.c.state == PENDING)
                .values(state=state, decided_by=by, decided_at=now, decision_note=note)
            ).rowcount
            if changed != 1:
                return None
            AuditLog.record_in(conn, entry)
            Inbox.append_in(conn, event, now)
            row = conn.execute(sa.select(review_items).where(review_items.c.id == item_id)).one()
        return _held(row)

    # --- the forum's own queue ---------------------------------------------------------------

    def follow(self, queued: ForumQueued) -> None:
        """Remember a post the forum queued (once; a retried delivery changes nothing)."""
        with self.db.begin() as conn:
            known = conn.execute(
                sa.select(forum_reviewables.c.reviewable_id).where(
                    forum_reviewables.c.reviewable_id == queued.reviewable_id
                )
            ).first()
            if known is None:
                conn.execute(
                    sa.insert(forum_reviewables).values(
                        **{n: getattr(queued, n) for n in ForumQueued.__dataclass_fields__}
                    )
                )

    def queued(self, reviewable_id: int) -> ForumQueued | None:
        query = sa.select(forum_reviewables).where(
            forum_reviewables.c.reviewable_id == reviewable_id
        )
        with self.db.read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _queued(row)

    def queued_items(self, states: Sequence[str] = STATES) -> list[ForumQueued]:
        query = (
            sa.select(forum_reviewables)
            .where(forum_reviewables.c.state.in_(list(states)))
            .order_by(forum_reviewables.c.reviewable_id)
        )
        with self.db.read() as conn:
            return [_queued(r) for r in conn.execute(query)]

    def settle_queued(
        self, reviewable_id: int, state: str, now: float, post_id: int | None = None
    ) -> bool:
        """Record the forum's decision on a followed post; False if it was settled before."""
        with self.db.begin() as conn:
            changed = conn.execute(
                sa.update(forum_reviewables)
                .where(
                    forum_reviewables.c.reviewable_id == reviewable_id,
                    forum_reviewables.c.state == PENDING,
                )
                .values(state=state, decided_at=now, post_id=post_id, decided_by="forum")
            ).rowcount
        return changed == 1
