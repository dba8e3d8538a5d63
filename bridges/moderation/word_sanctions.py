"""The ``silence`` watched word's sanction, for chat messages going to the forum.

Discourse queues a post with a ``silence`` word and silences its author
(``NewPostManager.auto_silence?``). Porch refuses the
message (:mod:`policies.watched_words`) and sanctions its sender the same way, through the
sanctions module (:mod:`bridges.moderation.sanctions`), so it is listed and undone like any
other sanction (``porch sanctions undo``):

- the sender's linked forum account is silenced (``moderation.sanctions.silence_days``);
- the sender is muted (power level -1) in every bridged room.

Never automatically: room moderators and admins of the room the message was sent in (and,
for the other rooms, of each room) and forum staff; the skipped sanction is in the audit log.
One sanction per sender while it holds: a retried event or a second message finds it.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from bridges.context import RelayContext
from bridges.discourse.forum_errors import ForumError, ForumNotFound, ForumRateLimited
from bridges.links import LinkConfig
from bridges.matrix.matrix_errors import MatrixError, MatrixRateLimited
from bridges.model import ChatMessage, ForumUsername, RoomID
from bridges.moderation.sanctions import VERSION, Enforcer, _who, record
from bridges.store.inbox import InboxRow
from bridges.store.sanction_records import Action, Sanction
from policies.decision import Decision, Outcome

log = logging.getLogger(__name__)

#: The sanction kind (``sanctions.kind``) and its source (``sanctions.source``).
WORD_SILENCE = "word_silence"
SOURCE = "watched_words"
#: Who the sanctions table names as having acted: the word list, not porch's bot.
MODERATOR = "watched_words"


class WordSilence:
    """Silences and mutes the sender of a chat message refused for a ``silence`` word."""

    def __init__(self, ctx: RelayContext) -> None:
        self.ctx = ctx
        self.enforcer = Enforcer(ctx.store, ctx.chat, ctx.forum, ctx.discourse.api_username)

    def sanction(
        self, row: InboxRow, link: LinkConfig, msg: ChatMessage, decision: Decision
    ) -> None:
        """Sanction ``msg``'s sender (once); failures other than rate limits are recorded in
        the sanction's reason rather than retried: the refusal itself must not wait on them.

        Raises:
            ForumRateLimited, MatrixRateLimited: try the event again later.
        """
        target = str(msg.sender)
        rule = f"sanction:{WORD_SILENCE}"
        if self.ctx.store.sanctions.active_for(target, WORD_SILENCE):
            return
        if msg.sender == self.ctx.chat.bot_user_id or self.ctx.ghosts.is_ours(msg.sender):
            return
        reason = f"{decision.reason} (in {msg.room_id})"
        problems: list[str] = []
        try:
            levels = self.enforcer.levels(msg.room_id)
            moderator = self.enforcer.is_moderator(msg.room_id, levels, msg.sender)
        except MatrixRateLimited:
            raise
        except MatrixError as exc:
            # Unknown power: fail towards sparing, never sanction on a guess.
            self._skip(row, link, rule, f"cannot read {msg.room_id}'s power levels: {exc}")
            return
        if moderator:
            self._skip(row, link, rule, f"{msg.sender} is a moderator of {msg.room_id}")
            return
        actions: list[Action] = []
        identity = self.ctx.store.identities.by_matrix_user(msg.sender)
        if identity is not None:
            try:
                silenced = self._silence(identity.forum_username, reason)
            except ForumRateLimited:
                raise
            except ForumError as exc:
                problems.append(f"forum silence failed: {exc}")
            else:
                if silenced == "staff":
                    self._skip(row, link, rule, f"{identity.forum_username} is forum staff")
                    return
                if isinstance(silenced, Action):
                    actions.append(silenced)
                elif silenced is not None:
                    problems.append(silenced)
        spared: list[str] = []
        try:
            muted, spared = self.enforcer.mute(self._rooms(msg.room_id), [msg.sender])
            actions += muted
        except MatrixRateLimited:
            raise
        except MatrixError as exc:
            problems.append(f"mute failed: {exc}")
        notes = [*spared, *problems]
        if not actions:
            self._skip(row, link, rule, "; ".join(notes) or f"nothing to do for {msg.sender}")
            return
        if notes:
            reason += f" ({'; '.join(notes)})"
        sanction = Sanction(
            WORD_SILENCE,
            SOURCE,
            MODERATOR,
            target,
            tuple(actions),
            reason,
            f"{link.name} {msg.event_id}",
            at=self.ctx.clock(),
        )
        sanction = replace(sanction, id=self.ctx.store.sanctions.record(sanction))
        record(self.ctx.store, sanction, row.id, "sanctioned")
        log.info("sanctions: #%s %s of %s", sanction.id, WORD_SILENCE, target)

    def _silence(self, username: ForumUsername, reason: str) -> Action | str | None:
        """Silence the forum account: its step, ``"staff"`` (spared), a note why not, or None
        (no such account)."""
        try:
            user_id, staff = self.enforcer.forum_account(username)
        except ForumNotFound:
            return None
        if staff:
            return "staff"
        shown = self.ctx.forum.admin_user(user_id)
        by = _who(shown.get("silenced_by"))
        if by is None:
            return self.enforcer.silence(
                user_id, reason, self.ctx.moderation.sanctions.silence_days
            )
        if (
            by.lower() == self.ctx.discourse.api_username.lower()
            and shown.get("silence_reason") == (reason[:300])
        ):
            # Porch's own silence from a try that stopped before it was recorded.
            return Action("silence", forum_user_id=user_id)
        return f"{username} is silenced on the forum already"

    def _rooms(self, first: RoomID) -> list[RoomID]:
        rooms = [first]
        for link in self.ctx.links:
            room = self.ctx.room_of(link)
            if room not in rooms:
                rooms.append(room)
        return rooms

    def _skip(self, row: InboxRow, link: LinkConfig, rule: str, why: str) -> None:
        log.info("sanctions: %s", why)
        self.ctx.audit(row, link, Decision(Outcome.IGNORED, rule, VERSION, why), MODERATOR)
