"""The tier of each end of a link, read from the platforms and kept current.

API (for the relay, retraction and membership):

- :meth:`TierBook.forum_tier` ``(category_id) -> Tier | None`` and :meth:`TierBook.category`
  ``(category_id) -> CategorySecurity | None`` (its ``readers``: the groups entitled to read);
- :meth:`TierBook.room_tier` ``(room_id) -> Tier | None`` and :meth:`TierBook.room`;
- :meth:`TierBook.refresh_category`, :meth:`TierBook.refresh_room`: read again now;
- :meth:`TierBook.subscribe`: a callback for every tier that changes (:class:`TierChange`).

``None`` always means *unknown*: the security has not been read, or could not be (forum or
homeserver unreachable, porch's account not allowed to see it). Decisions that need an unknown
tier wait; a tier is never guessed, and a cached one older than ``relay.tier_refresh`` is not
used once reading it again fails.

Where the tiers come from (the mapping itself is :mod:`policies.derive`):

- a category: ``GET /c/{id}/show.json`` (``read_restricted`` and ``group_permissions``, which
  the forum shows to an account that may edit the category: porch's admin account), read again
  after a ``category_created`` / ``category_updated`` webhook and every ``relay.tier_refresh``
  seconds; ``category_destroyed`` forgets it;
- a room: its ``m.room.join_rules`` and ``m.room.history_visibility`` state, then the state
  events the homeserver sends in transactions (in the room's order, so a message sent after a
  room went public is decided as public).

Config may declare the tiers a link expects (``links[].forum.tier``, ``links[].room_tier``);
:func:`boundary_problems` refuses a link that carries a more closed side into a more open one
without a policy that publishes, and :func:`online_problems` compares the declared tiers with
the platforms' (``porch check --online``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bridges.discourse.client import ForumClient
from bridges.discourse.forum_errors import ForumError, ForumRateLimited
from bridges.links import LinkConfig
from bridges.matrix.api import AppserviceAPI
from bridges.matrix.matrix_errors import MatrixError, MatrixRateLimited
from bridges.model import CategoryID, Direction, ForumCategory, RoomID, RoomSecurityChanged
from bridges.store.tier_records import CategorySecurity, RoomSecurity, TierRecords
from policies.derive import forum_tier, publishes, room_tier
from policies.policy_config import CHAT_TO_FORUM, FORUM_TO_CHAT, Policy
from policies.tiers import Tier

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TierChange:
    """A tier that changed: ``kind`` is ``category`` or ``room``, ``key`` its id."""

    kind: str
    key: str
    old: Tier | None
    new: Tier | None


class TierBook:
    """The tiers of categories and rooms, cached in the store
    (:mod:`bridges.store.tier_records`)."""

    def __init__(
        self,
        records: TierRecords,
        forum: ForumClient,
        chat: AppserviceAPI,
        *,
        clock: Callable[[], float] = time.time,
        max_age: float = 300.0,
    ) -> None:
        self.records = records
        self.forum = forum
        self.chat = chat
        self.clock = clock
        self.max_age = max_age
        #: Why the last read of a category or room failed, for the reason of a waiting event.
        self.errors: dict[str, str] = {}
        self._listeners: list[Callable[[TierChange], None]] = []

    def subscribe(self, listener: Callable[[TierChange], None]) -> None:
        """Call ``listener`` whenever a category's or room's tier changes."""
        self._listeners.append(listener)

    # --- categories ---------------------------------------------------------------------------

    def forum_tier(self, category_id: CategoryID) -> Tier | None:
        """The category's tier; ``None`` when it is unknown."""
        security = self.category(category_id)
        return None if security is None else security.tier

    def category(self, category_id: CategoryID) -> CategorySecurity | None:
        """The category's security, read from the forum when not cached or stale; ``None``
        when it cannot be read.

        Raises:
            ForumRateLimited: the forum asks porch to wait (the caller paces the event).
        """
        cached = self.records.category(category_id)
        if cached is not None and self.clock() - cached.fetched_at < self.max_age:
            return cached
        try:
            return self.refresh_category(category_id)
        except ForumRateLimited:
            raise
        except ForumError as exc:
            self._failed(f"category {category_id}", exc)
            return None

    def refresh_category(self, category_id: CategoryID) -> CategorySecurity:
        """Read the category's security from the forum now and record it.

        Raises:
            ForumError: the forum did not show it; the cached record is forgotten, so that
                nothing is decided on what may no longer hold.
        """
        old = self.records.category(category_id)
        try:
            shown = self.forum.category(category_id)
        except ForumError:
            self.records.forget_category(category_id)
            if old is not None:
                self._changed("category", str(category_id), old.tier, None)
            raise
        security = category_security(category_id, shown, self.clock())
        self.records.save_category(security)
        self.errors.pop(f"category {category_id}", None)
        if old is None or old.tier is not security.tier:
            self._changed(
                "category", str(category_id), None if old is None else old.tier, security.tier
            )
        if security.tier is None:
            log.warning(
                "tiers: category %s is read-restricted but the forum does not show porch its "
                "groups (porch's account must be an admin); its tier is unknown",
                category_id,
            )
        return security

    def forget_category(self, category_id: CategoryID) -> None:
        old = self.records.category(category_id)
        self.records.forget_category(category_id)
        if old is not None:
            self._changed("category", str(category_id), old.tier, None)

    # --- rooms --------------------------------------------------------------------------------

    def room_tier(self, room_id: RoomID) -> Tier | None:
        """The room's tier; ``None`` when it is unknown."""
        security = self.room(room_id)
        return None if security is None else security.tier

    def room(self, room_id: RoomID) -> RoomSecurity | None:
        """The room's security, read from its state when not cached or stale; ``None`` when it
        cannot be read.

        Raises:
            MatrixRateLimited: the homeserver asks porch to wait.
        """
        cached = self.records.room(room_id)
        if cached is not None and self.clock() - cached.fetched_at < self.max_age:
            return cached
        try:
            return self.refresh_room(room_id)
        except MatrixRateLimited:
            raise
        except MatrixError as exc:
            self._failed(f"room {room_id}", exc)
            return None

    def refresh_room(self, room_id: RoomID) -> RoomSecurity:
        """Read the room's join rule and history visibility now and record them.

        Raises:
            MatrixError: the homeserver did not show them; the cached record is forgotten.
        """
        old = self.records.room(room_id)
        try:
            rules = self.chat.room_state(room_id, "m.room.join_rules") or {}
            history = self.chat.room_state(room_id, "m.room.history_visibility") or {}
        except MatrixError:
            self.records.forget_room(room_id)
            if old is not None:
                self._changed("room", room_id, old.tier, None)
            raise
        return self._save_room(
            room_id, _text(rules.get("join_rule")), _text(history.get("history_visibility")), old
        )

    def room_state_changed(self, event: RoomSecurityChanged) -> None:
        """A join rule or history visibility state event of a room (in the room's order)."""
        old = self.records.room(event.room_id)
        if old is None:
            self.refresh_room(event.room_id)
            return
        join_rule, history = old.join_rule, old.history_visibility
        if event.event_type == "m.room.join_rules":
            join_rule = event.value
        else:
            history = event.value
        self._save_room(event.room_id, join_rule, history, old)

    def _save_room(
        self,
        room_id: RoomID,
        join_rule: str | None,
        history: str | None,
        old: RoomSecurity | None,
    ) -> RoomSecurity:
        security = RoomSecurity(
            room_id, join_rule, history, room_tier(join_rule, history), self.clock()
        )
        self.records.save_room(security)
        self.errors.pop(f"room {room_id}", None)
        if old is None or old.tier is not security.tier:
            self._changed("room", room_id, None if old is None else old.tier, security.tier)
        return security

    # --- keeping current ----------------------------------------------------------------------

    def category_event(self, event: ForumCategory, destroyed: bool, linked: bool) -> None:
        """A ``category_*`` webhook: read a linked (or known) category's security again.

        Raises:
            ForumError: it could not be read; it is unknown until it can.
        """
        known = self.records.category(event.category_id) is not None
        if destroyed:
            self.forget_category(event.category_id)
        elif linked or known:
            self.refresh_category(event.category_id)

    def refresh(
        self,
        links: Sequence[LinkConfig],
        category_of: Callable[[LinkConfig], CategoryID],
        room_of: Callable[[LinkConfig], RoomID],
    ) -> list[str]:
        """Read every link's category and room again; returns what could not be read."""
        failed = []
        for link in links:
            try:
                self.refresh_category(category_of(link))
            except ForumError as exc:
                failed.append(f"{link.name}: category: {exc}")
            try:
                self.refresh_room(room_of(link))
            except MatrixError as exc:
                failed.append(f"{link.name}: room: {exc}")
        return failed

    def _failed(self, what: str, exc: Exception) -> None:
        self.errors[what] = str(exc)
        log.warning("tiers: cannot read the security of %s (%s); its tier is unknown", what, exc)

    def _changed(self, kind: str, key: str, old: Tier | None, new: Tier | None) -> None:
        if old is new:
            return
        log.info("tiers: %s %s is now %s (was %s)", kind, key, new or "unknown", old or "unknown")
        change = TierChange(kind, key, old, new)
        for listener in self._listeners:
            listener(change)


