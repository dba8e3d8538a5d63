"""Creating a forum post for a chat message once, even across crashes, and twice when the
chat said the same thing twice.

Two properties of Discourse shape this (read in discourse/discourse:
``app/controllers/posts_controller.rb``, ``app/models/post.rb``, ``lib/post_creator.rb``,
``lib/validators/post_validator.rb``, ``lib/validators/stripped_length_validator.rb``):

- ``PostsController#create`` memoizes an API request for 120 s
  (``DistributedMemoizer.memoize(signature_for(manager_params), 120)``): a repeat of the same
  parameters by the same user within that time gets the first answer, the same post. That
  makes a quick retry safe, but only a quick one: a worker that dies after the forum created
  the post and comes back later would post the message again.
- ``Validators::PostValidator#unique_post_validator`` refuses a post whose text one
  (non-staff) account already posted within ``unique_posts_mins`` (5 by default), in any
  topic: ``Post#store_unique_post_key`` keeps ``unique-post-<user id>:<SHA1 of raw>`` in Redis
  for that long once a post is created (deleting the post does not clear it), and the refusal
  is a 422 ``{"action": "create_post", "errors": ["Body is too similar to what you recently
  posted"]}`` (locale key ``just_posted_that``). Within the 120 s memo the same text in the
  same topic is not even refused: the earlier post comes back instead.

So porch writes an attempt (:mod:`bridges.store.forum_attempts`) before each post creation.
A message that has one when it is handled again may already be on the forum: only then the
topic's newest posts are read (:func:`find_earlier`), never in steady state, so the forum's
shared admin API budget is spent on look-ups only after a failure. And a message whose text the
same forum account posted recently gets an invisible mark (:func:`distinct`): an HTML comment,
which Discourse's length validator ignores (``StrippedLengthValidator.get_sanitized_value``
strips ``<!--...-->``) and its cooking does not show (the HTML sanitizer, js-xss, drops comments
unless ``allowCommentTag`` is set), so readers see the message as written, and the forum takes
it as a new post.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from bridges.context import RelayContext
from bridges.discourse.client import CreatedPost, EnqueuedPost, ForumClient
from bridges.discourse.forum_errors import ForumNotFound, ForumRateLimited, ForumRejected
from bridges.links import LinkConfig
from bridges.model import CategoryID, ChatMessage, EventID, PostID, TopicID
from bridges.relay.chat_to_forum.chat_posting import Published
from bridges.store.forum_attempts import Attempt, ForumAttempts
from bridges.store.inbox import InboxRow

log = logging.getLogger(__name__)

#: How far back a repeated text is looked for among porch's own attempts. Longer than any
#: sensible ``unique_posts_mins``: marking a message that did not need it costs nothing.
REPEAT_WINDOW = 24 * 3600.0
#: Posts older than the first attempt by more than this are not searched (porch's and the
#: forum's clocks may differ a little).
CLOCK_SLACK = 300.0
#: At most this many of the topic's newest posts are read when looking for an earlier post.
LOOK_BACK = 30
#: Discourse's ``just_posted_that`` message (English), the refusal of a repeated text.
TOO_SIMILAR = "too similar to what you recently posted"
#: Discourse's answer to a title in use (``allow_duplicate_topic_titles`` off), in English.
TITLE_TAKEN = "has already been used"


def digest(raw: str) -> str:
    """A digest of a post's text that ignores whitespace (Discourse strips and normalises it
    when it stores a post)."""
    return hashlib.sha256(" ".join(raw.split()).encode("utf-8")).hexdigest()


def distinct(raw: str, event_id: EventID) -> str:
    """``raw`` made unlike any other message's text by an invisible mark naming nothing: a
    digest of the Matrix event id, so a retry marks it the same way again."""
    mark = hashlib.sha256(event_id.encode("utf-8")).hexdigest()[:16]
    return f"{raw.rstrip()}\n\n<!-- porch:{mark} -->"


def is_too_similar(exc: ForumRejected) -> bool:
    """Whether the forum refused the post as a repeat of the account's recent text."""
    return any(TOO_SIMILAR in message.lower() for message in exc.messages)


