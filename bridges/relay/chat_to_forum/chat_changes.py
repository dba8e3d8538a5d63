"""Chat -> forum changes: edits and redactions of carried chat messages.

Only the original sender's changes are carried. An edit (``m.replace``) revises the post, as
the account that wrote it; a redaction deletes it. In a post holding several merged messages,
only the message's own part is rewritten or removed. When a chat-started topic's root is
edited and the topic still has the title porch gave it, the title follows the new first line.
Event replacements: https://spec.matrix.org/v1.13/client-server-api/#event-replacements
"""

from __future__ import annotations

import logging

from bridges.context import RelayContext
from bridges.discourse.forum_errors import ForumAuthError, ForumNotFound, ForumRejected
from bridges.formatting import title_from_text
from bridges.links import LinkConfig
from bridges.model import (
    ChatMessage,
    ChatRedaction,
    EventID,
    Platform,
    RoomID,
    TopicID,
    UserID,
)
from bridges.relay.chat_to_forum.chat_merging import Segments
from bridges.relay.chat_to_forum.chat_posting import ChatPosting, ForumAuthor, Located
from bridges.store.inbox import InboxRow
from bridges.store.mapping import Message
from policies.crossing import ignore, retract
from policies.decision import Decision, Outcome

log = logging.getLogger(__name__)

#: What a post says when its chat message was redacted but the post stays (a topic's first
#: post that others answered, or one the forum would not let porch delete).
REDACTED_TEXT = "(this message was deleted in chat by its sender)"


