"""Sanctions that hold on both sides, each recorded with who acted, why, and its undo.

- A forum suspension bans the user's ghost and linked Matrix account from every bridged room;
  a silence mutes them there (power level -1, below ``events_default``); lifting either on the
  forum lifts what porch did for it.
- A room moderator's ban of a member (``m.room.member`` ``ban``) silences the member's forum
  account (their linked one, or the forum user behind a ghost) when
  ``moderation.sanctions.chat_ban_silences_forum`` says so.
- A room moderator's redaction of a bridged message (a ghost's copy of a post, or a chat
  message carried to the forum, redacted by someone other than its sender) hides or deletes
  the forum post per ``moderation.sanctions.chat_redaction``.
- A followed policy list (:mod:`bridges.moderation.policy_lists`) bans matching members from
  bridged rooms and silences their forum accounts when the list's config asks for it.

Never automatically: room moderators and admins (power level 50 or more in the room, the
level the spec gives ``ban``, ``kick`` and ``redact`` by default) and forum staff (admins and
moderators). Every sanction is a row of the ``sanctions`` table naming the moderator (the
Matrix sender, the forum's ``suspended_by``/``silenced_by``, the list rule's sender; never
porch's bot) and an audit entry; :func:`undo` reverses one with one call, and is recorded too.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bridges.discourse.client import ForumClient
from bridges.discourse.forum_errors import ForumError, ForumNotFound, ForumRateLimited
from bridges.matrix.api import AppserviceAPI
from bridges.matrix.matrix_errors import MatrixError, MatrixRateLimited
from bridges.model import (
    ChatBan,
    ChatMessage,
    ChatRedaction,
    ForumUserChanged,
    ForumUsername,
    InboxPayload,
    Platform,
    PolicyRuleChanged,
    PostID,
    RoomID,
    UserID,
)
from bridges.moderation.policy_lists import Listed, PolicyLists
from bridges.moderation.sanctions_config import SanctionsConfig
from bridges.store.audit import AuditEntry
from bridges.store.sanction_records import Action, Sanction
from bridges.store.store import Store
from bridges.worker import RetryLater
from policies.decision import Decision, Outcome
from policies.membership import MODERATOR_LEVEL, power_level

if TYPE_CHECKING:
    from bridges.context import RelayContext
    from bridges.store.inbox import InboxRow

log = logging.getLogger(__name__)

#: Recorded as the policy version of sanction audit entries.
VERSION = "sanctions-1"
#: The power level a muted member gets: below the spec's default ``events_default`` of 0.
MUTED_LEVEL = -1

# Sanction kinds (the ``kind`` column).
CHAT_BAN = "chat_ban"  # forum suspension -> bans in bridged rooms
CHAT_MUTE = "chat_mute"  # forum silence -> mutes in bridged rooms
FORUM_SILENCE = "forum_silence"  # room ban -> forum silence
POST_HIDE = "post_hide"  # moderator's redaction -> forum post hidden
POST_DELETE = "post_delete"  # moderator's redaction -> forum post deleted
LIST_BAN = "list_ban"  # policy list -> bans and/or forum silence


def in_force(till: str | None, now: float) -> bool:
    """Whether a ``suspended_till``/``silenced_till`` still holds (an unreadable one does:
    fail closed)."""
    if not till:
        return False
    try:
        moment = datetime.fromisoformat(till.replace("Z", "+00:00"))
    except ValueError:
        return True
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp() > now


def _who(value: Any) -> str | None:
    """A forum ``suspended_by``/``silenced_by``: a username, or a user object with one."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, Mapping) and isinstance(value.get("username"), str):
        return str(value["username"])
    return None


def record(store: Store, sanction: Sanction, inbox_id: int | None, outcome: str) -> None:
    """The audit entry of a sanction or of its undo: the moderator as actor, never the bot."""
    steps = "; ".join(a.describe() for a in sanction.actions) or "nothing to do"
    who = sanction.moderator if outcome == "sanctioned" else (sanction.undone_by or "?")
    store.audit.record(
        AuditEntry(
            at=sanction.undone_at or sanction.at if outcome == "undone" else sanction.at,
            inbox_id=inbox_id,
            link=None,
            outcome=outcome,
            rule=f"sanction:{sanction.kind}",
            policy_version=VERSION,
            actor=who,
            detail=(
                f"#{sanction.id} source={sanction.source}"
                f"{' (' + sanction.source_ref + ')' if sanction.source_ref else ''} "
                f"target={sanction.target} moderator={sanction.moderator} "
                f"reason={sanction.reason or '-'}: {steps}"
            ),
        )
    )


