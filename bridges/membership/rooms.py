"""Membership of managed rooms, applied from the relay.

Events that move people (all in the inbox conversation ``porch:membership``, so in order):

- ``group_user`` webhooks: the user's groups are read again from the forum and each managed
  room follows (invite or remove);
- a confirmed account link: the new linked user is invited where their groups entitle them;
- a knock on a managed room: an entitled linked member is invited; anyone else is announced to
  the facilitators (the link's ``membership.facilitators_room``, else the room itself, as a
  notice) and waits for ``!accept @user`` from a moderator of the room;
- the periodic reconciliation (``relay.membership_refresh``): every entitled group's members
  are read from the forum (``/groups/{name}/members.json``) and each managed room follows,
  which also catches a webhook that never arrived.

Decisions are :mod:`policies.membership`'s; each invite, removal and queued knock is
written to the audit log (rule ``membership:...``).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from bridges import codec
from bridges.context import RelayContext
from bridges.discourse.forum_errors import ForumError, ForumNotFound, ForumRateLimited
from bridges.links import LinkConfig
from bridges.matrix.matrix_errors import MatrixError, MatrixRateLimited, MatrixUnavailable
from bridges.membership.ghost_gate import may_read
from bridges.membership.membership_facts import MANAGED_TIERS, MembershipFacts
from bridges.model import (
    ChatKnock,
    ChatMessage,
    EventKind,
    ForumGroupUser,
    ForumUsername,
    IdentityLinked,
    InboxPayload,
    LinkName,
    MembershipRefresh,
    Platform,
    RoomID,
    UserID,
)
from bridges.store.audit import AuditEntry
from bridges.store.identities import Identity, identities
from bridges.store.inbox import Inbox, InboxRow, NewEvent
from bridges.store.membership_records import ACCEPTED, Knock, MembershipRecords
from bridges.worker import RetryLater
from policies.membership import (
    EVERYONE,
    RoomPlan,
    entitled,
    moderates,
    plan_room,
)

log = logging.getLogger(__name__)

#: The inbox conversation of all membership work.
CONVERSATION = "porch:membership"
ACCEPT = "!accept"
#: Why a member was removed, in the audit log.
NOT_ENTITLED = "in no entitled group"
UNLINKED = "unlinked their forum account"
#: The audit rule of a ghost removed from a room its forum user may no longer read.
GHOST_REMOVED = "membership:ghost_removed"


class Membership:
    """The relay's membership handler."""

    def __init__(self, ctx: RelayContext, facts: MembershipFacts) -> None:
        self.ctx = ctx
        self.facts = facts
        self.records = MembershipRecords(ctx.store.db)

    # --- routing ------------------------------------------------------------------------------

    def owns(self, event: InboxPayload) -> bool:
        """Whether ``event`` is membership work rather than something to carry."""
        if isinstance(event, ForumGroupUser | ChatKnock | MembershipRefresh):
            return True
        if isinstance(event, ChatMessage) and event.replaces is None:
            words = event.body.strip().split()
            if words and words[0].lower() == ACCEPT:
                return self._accept_rooms(event.room_id) != []
        return False

    def handle(self, row: InboxRow, event: InboxPayload) -> None:
        """Apply one membership event.

        Raises:
            RetryLater: a fact needed is unknown (the forum or homeserver could not tell);
                nobody was invited or removed on a guess.
        """
        if isinstance(event, ForumGroupUser):
            self._group_user(row, event)
        elif isinstance(event, MembershipRefresh):
            self.reconcile(row, event)
        elif isinstance(event, ChatKnock):
            self._knock(row, event)
        elif isinstance(event, ChatMessage):
            self._accept(row, event)

    def linked(self, row: InboxRow, event: IdentityLinked) -> None:
        """A Matrix user linked their forum account: let them into the rooms it entitles."""
        identity = self.ctx.store.identities.by_matrix_user(event.matrix_user_id)
        if identity is not None and self.facts.managed_links():
            self._follow_user(row, identity)

    # --- one user -----------------------------------------------------------------------------

    def _group_user(self, row: InboxRow, event: ForumGroupUser) -> None:
        # The user's ghost, if it is in a managed room, follows their access first.
        self._ghosts_follow(row, self._forum_username(event.user_id))
        identity = self._identity_of_forum_user(event.user_id)
        if identity is None:
            log.info("membership: forum user %d is linked to no Matrix user", event.user_id)
            return
        self._follow_user(row, identity)

    def _follow_user(self, row: InboxRow, identity: Identity) -> None:
        groups = self.facts.user_groups(identity.forum_username)
        if groups is None:
            raise RetryLater(f"membership: the groups of {identity.forum_username} are unknown")
        self.facts.refresh_identity(identity.matrix_user_id, groups)
        waiting = []
        for link in self.facts.managed_links():
            room, room_groups = self._managed(link)
            if room is None:
                waiting.append(link.name)
                continue
            if room_groups is None:
                continue  # an open room
            allowed = entitled(room_groups, groups)
            self._apply(row, link, room, {identity.matrix_user_id: allowed}, room_groups)
        if waiting:
            raise RetryLater(f"membership: facts unknown for links {', '.join(waiting)}")

    def unlinked(self, row: InboxRow, user: UserID) -> None:
        """A Matrix user unlinked their forum account: they leave the managed rooms porch let
        them into for it (moderators of a room stay). A room whose facts are unknown is left
        to the next reconciliation, which removes whoever porch invited and is not linked."""
        if self.ctx.store.identities.by_matrix_user(user) is not None:
            return  # linked again meanwhile: their groups decide (:meth:`linked`)
        for link in self.facts.managed_links():
            room, room_groups = self._managed(link)
            if room is None or room_groups is None:
                continue
            if self.records.invited(room, user):
                self._apply(row, link, room, {user: False}, room_groups, UNLINKED)

    # --- ghosts -------------------------------------------------------------------------------

    def _forum_username(self, forum_user_id: int) -> ForumUsername | None:
        """The forum username of a user id; ``None``: no such user, or the forum could not
        tell (porch's API key may not be an admin's): their ghost is then left to the
        reconciliation, which needs no admin."""
        try:
            user = self.ctx.forum.admin_user(forum_user_id)
        except ForumRateLimited:
            raise
        except ForumNotFound:
            return None
        except ForumError as exc:
            log.info("membership: forum user %d is unknown (%s)", forum_user_id, exc)
            return None
        name = user.get("username")
        return ForumUsername(name) if isinstance(name, str) and name else None

    def _ghosts_follow(self, row: InboxRow, only: ForumUsername | None = None) -> None:
        """Ghosts in managed rooms whose forum user may no longer read the link's category
        leave (``only``: that user's ghost)."""
        if only is None:
            return
        for link in self.facts.managed_links():
            room, room_groups = self._managed(link)
            if room is not None and room_groups is not None:
                self._ghosts_in(row, link, room, only)

    def _ghosts_in(
        self, row: InboxRow, link: LinkConfig, room: RoomID, only: ForumUsername | None = None
    ) -> None:
        """Remove the ghosts in ``room`` whose forum user is known not to read the link's
        category (:mod:`bridges.membership.ghost_gate`); unknown facts move nobody."""
        try:
            security = self.ctx.tiers.category(self.ctx.category_of(link))
        except ForumRateLimited:
            raise
        except ForumError as exc:
            log.warning("membership: %s: the category's readers are unknown (%s)", link.name, exc)
            return
        if security is None or not security.read_restricted:
            return
        if security.group_permissions is None:
            return
        for user, membership in sorted(self.ctx.chat.memberships(room).items()):
            username = self.ctx.ghosts.username_for(user)
            if username is None or membership not in ("join", "invite"):
                continue
            if only is not None and username.lower() != only.lower():
                continue
            groups = self.facts.user_groups(username)
            if groups is None:
                log.info("membership: %s: the groups of %s are unknown", link.name, username)
                continue
            if may_read(security.readers, groups):
                continue
            why = f"forum user {username} may no longer read the category of link {link.name}"
            kick = functools.partial(self.ctx.chat.kick, room, reason=why)
            if self._act(link, "remove", user, kick):
                self._audit(row, link, "retracted", GHOST_REMOVED, user, why)

    def _managed(self, link: LinkConfig) -> tuple[RoomID | None, frozenset[str] | None]:
        """The link's room and the groups it is for, when porch manages it now.

        ``(None, None)``: a fact is unknown (room tier or category readers); ``(room, None)``:
        the room is open, so porch leaves its membership alone.
        """
        try:
            room, tier = self.facts.room_tier(link)
        except (ForumRateLimited, MatrixRateLimited):
            raise
        except (ForumError, MatrixError) as exc:
            log.warning("membership: %s: the room is unknown (%s)", link.name, exc)
            return None, None
        if tier is None:
            return None, None
        if tier not in MANAGED_TIERS:
            return room, None
        groups = self.facts.room_groups(link)
        return (room, groups) if groups is not None else (None, None)

    # --- every linked user of a room ----------------------------------------------------------

    def reconcile(self, row: InboxRow, event: MembershipRefresh) -> None:
        """Bring every managed room (or the one of ``event.link``) in line with the forum's
        groups; a room whose facts are unknown is left as it is until the next time."""
        for link in self.facts.managed_links():
            if event.link is not None and link.name != event.link:
                continue
            try:
                self._reconcile_link(row, link)
            except (ForumRateLimited, MatrixRateLimited, MatrixUnavailable):
                raise
            except (ForumError, MatrixError) as exc:
                log.warning("membership: %s: reconciliation failed: %s", link.name, exc)

    def _reconcile_link(self, row: InboxRow, link: LinkConfig) -> None:
        """One managed room against the members of the groups it is for."""
        room, room_groups = self._managed(link)
        if room is None or room_groups is None:
            if room is None:
                log.warning("membership: %s: facts unknown; nobody moved", link.name)
            return
        members = self._group_members(room_groups)
        entitlement: dict[UserID, bool | None] = {}
        for identity in self._identities():
            name = identity.forum_username.lower()
            if EVERYONE in room_groups:
                allowed: bool | None = True
            elif members is None:
                allowed = None
            elif any(name in found for found in members.values() if found is not None):
                allowed = True
            elif all(found is not None for found in members.values()):
                allowed = False
            else:
                allowed = None
            entitlement[identity.matrix_user_id] = allowed
            if members is not None:
                self._refresh_recorded(identity, members)
        unlinked = [u for u in self.records.invitees(room) if u not in entitlement]
        # Whom porch let in for a link that is gone (an unlink whose removal did not finish).
        entitlement.update(dict.fromkeys(unlinked, False))
        self._apply(row, link, room, entitlement, room_groups)
        self._ghosts_in(row, link, room)

    def _group_members(self, groups: frozenset[str]) -> dict[str, frozenset[str] | None] | None:
        """Each group's members (lowercased usernames; ``None``: could not be read)."""
        if EVERYONE in groups:
            return None
        out: dict[str, frozenset[str] | None] = {}
        for group in sorted(groups):
            try:
                out[group] = frozenset(n.lower() for n in self.ctx.forum.group_members(group))
            except ForumRateLimited:
                raise
            except ForumError as exc:
                log.warning("membership: members of group %s unknown (%s)", group, exc)
                out[group] = None
        return out

    def _refresh_recorded(
        self, identity: Identity, members: dict[str, frozenset[str] | None]
    ) -> None:
        """Bring a linked user's recorded groups up to date for the groups just read."""
        recorded = set(self.facts.identity_groups.of(identity.matrix_user_id))
        name = identity.forum_username.lower()
        for group, found in members.items():
            if found is None:
                continue
            if name in found:
                recorded.add(group)
            else:
                recorded.discard(group)
        if recorded != self.facts.identity_groups.of(identity.matrix_user_id):
            self.facts.refresh_identity(identity.matrix_user_id, frozenset(recorded))

    def _identities(self) -> list[Identity]:
        with self.ctx.store.db.read() as conn:
            rows = conn.execute(identities.select()).all()
        return [
            Identity(
                UserID(r.matrix_user_id),
                ForumUsername(r.forum_username),
                r.forum_user_id,
                r.verified_via,
                r.verified_at,
            )
            for r in rows
        ]

    def _identity_of_forum_user(self, forum_user_id: int) -> Identity | None:
        return next((i for i in self._identities() if i.forum_user_id == forum_user_id), None)

    # --- applying a plan ----------------------------------------------------------------------

    def _apply(
        self,
        row: InboxRow,
        link: LinkConfig,
        room: RoomID,
        entitlement: dict[UserID, bool | None],
        room_groups: frozenset[str],
        why_removed: str = NOT_ENTITLED,
    ) -> RoomPlan[UserID]:
        memberships = self.ctx.chat.memberships(room)
        levels = self.facts.power_levels(room)
        creators = self.ctx.chat.room_creators(room)
        protected = {
            user
            for user in entitlement
            if moderates(levels, creators, user) or self.ctx.ghosts.is_ours(user)
        }
        invited = {user for user in entitlement if self.records.invited(room, user)}
        plan = plan_room(
            entitlement,
            memberships,
            protected,
            invited,
            bulk_invite=EVERYONE not in room_groups,
        )
        now = self.ctx.clock()
        for user in plan.invite:
            if self._act(link, "invite", user, lambda u: self.ctx.chat.invite(room, u)):
                self.records.record_invite(room, user, now)
                # A knock still waiting for a facilitator is answered by the entitlement.
                self.records.decide(room, user, ACCEPTED, self.ctx.chat.bot_user_id, now)
                self._audit(row, link, "carried", "membership:invite", user, "entitled by a group")
        reason = link.membership.kick_reason
        for user in plan.kick:
            if self._act(link, "remove", user, lambda u: self.ctx.chat.kick(room, u, reason)):
                self.records.forget_invite(room, user)
                self._audit(row, link, "retracted", "membership:remove", user, why_removed)
        for user in plan.kept:
            log.info("membership: %s: %s moderates the room; not removed", link.name, user)
        for user in plan.waiting:
            log.info("membership: %s: the groups of %s are unknown; nobody moved", link.name, user)
        return plan

    @staticmethod
    def _act(link: LinkConfig, what: str, user: UserID, action: Callable[[UserID], None]) -> bool:
        """One invite or removal; a refusal (porch's bot lacks the power, say) is logged and
        the others still happen; the next reconciliation tries again."""
        try:
            action(user)
        except MatrixRateLimited:
            raise
        except MatrixError as exc:
            if isinstance(exc, MatrixUnavailable):
                raise
            log.warning("membership: %s: cannot %s %s: %s", link.name, what, user, exc)
            return False
        log.info("membership: %s: %s %s", link.name, what, user)
        return True

    def _audit(
        self, row: InboxRow, link: LinkConfig, outcome: str, rule: str, user: UserID, why: str
    ) -> None:
        self.ctx.store.audit.record(
            AuditEntry(
                at=self.ctx.clock(),
                inbox_id=row.id,
                link=link.name,
                outcome=outcome,
                rule=rule,
                policy_version=_version(link),
                actor=user,
                detail=why,
            )
        )

    # --- knocks -------------------------------------------------------------------------------

    def _knock(self, row: InboxRow, knock: ChatKnock) -> None:
        link = self.ctx.link_for_room(knock.room_id)
        if link is None or not link.membership.manage:
            return
        room, room_groups = self._managed(link)
        if room is None:
            raise RetryLater(f"membership: {link.name}: facts unknown; the knock waits")
        if room_groups is None:
            return  # an open room: anyone may join, there is nothing to decide
        identity = self.ctx.store.identities.by_matrix_user(knock.sender)
        if identity is not None:
            groups = self.facts.user_groups(identity.forum_username)
            if groups is None:
                raise RetryLater(f"membership: the groups of {identity.forum_username} unknown")
            self.facts.refresh_identity(identity.matrix_user_id, groups)
            if entitled(room_groups, groups):
                self.ctx.chat.invite(room, knock.sender)
                self.records.record_invite(room, knock.sender, self.ctx.clock())
                self._audit(row, link, "carried", "membership:knock", knock.sender, "entitled")
                return
        notice_room = self._notice_room(link, room)
        queued = self.records.queue_knock(
            Knock(room, knock.sender, knock.event_id, knock.reason, self.ctx.clock(), notice_room)
        )
        self._audit(row, link, "held", "membership:knock", knock.sender, "waits for a facilitator")
        if not queued:
            return
        why = "not a linked forum account" if identity is None else "in no entitled forum group"
        said = f' ("{knock.reason}")' if knock.reason else ""
        where = "this room" if notice_room == room else f"the room of link {link.name}"
        text = (
            f"{knock.sender} knocked on {where}{said}; porch cannot let them in: "
            f"{why}. A moderator of the room can: {ACCEPT} {knock.sender}"
        )
        self._say(row, notice_room, text, "knock")

    def _notice_room(self, link: LinkConfig, room: RoomID) -> RoomID:
        configured = link.membership.facilitators_room
        if configured is None:
            return room
        notice_room = self.ctx.chat.resolve_room(configured)
        self.ctx.chat.ensure_joined(notice_room, self.ctx.chat.bot_user_id)
        return notice_room

    def _accept_rooms(self, room_id: RoomID) -> list[tuple[LinkConfig, RoomID]]:
        """The managed rooms whose knocks ``room_id`` (the room itself or its facilitators'
        room) decides on."""
        out = []
        for link in self.facts.managed_links():
            try:
                room = self.ctx.room_of(link)
                facilitators = link.membership.facilitators_room
                notices = (
                    room if facilitators is None else self.ctx.chat.resolve_room(facilitators)
                )
            except (ForumError, MatrixError):
                continue
            if room_id in (room, notices):
                out.append((link, room))
        return out

    def _accept(self, row: InboxRow, msg: ChatMessage) -> None:
        words = msg.body.strip().split()
        target = UserID(words[1]) if len(words) > 1 else None
        if target is None or not target.startswith("@") or ":" not in target:
            self._say(row, msg.room_id, f"Usage: {ACCEPT} @user:server", "accept")
            return
        answered = False
        for link, room in self._accept_rooms(msg.room_id):
            knock = self.records.knock(room, target)
            if knock is None or knock.status != "pending":
                continue
            answered = True
            levels = self.facts.power_levels(room)
            if not moderates(levels, self.ctx.chat.room_creators(room), msg.sender):
                self._say(
                    row,
                    msg.room_id,
                    f"Only a moderator of the room can accept {target}'s knock.",
                    f"accept.denied.{_short(room)}",
                )
                continue
            self.ctx.chat.invite(room, target)
            self.records.decide(room, target, ACCEPTED, msg.sender, self.ctx.clock())
            self._audit(row, link, "carried", "membership:knock-accepted", target, msg.sender)
            self._say(
                row,
                msg.room_id,
                f"Accepted: {target} is invited (by {msg.sender}).",
                f"accept.{_short(room)}",
            )
        if not answered:
            self._say(row, msg.room_id, f"No knock from {target} is waiting.", "accept.none")

    def _say(self, row: InboxRow, room: RoomID, text: str, step: str) -> None:
        content: dict[str, Any] = {"msgtype": "m.notice", "body": text}
        self.ctx.chat.send(room, content, as_user=None, txn_id=f"porch.{row.id}.membership.{step}")


