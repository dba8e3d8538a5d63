"""The security porch last read for each linked category and room, and the tier it gives.

A cache of what the platforms said (:mod:`bridges.link_tiers` reads and refreshes it): a
missing row means *unknown*, never *open*.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import sqlalchemy as sa

from bridges.model import CategoryID, RoomID
from bridges.store.db import Database
from policies.tiers import Tier

category_security = sa.table(
    "category_security",
    sa.column("category_id", sa.BigInteger),
    sa.column("slug", sa.String),
    sa.column("name", sa.String),
    sa.column("read_restricted", sa.Boolean),
    sa.column("group_permissions", sa.Text),
    sa.column("tier", sa.String),
    sa.column("fetched_at", sa.Float),
)
room_security = sa.table(
    "room_security",
    sa.column("room_id", sa.String),
    sa.column("join_rule", sa.String),
    sa.column("history_visibility", sa.String),
    sa.column("tier", sa.String),
    sa.column("fetched_at", sa.Float),
)


@dataclass(frozen=True, slots=True)
class CategorySecurity:
    """A category's security as the forum showed it.

    ``group_permissions`` maps group names to Discourse permission types (1 full, 2 reply,
    3 see); ``None`` when the forum did not show them. ``tier`` is ``None`` when they do not
    tell it (see :func:`policies.derive.forum_tier`).
    """

    category_id: CategoryID
    slug: str | None
    name: str | None
    read_restricted: bool
    group_permissions: dict[str, int] | None
    tier: Tier | None
    fetched_at: float

    @property
    def readers(self) -> frozenset[str]:
        """The groups entitled to read the category (every group with any permission);
        ``everyone`` for an unrestricted one."""
        if not self.read_restricted:
            return frozenset({"everyone"})
        return frozenset(self.group_permissions or {})


@dataclass(frozen=True, slots=True)
class RoomSecurity:
    """A room's join rule and history visibility (``None``: no such state event)."""

    room_id: RoomID
    join_rule: str | None
    history_visibility: str | None
    tier: Tier | None
    fetched_at: float


class TierRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- categories -----------------------------------------------------------------------

    def category(self, category_id: CategoryID) -> CategorySecurity | None:
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(category_security).where(
                    category_security.c.category_id == int(category_id)
                )
            ).first()
        if row is None:
            return None
        groups = None if row.group_permissions is None else json.loads(row.group_permissions)
        return CategorySecurity(
            CategoryID(int(row.category_id)),
            row.slug,
            row.name,
            bool(row.read_restricted),
            groups,
            None if row.tier is None else Tier(row.tier),
            float(row.fetched_at),
        )

    def save_category(self, security: CategorySecurity) -> None:
        """Insert or replace a category's record (the latest read wins)."""
        values = {
            "slug": security.slug,
            "name": security.name,
            "read_restricted": security.read_restricted,
            "group_permissions": None
            if security.group_permissions is None
            else json.dumps(security.group_permissions, sort_keys=True),
            "tier": None if security.tier is None else security.tier.value,
            "fetched_at": security.fetched_at,
        }
        insert = self.db.insert(category_security).values(
            category_id=int(security.category_id), **values
        )
        with self.db.begin() as conn:
            conn.execute(insert.on_conflict_do_update(index_elements=["category_id"], set_=values))

    def forget_category(self, category_id: CategoryID) -> None:
        with self.db.begin() as conn:
            conn.execute(
                sa.delete(category_security).where(
                    category_security.c.category_id == int(category_id)
                )
            )

    # --- rooms ----------------------------------------------------------------------------

    def room(self, room_id: RoomID) -> RoomSecurity | None:
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(room_security).where(room_security.c.room_id == room_id)
            ).first()
        if row is None:
            return None
        return RoomSecurity(
            RoomID(row.room_id),
            row.join_rule,
            row.history_visibility,
            None if row.tier is None else Tier(row.tier),
            float(row.fetched_at),
        )

    def save_room(self, security: RoomSecurity) -> None:
        """Insert or replace a room's record (the latest read wins)."""
        values = {
            "join_rule": security.join_rule,
            "history_visibility": security.history_visibility,
            "tier": None if security.tier is None else security.tier.value,
            "fetched_at": security.fetched_at,
        }
        insert = self.db.insert(room_security).values(room_id=security.room_id, **values)
        with self.db.begin() as conn:
            conn.execute(insert.on_conflict_do_update(index_elements=["room_id"], set_=values))

    def forget_room(self, room_id: RoomID) -> None:
        with self.db.begin() as conn:
            conn.execute(sa.delete(room_security).where(room_security.c.room_id == room_id))
