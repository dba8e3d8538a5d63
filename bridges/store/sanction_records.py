"""Sanctions porch applied across the boundary: who asked, why, what was done, and its undo."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from bridges.store.db import Database

sanctions = sa.table(
    "sanctions",
    sa.column("id", sa.BigInteger),
    sa.column("at", sa.Float),
    sa.column("kind", sa.String),
    sa.column("source", sa.String),
    sa.column("source_ref", sa.String),
    sa.column("moderator", sa.String),
    sa.column("reason", sa.Text),
    sa.column("target", sa.String),
    sa.column("actions", sa.Text),
    sa.column("undone_at", sa.Float),
    sa.column("undone_by", sa.String),
)


@dataclass(frozen=True, slots=True)
class Action:
    """One step of a sanction: ``ban``/``mute`` (``room``, ``user``), ``silence``/``suspend``
    (``forum_user_id``), ``hide``/``delete`` (``post_id``); ``undo`` holds what undoing it
    needs (the power level a mute replaced)."""

    step: str
    room: str | None = None
    user: str | None = None
    forum_user_id: int | None = None
    post_id: int | None = None
    undo: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        where = self.room or (f"post {self.post_id}" if self.post_id else "the forum")
        who = self.user or (f"forum user {self.forum_user_id}" if self.forum_user_id else "")
        return f"{self.step} {who} in {where}".replace("  ", " ")


@dataclass(frozen=True, slots=True)
class Sanction:
    """A moderator's act carried across. ``source`` is ``forum``, ``room`` or ``list``;
    ``moderator`` is who acted (never porch's bot); ``target`` is a Matrix user id, a forum
    username (``forum:<name>``) or a post (``post:<id>``)."""

    kind: str
    source: str
    moderator: str
    target: str
    actions: tuple[Action, ...]
    reason: str | None = None
    source_ref: str | None = None
    at: float = 0.0
    id: int | None = None
    undone_at: float | None = None
    undone_by: str | None = None

    @property
    def active(self) -> bool:
        return self.undone_at is None


def _actions_json(actions: tuple[Action, ...]) -> str:
    return json.dumps(
        [
            {
                k: v
                for k, v in {
                    "step": a.step,
                    "room": a.room,
                    "user": a.user,
                    "forum_user_id": a.forum_user_id,
                    "post_id": a.post_id,
                    "undo": a.undo or None,
                }.items()
                if v is not None
            }
            for a in actions
        ],
        separators=(",", ":"),
        sort_keys=True,
    )


def _actions(text: str) -> tuple[Action, ...]:
    out = []
    for item in json.loads(text or "[]"):
        out.append(
            Action(
                step=str(item["step"]),
                room=item.get("room"),
                user=item.get("user"),
                forum_user_id=item.get("forum_user_id"),
                post_id=item.get("post_id"),
                undo=dict(item.get("undo") or {}),
            )
        )
    return tuple(out)


class Sanctions:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, sanction: Sanction) -> int:
        """Store a sanction; its id."""
        with self.db.begin() as conn:
            result = conn.execute(
                sa.insert(sanctions)
                .values(
                    at=sanction.at,
                    kind=sanction.kind,
                    source=sanction.source,
                    source_ref=sanction.source_ref,
                    moderator=sanction.moderator,
                    reason=sanction.reason,
                    target=sanction.target,
                    actions=_actions_json(sanction.actions),
                )
                .returning(sanctions.c.id)
            )
            return int(result.scalar_one())

    def get(self, sanction_id: int) -> Sanction | None:
        with self.db.read() as conn:
            row = conn.execute(sa.select(sanctions).where(sanctions.c.id == sanction_id)).first()
        return None if row is None else _sanction(row)

    def recent(self, *, active_only: bool = False, limit: int = 200) -> list[Sanction]:
        """The most recent sanctions, newest first."""
        query = sa.select(sanctions).order_by(sanctions.c.id.desc()).limit(limit)
        if active_only:
            query = query.where(sanctions.c.undone_at.is_(None))
        with self.db.read() as conn:
            return [_sanction(r) for r in conn.execute(query)]

    def active_for(self, target: str, kind: str | None = None) -> list[Sanction]:
        """The sanctions on ``target`` not undone yet (of ``kind`` only, if given)."""
        query = sa.select(sanctions).where(
            sanctions.c.target == target, sanctions.c.undone_at.is_(None)
        )
        if kind is not None:
            query = query.where(sanctions.c.kind == kind)
        with self.db.read() as conn:
            return [_sanction(r) for r in conn.execute(query.order_by(sanctions.c.id))]

    def mark_undone(self, sanction_id: int, by: str, now: float) -> bool:
        """Mark a sanction undone; False if it was undone already (only one undo wins)."""
        with self.db.begin() as conn:
            result = conn.execute(
                sa.update(sanctions)
                .where(sanctions.c.id == sanction_id, sanctions.c.undone_at.is_(None))
                .values(undone_at=now, undone_by=by)
            )
        return bool(result.rowcount)

    def reopen(self, sanction_id: int) -> None:
        """Take back an undo that could not be carried out (it holds again)."""
        with self.db.begin() as conn:
            conn.execute(
                sa.update(sanctions)
                .where(sanctions.c.id == sanction_id)
                .values(undone_at=None, undone_by=None)
            )


def _sanction(row: Any) -> Sanction:
    return Sanction(
        id=int(row.id),
        at=float(row.at),
        kind=row.kind,
        source=row.source,
        source_ref=row.source_ref,
        moderator=row.moderator,
        reason=row.reason,
        target=row.target,
        actions=_actions(row.actions),
        undone_at=row.undone_at,
        undone_by=row.undone_by,
    )