class Enforcer:
    """The platform calls of sanctions and their undo; needs no relay (the CLI uses it)."""

    def __init__(
        self, store: Store, chat: AppserviceAPI, forum: ForumClient, porch_username: str
    ) -> None:
        self.store = store
        self.chat = chat
        self.forum = forum
        self.porch_username = porch_username
        self._creators: dict[RoomID, set[str]] = {}

    # --- rooms -------------------------------------------------------------------------------

    def levels(self, room: RoomID) -> dict[str, Any]:
        return dict(self.chat.room_state(room, "m.room.power_levels") or {})

    def creators(self, room: RoomID) -> set[str]:
        """The room's creators: the sender of ``m.room.create`` and, from room version 12,
        its ``additional_creators``; they have infinite power and are never in ``users``."""
        found = self._creators.get(room)
        if found is None:
            found = set()
            for event in self.chat.state_events(room):
                if event.get("type") == "m.room.create" and event.get("state_key") == "":
                    content = event.get("content")
                    extra = (
                        content.get("additional_creators") if isinstance(content, dict) else None
                    )
                    found = {str(event.get("sender"))} | {
                        str(u) for u in (extra if isinstance(extra, list) else ())
                    }
            self._creators[room] = found
        return found

    def is_moderator(self, room: RoomID, levels: Mapping[str, Any], user: str) -> bool:
        """A room creator, or a member at power level 50 or more."""
        return power_level(levels, user) >= MODERATOR_LEVEL or user in self.creators(room)

    def may_redact(self, room: RoomID, levels: Mapping[str, Any], user: str) -> bool:
        """A room creator, or a member whose power level reaches the room's ``redact`` level.

        From room version 3 the homeserver accepts anyone's redaction event into the room and
        leaves the power check to whoever applies it, so a redaction porch receives proves
        nothing about its sender: https://spec.matrix.org/v1.13/rooms/v3/#handling-redactions
        """
        try:
            required = int(levels.get("redact", MODERATOR_LEVEL))
        except (TypeError, ValueError):
            required = MODERATOR_LEVEL
        return power_level(levels, user) >= required or user in self.creators(room)

    def membership(self, room: RoomID, user: UserID) -> str | None:
        member = self.chat.room_state(room, "m.room.member", user)
        value = None if member is None else member.get("membership")
        return value if isinstance(value, str) else None

    def ban(
        self, rooms: list[RoomID], users: list[UserID], reason: str
    ) -> tuple[list[Action], list[str]]:
        """Ban ``users`` from ``rooms``: the steps taken, and who was spared (moderators)."""
        actions: list[Action] = []
        spared: list[str] = []
        users = [u for u in users if u != self.chat.bot_user_id]
        for room in rooms:
            levels = self.levels(room)
            for user in users:
                if self.is_moderator(room, levels, user):
                    spared.append(f"{user} is a moderator of {room}")
                    continue
                member = self.chat.room_state(room, "m.room.member", user) or {}
                if member.get("membership") == "ban":
                    # The same reason: porch's own ban from a try that stopped before it was
                    # recorded (the event is handled again after a crash). Any other ban is
                    # someone else's, not porch's to undo later.
                    if member.get("reason") == reason:
                        actions.append(Action("ban", room=room, user=user))
                    continue
                self.chat.ban(room, user, reason)
                actions.append(Action("ban", room=room, user=user))
        return actions, spared

    def mute(self, rooms: list[RoomID], users: list[UserID]) -> tuple[list[Action], list[str]]:
        """Give ``users`` power level -1 in ``rooms``, remembering the level each had."""
        actions: list[Action] = []
        spared: list[str] = []
        users = [u for u in users if u != self.chat.bot_user_id]
        for room in rooms:
            levels = self.levels(room)
            members = dict(levels.get("users") or {})
            changed = []
            for user in users:
                level = power_level(levels, user)
                if self.is_moderator(room, levels, user):
                    spared.append(f"{user} is a moderator of {room}")
                    continue
                if level <= MUTED_LEVEL:
                    continue
                previous = members.get(user)
                members[user] = MUTED_LEVEL
                changed.append(Action("mute", room=room, user=user, undo={"previous": previous}))
            if changed:
                self.chat.put_state(room, "m.room.power_levels", {**levels, "users": members})
                actions += changed
        return actions, spared

    # --- the forum ---------------------------------------------------------------------------

    def forum_account(self, username: str) -> tuple[int, bool]:
        """A forum user's id and whether they are staff."""
        user = self.forum.user(username)
        staff = bool(user.get("admin") or user.get("moderator") or user.get("staff"))
        return int(user["id"]), staff

    def silence(self, user_id: int, reason: str, days: int) -> Action:
        until = (datetime.now(UTC) + timedelta(days=days)).isoformat(timespec="seconds")
        self.forum.silence_user(user_id, until=until, reason=reason[:300])
        return Action("silence", forum_user_id=user_id)

    # --- undo --------------------------------------------------------------------------------

    def undo_action(self, action: Action) -> None:
        """Reverse one step; a step already reversed (by hand, say) is left as it is."""
        if action.step == "ban" and action.room and action.user:
            room, user = RoomID(action.room), UserID(action.user)
            if self.membership(room, user) == "ban":
                self.chat.unban(room, user, "porch: sanction undone")
        elif action.step == "mute" and action.room and action.user:
            room = RoomID(action.room)
            levels = self.levels(room)
            members = dict(levels.get("users") or {})
            if members.get(action.user) == MUTED_LEVEL:
                previous = action.undo.get("previous")
                if previous is None:
                    members.pop(action.user, None)
                else:
                    members[action.user] = previous
                self.chat.put_state(room, "m.room.power_levels", {**levels, "users": members})
        elif action.step == "silence" and action.forum_user_id is not None:
            self.forum.unsilence_user(action.forum_user_id)
        elif action.step == "hide" and action.post_id is not None:
            self.forum.unhide_post(PostID(action.post_id))
        elif action.step == "delete" and action.post_id is not None:
            try:
                self.forum.recover_post(PostID(action.post_id), as_user=self.porch_username)
            except ForumNotFound:
                log.warning("sanctions: post %s is gone for good", action.post_id)


