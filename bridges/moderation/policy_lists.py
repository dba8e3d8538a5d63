"""Matrix policy lists (MSC2313) porch follows: their ``m.ban`` rules stop users crossing.

A policy list is a room whose state holds rules: ``m.policy.rule.user`` and
``m.policy.rule.server`` events (and the older ``m.room.rule.*`` and
``org.matrix.mjolnir.rule.*`` types Mjolnir still reads), each with an ``entity`` glob, a
``recommendation`` and a ``reason``. Only ``m.ban`` is specified; porch reads it (and Mjolnir's
``org.matrix.mjolnir.ban``) as "this user's messages do not cross". A rule is removed by
emptying its state event: "invalid or missing fields are to be treated as though the rule
doesn't exist". See https://spec.matrix.org/v1.13/client-server-api/#moderation-policy-lists

Porch's bot joins every configured list, reads its full state once per process, then follows
rule changes as they arrive through appservice transactions (inbox kind
``matrix.policy_rule``); the rules live in the store, so a change applies at once, everywhere,
without a restart. Read-only: porch never writes to a list.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from bridges.matrix.matrix_errors import MatrixError, MatrixRateLimited
from bridges.matrix.policy_rule_events import SERVER_RULES, USER_RULES, parse_policy_rule
from bridges.model import ForumUsername, PolicyRuleChanged, RoomID, UserID
from bridges.moderation.sanctions_config import PolicyListConfig
from bridges.store.audit import decided
from bridges.store.policy_rules import PolicyRule
from bridges.worker import RetryLater
from policies.decision import Decision, Outcome
from policies.linear import Linear, escape

if TYPE_CHECKING:
    from collections.abc import Callable

    from bridges.matrix.api import AppserviceAPI
    from bridges.store.inbox import InboxRow
    from bridges.store.store import Store

log = logging.getLogger(__name__)

#: The version recorded with a policy-list decision (the rule's own id goes in the detail).
VERSION = "policy-lists-1"
#: Recommendations porch acts on.
BAN = frozenset({"m.ban", "org.matrix.mjolnir.ban"})


@lru_cache(maxsize=1024)
def glob_pattern(glob: str, *, fold_case: bool = False) -> Linear:
    """A spec glob as a regex: ``*`` any run of characters, ``?`` exactly one, nothing else
    special (https://spec.matrix.org/v1.13/appendices/#glob-style-matching). An RE2 pattern:
    a list's glob such as ``*a*a*a*a*b`` makes a backtracking engine's time explode."""
    body = "".join(".*" if ch == "*" else "." if ch == "?" else escape(ch) for ch in glob)
    return Linear(f"{body}\\z", dotall=True, ignore_case=fold_case)


def server_of(user_id: str) -> str:
    """The server name of a user id (everything after the first colon)."""
    return user_id.split(":", 1)[1] if ":" in user_id else ""


def rule_matches(rule: PolicyRule, user_id: str) -> bool:
    """Whether a ban rule covers ``user_id``: a user rule by the whole id, a server rule by its
    server name (compared without case, as DNS names are)."""
    if rule.recommendation not in BAN:
        return False
    if rule.event_type in USER_RULES:
        return glob_pattern(rule.entity).match(user_id) is not None
    if rule.event_type in SERVER_RULES:
        return glob_pattern(rule.entity, fold_case=True).match(server_of(user_id)) is not None
    return False


def first_match(rules: list[PolicyRule], user_id: str) -> PolicyRule | None:
    """The first rule banning ``user_id`` (as Mjolnir: "the first rule that matches")."""
    return next((r for r in rules if rule_matches(r, user_id)), None)


@dataclass(frozen=True, slots=True)
class Listed:
    """A user banned by a followed list: the rule, and the list's config."""

    rule: PolicyRule
    config: PolicyListConfig

    def decision(self) -> Decision:
        """The refusal recorded for the user's message."""
        return Decision(
            Outcome.REFUSED,
            f"policy_list:{self.config.room}",
            VERSION,
            f"{self.rule.reason} ({self.rule.event_type} {self.rule.entity})",
        )


class PolicyLists:
    """The followed lists of one porch process: loaded once, then kept current by events."""

    def __init__(
        self,
        chat: AppserviceAPI,
        store: Store,
        clock: Callable[[], float],
        lists: tuple[PolicyListConfig, ...],
    ) -> None:
        self.chat = chat
        self.store = store
        self.clock = clock
        self.lists = lists
        self._rooms: dict[RoomID, PolicyListConfig] = {}
        self._loaded = False
        self._lock = threading.Lock()

    def _ensure_loaded(self) -> None:
        """Join every list and read its full state, once per process.

        Raises:
            RetryLater: a list cannot be read; a decision on its rules must wait for it.
        """
        if self._loaded or not self.lists:
            return
        with self._lock:
            if self._loaded:
                return
            chat = self.chat
            try:
                for config in self.lists:
                    room = chat.resolve_room(config.room)
                    chat.ensure_joined(room, chat.bot_user_id)
                    self._load_room(room)
                    self._rooms[room] = config
            except MatrixRateLimited:
                raise
            except MatrixError as exc:
                raise RetryLater(f"policy lists: cannot read {config.room}: {exc}") from exc
            self._loaded = True

    def _load_room(self, room: RoomID) -> None:
        rules = []
        for event in self.chat.state_events(room):
            parsed = parse_policy_rule({**event, "room_id": room})
            if parsed is not None and parsed.entity is not None:
                rules.append(_rule(parsed))
        self.store.policy_rules.replace_room(room, rules, self.clock())
        log.info("policy lists: %s holds %d rule(s)", room, len(rules))

    def config_of(self, room: RoomID) -> PolicyListConfig | None:
        """The config of a followed list room, None for any other room."""
        self._ensure_loaded()
        return self._rooms.get(room)

    def listed(self, user_id: UserID) -> Listed | None:
        """The first followed rule banning ``user_id``, if any.

        Raises:
            RetryLater: the lists could not be read yet (never carry on a guess).
        """
        if not self.lists:
            return None
        self._ensure_loaded()
        rules = [r for r in self.store.policy_rules.all() if r.list_room in self._rooms]
        rule = first_match(rules, user_id)
        return None if rule is None else Listed(rule, self._rooms[rule.list_room])

    def listed_author(self, username: ForumUsername) -> Listed | None:
        """The rule banning a forum author's linked Matrix account, if any (see :meth:`listed`)."""
        if not self.lists:
            return None
        identity = self.store.identities.by_forum_username(username)
        return None if identity is None else self.listed(identity.matrix_user_id)

    def rule_changed(self, row: InboxRow, event: PolicyRuleChanged) -> Listed | None:
        """Follow one rule change of a followed list; the rule when it now bans someone."""
        config = self.config_of(event.room_id)
        if config is None:
            return None
        rules = self.store.policy_rules
        if event.entity is None:
            removed = rules.remove(event.room_id, event.event_type, event.state_key)
            log.info(
                "policy lists: %s %s %s removed (%s)",
                config.room,
                event.event_type,
                event.state_key,
                "known" if removed else "unknown",
            )
            self._audit(row, f"rule {event.event_type} {event.state_key} removed", event.sender)
            return None
        rule = _rule(event)
        rules.put(rule, self.clock())
        self._audit(
            row,
            f"rule {event.event_type} {event.entity} -> {event.recommendation}: {event.reason}",
            event.sender,
        )
        return Listed(rule, config) if rule.recommendation in BAN else None

    def _audit(self, row: InboxRow, detail: str, sender: str) -> None:
        decision = Decision(Outcome.IGNORED, "policy_list:rule", VERSION, detail)
        self.store.audit.record(decided(self.clock(), row.id, None, decision, sender))


def _rule(event: PolicyRuleChanged) -> PolicyRule:
    assert event.entity is not None
    return PolicyRule(
        list_room=event.room_id,
        event_type=event.event_type,
        state_key=event.state_key,
        entity=event.entity,
        recommendation=event.recommendation or "",
        reason=event.reason or "",
        sender=event.sender,
    )