class ChatChanges:
    """Carries edits and redactions of chat messages to their forum posts."""

    def __init__(self, ctx: RelayContext, posting: ChatPosting) -> None:
        self.ctx = ctx
        self.posting = posting

    def _own_copy(
        self, row: InboxRow, link: LinkConfig, room_id: RoomID, event_id: EventID, actor: UserID
    ) -> Located | None:
        """The forum copy of a chat message, if ``actor`` wrote it (only authors change it)."""
        found = self.posting.locate(room_id, event_id)
        if found is None or found.head.origin is not Platform.CHAT or found.redacted:
            return None
        if found.sender != actor:
            log.info(
                "relay: %s changed %s, which they did not write; not carried", actor, event_id
            )
            self.ctx.audit(
                row,
                link,
                ignore("not-the-author", f"{actor} changed a message of {found.sender}"),
                actor,
            )
            return None
        return found

    # --- edits -----------------------------------------------------------------------------

    def edit(self, row: InboxRow, link: LinkConfig, msg: ChatMessage) -> None:
        assert msg.replaces is not None
        found = self._own_copy(row, link, msg.room_id, msg.replaces, msg.sender)
        if found is None:
            return
        decision, draft = self.posting.decide(row, link, msg, found.head.topic_id)
        if not decision.crosses:
            self.ctx.audit(row, link, decision, msg.sender)
            return
        head = found.head
        try:
            post = self.ctx.forum.get_post(head.post_id)
        except ForumNotFound:
            self.ctx.audit(row, link, decision, msg.sender)
            log.info("relay: post %s of %s is gone; edit not carried", head.post_id, msg.replaces)
            return
        author = self.posting.author_of_post(post, msg.room_id, msg.sender)
        published = self.posting.publish(
            decision, msg, author, self.posting.text(draft, msg, author.username)
        )
        self.ctx.audit(row, link, published.decision, msg.sender)
        author, text = published.author, published.text
        old_raw = str(post.get("raw") or "")
        parts = self.posting.parts.of_post(head.link, head.post_id) if found.part else []
        segments = self.posting.segments_of(old_raw, head, parts)
        if msg.replaces not in segments:
            log.info("relay: post %s no longer holds %s", head.post_id, msg.replaces)
            return
        # The first message of a relay post carries the heading that names its sender.
        first = segments.events[0] == msg.replaces
        old_text = segments.text_of(msg.replaces) or ""
        new_raw = segments.replaced(msg.replaces, author.raw(text) if first else text).render(
            msg.room_id
        )
        old_message = author.text_of(old_text) if first else old_text
        if new_raw.strip() != old_raw.strip():
            try:
                self.ctx.forum.edit_post(head.post_id, new_raw, as_user=author.username)
            except ForumRejected as exc:
                why = "; ".join(exc.messages) or str(exc)
                refused = Decision(Outcome.REFUSED, "forum-rejected", "forum", why)
                self.ctx.audit(row, link, refused, msg.sender)
                thread = self.ctx.store.mapping.thread_for_topic(head.link, head.topic_id)
                self.posting.notify(
                    row,
                    link,
                    msg,
                    None if thread is None else thread.root_event_id,
                    f"Edit not carried to the forum: {why}",
                    "edit-refused",
                )
                return
        if head.post_number == 1 and head.event_id == msg.replaces:
            self._retitle(link, head.topic_id, old_message, text, author)

    def _retitle(
        self,
        link: LinkConfig,
        topic_id: TopicID,
        old_text: str,
        new_text: str,
        author: ForumAuthor,
    ) -> None:
        """A chat-started topic's title follows its root's first line, unless someone on the
        forum chose another title since."""
        thread = self.ctx.store.mapping.thread_for_topic(link.name, topic_id)
        if thread is None or thread.origin is not Platform.CHAT:
            return
        old_title = title_from_text(old_text)
        new_title = title_from_text(new_text)
        if new_title == old_title:
            return
        current = str(self.ctx.forum.topic(thread.topic_id).get("title") or "")
        if current.strip() != old_title.strip():
            return
        try:
            self.ctx.forum.update_topic(thread.topic_id, as_user=author.username, title=new_title)
        except ForumRejected as exc:
            log.info("relay: topic %s keeps its title: %s", thread.topic_id, exc)

    # --- redactions ------------------------------------------------------------------------

    def redaction(self, row: InboxRow, link: LinkConfig, redaction: ChatRedaction) -> None:
        found = self._own_copy(row, link, redaction.room_id, redaction.redacts, redaction.sender)
        if found is None:
            return
        self.ctx.audit(row, link, retract("redacted"), redaction.sender)
        head = found.head
        parts = self.posting.parts.of_post(head.link, head.post_id) if found.part else []
        others = [p for p in parts if not p.redacted and p.event_id != redaction.redacts]
        if others:
            self._remove_part(row, link, redaction)
        else:
            self._delete(row, link, redaction, found)

    def _delete(
        self, row: InboxRow, link: LinkConfig, redaction: ChatRedaction, found: Located
    ) -> None:
        """Delete the post of a redacted message (or blank it where the forum keeps it).

        A relay post is deleted by porch's own (staff) account, so the forum trashes it and its
        edit history: a message withdrawn in chat must not stay readable there. A linked user's
        post is deleted as that user, under the forum's rules for its members. A topic's first
        post that others answered is blanked instead: deleting it would delete their replies.
        """
        head = found.head
        try:
            post = self.ctx.forum.get_post(head.post_id)
        except ForumNotFound:
            post = None
        if post is not None and not (post.get("deleted_at") or post.get("user_deleted")):
            author = self.posting.author_of_post(post, redaction.room_id, redaction.sender)
            if not self._remove_post(head, author):
                try:
                    self.ctx.forum.edit_post(head.post_id, REDACTED_TEXT, as_user=author.username)
                except ForumRejected as exc:
                    refused = Decision(Outcome.REFUSED, "forum-rejected", "forum", str(exc))
                    self.ctx.audit(row, link, refused, redaction.sender)
                    return
        self.ctx.store.mapping.set_redacted(head.room_id, head.event_id)
        if found.part is not None:
            self.posting.parts.set_redacted(redaction.room_id, redaction.redacts)

    def _remove_post(self, head: Message, author: ForumAuthor) -> bool:
        """Delete the post; False when the forum keeps it (or it must be kept)."""
        if head.post_number == 1:
            posts = self.ctx.forum.topic(head.topic_id).get("posts_count")
            if not isinstance(posts, int) or posts > 1:
                return False
        deleters = [author.username]
        if author.heading is not None:
            deleters.insert(0, self.ctx.discourse.api_username)
        for deleter in deleters:
            try:
                self.ctx.forum.delete_post(head.post_id, as_user=deleter)
                return True
            except ForumAuthError as exc:
                log.info("relay: %s may not delete post %s: %s", deleter, head.post_id, exc)
            except ForumRejected as exc:
                log.info("relay: post %s not deleted: %s", head.post_id, exc)
                return False
        return False

    def _remove_part(self, row: InboxRow, link: LinkConfig, redaction: ChatRedaction) -> None:
        """Take one message out of a merged post, keeping the others (and the heading)."""
        found = self.posting.locate(redaction.room_id, redaction.redacts)
        assert found is not None
        try:
            post = self.ctx.forum.get_post(found.head.post_id)
        except ForumNotFound:
            return
        author = self.posting.author_of_post(post, redaction.room_id, redaction.sender)
        parts = self.posting.parts.of_post(found.head.link, found.head.post_id)
        segments = self.posting.segments_of(str(post.get("raw") or ""), found.head, parts)
        if redaction.redacts in segments:
            kept: Segments
            if segments.events[0] == redaction.redacts and author.heading is not None:
                # The first part carries the heading naming the sender: keep only that.
                old = segments.text_of(redaction.redacts) or ""
                heading = old.partition("\n\n")[0]
                kept = segments.replaced(redaction.redacts, heading)
            else:
                kept = segments.without(redaction.redacts)
            try:
                self.ctx.forum.edit_post(
                    found.head.post_id, kept.render(redaction.room_id), as_user=author.username
                )
            except ForumRejected as exc:
                refused = Decision(Outcome.REFUSED, "forum-rejected", "forum", str(exc))
                self.ctx.audit(row, link, refused, redaction.sender)
                return
        self.posting.parts.set_redacted(redaction.room_id, redaction.redacts)