def undo(
    enforcer: Enforcer, sanction_id: int, by: str, now: float, inbox_id: int | None = None
) -> Sanction:
    """Reverse every step of a sanction and record the undo (table and audit log).

    Raises:
        KeyError: there is no such sanction.
        ValueError: it was undone already.
    """
    store = enforcer.store
    found = store.sanctions.get(sanction_id)
    if found is None:
        raise KeyError(sanction_id)
    if not found.active:
        raise ValueError(f"sanction #{sanction_id} was undone already by {found.undone_by}")
    # Claimed first: the forum's echo of an unsilence must find it undone, not lift it again.
    if not store.sanctions.mark_undone(sanction_id, by, now):
        raise ValueError(f"sanction #{sanction_id} was undone already")
    try:
        for action in found.actions:
            enforcer.undo_action(action)
    except BaseException:
        store.sanctions.reopen(sanction_id)
        raise
    done = replace(found, undone_at=now, undone_by=by)
    record(store, done, inbox_id, "undone")
    return done


class SanctionRelay:
    """The relay's part: sanction events in, sanctions across and their records out."""

    def __init__(self, ctx: RelayContext, config: SanctionsConfig, lists: PolicyLists) -> None:
        self.ctx = ctx
        self.config = config
        self.lists = lists
        self.enforcer = Enforcer(ctx.store, ctx.chat, ctx.forum, ctx.discourse.api_username)

    # --- routing -----------------------------------------------------------------------------

    def owns(self, event: InboxPayload) -> bool:
        if isinstance(event, ForumUserChanged | ChatBan | PolicyRuleChanged):
            return True
        return isinstance(event, ChatRedaction) and self._moderated(event) is not None

    def handle(self, row: InboxRow, event: InboxPayload) -> None:
        """Carry one sanction across.

        Raises:
            RetryLater: a platform could not be reached; nothing was recorded yet.
        """
        try:
            if isinstance(event, ForumUserChanged):
                self.forum_user(row, event)
            elif isinstance(event, ChatBan):
                self.chat_ban(row, event)
            elif isinstance(event, PolicyRuleChanged):
                self.rule_changed(row, event)
            elif isinstance(event, ChatRedaction):
                self.chat_redaction(row, event)
        except (ForumRateLimited, MatrixRateLimited):
            raise
        except (ForumError, MatrixError) as exc:
            raise RetryLater(f"sanction: {exc}") from exc

    # --- helpers -----------------------------------------------------------------------------

    def _rooms(self) -> list[RoomID]:
        rooms: list[RoomID] = []
        for link in self.ctx.links:
            room = self.ctx.room_of(link)
            if room not in rooms:
                rooms.append(room)
        return rooms

    def _bridged(self, room: RoomID) -> bool:
        return self.ctx.link_for_room(room) is not None

    def _chat_accounts(self, username: str) -> list[UserID]:
        """A forum user's Matrix faces: their ghost and, when linked, their own account."""
        ghost = self.ctx.ghosts.user_id_for(ForumUsername(username))
        # In bot mode the "ghost" is porch's own account: never sanction that.
        accounts = [] if ghost == self.ctx.chat.bot_user_id else [ghost]
        identity = self.ctx.store.identities.by_forum_username(ForumUsername(username))
        if identity is not None and identity.matrix_user_id not in accounts:
            accounts.append(identity.matrix_user_id)
        return accounts

    def _forum_name(self, user: UserID) -> str | None:
        """The forum account behind a Matrix user: their linked one, or a ghost's own."""
        identity = self.ctx.store.identities.by_matrix_user(user)
        if identity is not None:
            return str(identity.forum_username)
        name = self.ctx.ghosts.username_for(user)
        return None if name is None else str(name)

    def _skip(self, row: InboxRow, rule: str, why: str, actor: str) -> None:
        log.info("sanctions: %s", why)
        self.ctx.audit(row, None, Decision(Outcome.IGNORED, rule, VERSION, why), actor)

    def _record(self, row: InboxRow, sanction: Sanction, spared: list[str]) -> Sanction:
        if spared:
            sanction = replace(
                sanction, reason=f"{sanction.reason or '-'} (spared: {'; '.join(spared)})"
            )
        sanction = replace(sanction, at=self.ctx.clock())
        sanction = replace(sanction, id=self.ctx.store.sanctions.record(sanction))
        record(self.ctx.store, sanction, row.id, "sanctioned")
        log.info(
            "sanctions: #%s %s of %s by %s",
            sanction.id,
            sanction.kind,
            sanction.target,
            sanction.moderator,
        )
        return sanction

    # --- forum -> rooms ----------------------------------------------------------------------

    def forum_user(self, row: InboxRow, event: ForumUserChanged) -> None:
        """Follow a user's suspension and silence into the bridged rooms, both ways."""
        now = self.ctx.clock()
        target = f"forum:{event.username.lower()}"
        sanctions = self.ctx.store.sanctions
        bans = sanctions.active_for(target, CHAT_BAN)
        mutes = sanctions.active_for(target, CHAT_MUTE)
        suspended = in_force(event.suspended_till, now)
        silenced = in_force(event.silenced_till, now)
        for lifted in (bans if not suspended else []) + (mutes if not silenced else []):
            undo(self.enforcer, int(lifted.id or 0), f"forum:{event.event}", now, row.id)
        if not silenced:
            # A silence porch applied and a forum moderator lifted: nothing left to reverse,
            # but the record must not claim it still holds.
            for lifted in sanctions.active_for(target, FORUM_SILENCE):
                if sanctions.mark_undone(int(lifted.id or 0), f"forum:{event.event}", now):
                    done = replace(lifted, undone_at=now, undone_by=f"forum:{event.event}")
                    record(self.ctx.store, done, row.id, "undone")
        need_ban, need_mute = suspended and not bans, silenced and not mutes
        if not (need_ban or need_mute):
            return
        info = self.ctx.forum.admin_user(event.user_id)
        if event.staff or info.get("admin") or info.get("moderator"):
            self._skip(
                row,
                "sanction:staff",
                f"{event.username} is forum staff: never sanctioned automatically",
                f"forum:{event.username}",
            )
            return
        accounts = self._chat_accounts(event.username)
        rooms = self._rooms()
        porch = self.ctx.discourse.api_username.lower()

        def followed(
            kind: str, moderator: str, reason: str | None, done: tuple[list[Action], list[str]]
        ) -> None:
            actions, spared = done
            ref = f"forum user {event.user_id}"
            sanction = Sanction(
                kind, "forum", f"forum:{moderator}", target, tuple(actions), reason, ref
            )
            self._record(row, sanction, spared)

        if need_ban:
            moderator = _who(info.get("suspended_by")) or "unknown"
            reason = event.suspend_reason or info.get("full_suspend_reason") or None
            note = f"suspended on the forum by {moderator}: {reason or '-'}"
            followed(CHAT_BAN, moderator, reason, self.enforcer.ban(rooms, accounts, note))
        if need_mute:
            moderator = _who(info.get("silenced_by")) or "unknown"
            if moderator.lower() == porch:
                # Porch's own silence (a room ban or a list asked for it): recorded then.
                return
            reason = event.silence_reason or info.get("silence_reason") or None
            followed(CHAT_MUTE, moderator, reason, self.enforcer.mute(rooms, accounts))

    # --- rooms -> forum ----------------------------------------------------------------------

    def chat_ban(self, row: InboxRow, event: ChatBan) -> None:
        """A room moderator banned a member: silence their forum account, if policy says so."""
        if not self._bridged(event.room_id):
            return
        rule = "sanction:chat_ban_silences_forum"
        if not self.config.chat_ban_silences_forum:
            self._skip(row, rule, f"{event.target} banned; policy: forum untouched", event.sender)
            return
        levels = self.enforcer.levels(event.room_id)
        if self.enforcer.is_moderator(event.room_id, levels, event.target):
            self._skip(row, rule, f"{event.target} is a room moderator", event.sender)
            return
        username = self._forum_name(event.target)
        if username is None:
            self._skip(row, rule, f"{event.target} has no forum account", event.sender)
            return
        reason = f"banned from {event.room_id} by {event.sender}: {event.reason or '-'}"
        self._silence(row, username, event.sender, reason, "room", event.room_id, FORUM_SILENCE)

    def _silence(
        self,
        row: InboxRow,
        username: str,
        moderator: str,
        reason: str,
        source: str,
        source_ref: str,
        kind: str,
    ) -> list[Action]:
        target = f"forum:{username.lower()}"
        if self.ctx.store.sanctions.active_for(target, kind):
            return []
        user_id, staff = self.enforcer.forum_account(username)
        if staff:
            self._skip(row, f"sanction:{kind}", f"{username} is forum staff", moderator)
            return []
        shown = self.ctx.forum.admin_user(user_id)
        by = _who(shown.get("silenced_by"))
        if by is not None:
            ours = by.lower() == self.ctx.discourse.api_username.lower()
            if not (ours and shown.get("silence_reason") == reason[:300]):
                # Silenced already by someone else: theirs to lift, not porch's.
                self._skip(row, f"sanction:{kind}", f"{username} is silenced already", moderator)
                return []
            # Porch's own silence from a try that stopped before it was recorded.
            action = Action("silence", forum_user_id=user_id)
        else:
            action = self.enforcer.silence(user_id, reason, self.config.silence_days)
        if kind == FORUM_SILENCE:
            self._record(
                row,
                Sanction(kind, source, moderator, target, (action,), reason, source_ref),
                [],
            )
        return [action]

    def _moderated(self, event: ChatRedaction) -> tuple[PostID, UserID | None] | None:
        """The forum post of a bridged message redacted by someone other than its sender (and
        the chat sender, for a chat-origin message); None for any other redaction."""
        found = self.ctx.store.mapping.message_for_event(event.room_id, event.redacts)
        if found is None or found.redacted:
            return None
        if found.origin is Platform.FORUM:
            return found.post_id, None
        if found.sender == event.sender:
            # The author's own redaction: a deletion (bridges.relay.chat_to_forum.chat_changes).
            return None
        return found.post_id, found.sender

    def chat_redaction(self, row: InboxRow, event: ChatRedaction) -> None:
        """A room moderator redacted a bridged message: hide or delete its forum post."""
        moderated = self._moderated(event)
        if moderated is None:
            return
        post_id, sender = moderated
        rule = f"sanction:chat_redaction:{self.config.chat_redaction}"
        if self.config.chat_redaction == "ignore":
            self._skip(row, rule, f"post {post_id} redacted in chat; policy: ignore", event.sender)
            return
        levels = self.enforcer.levels(event.room_id)
        if not self.enforcer.may_redact(event.room_id, levels, event.sender):
            why = f"{event.sender} may not redact others' messages in {event.room_id}"
            self._skip(row, rule, why, event.sender)
            return
        if sender is not None and self.enforcer.is_moderator(event.room_id, levels, sender):
            self._skip(row, rule, f"{sender} is a room moderator", event.sender)
            return
        post = self.ctx.forum.get_post(post_id)
        if sender is None and (post.get("admin") or post.get("moderator") or post.get("staff")):
            self._skip(row, rule, f"post {post_id} is by forum staff", event.sender)
            return
        reason = f"redacted in {event.room_id} by {event.sender}: {event.reason or '-'}"
        if self.config.chat_redaction == "hide":
            if post.get("hidden"):
                return
            self.ctx.forum.hide_post(post_id, reason=reason[:500])
            kind, action = POST_HIDE, Action("hide", post_id=int(post_id))
        else:
            if post.get("deleted_at"):
                return
            self.ctx.forum.delete_post(post_id, as_user=self.ctx.discourse.api_username)
            kind, action = POST_DELETE, Action("delete", post_id=int(post_id))
        self.ctx.store.mapping.set_redacted(event.room_id, event.redacts)
        self._record(
            row,
            Sanction(
                kind,
                "room",
                event.sender,
                f"post:{post_id}",
                (action,),
                event.reason,
                event.room_id,
            ),
            [],
        )

    # --- policy lists ------------------------------------------------------------------------

    def rule_changed(self, row: InboxRow, event: PolicyRuleChanged) -> None:
        """Follow a list's rule; a new ban is applied on sight to bridged rooms' members."""
        listed = self.lists.rule_changed(row, event)
        if listed is None:
            return
        config = listed.config
        if not (config.ban_from_rooms or config.silence_on_forum):
            return
        for room in self._rooms():
            for user, membership in self.ctx.chat.memberships(room).items():
                if membership != "join" or self.ctx.ghosts.is_ours(user):
                    continue
                found = self.lists.listed(user)
                if found is not None:
                    self.listed_user(row, found, user)

    def on_sight(self, row: InboxRow, event: InboxPayload) -> None:
        """A listed sender spoke in a bridged room: apply their list's ban (once), as configured.
        The message itself is refused by the crossing decision (:mod:`bridges.relay.crossings`)."""
        if not isinstance(event, ChatMessage) or not self._bridged(event.room_id):
            return
        if not any(c.ban_from_rooms or c.silence_on_forum for c in self.lists.lists):
            return
        listed = self.lists.listed(event.sender)
        if listed is None:
            return
        try:
            self.listed_user(row, listed, event.sender)
        except (ForumRateLimited, MatrixRateLimited):
            raise
        except (ForumError, MatrixError) as exc:
            raise RetryLater(f"policy list ban of {event.sender}: {exc}") from exc

    def listed_user(self, row: InboxRow, listed: Listed, user: UserID) -> None:
        """Apply a list's ban to one user (once): room bans, forum silence, as configured."""
        target = str(user)
        if self.ctx.store.sanctions.active_for(target, LIST_BAN):
            return
        config, rule = listed.config, listed.rule
        moderator = rule.sender or "unknown"
        reason = f"{rule.reason} (policy list {config.room})"
        actions: list[Action] = []
        spared: list[str] = []
        if config.ban_from_rooms:
            actions, spared = self.enforcer.ban(self._rooms(), [user], reason)
        if config.silence_on_forum:
            username = self._forum_name(user)
            if username is not None:
                actions += self._silence(
                    row, username, moderator, reason, "list", config.room, LIST_BAN
                )
        if not actions:
            why = "; ".join(spared) or f"nothing to do for {user}"
            self._skip(row, f"sanction:{LIST_BAN}", why, moderator)
            return
        self._record(
            row,
            Sanction(
                LIST_BAN,
                "list",
                moderator,
                target,
                tuple(actions),
                rule.reason,
                f"{config.room} {rule.event_type} {rule.entity}",
            ),
            spared,
        )
