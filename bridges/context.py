"""What every delivery needs: the config sections, the store, both platforms and the clock.

The context holds shared things and builds nothing: the long-lived parts it carries (the tiers,
the watched words, the policy lists, the ghosts) are built once by the relay's composition root
(:class:`bridges.relay.components.RelayComponents`) and handed to it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bridges.discourse.client import ForumClient
from bridges.discourse.discourse_config import DiscourseConfig
from bridges.discourse.forum_errors import ForumNotFound
from bridges.link_tiers import TierBook
from bridges.links import LinkConfig, RelayConfig
from bridges.matrix.api import AppserviceAPI
from bridges.matrix.bot_ghosts import BotGhosts
from bridges.matrix.ghosts import Ghosts
from bridges.matrix.matrix_config import MatrixConfig
from bridges.model import CategoryID, LinkName, RoomID
from bridges.store.audit import decided
from bridges.store.inbox import InboxRow
from bridges.store.store import Store
from policies.decision import Decision
from policies.policy_config import Policy

if TYPE_CHECKING:
    # Features: the context only carries them, built by the composition root.
    from bridges.moderation.moderation_config import ModerationConfig
    from bridges.moderation.policy_lists import PolicyLists
    from bridges.moderation.words import WordBook


@dataclass
class RelayContext:
    """Everything a delivery needs: the config sections, the store and both platforms."""

    discourse: DiscourseConfig
    matrix: MatrixConfig
    relay: RelayConfig
    links: Sequence[LinkConfig]
    store: Store
    forum: ForumClient
    chat: AppserviceAPI
    #: The forum authors' ghosts; in bot mode, porch's one account (:mod:`.matrix.bot_ghosts`).
    ghosts: Ghosts | BotGhosts
    #: Watched words and protections (``moderation:``, :mod:`bridges.moderation`).
    moderation: ModerationConfig
    #: The tiers of linked categories and rooms (:mod:`bridges.link_tiers`).
    tiers: TierBook
    #: The watched words in force (:mod:`bridges.moderation.words`).
    words: WordBook
    #: The followed Matrix policy lists (:mod:`bridges.moderation.policy_lists`).
    policy_lists: PolicyLists
    clock: Callable[[], float] = time.time
    #: The base URL of porch's web pages (``listen.public_url``), for links the bot hands out.
    public_url: str | None = None
    #: The named crossing policies (``policies:``), which links name in ``links[].policy``.
    policies: Mapping[str, Policy] = field(default_factory=dict)
    _rooms: dict[LinkName, RoomID] = field(default_factory=dict)
    _categories: dict[LinkName, CategoryID] = field(default_factory=dict)

    def use_links(self, links: Sequence[LinkConfig], policies: Mapping[str, Policy]) -> None:
        """Carry ``links`` under ``policies`` from now on (a config reload), forgetting the
        room and category looked up for any link that is gone or changed."""
        kept = {link.name: link for link in links}
        for old in self.links:
            if kept.get(old.name) != old:
                self._rooms.pop(old.name, None)
                self._categories.pop(old.name, None)
        self.links = tuple(links)
        self.policies = policies

    def room_of(self, link: LinkConfig) -> RoomID:
        """The link's room id (aliases resolved once), with porch's bot joined to it."""
        room = self._rooms.get(link.name)
        if room is None:
            room = self.chat.resolve_room(link.room)
            # The admin invites the bot when linking a room; joining is how it accepts.
            self.chat.ensure_joined(room, self.chat.bot_user_id)
            self._rooms[link.name] = room
        return room

    def category_of(self, link: LinkConfig) -> CategoryID:
        """The id of the link's category (a slug looked up once in ``/categories.json``).

        Raises :class:`ForumNotFound` when porch's forum account sees no such category.
        """
        category = link.forum.category
        if isinstance(category, int) or category.isdigit():
            return CategoryID(int(category))
        known = self._categories.get(link.name)
        if known is None:
            found = next((c for c in self.forum.categories() if c.get("slug") == category), None)
            if found is None or not isinstance(found.get("id"), int):
                raise ForumNotFound(
                    f"links: {link.name}: the forum has no category {category!r} that porch's "
                    f"account {self.discourse.api_username} can see"
                )
            known = CategoryID(int(found["id"]))
            self._categories[link.name] = known
        return known

    def link_for_room(self, room_id: RoomID) -> LinkConfig | None:
        """The link whose room is ``room_id``, resolving aliases as needed."""
        for link in self.links:
            if link.room == room_id or self._rooms.get(link.name) == room_id:
                return link
        unresolved = [lk for lk in self.links if lk.name not in self._rooms and lk.room[0] == "#"]
        return next((lk for lk in unresolved if self.room_of(lk) == room_id), None)

    def audit(
        self, row: InboxRow, link: LinkConfig | None, decision: Decision, actor: str
    ) -> None:
        name = None if link is None else link.name
        self.store.audit.record(decided(self.clock(), row.id, name, decision, actor))
