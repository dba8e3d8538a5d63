"""Who may see what watching shows: the forum groups entitled to read a category.

Read from the security porch last recorded for each category (:mod:`bridges.store.tiers`, kept
current by the worker); a category never read, or whose groups the forum did not show, has
unknown readers and nothing of it is shown (fail closed).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bridges.links import LinkConfig
from bridges.model import CategoryID
from bridges.store.store import Store
from bridges.store.watching import WatchRecords
from policies.watching import readable


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

    def may_read_category(self, category_id: int | None, groups: Iterable[str]) -> bool:
        return readable(self.category(category_id), groups)

    def may_read_link(self, name: str | None, groups: Iterable[str]) -> bool:
        return readable(self.category(self.link_category(name)), groups)
