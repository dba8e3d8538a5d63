"""Chat -> forum: messages in carried threads become replies in their topics.

A sender with a linked forum account posts as themselves, so the forum's own permissions,
limits and watched words apply to them; anyone else is posted by the relay account under a
heading that names them. Edits and redactions by the original sender follow.
"""

from __future__ import annotations

import logging

from bridges.context import RelayContext
from bridges.discourse.client import CreatedPost
from bridges.discourse.errors import ForumRejected
from bridges.formatting import matrix_to_forum
from bridges.links import LinkConfig
from bridges.model import (
    ChatMessage,
    ChatRedaction,
    EventID,
    InboxPayload,
    Platform,
    RoomID,
    UserID,
)
from bridges.store.inbox import InboxRow
from bridges.store.mapping import Message, Thread
from policies.crossing import Crossing, decide, ignore, retract
from policies.decision import Decision, Outcome

log = logging.getLogger(__name__)


class ToForum:
    """Delivers Matrix events into linked topics."""

    def __init__(self, ctx: RelayContext) -> None:
        self.ctx = ctx

    def handle(self, row: InboxRow, event: InboxPayload) -> None:
        if isinstance(event, ChatMessage):
            link = self.ctx.link_for_room(event.room_id)
            if link is None:
                return
            if event.replaces is not None:
                self._edit(row, link, event)
            else:
                self._message(row, link, event)
        elif isinstance(event, ChatRedaction):
            link = self.ctx.link_for_room(event.room_id)
            if link is not None:
                self._redaction(row, link, event)

    # --- new messages ----------------------------------------------------------------------

    def _message(self, row: InboxRow, link: LinkConfig, msg: ChatMessage) -> None:
        mapping = self.ctx.store.mapping
        if mapping.message_for_event(msg.room_id, msg.event_id) is not None:
            return
        thread = None
        if msg.thread_root is not None:
            thread = mapping.thread_for_root(msg.room_id, msg.thread_root)
        elif msg.in_reply_to is not None:
            # A plain reply to a carried message belongs to that message's topic.
            target = mapping.message_for_event(msg.room_id, msg.in_reply_to)
            if target is not None:
                thread = mapping.thread_for_topic(link.name, target.topic_id)
        if thread is None:
            reason = (
                "top-level chat messages stay in chat"
                if msg.thread_root is None
                else ("the thread is not carried to the forum")
            )
            self.ctx.audit(row, link, ignore("not-a-carried-thread", reason), msg.sender)
            return
        decision = self._decide(link, msg)
        self.ctx.audit(row, link, decision, msg.sender)
        if not decision.crosses:
            return
        as_user, raw = self._compose(msg)
        reply_to = None
        if msg.in_reply_to is not None:
            target = mapping.message_for_event(msg.room_id, msg.in_reply_to)
            if target is not None and target.topic_id == thread.topic_id:
                reply_to = target.post_number
        try:
            result = self.ctx.forum.create_post(
                as_user=as_user,
                raw=raw,
                topic_id=thread.topic_id,
                reply_to_post_number=reply_to,
            )
        except ForumRejected as exc:
            self._rejected(row, link, thread, msg, str(exc))
            return
        if isinstance(result, CreatedPost):
            mapping.add_message(
                Message(
                    link.name,
                    result.post_id,
                    result.topic_id,
                    result.post_number,
                    msg.room_id,
                    msg.event_id,
                    msg.sender,
                    Platform.CHAT,
                    False,
                ),
                self.ctx.clock(),
            )
        else:
            held = Decision(
                Outcome.HELD, "forum-review-queue", "forum", result.reason or "awaits approval"
            )
            self.ctx.audit(row, link, held, msg.sender)

    def _decide(self, link: LinkConfig, msg: ChatMessage) -> Decision:
        return decide(
            Crossing(
                source=Platform.CHAT.value,
                direction=link.direction.value,
                link=link.name,
                is_notice=msg.msgtype == "m.notice",
            )
        )

    def _compose(self, msg: ChatMessage) -> tuple[str, str]:
        """Who posts on the forum, and the markdown they post."""
        raw = matrix_to_forum(msg.body, msg.formatted_body, mentions=self._mention)
        if msg.msgtype == "m.emote":
            raw = f"*{self._displayname(msg.room_id, msg.sender)} {raw}*"
        identity = self.ctx.store.identities.by_matrix_user(msg.sender)
        if identity is not None:
            return identity.forum_username, raw
        heading = self.ctx.relay.chat_sender_template.format(
            displayname=self._displayname(msg.room_id, msg.sender), user_id=msg.sender
        )
        return self.ctx.discourse.relay_username, f"{heading}\n\n{raw}"

    def _mention(self, user_id: UserID) -> str | None:
        identity = self.ctx.store.identities.by_matrix_user(user_id)
        if identity is not None:
            return identity.forum_username
        username = self.ctx.ghosts.username_for(user_id)
        return None if username is None else str(username)

    def _displayname(self, room_id: RoomID, user_id: UserID) -> str:
        member = self.ctx.chat.room_state(room_id, "m.room.member", user_id) or {}
        name = member.get("displayname")
        return str(name) if name else user_id.split(":", 1)[0].lstrip("@")

    def _rejected(
        self, row: InboxRow, link: LinkConfig, thread: Thread, msg: ChatMessage, why: str
    ) -> None:
        """The forum refused the post for good: record it and tell the sender in the thread."""
        refused = Decision(Outcome.REFUSED, "forum-rejected", "forum", why)
        self.ctx.audit(row, link, refused, msg.sender)
        notice = {
            "msgtype": "m.notice",
            "body": f"Not posted to the forum: {why}",
            "m.relates_to": {
                "rel_type": "m.thread",
                "event_id": thread.root_event_id,
                "is_falling_back": False,
                "m.in_reply_to": {"event_id": msg.event_id},
            },
            "m.mentions": {"user_ids": [msg.sender]},
        }
        self.ctx.chat.send(
            msg.room_id, notice, as_user=None, txn_id=f"porch.{row.id}.{link.name}.refused"
        )

    # --- changes to carried messages -------------------------------------------------------

    def _edit(self, row: InboxRow, link: LinkConfig, msg: ChatMessage) -> None:
        assert msg.replaces is not None
        original = self._own_copy(msg.room_id, msg.replaces, msg.sender)
        if original is None:
            return
        decision = self._decide(link, msg)
        self.ctx.audit(row, link, decision, msg.sender)
        if not decision.crosses:
            return
        as_user, raw = self._compose(msg)
        try:
            self.ctx.forum.edit_post(original.post_id, raw, as_user=as_user)
        except ForumRejected as exc:
            refused = Decision(Outcome.REFUSED, "forum-rejected", "forum", str(exc))
            self.ctx.audit(row, link, refused, msg.sender)

    def _redaction(self, row: InboxRow, link: LinkConfig, redaction: ChatRedaction) -> None:
        original = self._own_copy(redaction.room_id, redaction.redacts, redaction.sender)
        if original is None:
            return
        self.ctx.audit(row, link, retract("redacted"), redaction.sender)
        identity = self.ctx.store.identities.by_matrix_user(redaction.sender)
        as_user = identity.forum_username if identity else self.ctx.discourse.relay_username
        try:
            self.ctx.forum.delete_post(original.post_id, as_user=as_user)
        except ForumRejected as exc:
            refused = Decision(Outcome.REFUSED, "forum-rejected", "forum", str(exc))
            self.ctx.audit(row, link, refused, redaction.sender)
            return
        self.ctx.store.mapping.set_redacted(original.room_id, original.event_id)

    def _own_copy(self, room_id: RoomID, event_id: EventID, sender: UserID) -> Message | None:
        """The forum copy of a chat message, if ``sender`` wrote it (only authors edit/delete)."""
        original = self.ctx.store.mapping.message_for_event(room_id, event_id)
        if original is None or original.origin is not Platform.CHAT or original.redacted:
            return None
        if original.sender != sender:
            log.info(
                "relay: %s changed %s, which they did not write; not carried", sender, event_id
            )
            return None
        return original
