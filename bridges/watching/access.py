"""Who may see what watching shows: the forum groups entitled to read a category, and for a
chat message the more closed of its room and its link's category.

Read from the security porch last recorded for each category and room
(:mod:`bridges.store.tier_records`, kept current by the worker); a category or room never read, or
whose groups the forum did not show, has unknown readers and nothing of it is shown (fail
closed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bridges.links import LinkConfig
from bridges.model import CategoryID, RoomID
from bridges.store.store import Store
from bridges.store.watch_records import Activity, WatchRecords
from policies.tiers import Tier
from policies.watching import chat_readers, readable


class Readers:
    """The reading groups of categories and links, from the store."""

    def __init__(self, store: Store, links: Sequence[LinkConfig]) -> None:
        self.store = store
        self.records = WatchRecords(store.db)
        self.links: dict[str, LinkConfig] = {link.name: link for link in links}

    def category(self, category_id: int | None) -> frozenset[str] | None:
        if category_id is None:
            return None
        security = self.store.tiers.category(CategoryID(category_id))
        if security is None or (security.read_restricted and security.group_permissions is None):
            return None
        return security.readers

    def of(self, item: Activity) -> frozenset[str] | None:
        """The reading groups of what ``item`` recorded, now: its category's, and for a chat
        message only while its room is no more closed than that category
        (:func:`policies.watching.chat_readers`)."""
        return self.source(item.category_id, item.room_id if item.from_chat else None)

    def of_alert(self, body: Mapping[str, Any]) -> frozenset[str] | None:
        """The reading groups, now, of what an alert tells of; ``None`` for an alert that does
        not say where it came from (raised before porch recorded it)."""
        source = body.get("source")
        if not isinstance(source, Mapping):
            return None
        category, room = source.get("category_id"), source.get("chat_room_id")
        if not isinstance(category, int) or not isinstance(room, str | None):
            return None
        return self.source(category, room)

    def source(self, category_id: int | None, chat_room_id: str | None) -> frozenset[str] | None:
        """The reading groups of a forum post in ``category_id`` or, with ``chat_room_id``, of
        a chat message of that room linked to it."""
        readers = self.category(category_id)
        if chat_room_id is None:
            return readers
        category = None if category_id is None else self._category_tier(category_id)
        room = self.store.tiers.room(RoomID(chat_room_id))
        return chat_readers(readers, category, None if room is None else room.tier)

    def _category_tier(self, category_id: int) -> Tier | None:
        security = self.store.tiers.category(CategoryID(category_id))
        return None if security is None else security.tier

    def link_category(self, name: str | None) -> int | None:
        """The id of a link's category; ``None`` when unknown (or the link is gone)."""
        link = None if name is None else self.links.get(name)
        if link is None:
            return None
        ref = link.forum.category
        if isinstance(ref, int) or ref.isdigit():
            return int(ref)
        ids = self.records.category_ids(ref)
        return ids[0] if len(ids) == 1 else None

    def link_room(self, name: str | None) -> RoomID | None:
        """The id of a link's room: as configured, or for an alias the one room porch mapped
        threads of that link to; ``None`` when unknown."""
        link = None if name is None else self.links.get(name)
        if link is None:
            return None
        if link.room.startswith("!"):
            return RoomID(link.room)
        ids = self.records.link_room_ids(link.name)
        return RoomID(ids[0]) if len(ids) == 1 else None

    def link(self, name: str | None) -> frozenset[str] | None:
        """The reading groups of what a link carries either way (its crossing figures, its
        held items): the more closed of its category and its room."""
        room = self.link_room(name)
        if room is None:
            return None
        return self.source(self.link_category(name), room)

    def may_read_category(self, category_id: int | None, groups: Iterable[str]) -> bool:
        return readable(self.category(category_id), groups)

    def may_read_link(self, name: str | None, groups: Iterable[str]) -> bool:
        return readable(self.link(name), groups)
