"""Chat messages the forum put in its own review queue, followed until a moderator decides.

Where porch posts as the sender (a linked account) the forum's own rules apply to them: a
category that requires approval, a watched word, a new user's first posts. The forum then
answers ``{"action": "enqueued", "pending_post": {"id": ...}}`` instead of a post
(``docs/moderation.md``, "Review queue"); the pending post's id is its reviewable's id. Porch
remembers it (:meth:`ForumQueue.follow`) and follows the forum's ``reviewable_*`` webhooks:

- approved: the forum creates the post (it names it, ``post_id``) and sends ``post_created``;
  porch records that post as the message's copy, so the ``post_created`` is known as porch's
  own and nothing is carried twice. Webhooks may arrive in any order: a ``post_created`` that
  comes first is matched to the followed message by its author, topic and text
  (:meth:`ForumQueue.claim`).
- rejected (or deleted): the message never reaches the forum; the audit log says so.
"""

from __future__ import annotations

import logging

from bridges.context import RelayContext
from bridges.discourse.client import EnqueuedPost
from bridges.links import LinkConfig
from bridges.model import (
    ChatMessage,
    EventID,
    ForumPost,
    ForumReviewable,
    LinkName,
    Platform,
    PostID,
    RoomID,
    TopicID,
    UserID,
)
from bridges.store.inbox import InboxRow
from bridges.store.mapping import Message, Thread
from bridges.store.review import APPROVED, PENDING, REJECTED, ForumQueued
from policies.decision import Decision, Outcome

log = logging.getLogger(__name__)

#: The forum's statuses that end a reviewable without a post (Reviewable.statuses).
_CLOSED = frozenset({"rejected", "deleted", "ignored"})
RULE = "forum-review-queue"


class ForumQueue:
    """Posts the forum queued for its moderators, and the answers it sends about them."""

    def __init__(self, ctx: RelayContext) -> None:
        self.ctx = ctx
        self.queue = ctx.store.review

    def follow(
        self,
        row: InboxRow,
        link: LinkConfig,
        msg: ChatMessage,
        thread_root: EventID | None,
        post: EnqueuedPost,
        username: str,
        raw: str,
    ) -> None:
        """Remember a message the forum answered ``enqueued`` for (once)."""
        if post.pending_post_id is None:
            log.warning("review: the forum queued %s without naming it", msg.event_id)
            return
        topic_id = None
        if thread_root is not None:
            thread = self.ctx.store.mapping.thread_for_root(msg.room_id, thread_root)
            topic_id = None if thread is None else thread.topic_id
        self.queue.follow(
            ForumQueued(
                reviewable_id=post.pending_post_id,
                inbox_id=row.id,
                link=link.name,
                room_id=msg.room_id,
                event_id=msg.event_id,
                sender=msg.sender,
                thread_root=thread_root,
                topic_id=topic_id,
                username=username,
                raw=raw,
                created_at=self.ctx.clock(),
            )
        )

    def reviewable(self, row: InboxRow, event: ForumReviewable) -> None:
        """The forum's moderators decided (or have yet to) on a followed post."""
        queued = self.queue.queued(event.reviewable_id)
        if queued is None or queued.state != PENDING:
            return
        status = event.status
        if status == APPROVED and event.post_id is not None:
            self._approved(row, queued, event.post_id)
        elif status in _CLOSED and self.queue.settle_queued(
            queued.reviewable_id, REJECTED, self.ctx.clock()
        ):
            self._audit(
                row,
                queued,
                Outcome.REFUSED,
                f"{status} on the forum's review queue (reviewable {queued.reviewable_id})",
            )

    def claim(self, row: InboxRow, link: LinkConfig, post: ForumPost) -> bool:
        """Whether ``post`` (a ``post_created``) is a followed message the forum approved
        before porch heard of the approval; if so it is recorded as that message's copy.

        Known by what porch sent: the same account, the same text, in the same topic (or as a
        new topic's first post).
        """
        for queued in self.queue.queued_items((PENDING,)):
            if (
                queued.link != link.name
                or queued.username.lower() != post.author.username.lower()
                or queued.raw.strip() != post.raw.strip()
            ):
                continue
            if queued.topic_id is None and queued.thread_root is not None:
                continue  # its topic was not known: only the forum's word settles it
            same_place = (
                queued.topic_id == post.topic_id
                if queued.topic_id is not None
                else post.is_first_post
            )
            if same_place:
                self._approved(row, queued, post.post_id, post)
                return True
        return False

    def _approved(
        self, row: InboxRow, queued: ForumQueued, post_id: int, post: ForumPost | None = None
    ) -> None:
        if post is None:
            found = self.ctx.forum.get_post(PostID(post_id))
            topic_id = TopicID(int(found["topic_id"]))
            post_number = int(found.get("post_number") or 1)
        else:
            topic_id, post_number = post.topic_id, post.post_number
        link = LinkName(queued.link)
        copy = Message(
            link,
            PostID(post_id),
            topic_id,
            post_number,
            RoomID(queued.room_id),
            EventID(queued.event_id),
            UserID(queued.sender),
            Platform.CHAT,
            False,
        )
        mapping = self.ctx.store.mapping
        if mapping.message_for_post(link, PostID(post_id)) is None:
            if queued.thread_root is None and post_number == 1:
                thread = Thread(
                    link,
                    topic_id,
                    RoomID(queued.room_id),
                    EventID(queued.event_id),
                    PostID(post_id),
                    Platform.CHAT,
                )
                mapping.record_root(thread, copy, self.ctx.clock())
            else:
                mapping.add_message(copy, self.ctx.clock())
        if self.queue.settle_queued(queued.reviewable_id, APPROVED, self.ctx.clock(), post_id):
            self._audit(
                row,
                queued,
                Outcome.CARRIED,
                f"approved on the forum's review queue (reviewable {queued.reviewable_id}, "
                f"post {post_id})",
            )

    def _audit(self, row: InboxRow, queued: ForumQueued, outcome: Outcome, why: str) -> None:
        link = next((lk for lk in self.ctx.links if lk.name == queued.link), None)
        self.ctx.audit(row, link, Decision(outcome, RULE, "forum", why), "forum")
