"""Chat -> forum: messages in carried threads become replies in their topics.

- A message in a carried thread becomes a reply in its topic, a genuine reply
  (``reply_to_post_number``) when it answers a carried message; a plain reply to a carried
  message outside any thread belongs to that message's topic too.
- With ``topics_from_chat`` a top-level message starts a topic in the link's category and
  becomes its thread root; otherwise top-level messages stay in chat.
- With ``merge_window`` consecutive messages of one sender become one post
  (:mod:`bridges.relay.chat_to_forum.chat_merging`).
- Edits and redactions by the original sender follow
  (:mod:`bridges.relay.chat_to_forum.chat_changes`).

Thread model: ``docs/crossing.md``. Exactly once: a retried ``POST /posts`` with the same text
returns the first post (the forum's 120 s memo), a message handled again after a crash looks for
the post an earlier attempt made (:mod:`bridges.relay.chat_to_forum.forum_once`), and merging
recognises its own marker.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from bridges.context import RelayContext
from bridges.discourse.client import CreatedPost, EnqueuedPost
from bridges.discourse.forum_errors import ForumNotFound, ForumRejected
from bridges.formatting import title_from_text
from bridges.links import LinkConfig
from bridges.model import (
    ChatMessage,
    ChatRedaction,
    EventID,
    InboxPayload,
    Platform,
)
from bridges.relay.chat_to_forum.chat_changes import ChatChanges
from bridges.relay.chat_to_forum.chat_posting import ChatPosting, ForumAuthor
from bridges.relay.chat_to_forum.forum_once import ForumOnce
from bridges.review.forum_queue import ForumQueue
from bridges.store.inbox import InboxRow
from bridges.store.mapping import Message, Thread
from bridges.store.post_parts import Part
from policies.crossing import ignore
from policies.decision import Decision, Outcome

log = logging.getLogger(__name__)

#: Discourse's default ``min_topic_title_length`` and ``max_topic_title_length``.
TITLE_MIN = 15
TITLE_MAX = 255


def _dated(title: str, origin_server_ts: int) -> str:
    """``title`` made distinct by the time the message was sent (UTC, to the minute)."""
    sent = datetime.fromtimestamp(origin_server_ts / 1000, UTC).strftime("%Y-%m-%d %H:%M")
    suffix = f" ({sent} UTC)"
    if len(title) + len(suffix) > TITLE_MAX:
        title = title[: TITLE_MAX - len(suffix) - 1].rstrip() + "…"
    return title + suffix


class ToForum:
    """Delivers Matrix events into linked topics."""

    def __init__(
        self,
        ctx: RelayContext,
        posting: ChatPosting,
        changes: ChatChanges,
        once: ForumOnce,
        forum_queue: ForumQueue,
    ) -> None:
        self.ctx = ctx
        self.posting = posting
        self.changes = changes
        self.once = once
        self.forum_queue = forum_queue

    def handle(self, row: InboxRow, event: InboxPayload) -> None:
        if isinstance(event, ChatMessage):
            link = self.ctx.link_for_room(event.room_id)
            if link is None:
                return
            if event.replaces is not None:
                self.changes.edit(row, link, event)
            else:
                self._message(row, link, event)
        elif isinstance(event, ChatRedaction):
            link = self.ctx.link_for_room(event.room_id)
            if link is not None:
                self.changes.redaction(row, link, event)

    # --- new messages ----------------------------------------------------------------------

    def _message(self, row: InboxRow, link: LinkConfig, msg: ChatMessage) -> None:
        if self.posting.locate(msg.room_id, msg.event_id) is not None:
            return  # carried already: the homeserver sent it again
        thread = self._thread_of(msg)
        if thread is not None and thread.link != link.name:
            # A room in several links: the thread belongs to the link that carried it.
            link = next((lk for lk in self.ctx.links if lk.name == thread.link), link)
        if thread is None:
            if msg.thread_root is None and link.topics_from_chat:
                self._new_topic(row, link, msg)
                return
            reason = (
                "top-level chat messages stay in chat"
                if msg.thread_root is None
                else "the thread is not carried to the forum"
            )
            self.ctx.audit(row, link, ignore("not-a-carried-thread", reason), msg.sender)
            return
        decision, draft = self.posting.decide(row, link, msg, thread.topic_id)
        if not decision.crosses:
            self.ctx.audit(row, link, decision, msg.sender)
            return
        author = self.posting.author(msg)
        published = self.posting.publish(
            decision, msg, author, self.posting.text(draft, msg, author.username)
        )
        published = self.once.prepare(msg, published)
        self.ctx.audit(row, link, published.decision, msg.sender)
        author, text = published.author, published.text
        reply_to = self._reply_target(msg, thread)
        if reply_to is None and self._merge(link, thread, msg, author, text):
            return
        try:
            result = self.once.create_reply(row, link, msg, published, thread.topic_id, reply_to)
        except ForumRejected as exc:
            self._rejected(row, link, msg, thread.root_event_id, exc)
            return
        if isinstance(result, EnqueuedPost):
            self._held(
                row, link, msg, thread.root_event_id, result, author.username, author.raw(text)
            )
            return
        self.ctx.store.mapping.add_message(self._copy(link, msg, result), self.ctx.clock())
        self.posting.crossings.screening.flag(msg, result.post_id, draft.judged)
        if link.merge_window > 0:
            self._add_part(link, msg, result)

    def _thread_of(self, msg: ChatMessage) -> Thread | None:
        mapping = self.ctx.store.mapping
        if msg.thread_root is not None:
            return mapping.thread_for_root(msg.room_id, msg.thread_root)
        if msg.in_reply_to is not None:
            # A plain reply to a carried message belongs to that message's topic.
            target = self.posting.locate(msg.room_id, msg.in_reply_to)
            if target is not None:
                return mapping.thread_for_topic(target.head.link, target.head.topic_id)
        return None

    def _reply_target(self, msg: ChatMessage, thread: Thread) -> int | None:
        """The post number ``msg`` answers, when it answers a carried message of its topic."""
        if msg.in_reply_to is None:
            return None
        target = self.posting.locate(msg.room_id, msg.in_reply_to)
        if target is None or target.head.topic_id != thread.topic_id:
            return None
        return target.head.post_number

    # --- new topics ------------------------------------------------------------------------

    def _new_topic(self, row: InboxRow, link: LinkConfig, msg: ChatMessage) -> None:
        """A top-level message starts a topic in the link's category and becomes its root."""
        decision, draft = self.posting.decide(row, link, msg, None)
        if not decision.crosses:
            self.ctx.audit(row, link, decision, msg.sender)
            return
        author = self.posting.author(msg)
        published = self.posting.publish(
            decision,
            msg,
            author,
            self.posting.text(draft, msg, author.username),
            self.posting.title_source(draft),
        )
        published = self.once.prepare(msg, published)
        self.ctx.audit(row, link, published.decision, msg.sender)
        author, text = published.author, published.text
        title = title_from_text(
            published.title or text, min_length=TITLE_MIN, max_length=TITLE_MAX
        )
        # The link's tags and those of the watched words it contains (``tag`` words).
        tags = self.posting.crossings.screening.tags(draft.judged, link.forum.tags)
        try:
            category = self.ctx.category_of(link)
            # Chat openers repeat ("Hello everyone"); the forum wants unique titles. The dated
            # title depends on the message only, so a retry asks for the same title again.
            titles = (title, _dated(title, msg.origin_server_ts))
            result = self.once.create_topic(row, link, msg, published, titles, category, tags)
        except ForumRejected as exc:
            self._rejected(row, link, msg, None, exc)
            return
        if isinstance(result, EnqueuedPost):
            self._held(row, link, msg, None, result, author.username, author.raw(text))
            return
        thread = Thread(
            link.name, result.topic_id, msg.room_id, msg.event_id, result.post_id, Platform.CHAT
        )
        self.ctx.store.mapping.record_root(thread, self._copy(link, msg, result), self.ctx.clock())
        self.posting.crossings.screening.flag(msg, result.post_id, draft.judged)
        if link.merge_window > 0:
            self._add_part(link, msg, result)

    # --- merging ---------------------------------------------------------------------------

    def _merge(
        self, link: LinkConfig, thread: Thread, msg: ChatMessage, author: ForumAuthor, text: str
    ) -> bool:
        """Append ``msg`` to the sender's previous post if the link merges and it may; True
        when the message is now part of that post.

        Exactly once: the post's text is read first, and a segment marked with this very event
        (appended by an earlier attempt that died before recording it) is only recorded.
        Appending happens only while the previous post is the topic's latest, is the sender's
        (same account) and the message was sent within the window after the previous part.
        """
        window = link.merge_window
        if window <= 0 or msg.origin_server_ts <= 0:
            return False
        last = self.posting.parts.latest_of_sender(link.name, thread.topic_id, msg.sender)
        if last is None or not 0 <= msg.origin_server_ts / 1000 - last.sent_at <= window:
            return False
        head = self.ctx.store.mapping.message_for_post(link.name, last.post_id)
        if head is None or head.redacted or head.post_number == 1:
            return False  # (a topic's opening post stays what opened it)
        try:
            post = self.ctx.forum.get_post(last.post_id)
        except ForumNotFound:
            return False
        parts = self.posting.parts.of_post(link.name, last.post_id)
        raw = str(post.get("raw") or "")
        segments = self.posting.segments_of(raw, head, parts, also=msg.event_id)
        if msg.event_id in segments:
            self._add_part(link, msg, head)  # appended before; the record was lost
            return True
        latest = self.ctx.store.mapping.latest_in_thread(link.name, thread.topic_id)
        if (
            latest is None
            or latest.post_id != head.post_id
            or last.event_id not in segments
            or post.get("deleted_at")
            or post.get("user_deleted")
            or str(post.get("username") or "").lower() != author.username.lower()
        ):
            return False
        topic = self.ctx.forum.topic(thread.topic_id)
        if topic.get("highest_post_number") != head.post_number:
            return False  # someone posted on the forum in between
        try:
            self.ctx.forum.edit_post(
                head.post_id,
                segments.with_part(msg.event_id, text).render(msg.room_id),
                as_user=author.username,
            )
        except ForumRejected as exc:
            log.info("relay: could not append %s to post %s: %s", msg.event_id, head.post_id, exc)
            return False
        self._add_part(link, msg, head)
        return True

    def _add_part(self, link: LinkConfig, msg: ChatMessage, post: CreatedPost | Message) -> None:
        self.posting.parts.add(
            Part(
                link.name,
                post.post_id,
                post.topic_id,
                msg.room_id,
                msg.event_id,
                msg.sender,
                msg.origin_server_ts / 1000,
            ),
            self.ctx.clock(),
        )

    # --- outcomes --------------------------------------------------------------------------

    @staticmethod
    def _copy(link: LinkConfig, msg: ChatMessage, post: CreatedPost) -> Message:
        return Message(
            link.name,
            post.post_id,
            post.topic_id,
            post.post_number,
            msg.room_id,
            msg.event_id,
            msg.sender,
            Platform.CHAT,
            False,
        )

    def _held(
        self,
        row: InboxRow,
        link: LinkConfig,
        msg: ChatMessage,
        thread_root: EventID | None,
        post: EnqueuedPost,
        username: str,
        raw: str,
    ) -> None:
        """The forum queued the post for its moderators: record it and tell the sender; its
        ``reviewable_*`` webhooks are followed (:mod:`bridges.review.forum_queue`)."""
        self.forum_queue.follow(row, link, msg, thread_root, post, username, raw)
        held = Decision(
            Outcome.HELD, "forum-review-queue", "forum", post.reason or "awaits approval"
        )
        self.ctx.audit(row, link, held, msg.sender)
        self.posting.notify(
            row,
            link,
            msg,
            thread_root,
            "Sent to the forum; it will appear there once a moderator approves it.",
            "held",
        )

    def _rejected(
        self,
        row: InboxRow,
        link: LinkConfig,
        msg: ChatMessage,
        thread_root: EventID | None,
        exc: ForumRejected,
    ) -> None:
        """The forum refused the post for good: record it and tell the sender."""
        why = "; ".join(exc.messages) or str(exc)
        refused = Decision(Outcome.REFUSED, "forum-rejected", "forum", why)
        self.ctx.audit(row, link, refused, msg.sender)
        self.posting.notify(
            row, link, msg, thread_root, f"Not posted to the forum: {why}", "refused"
        )
