"""Keeping a dashboard session's forum groups current.

A session starts with the groups the forum stated at sign-in. Every ``groups_recheck`` seconds
per user (the first page after that), porch asks the forum again (``GET /u/{username}.json``
with the admin key: one request of the site-wide admin budget, at most once per user and
interval in each process) and every session of that user reads with the answer from then on.
A user the forum no longer knows, or who left every dashboard group, is signed out. When the
forum cannot be asked, pages are refused until it can (fail closed); a failed check is not
repeated for :data:`RETRY` seconds, so an outage does not spend the budget page by page.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from bridges.discourse.client import ForumClient
from bridges.discourse.forum_errors import ForumError, ForumNotFound
from bridges.store.watch_records import WatchRecords
from policies.watching import EVERYONE

log = logging.getLogger(__name__)

#: Seconds before a check that failed is tried again (pages are refused meanwhile).
RETRY = 30.0


@dataclass(frozen=True, slots=True)
class Checked:
    """What a check says: the groups to read with, or why there are none."""

    groups: frozenset[str] | None
    #: ``signed-out`` (lost the dashboard's groups, or unknown to the forum) or
    #: ``unconfirmed`` (the forum could not be asked).
    refused: str | None = None


def session_groups(names: Iterable[str], admin: bool, moderator: bool) -> list[str]:
    """The groups a session reads with: the forum's, ``everyone``, and the staff groups its
    flags imply."""
    groups = {*names, EVERYONE}
    if admin:
        groups |= {"admins", "staff"}
    if moderator:
        groups |= {"moderators", "staff"}
    return sorted(groups)


def user_groups(user: dict[str, Any]) -> list[str]:
    """A ``/u/{username}.json`` ``user`` object's groups, as :func:`session_groups`."""
    names = [
        str(g["name"])
        for g in user.get("groups") or ()
        if isinstance(g, dict) and isinstance(g.get("name"), str)
    ]
    return session_groups(names, user.get("admin") is True, user.get("moderator") is True)


class GroupCheck:
    """Re-reads signed-in users' groups from the forum at a bounded interval."""

    def __init__(
        self,
        forum: ForumClient,
        records: WatchRecords,
        allowed: frozenset[str],
        interval: float,
        clock: Callable[[], float],
    ) -> None:
        self.forum = forum
        self.records = records
        self.allowed = allowed
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        #: username -> when the forum last stated their groups (to this process).
        self._checked: dict[str, float] = {}
        #: username -> when asking the forum last failed.
        self._failed: dict[str, float] = {}

    def confirmed(self, username: str) -> None:
        """The forum just stated ``username``'s groups (a sign-in)."""
        with self._lock:
            self._checked[username] = self.clock()
            self._failed.pop(username, None)

    def check(self, username: str, groups: frozenset[str]) -> Checked:
        """The groups ``username``'s session (holding ``groups``) reads with now."""
        now = self.clock()
        with self._lock:
            checked = self._checked.get(username)
            failed = self._failed.get(username)
        if checked is not None and now - checked < self.interval:
            return Checked(groups)
        if failed is not None and now - failed < RETRY:
            return Checked(None, "unconfirmed")
        try:
            user = self.forum.user(username)
        except ForumNotFound:
            log.info("dashboard: %s is unknown to the forum now; signed out", username)
            self._forget(username)
            return Checked(None, "signed-out")
        except ForumError as exc:
            log.warning("dashboard: cannot confirm the groups of %s (%s)", username, exc)
            with self._lock:
                self._failed[username] = now
            return Checked(None, "unconfirmed")
        current = user_groups(user)
        if not ("admins" in current or self.allowed & set(current)):
            log.info("dashboard: %s left the dashboard's groups; signed out", username)
            self._forget(username)
            return Checked(None, "signed-out")
        if frozenset(current) != groups:
            self.records.regroup_sessions(username, current)
        with self._lock:
            self._checked[username] = now
            self._failed.pop(username, None)
        return Checked(frozenset(current))

    def _forget(self, username: str) -> None:
        self.records.close_sessions(username)
        with self._lock:
            self._checked.pop(username, None)
            self._failed.pop(username, None)
