"""The rules of the Matrix policy rooms porch follows (MSC2313), kept as their state is."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import sqlalchemy as sa

from bridges.model import RoomID
from bridges.store.db import Database

policy_rules = sa.table(
    "policy_rules",
    sa.column("list_room", sa.String),
    sa.column("event_type", sa.String),
    sa.column("state_key", sa.String),
    sa.column("entity", sa.String),
    sa.column("recommendation", sa.String),
    sa.column("reason", sa.Text),
    sa.column("sender", sa.String),
    sa.column("updated_at", sa.Float),
)


@dataclass(frozen=True, slots=True)
class PolicyRule:
    """One ``m.policy.rule.*`` state event of a list room."""

    list_room: RoomID
    event_type: str
    state_key: str
    entity: str
    recommendation: str
    reason: str
    sender: str | None = None


class PolicyRules:
    def __init__(self, db: Database) -> None:
        self.db = db

    def put(self, rule: PolicyRule, now: float) -> None:
        """Record a rule, replacing the one of the same state event."""
        with self.db.begin() as conn:
            self._delete(conn, rule.list_room, rule.event_type, rule.state_key)
            self._insert(conn, rule.list_room, rule, now)

    def remove(self, list_room: RoomID, event_type: str, state_key: str) -> bool:
        """Forget a rule (its state event was emptied); whether there was one."""
        with self.db.begin() as conn:
            return self._delete(conn, list_room, event_type, state_key)

    def replace_room(self, list_room: RoomID, rules: list[PolicyRule], now: float) -> None:
        """The room's rules are exactly ``rules`` (its full state was read)."""
        with self.db.begin() as conn:
            conn.execute(sa.delete(policy_rules).where(policy_rules.c.list_room == list_room))
            for rule in rules:
                self._insert(conn, list_room, rule, now)

    def all(self) -> list[PolicyRule]:
        with self.db.read() as conn:
            rows = list(conn.execute(sa.select(policy_rules).order_by(policy_rules.c.updated_at)))
        return [
            PolicyRule(
                list_room=RoomID(r.list_room),
                event_type=r.event_type,
                state_key=r.state_key,
                entity=r.entity,
                recommendation=r.recommendation,
                reason=r.reason,
                sender=r.sender,
            )
            for r in rows
        ]

    @staticmethod
    def _insert(conn: sa.Connection, list_room: RoomID, rule: PolicyRule, now: float) -> None:
        values = {**asdict(rule), "list_room": list_room, "updated_at": now}
        conn.execute(sa.insert(policy_rules).values(values))

    @staticmethod
    def _delete(conn: sa.Connection, list_room: RoomID, event_type: str, state_key: str) -> bool:
        result = conn.execute(
            sa.delete(policy_rules).where(
                policy_rules.c.list_room == list_room,
                policy_rules.c.event_type == event_type,
                policy_rules.c.state_key == state_key,
            )
        )
        return bool(result.rowcount)