def find_earlier(
    forum: ForumClient, attempt: Attempt, is_mapped: Callable[[PostID], bool]
) -> CreatedPost | None:
    """The post an earlier attempt created in its topic, if the forum has it.

    It is a post by the attempt's account, created no earlier than the attempt (less
    :data:`CLOCK_SLACK`), whose text has the attempt's digest, and that no other message is
    mapped to; the newest :data:`LOOK_BACK` posts of the topic are searched, newest first.
    """
    if attempt.topic_id is None:
        return None
    try:
        topic = forum.topic(attempt.topic_id)
    except ForumNotFound:
        return None
    stream_data = topic.get("post_stream")
    stream = stream_data if isinstance(stream_data, dict) else {}
    shown = {
        p.get("id"): p for p in stream.get("posts") or [] if isinstance(p, dict) and "id" in p
    }
    ids = [i for i in stream.get("stream") or [] if isinstance(i, int)]
    since = attempt.started_at - CLOCK_SLACK
    for post_id in reversed(ids[-LOOK_BACK:]):
        summary = shown.get(post_id)
        if summary is not None:
            created = _timestamp(summary.get("created_at"))
            if created is not None and created < since:
                break
            if str(summary.get("username") or "").lower() != attempt.username:
                continue
        try:
            post = forum.get_post(PostID(post_id))
        except ForumNotFound:
            continue
        created = _timestamp(post.get("created_at"))
        if created is not None and created < since:
            break
        if (
            str(post.get("username") or "").lower() == attempt.username
            and digest(str(post.get("raw") or "")) == attempt.raw_digest
            and not is_mapped(PostID(post_id))
        ):
            log.info(
                "relay: %s was posted before porch stopped (post %s); not posting again",
                attempt.event_id,
                post_id,
            )
            return _created(post, attempt.topic_id)
    return None


def find_earlier_topic(
    forum: ForumClient,
    attempt: Attempt,
    titles: Collection[str],
    is_mapped: Callable[[PostID], bool],
) -> CreatedPost | None:
    """The topic an earlier attempt opened (its first post), if the forum has it: one of
    ``titles``, created no earlier than the attempt (less :data:`CLOCK_SLACK`), opened by the
    attempt's account with the attempt's text, and not carrying another message. Only the
    first page of the forum's latest topics is searched."""
    since = attempt.started_at - CLOCK_SLACK
    wanted = {title.strip().lower() for title in titles}
    for summary in forum.latest_topics():
        created = _timestamp(summary.get("created_at"))
        if str(summary.get("title") or "").strip().lower() not in wanted or (
            created is not None and created < since
        ):
            continue
        try:
            topic = forum.topic(TopicID(int(summary["id"])))
        except (ForumNotFound, KeyError, TypeError, ValueError):
            continue
        stream = topic.get("post_stream")
        ids = stream.get("stream") if isinstance(stream, dict) else None
        if not ids or not isinstance(ids[0], int):
            continue
        try:
            post = forum.get_post(PostID(ids[0]))
        except ForumNotFound:
            continue
        if (
            post.get("post_number") == 1
            and str(post.get("username") or "").lower() == attempt.username
            and digest(str(post.get("raw") or "")) == attempt.raw_digest
            and not is_mapped(PostID(ids[0]))
        ):
            log.info(
                "relay: %s opened topic %s before porch stopped; not opening it again",
                attempt.event_id,
                topic.get("id"),
            )
            return _created(post, TopicID(int(summary["id"])))
    return None


def _created(post: dict[str, Any], topic_id: TopicID) -> CreatedPost:
    return CreatedPost(
        post_id=PostID(int(post["id"])),
        topic_id=TopicID(int(post.get("topic_id") or topic_id)),
        post_number=int(post["post_number"]),
        topic_slug=str(post.get("topic_slug") or ""),
        raw=str(post.get("raw") or ""),
    )


