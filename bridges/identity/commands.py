"""The bot's side of its direct chats: it accepts them and answers ``!link``, ``!unlink`` and
``!help``; it confirms links the forum completed.

Commands are heard only in a room the user opened as a direct chat with the bot
(``is_direct`` invite) and only from that user, so an answer with a link page never lands in a
room someone else can read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bridges.context import RelayContext
from bridges.identity.linking import LINK_TTL, Linking
from bridges.model import ChatInvite, ChatMessage, IdentityLinked, InboxPayload, RoomID, UserID
from bridges.store.inbox import InboxRow
from bridges.store.link_requests import token_hash

log = logging.getLogger(__name__)

HELP = (
    "I am porch's bot. In this chat I understand:\n"
    "!link: link your forum account, so your messages in bridged rooms are posted as you\n"
    "!unlink: undo that; your messages are posted by the relay account again\n"
    "!help: this list"
)
NOT_ENABLED = "Linking forum accounts is not enabled on this porch; ask its admin."


class BotCommands:
    """Direct chats with porch's bot."""

    def __init__(
        self, ctx: RelayContext, on_unlinked: Callable[[InboxRow, UserID], None] | None = None
    ) -> None:
        self.ctx = ctx
        public = ctx.public_url
        if public is None and ctx.matrix.appservice is not None:
            public = str(ctx.matrix.appservice.url)
        self.linking = Linking(ctx.store, ctx.discourse, public or "", ctx.clock)
        #: Told after ``!unlink`` (whether or not a link was left): membership follows
        #: entitlement (:meth:`bridges.membership.rooms.Membership.unlinked`).
        self.on_unlinked = on_unlinked

    def is_direct_chat(self, room_id: RoomID) -> bool:
        """Whether ``room_id`` is a direct chat with porch's bot (its messages are commands)."""
        return self.linking.chats.user_of(room_id) is not None

    def handle(self, row: InboxRow, event: InboxPayload) -> None:
        if isinstance(event, ChatInvite):
            self._invited(row, event)
        elif isinstance(event, IdentityLinked):
            self._say(
                row,
                event.room_id,
                f"Linked: you are {event.forum_username} on the forum, as the forum itself "
                "confirmed. Your next messages in bridged rooms are posted as "
                f"{event.forum_username}.",
                "linked",
            )
        elif isinstance(event, ChatMessage):
            self._message(row, event)

    def _invited(self, row: InboxRow, invite: ChatInvite) -> None:
        if invite.invitee != self.ctx.chat.bot_user_id or not invite.is_direct:
            return  # rooms to bridge are joined when a link needs them (RelayContext.room_of)
        if self.ctx.link_for_room(invite.room_id) is not None:
            return  # a bridged room stays the relay's, whatever the inviter called it
        self.ctx.chat.join(invite.room_id, self.ctx.chat.bot_user_id)
        self.linking.chats.add(invite.room_id, invite.sender, self.ctx.clock())
        log.info("bot: direct chat %s with %s", invite.room_id, invite.sender)
        self._say(row, invite.room_id, HELP, "hello")

    def _message(self, row: InboxRow, msg: ChatMessage) -> None:
        if msg.replaces is not None or msg.msgtype != "m.text":
            return
        if self.linking.chats.user_of(msg.room_id) != msg.sender:
            return  # someone else in the owner's direct chat
        words = msg.body.strip().split()
        command = words[0].lower() if words else ""
        if command == "!link":
            self._link(row, msg)
        elif command == "!unlink":
            identity = self.linking.unlink(msg.sender)
            if self.on_unlinked is not None:
                # Also when nothing was linked: a retried !unlink finishes the removals.
                self.on_unlinked(row, msg.sender)
            text = (
                f"Unlinked from forum account {identity.forum_username}. Your messages are "
                "posted by the relay account again."
                if identity is not None
                else "No forum account is linked to you."
            )
            self._say(row, msg.room_id, text, "unlink")
        elif command == "!help":
            self._say(row, msg.room_id, HELP, "help")
        else:
            self._say(row, msg.room_id, f"I did not understand that.\n\n{HELP}", "help")

    def _link(self, row: InboxRow, msg: ChatMessage) -> None:
        if not self.linking.enabled:
            self._say(row, msg.room_id, NOT_ENABLED, "link")
            return
        url = self.linking.start(msg.sender, msg.room_id)
        minutes = int(LINK_TTL // 60)
        current = self.ctx.store.identities.by_matrix_user(msg.sender)
        already = (
            f"You are linked to forum account {current.forum_username} now; linking again "
            "replaces it.\n"
            if current is not None
            else ""
        )
        text = (
            f"{already}Open this link within {minutes} minutes and log in to the forum if it "
            f"asks; the forum will tell porch who you are. It works once, for you only:\n{url}"
        )
        # The token is part of the transaction id: a retried event sends its own new link, not
        # the earlier one it replaced.
        token = url.rsplit("/", 1)[1]
        self._say(row, msg.room_id, text, f"link.{token_hash(token)[:16]}")

    def _say(self, row: InboxRow, room_id: RoomID, text: str, step: str) -> None:
        content: dict[str, Any] = {"msgtype": "m.notice", "body": text}
        self.ctx.chat.send(room_id, content, as_user=None, txn_id=f"porch.{row.id}.bot.{step}")