def category_security(
    category_id: CategoryID, shown: dict[str, Any], now: float
) -> CategorySecurity:
    """The security of a category from its ``/c/{id}/show.json`` ``category`` object."""
    restricted = bool(shown.get("read_restricted"))
    listed = shown.get("group_permissions")
    groups: dict[str, int] | None = None
    if isinstance(listed, list):
        groups = {
            str(g["group_name"]): int(g["permission_type"])
            for g in listed
            if isinstance(g, dict) and "group_name" in g and "permission_type" in g
        }
    return CategorySecurity(
        category_id,
        _text(shown.get("slug")),
        _text(shown.get("name")),
        restricted,
        groups,
        forum_tier(restricted, groups),
        now,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class TierRefresher:
    """Reads every link's tiers again every ``interval`` seconds, in a thread of its own, so
    that a change the platforms did not announce (a category webhook filtered out, a missed
    state event) is noticed even where no event asks."""

    def __init__(self, refresh: Callable[[], list[str]], interval: float) -> None:
        self._refresh = refresh
        self.interval = interval
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                for problem in self._refresh():
                    log.warning("tiers: refresh: %s", problem)
            except Exception:
                log.exception("tiers: refresh failed")

    def stop(self) -> None:
        self._stop.set()


# --- checks -----------------------------------------------------------------------------------


def boundary_problems(
    links: Sequence[LinkConfig],
    policies: Mapping[str, Policy],
    forum_tiers: Sequence[Tier | None] | None = None,
    room_tiers: Sequence[Tier | None] | None = None,
) -> list[str]:
    """Links that would carry a more closed side into a more open one without a policy that
    publishes (``links[i].policy``), from the declared tiers or from the given ones."""
    problems = []
    for i, link in enumerate(links):
        forum = link.forum.tier if forum_tiers is None else forum_tiers[i]
        room = link.room_tier if room_tiers is None else room_tiers[i]
        if forum is None or room is None:
            continue
        policy = None if link.policy is None else policies.get(link.policy)
        if link.policy is not None and policy is None:
            continue  # an unknown policy name is reported on its own
        flows = [
            (FORUM_TO_CHAT, Direction.FORUM_TO_CHAT, forum, "category", room, "room"),
            (CHAT_TO_FORUM, Direction.CHAT_TO_FORUM, room, "room", forum, "category"),
        ]
        for flow, one_way, source, source_name, target, target_name in flows:
            carries = link.direction in (one_way, Direction.BOTH)
            if carries and target.more_open_than(source) and not publishes(policy, flow):
                named = f"policy '{link.policy}' has no {flow} rule that allows or holds"
                problems.append(
                    f"links[{i}].policy: {flow} carries the {source} {source_name} into the "
                    f"more open {target_name} ({target}) and "
                    f"{named if link.policy else 'the link names no policy'}; name a policy "
                    f"that publishes {flow}, or set direction to carry the other way only"
                )
    return problems


def online_problems(
    forum: ForumClient,
    chat: AppserviceAPI,
    links: Sequence[LinkConfig],
    policies: Mapping[str, Policy],
) -> list[str]:
    """The platforms' tiers against the declared ones, and the boundary with the real tiers."""
    problems: list[str] = []
    forum_tiers: list[Tier | None] = []
    room_tiers: list[Tier | None] = []
    categories = None
    for i, link in enumerate(links):
        real_forum: Tier | None = None
        try:
            if categories is None:
                categories = forum.categories()
            category_id = _category_id(link, categories)
            if category_id is not None:
                security = category_security(category_id, forum.category(category_id), 0.0)
                real_forum = security.tier
                if real_forum is None:
                    problems.append(
                        f"links[{i}].forum.category: the forum does not show porch the groups "
                        "of this read-restricted category; porch's account must be an admin"
                    )
        except ForumError as exc:
            problems.append(f"links[{i}].forum.category: cannot read its security: {exc}")
        real_room: Tier | None = None
        try:
            room = chat.resolve_room(link.room)
            rules = chat.room_state(room, "m.room.join_rules") or {}
            history = chat.room_state(room, "m.room.history_visibility") or {}
            real_room = room_tier(
                _text(rules.get("join_rule")), _text(history.get("history_visibility"))
            )
            if real_room is None:
                problems.append(
                    f"links[{i}].room: unknown join rule {rules.get('join_rule')!r}; its tier "
                    "is unknown and nothing will cross"
                )
        except MatrixError as exc:
            problems.append(f"links[{i}].room: cannot read its join rule: {exc}")
        for path, declared, real in (
            (f"links[{i}].forum.tier", link.forum.tier, real_forum),
            (f"links[{i}].room_tier", link.room_tier, real_room),
        ):
            if declared is not None and real is not None and declared is not real:
                problems.append(f"{path}: declared {declared}, but the platform makes it {real}")
        forum_tiers.append(real_forum)
        room_tiers.append(real_room)
    return problems + boundary_problems(links, policies, forum_tiers, room_tiers)


def _category_id(link: LinkConfig, categories: list[dict[str, Any]]) -> CategoryID | None:
    wanted = str(link.forum.category)
    found = next((c for c in categories if wanted in (str(c.get("id")), str(c.get("slug")))), None)
    if found is None or not isinstance(found.get("id"), int):
        return None
    return CategoryID(int(found["id"]))
