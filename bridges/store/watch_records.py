"""Watching's tables: what each watch saw, its alerts, its digests, and dashboard sign-ins.

Every write that must happen once (an activity row per inbox event, an alert per thread, watch
and kind, a digest per period, a sign-in nonce) is an ``INSERT .. ON CONFLICT DO NOTHING`` or a
conditional ``DELETE`` that only one caller can win, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from bridges.store.audit import AuditEntry, audit, entry_of
from bridges.store.db import Database
from bridges.store.mapping import threads
from bridges.store.tier_records import category_security

watch_activity = sa.table(
    "watch_activity",
    sa.column("id", sa.BigInteger),
    sa.column("watch", sa.String),
    sa.column("inbox_id", sa.BigInteger),
    sa.column("at", sa.Float),
    sa.column("thread", sa.String),
    sa.column("title", sa.Text),
    sa.column("topic_id", sa.BigInteger),
    sa.column("category_id", sa.BigInteger),
    sa.column("room_id", sa.String),
    sa.column("event_id", sa.String),
    sa.column("link", sa.String),
    sa.column("author", sa.String),
    sa.column("terms", sa.Text),
    sa.column("words", sa.Text),
    sa.column("forum_url", sa.Text),
    sa.column("matrix_url", sa.Text),
)
watch_alerts = sa.table(
    "watch_alerts",
    sa.column("id", sa.BigInteger),
    sa.column("watch", sa.String),
    sa.column("thread", sa.String),
    sa.column("kind", sa.String),
    sa.column("raised_at", sa.Float),
    sa.column("due_at", sa.Float),
    sa.column("folded", sa.Boolean),
    sa.column("body", sa.Text),
    sa.column("room_sent_at", sa.Float),
    sa.column("email_sent_at", sa.Float),
    sa.column("webhook_sent_at", sa.Float),
    sa.column("done_at", sa.Float),
    sa.column("attempts", sa.Integer),
    sa.column("last_error", sa.Text),
)
watch_digests = sa.table(
    "watch_digests",
    sa.column("watch", sa.String),
    sa.column("period", sa.String),
    sa.column("made_at", sa.Float),
    sa.column("room_sent_at", sa.Float),
    sa.column("email_sent_at", sa.Float),
)
dashboard_nonces = sa.table(
    "dashboard_nonces", sa.column("nonce", sa.String), sa.column("expires_at", sa.Float)
)
dashboard_sessions = sa.table(
    "dashboard_sessions",
    sa.column("token_hash", sa.String),
    sa.column("username", sa.String),
    sa.column("groups", sa.Text),
    sa.column("expires_at", sa.Float),
)

#: The channels an alert or digest goes out on; each is recorded as sent on its own.
CHANNELS = ("room", "email", "webhook")


@dataclass(frozen=True, slots=True)
class Activity:
    """A post or chat message one watch saw.

    ``thread`` identifies the conversation on both sides (``topic:<id>`` once the forum topic
    is known, else ``room:<room>:<root event>``); ``terms`` are the watch's terms it hit,
    ``words`` the post's own keywords.
    """

    watch: str
    inbox_id: int
    at: float
    thread: str
    author: str
    terms: tuple[str, ...] = ()
    title: str | None = None
    topic_id: int | None = None
    category_id: int | None = None
    room_id: str | None = None
    event_id: str | None = None
    link: str | None = None
    forum_url: str | None = None
    matrix_url: str | None = None
    #: The post's keywords, for emerging words.
    words: tuple[str, ...] = ()

    @property
    def from_chat(self) -> bool:
        """Whether a chat message was seen (forum posts carry no event id): its readers are
        then the more closed of its room and its category."""
        return self.event_id is not None and self.room_id is not None


@dataclass(frozen=True, slots=True)
class AlertRow:
    id: int
    watch: str
    thread: str
    kind: str
    raised_at: float
    due_at: float
    folded: bool
    body: dict[str, object]
    sent: dict[str, float | None]
    done_at: float | None
    attempts: int


class WatchRecords:
    """Watching's rows."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # --- activity ---------------------------------------------------------------------------

    def record(self, activity: Activity) -> bool:
        """Record what a watch saw; ``False`` when this inbox event was recorded before."""
        values = {
            "watch": activity.watch,
            "inbox_id": activity.inbox_id,
            "at": activity.at,
            "thread": activity.thread,
            "title": activity.title,
            "topic_id": activity.topic_id,
            "category_id": activity.category_id,
            "room_id": activity.room_id,
            "event_id": activity.event_id,
            "link": activity.link,
            "author": activity.author,
            "terms": json.dumps(list(activity.terms)),
            "words": json.dumps(list(activity.words)),
            "forum_url": activity.forum_url,
            "matrix_url": activity.matrix_url,
        }
        insert = (
            self.db.insert(watch_activity)
            .values(**values)
            .on_conflict_do_nothing()
            .returning(watch_activity.c.id)
        )
        # RETURNING, not rowcount: psycopg reports no row count for ON CONFLICT inserts.
        with self.db.begin() as conn:
            return conn.execute(insert).first() is not None

    def activity(
        self,
        watch: str,
        since: float | None = None,
        until: float | None = None,
        thread: str | None = None,
    ) -> list[Activity]:
        """What ``watch`` saw in ``[since, until)`` (of one thread), oldest first."""
        query = sa.select(watch_activity).where(watch_activity.c.watch == watch)
        query = _between(query, watch_activity.c.at, since, until)
        if thread is not None:
            query = query.where(watch_activity.c.thread == thread)
        with self.db.read() as conn:
            rows = list(conn.execute(query.order_by(watch_activity.c.at, watch_activity.c.id)))
        return [
            Activity(
                watch=r.watch,
                inbox_id=int(r.inbox_id),
                at=float(r.at),
                thread=r.thread,
                author=r.author,
                terms=tuple(json.loads(r.terms)),
                title=r.title,
                topic_id=None if r.topic_id is None else int(r.topic_id),
                category_id=None if r.category_id is None else int(r.category_id),
                room_id=r.room_id,
                event_id=r.event_id,
                link=r.link,
                forum_url=r.forum_url,
                matrix_url=r.matrix_url,
                words=tuple(json.loads(r.words or "[]")),
            )
            for r in rows
        ]

    def topic_changed(self, topic_id: int, category_id: int | None, title: str) -> int:
        """A topic moved or was renamed: what every watch saw of it follows (so a topic moved
        behind a wall is filtered as the category it is in now). Returns the rows changed."""
        update = (
            sa.update(watch_activity)
            .where(watch_activity.c.topic_id == topic_id)
            .values(category_id=category_id, title=title)
            .returning(watch_activity.c.id)
        )
        with self.db.begin() as conn:
            return len(list(conn.execute(update)))

    def forget_topic(self, topic_id: int) -> None:
        """A topic was deleted: nothing of it is shown any more."""
        with self.db.begin() as conn:
            conn.execute(sa.delete(watch_activity).where(watch_activity.c.topic_id == topic_id))

    # --- alerts -----------------------------------------------------------------------------

    def raise_alert(
        self,
        watch: str,
        thread: str,
        kind: str,
        body: dict[str, object],
        now: float,
        due_at: float,
        *,
        folded: bool = False,
    ) -> int | None:
        """Record an alert; its id, or ``None`` when this thread already alerted this watch
        for this kind (the deduplication)."""
        insert = (
            self.db.insert(watch_alerts)
            .values(
                watch=watch,
                thread=thread,
                kind=kind,
                raised_at=now,
                due_at=due_at,
                folded=folded,
                body=json.dumps(body, sort_keys=True),
                attempts=0,
                done_at=now if folded else None,
            )
            .on_conflict_do_nothing()
            .returning(watch_alerts.c.id)
        )
        with self.db.begin() as conn:
            found = conn.execute(insert).first()
        return None if found is None else int(found[0])

    def due_alerts(self, now: float) -> list[AlertRow]:
        """Alerts not yet sent on every channel whose time has come, oldest first."""
        query = (
            sa.select(watch_alerts)
            .where(watch_alerts.c.done_at.is_(None), watch_alerts.c.due_at <= now)
            .order_by(watch_alerts.c.id)
        )
        return self._alerts(query)

    def alerts(
        self, watch: str, since: float | None = None, until: float | None = None
    ) -> list[AlertRow]:
        """The alerts of ``watch`` raised in ``[since, until)``, oldest first."""
        query = sa.select(watch_alerts).where(watch_alerts.c.watch == watch)
        query = _between(query, watch_alerts.c.raised_at, since, until)
        return self._alerts(query.order_by(watch_alerts.c.id))

    def _alerts(self, query: sa.Select[tuple[object, ...]]) -> list[AlertRow]:
        with self.db.read() as conn:
            rows = list(conn.execute(query))
        return [
            AlertRow(
                id=int(r.id),
                watch=r.watch,
                thread=r.thread,
                kind=r.kind,
                raised_at=float(r.raised_at),
                due_at=float(r.due_at),
                folded=bool(r.folded),
                body=json.loads(r.body),
                sent={
                    "room": r.room_sent_at,
                    "email": r.email_sent_at,
                    "webhook": r.webhook_sent_at,
                },
                done_at=r.done_at,
                attempts=int(r.attempts),
            )
            for r in rows
        ]

    def claim_alert(self, alert: AlertRow, now: float, lease: float) -> bool:
        """Take ``alert`` for sending for ``lease`` seconds; ``False`` when another sender
        (the worker's scheduled run, another worker) took it first. A sender that dies
        mid-way leaves it to be taken again once the lease has passed."""
        claim = (
            sa.update(watch_alerts)
            .where(
                watch_alerts.c.id == alert.id,
                watch_alerts.c.due_at == alert.due_at,
                watch_alerts.c.done_at.is_(None),
            )
            .values(due_at=now + lease)
            .returning(watch_alerts.c.id)
        )
        with self.db.begin() as conn:
            return conn.execute(claim).first() is not None

    def alert_sent(self, alert_id: int, channel: str, now: float) -> None:
        """One channel delivered the alert."""
        if channel not in CHANNELS:
            raise ValueError(channel)
        with self.db.begin() as conn:
            conn.execute(
                sa.update(watch_alerts)
                .where(watch_alerts.c.id == alert_id)
                .values({f"{channel}_sent_at": now})
            )

    def alert_done(self, alert_id: int, now: float) -> None:
        with self.db.begin() as conn:
            conn.execute(
                sa.update(watch_alerts).where(watch_alerts.c.id == alert_id).values(done_at=now)
            )

    def alert_failed(self, alert_id: int, error: str, retry_at: float) -> None:
        with self.db.begin() as conn:
            conn.execute(
                sa.update(watch_alerts)
                .where(watch_alerts.c.id == alert_id)
                .values(
                    attempts=watch_alerts.c.attempts + 1, last_error=error[:2000], due_at=retry_at
                )
            )

    # --- digests ----------------------------------------------------------------------------

    def claim_digest(self, watch: str, period: str, now: float, lease: float) -> bool:
        """Take the period's digest for sending for ``lease`` seconds; ``False`` while another
        sender (another worker, ``porch digest --send``) holds it."""
        insert = (
            self.db.insert(watch_digests)
            .values(watch=watch, period=period, made_at=0.0)
            .on_conflict_do_nothing()
        )
        claim = (
            sa.update(watch_digests)
            .where(
                watch_digests.c.watch == watch,
                watch_digests.c.period == period,
                watch_digests.c.made_at <= now - lease,
            )
            .values(made_at=now)
            .returning(watch_digests.c.period)
        )
        with self.db.begin() as conn:
            conn.execute(insert)
            return conn.execute(claim).first() is not None

    def digest_sent(self, watch: str, period: str) -> dict[str, float | None] | None:
        """When the period's digest went out per channel; ``None`` when it was never made."""
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(watch_digests).where(
                    watch_digests.c.watch == watch, watch_digests.c.period == period
                )
            ).first()
        if row is None:
            return None
        return {"room": row.room_sent_at, "email": row.email_sent_at}

    def mark_digest(self, watch: str, period: str, channel: str, now: float) -> None:
        if channel not in ("room", "email"):
            raise ValueError(channel)
        with self.db.begin() as conn:
            conn.execute(
                sa.update(watch_digests)
                .where(watch_digests.c.watch == watch, watch_digests.c.period == period)
                .values({f"{channel}_sent_at": now})
            )

    # --- categories -------------------------------------------------------------------------

    def category_ids(self, slug: str) -> list[int]:
        """The ids of recorded categories with this slug (a link may name one by slug)."""
        with self.db.read() as conn:
            return [
                int(r[0])
                for r in conn.execute(
                    sa.select(category_security.c.category_id).where(
                        category_security.c.slug == slug
                    )
                )
            ]

    def link_room_ids(self, link: str) -> list[str]:
        """The rooms porch mapped threads of ``link`` to (a link named by alias)."""
        query = sa.select(threads.c.room_id).where(threads.c.link == link).distinct()
        with self.db.read() as conn:
            return sorted(str(r[0]) for r in conn.execute(query))

    # --- dashboard sign-ins -----------------------------------------------------------------

    def spend_nonce(self, nonce: str, expires_at: float, now: float) -> bool:
        """Use up a sign-in nonce that porch signed (its sha-256 is kept until it expires);
        ``False`` when it was used before. Expired ones are dropped on the way, so the table
        holds only the sign-ins of the last ``NONCE_TTL`` that the forum answered."""
        insert = (
            self.db.insert(dashboard_nonces)
            .values(nonce=_hash(nonce), expires_at=expires_at)
            .on_conflict_do_nothing()
            .returning(dashboard_nonces.c.nonce)
        )
        with self.db.begin() as conn:
            conn.execute(sa.delete(dashboard_nonces).where(dashboard_nonces.c.expires_at < now))
            return conn.execute(insert).first() is not None

    def nonce_count(self) -> int:
        """How many used nonces are kept (the table's size)."""
        with self.db.read() as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(dashboard_nonces)).scalar_one()
            )

    def open_session(
        self, token: str, username: str, groups: list[str], expires_at: float
    ) -> None:
        with self.db.begin() as conn:
            conn.execute(
                sa.insert(dashboard_sessions).values(
                    token_hash=_hash(token),
                    username=username,
                    groups=json.dumps(sorted(groups)),
                    expires_at=expires_at,
                )
            )

    def session(self, token: str, now: float) -> tuple[str, frozenset[str]] | None:
        """The signed-in username and their forum groups, or ``None``."""
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(dashboard_sessions).where(
                    dashboard_sessions.c.token_hash == _hash(token),
                    dashboard_sessions.c.expires_at > now,
                )
            ).first()
        if row is None:
            return None
        return str(row.username), frozenset(json.loads(row.groups))

    def regroup_sessions(self, username: str, groups: list[str]) -> None:
        """Every session of ``username`` reads with ``groups`` from now on (the forum said so)."""
        with self.db.begin() as conn:
            conn.execute(
                sa.update(dashboard_sessions)
                .where(dashboard_sessions.c.username == username)
                .values(groups=json.dumps(sorted(groups)))
            )

    def close_sessions(self, username: str) -> None:
        """Sign ``username`` out everywhere."""
        with self.db.begin() as conn:
            conn.execute(
                sa.delete(dashboard_sessions).where(dashboard_sessions.c.username == username)
            )

    def close_session(self, token: str) -> None:
        with self.db.begin() as conn:
            conn.execute(
                sa.delete(dashboard_sessions).where(
                    dashboard_sessions.c.token_hash == _hash(token)
                )
            )


def _between(
    query: sa.Select[Any], column: sa.ColumnClause[Any], since: float | None, until: float | None
) -> sa.Select[Any]:
    """``query`` narrowed to the rows whose ``column`` is in ``[since, until)`` (an end that
    is ``None`` is open)."""
    if since is not None:
        query = query.where(column >= since)
    if until is not None:
        query = query.where(column < until)
    return query


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def audit_between(db: Database, since: float, until: float) -> list[AuditEntry]:
    """The audit log's entries in ``[since, until)``, oldest first."""
    query = (
        sa.select(audit)
        .where(audit.c.at >= since, audit.c.at < until)
        .order_by(audit.c.at, audit.c.id)
    )
    with db.read() as conn:
        rows = list(conn.execute(query))
    return [entry_of(r) for r in rows]