def _timestamp(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


#: What the audit log says of a message made distinct (it repeats its account's recent text).
MADE_DISTINCT = (
    "the same text as a recent message of this forum account, which the forum would refuse "
    "or answer with the earlier post; made distinct with an invisible mark"
)


class ForumOnce:
    """Post creations for chat messages: each once, repeated texts each on their own."""

    def __init__(self, ctx: RelayContext) -> None:
        self.ctx = ctx
        self.attempts = ForumAttempts(ctx.store.db)

    def prepare(self, msg: ChatMessage, published: Published) -> Published:
        """``published`` with an invisible mark when its account posted the same text within
        :data:`REPEAT_WINDOW` for another message; the decision's reason says so (audit)."""
        raw = published.author.raw(published.text)
        since = self.ctx.clock() - REPEAT_WINDOW
        if not self.attempts.repeated(
            published.author.username, digest(raw), since, other_than=msg.event_id
        ):
            return published
        return self._marked(msg, published)

    @staticmethod
    def _marked(msg: ChatMessage, published: Published) -> Published:
        decision = published.decision
        return replace(
            published,
            text=distinct(published.text, msg.event_id),
            decision=replace(decision, reason=f"{decision.reason}; {MADE_DISTINCT}"),
        )

    def create_reply(
        self,
        row: InboxRow,
        link: LinkConfig,
        msg: ChatMessage,
        published: Published,
        topic_id: TopicID,
        reply_to: int | None,
    ) -> CreatedPost | EnqueuedPost:
        """Create the reply carrying ``msg`` unless an earlier attempt already did.

        An earlier post is looked for only when this message has an attempt on record (it was
        handled before and did not finish). A forum refusal of the text as a repeat (of a post
        the account made on the forum itself), or the forum's memo answering with a post that
        carries another message, is answered by posting it made distinct, once.
        """
        username = published.author.username
        earlier = self.attempts.get(msg.event_id)
        if earlier is not None:
            found = find_earlier(self.ctx.forum, earlier, lambda post: self._mapped(link, post))
            if found is not None:
                return found
        return self._distinct_if_repeated(
            row,
            link,
            msg,
            published,
            lambda shown: self._create(
                msg, username, shown.author.raw(shown.text), topic_id, reply_to
            ),
        )

    def create_topic(
        self,
        row: InboxRow,
        link: LinkConfig,
        msg: ChatMessage,
        published: Published,
        titles: tuple[str, str],
        category_id: CategoryID,
        tags: Sequence[str],
    ) -> CreatedPost | EnqueuedPost:
        """Open the topic ``msg`` starts unless an earlier attempt already did.

        ``titles`` are the title and, for when the forum has that title already (chat
        openers repeat; ``allow_duplicate_topic_titles`` is off by default), the same made
        distinct by the message's time. Both depend on the message only, so a retry asks for
        the same again; an earlier topic is looked for only when the message has an attempt on
        record.
        """
        earlier = self.attempts.get(msg.event_id)
        if earlier is not None:
            found = find_earlier_topic(
                self.ctx.forum, earlier, titles, lambda post: self._mapped(link, post)
            )
            if found is not None:
                return found
        return self._distinct_if_repeated(
            row,
            link,
            msg,
            published,
            lambda shown: self._open(msg, shown, titles, category_id, tags),
        )

    def _distinct_if_repeated(
        self,
        row: InboxRow,
        link: LinkConfig,
        msg: ChatMessage,
        published: Published,
        post: Callable[[Published], CreatedPost | EnqueuedPost],
    ) -> CreatedPost | EnqueuedPost:
        """``post`` the text; when the forum refuses it as a repeat, or its memo answers with
        a post that carries another message, post it once more made distinct (audited)."""
        try:
            result = post(published)
            if not self._taken(link, result):
                return result
        except ForumRejected as exc:
            if not is_too_similar(exc):
                raise
        marked = self._marked(msg, published)
        self.ctx.audit(row, link, replace(marked.decision, rule="repeated-text"), msg.sender)
        return post(marked)

    def _open(
        self,
        msg: ChatMessage,
        published: Published,
        titles: tuple[str, str],
        category_id: CategoryID,
        tags: Sequence[str],
    ) -> CreatedPost | EnqueuedPost:
        username = published.author.username
        raw = published.author.raw(published.text)
        try:
            return self._ask(
                msg, username, raw, None, title=titles[0], category_id=category_id, tags=tags
            )
        except ForumRejected as exc:
            if not any(TITLE_TAKEN in m.lower() for m in exc.messages):
                raise
        return self._ask(
            msg, username, raw, None, title=titles[1], category_id=category_id, tags=tags
        )

    def _create(
        self,
        msg: ChatMessage,
        username: str,
        raw: str,
        topic_id: TopicID,
        reply_to: int | None,
    ) -> CreatedPost | EnqueuedPost:
        return self._ask(msg, username, raw, topic_id, reply_to_post_number=reply_to)

    def _ask(
        self,
        msg: ChatMessage,
        username: str,
        raw: str,
        topic_id: TopicID | None,
        **fields: Any,
    ) -> CreatedPost | EnqueuedPost:
        """``POST /posts``, with the attempt on record while the answer is unknown."""
        self.attempts.start(msg.event_id, username, topic_id, digest(raw), self.ctx.clock())
        try:
            return self.ctx.forum.create_post(
                as_user=username, raw=raw, topic_id=topic_id, **fields
            )
        except (ForumRejected, ForumRateLimited):
            # An answer that created nothing: a retry has no earlier post to look for (and
            # spends none of the forum's budget looking), and the text is not on the forum.
            self.attempts.forget(msg.event_id)
            raise

    def _taken(self, link: LinkConfig, result: CreatedPost | EnqueuedPost) -> bool:
        """Whether the forum answered with a post that carries another message already: its
        memo gave back the earlier post of an identical request."""
        return isinstance(result, CreatedPost) and self._mapped(link, result.post_id)

    def _mapped(self, link: LinkConfig, post_id: PostID) -> bool:
        return self.ctx.store.mapping.message_for_post(link.name, post_id) is not None
