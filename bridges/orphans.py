"""Config changes that would orphan what the store holds for a link, found before they apply.

The store keys its mappings (``threads``, ``messages``) by link name and room id. A link that
disappears from ``links:``, or whose room or category changes under the same name, would leave
them pointing at nothing (replies and edits to carried posts would go nowhere, or into the
wrong room), and its waiting inbox events would be dropped. Porch refuses such a config, at
start-up and on reload, with the link's name, what would be orphaned and how to go on:

- put the link back as it was;
- to retire a link on purpose, list its name under ``retired_links:``, which keeps its rows in
  the store, unused;
- to move a link to another room or category, give it a new name and retire the old one;
- or start porch once with ``--allow-orphans``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa

from bridges.links import LinkConfig
from bridges.store.db import Database
from bridges.store.inbox import PENDING, inbox
from bridges.store.mapping import messages, threads

HOW_TO_PROCEED = (
    "put the link back as it was; or, to retire it on purpose, list its name under "
    "retired_links: (its mappings stay in the store, unused); to point a link at another room "
    "or category, give it a new name and retire the old one; or run porch once with "
    "--allow-orphans"
)


@dataclass
class LinkFootprint:
    """What the store holds for one link name."""

    threads: int = 0
    messages: int = 0
    rooms: set[str] = field(default_factory=set)
    topics: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class StoreFootprint:
    """The store's mappings per link name, and the conversations with pending inbox events."""

    links: dict[str, LinkFootprint]
    pending: dict[str, int]

    def pending_for(self, rooms: Collection[str], topics: Collection[int]) -> int:
        """Pending inbox events in these rooms or about these topics."""
        conversations = {f"matrix:room:{r}" for r in rooms}
        conversations |= {f"discourse:topic:{t}" for t in topics}
        return sum(n for conv, n in self.pending.items() if conv in conversations)


def read_footprint(db: Database) -> StoreFootprint:
    """Read what the store maps per link; empty for a store porch has not set up yet."""
    with db.read() as conn:
        inspector = sa.inspect(conn)
        if not all(inspector.has_table(t) for t in ("threads", "messages", "inbox")):
            return StoreFootprint({}, {})
        links: dict[str, LinkFootprint] = {}
        for link, topic, room in conn.execute(
            sa.select(threads.c.link, threads.c.topic_id, threads.c.room_id)
        ):
            entry = links.setdefault(str(link), LinkFootprint())
            entry.threads += 1
            entry.topics.add(int(topic))
            entry.rooms.add(str(room))
        counted = sa.select(messages.c.link, messages.c.room_id, sa.func.count()).group_by(
            messages.c.link, messages.c.room_id
        )
        for link, room, count in conn.execute(counted):
            entry = links.setdefault(str(link), LinkFootprint())
            entry.messages += int(count)
            entry.rooms.add(str(room))
        waiting = (
            sa.select(inbox.c.conversation, sa.func.count())
            .where(inbox.c.status == PENDING)
            .group_by(inbox.c.conversation)
        )
        pending = {str(conv): int(count) for conv, count in conn.execute(waiting)}
    return StoreFootprint(links, pending)


def orphan_problems(
    footprint: StoreFootprint,
    links: Sequence[LinkConfig],
    retired: Collection[str] = (),
    previous: Sequence[LinkConfig] | None = None,
) -> list[str]:
    """Why ``links`` would orphan what the store holds; empty when it would not.

    ``previous`` is the config running now (on a reload): it tells a room alias or a category
    that changed, which the store alone cannot (it records room ids and topics, not the
    category a link was configured with). Links named in ``retired`` are let go on purpose.
    Each problem names its config path and the link, says what would be orphaned and how to
    proceed.
    """
    problems: list[str] = []
    current: dict[str, tuple[int, LinkConfig]] = {
        link.name: (i, link) for i, link in enumerate(links)
    }
    before: dict[str, LinkConfig] = {link.name: link for link in previous or ()}
    names = sorted(set(footprint.links) | set(before))
    for name in names:
        if name in retired:
            continue
        held = footprint.links.get(name, LinkFootprint())
        old = before.get(name)
        if name not in current:
            rooms = set(held.rooms)
            if old is not None and old.room.startswith("!"):
                rooms.add(old.room)
            what = _held(held, footprint.pending_for(rooms, held.topics))
            if what:
                problems.append(f"links: link '{name}' is gone, but {what}; {HOW_TO_PROCEED}")
            continue
        i, link = current[name]
        if not (held.threads or held.messages):
            continue
        what = _held(held, footprint.pending_for(held.rooms, held.topics))
        moved_from = None
        if old is not None and old.room != link.room:
            moved_from = old.room
        elif link.room.startswith("!") and held.rooms - {link.room}:
            moved_from = ", ".join(sorted(held.rooms - {link.room}))
        if moved_from is not None:
            problems.append(
                f"links[{i}].room: link '{name}' changed room from {moved_from} to {link.room}, "
                f"but {what} in the old room; {HOW_TO_PROCEED}"
            )
        if old is not None and str(old.forum.category) != str(link.forum.category):
            problems.append(
                f"links[{i}].forum.category: link '{name}' changed category from "
                f"'{old.forum.category}' to '{link.forum.category}', but {what} for topics of "
                f"the old one; {HOW_TO_PROCEED}"
            )
    return problems


def _held(held: LinkFootprint, pending: int) -> str:
    parts = []
    if held.threads:
        parts.append(f"{held.threads} thread(s)")
    if held.messages:
        parts.append(f"{held.messages} message(s)")
    mapped = f"the store maps {' and '.join(parts)} to it" if parts else ""
    waiting = f"{pending} event(s) wait in the inbox for it" if pending else ""
    return ", and ".join(p for p in (mapped, waiting) if p)