def _version(link: LinkConfig) -> str:
    """The membership config's version for the audit log: a hash of its text."""
    text = link.membership.model_dump_json()
    return "membership-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _short(room: RoomID) -> str:
    return hashlib.sha256(room.encode("utf-8")).hexdigest()[:8]


class MembershipTicker:
    """Asks for a reconciliation of every managed room every ``interval`` seconds, through the
    inbox (so one worker does it, in order with the membership webhooks). Ticks of several
    porch processes within one interval are the same event (its key is the interval's
    number)."""

    def __init__(
        self,
        inbox: Inbox,
        interval: float,
        clock: Callable[[], float],
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self.inbox = inbox
        self.interval = interval
        self.clock = clock
        self.wake = wake
        self._stop = threading.Event()

    def tick(self) -> int | None:
        """Queue one reconciliation now; its inbox id, or ``None`` if this interval has one."""
        now = self.clock()
        kind = EventKind.MEMBERSHIP_REFRESH
        (inbox_id,) = self.inbox.append(
            [
                NewEvent(
                    source=Platform.FORUM,
                    kind=kind,
                    conversation=CONVERSATION,
                    payload=codec.encode(kind, MembershipRefresh()),
                    keys=(f"porch:membership_refresh:{int(now // self.interval)}",),
                )
            ],
            now,
        )
        if inbox_id is not None:
            self.wake()
        return inbox_id

    def reconcile_now(self, links: Sequence[LinkName]) -> None:
        """Queue a reconciliation of each of ``links`` now (a reload made them managed, or
        changed them), outside the interval's own tick."""
        if not links:
            return
        now = self.clock()
        kind = EventKind.MEMBERSHIP_REFRESH
        self.inbox.append(
            [
                NewEvent(
                    source=Platform.FORUM,
                    kind=kind,
                    conversation=CONVERSATION,
                    payload=codec.encode(kind, MembershipRefresh(link)),
                    keys=(f"porch:membership_refresh:{link}:{now!r}",),
                )
                for link in links
            ],
            now,
        )
        self.wake()

    def run(self) -> None:
        """Tick at once (what changed while porch was down is caught up), then every
        ``interval`` seconds until :meth:`stop`."""
        while True:
            try:
                self.tick()
            except Exception:
                log.exception("membership: could not queue the reconciliation")
            if self._stop.wait(self.interval):
                return

    def stop(self) -> None:
        self._stop.set()
