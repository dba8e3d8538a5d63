"""The watcher: reads each event the relay has decided and delivered, as every watch sees it.

Hooked after :meth:`bridges.relay.router.Relay.route` (the ``observers`` of
:class:`bridges.relay.components.RelayComponents`), so it sees what the relay saw, once the
copies exist: the forum topic and the Matrix thread can both be linked from an alert. For
each watch it:

1. checks access first: each of the watch's forum groups must be entitled to read the post's
   category; a chat message is read by its room first, so it counts only where the room is no
   more closed than its link's category (an invite-only room linked to an open category feeds
   no watch); unknown readers or tiers mean the watch sees nothing;
2. checks the watch's scope (categories, tags, rooms, author groups) and its terms
   (:mod:`policies.watching`);
3. records the activity (once per inbox event: a retried event counts once);
4. raises a ``match`` alert for a post that hits a term, and a threshold alert
   (``burst``, ``participants``, ``trending``) when the thread's activity crosses one; each at
   most once per thread and kind (durable), held until quiet hours end or folded into the
   digest (``watching.quiet_hours.mode``).

A topic that is edited (moved to another category, renamed) carries what the watches saw of it
along, so that a topic moved behind a wall is shown only to those who may read it there; a
deleted topic is forgotten.

Thresholds count a thread's in-scope activity; a watch with terms applies them only to threads
where a term was hit at least once.

Watching never holds up delivery: a failure here is logged and the event completes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from bridges.context import RelayContext
from bridges.discourse.client import tag_names
from bridges.model import (
    ChatMessage,
    EventKind,
    ForumPost,
    ForumTopic,
    ForumUsername,
    InboxPayload,
    TopicID,
)
from bridges.store.inbox import InboxRow
from bridges.store.link_requests import IdentityGroups
from bridges.store.tier_records import CategorySecurity
from bridges.store.watch_records import Activity, WatchRecords
from bridges.watching.alerts import raise_alert
from bridges.watching.watching_config import WatchConfig, WatchingConfig
from policies.watching import (
    EVERYONE,
    AlertKind,
    Observation,
    chat_readers,
    crossed,
    in_scope,
    keywords,
    matched_terms,
    readable_by_all,
)

log = logging.getLogger(__name__)

#: How far back a thread's history counts for its thresholds and baseline.
HISTORY = 30 * 86400.0


@dataclass(frozen=True, slots=True)
class Seen:
    """One event as watching sees it, before any watch looks at it."""

    observation: Observation
    readers: frozenset[str] | None
    thread: str
    at: float
    topic_id: int | None
    room_id: str | None
    event_id: str | None
    link: str | None
    forum_url: str | None
    matrix_url: str | None


def matrix_to(room_id: str, event_id: str | None = None) -> str:
    """A https://matrix.to link to a room, or to an event in it."""
    url = f"https://matrix.to/#/{quote(room_id, safe='!:@#')}"
    if event_id:
        url += f"/{quote(event_id, safe='$:')}"
    return url


class Watcher:
    """Observes decided events for every configured watch."""

    def __init__(
        self,
        ctx: RelayContext,
        config: WatchingConfig,
        on_raised: Callable[[], None],
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.ctx = ctx
        self.config = config
        self.records = WatchRecords(ctx.store.db)
        self.groups = IdentityGroups(ctx.store.db)
        #: Wakes the sender (:mod:`bridges.watching.runner`): alerts go out from its thread,
        #: so that a slow mail server never slows the relay down.
        self.on_raised = on_raised
        self.clock = clock or ctx.clock
        self._need_tags = any(w.tags for w in config.watches)
        self._need_groups = any(w.author_groups for w in config.watches)
        self._base = ctx.discourse.base_url
        appservice = ctx.matrix.appservice
        self._ghosts = None if appservice is None else re.compile(ctx.matrix.ghost_regex())

    def __call__(self, row: InboxRow, event: InboxPayload) -> None:
        """The relay's observer hook; never raises."""
        if not self.config.watches:
            return
        try:
            self.observe(row, event)
        except Exception:
            log.exception("watching: could not observe event %d", row.id)

    def observe(self, row: InboxRow, event: InboxPayload) -> None:
        """Record what each watch sees of ``event`` and raise its alerts."""
        seen: Seen | None = None
        if isinstance(event, ForumTopic):
            self._topic(row, event)
            return
        if isinstance(event, ForumPost) and row.kind is EventKind.POST_CREATED:
            seen = self._forum_post(event)
        elif isinstance(event, ChatMessage) and row.kind is EventKind.CHAT_MESSAGE:
            seen = self._chat_message(event)
        if seen is None:
            return
        raised = False
        for watch in self.config.watches:
            raised |= self._for_watch(watch, row, seen)
        if raised:
            self.on_raised()

    # --- what an event is -------------------------------------------------------------------

    def _topic(self, row: InboxRow, topic: ForumTopic) -> None:
        if row.kind is EventKind.TOPIC_DESTROYED or topic.deleted:
            self.records.forget_topic(int(topic.topic_id))
        elif row.kind is EventKind.TOPIC_EDITED:
            category = None if topic.category_id is None else int(topic.category_id)
            self.records.topic_changed(int(topic.topic_id), category, topic.title)

    def _forum_post(self, post: ForumPost) -> Seen | None:
        if post.is_private_message or post.post_type != 1:
            return None
        if post.author.username.lower() == self.ctx.discourse.relay_username.lower():
            # A chat message porch posted: watched as the chat message it came from.
            return None
        links = [
            lk for lk in self.ctx.links if lk.forum.matches(post.category_id, post.category_slug)
        ]
        security = None if post.category_id is None else self.ctx.tiers.category(post.category_id)
        readers = _readers(security)
        tags: frozenset[str] = frozenset()
        if self._need_tags:
            tags = frozenset(tag_names(self.ctx.forum.topic(post.topic_id).get("tags")))
        author_groups = self._forum_groups(post.author.username) if self._need_groups else None
        room_refs: set[str] = set()
        matrix_url = None
        link = links[0] if links else None
        for lk in links:
            room_refs.add(lk.room)
            thread = self.ctx.store.mapping.thread_for_topic(lk.name, post.topic_id)
            if thread is not None:
                room_refs.add(thread.room_id)
                if matrix_url is None:
                    link = lk
                    message = self.ctx.store.mapping.message_for_post(lk.name, post.post_id)
                    event = message.event_id if message is not None else thread.root_event_id
                    matrix_url = matrix_to(thread.room_id, event)
        base = self.ctx.discourse.base_url
        observation = Observation(
            text=post.raw,
            title=post.topic_title,
            category_id=post.category_id,
            category_slug=post.category_slug,
            tags=tags,
            room_refs=frozenset(room_refs),
            author=post.author.username,
            author_groups=author_groups,
        )
        return Seen(
            observation=observation,
            readers=readers,
            thread=f"topic:{post.topic_id}",
            at=self.clock(),
            topic_id=int(post.topic_id),
            room_id=None if matrix_url is None or link is None else self.ctx.room_of(link),
            event_id=None,
            link=None if link is None else link.name,
            forum_url=f"{base}/t/{post.topic_slug}/{post.topic_id}/{post.post_number}",
            matrix_url=matrix_url,
        )

    def _chat_message(self, msg: ChatMessage) -> Seen | None:
        if msg.replaces is not None or msg.msgtype == "m.notice":
            return None
        if msg.sender == self.ctx.chat.bot_user_id or (
            self._ghosts is not None and self._ghosts.match(msg.sender)
        ):
            return None
        link = self.ctx.link_for_room(msg.room_id)
        if link is None:
            return None
        category = self.ctx.category_of(link)
        security = self.ctx.tiers.category(category)
        # The room's members read it first: an invite-only room linked to an open category
        # is not read by the category's readers (the more closed of the two decides).
        readers = chat_readers(
            _readers(security),
            None if security is None else security.tier,
            self.ctx.tiers.room_tier(msg.room_id),
        )
        root = msg.thread_root or msg.event_id
        thread = self.ctx.store.mapping.thread_for_root(msg.room_id, root)
        topic_id = None if thread is None else int(thread.topic_id)
        title = None
        if thread is not None and self._need_tags:
            topic = self.ctx.forum.topic(TopicID(topic_id or 0))
            tags = frozenset(tag_names(topic.get("tags")))
        else:
            tags = frozenset(link.forum.tags)
        if thread is not None:
            title = self._title(thread.topic_id)
        author_groups = None
        if self._need_groups:
            identity = self.ctx.store.identities.by_matrix_user(msg.sender)
            author_groups = (
                frozenset() if identity is None else self.groups.of(msg.sender) | {EVERYONE}
            )
        observation = Observation(
            text=msg.body,
            title=title,
            category_id=int(category),
            category_slug=None if isinstance(link.forum.category, int) else link.forum.category,
            tags=tags,
            room_refs=frozenset({msg.room_id, link.room}),
            author=msg.sender,
            author_groups=author_groups,
        )
        base = self.ctx.discourse.base_url
        return Seen(
            observation=observation,
            readers=readers,
            thread=f"topic:{topic_id}" if topic_id is not None else f"room:{msg.room_id}:{root}",
            at=self.clock(),
            topic_id=topic_id,
            room_id=msg.room_id,
            event_id=msg.event_id,
            link=link.name,
            forum_url=None if topic_id is None else f"{base}/t/{topic_id}",
            matrix_url=matrix_to(msg.room_id, msg.event_id),
        )

    def _title(self, topic_id: int) -> str | None:
        try:
            return str(self.ctx.forum.topic(TopicID(topic_id)).get("title") or "") or None
        except Exception:
            return None

    def _forum_groups(self, username: str) -> frozenset[str] | None:
        try:
            user = self.ctx.forum.user(ForumUsername(username))
        except Exception as exc:
            log.info("watching: groups of %s unknown (%s)", username, exc)
            return None
        groups = {
            str(g["name"])
            for g in user.get("groups") or ()
            if isinstance(g, dict) and isinstance(g.get("name"), str)
        }
        return frozenset(groups | {EVERYONE})

    # --- one watch --------------------------------------------------------------------------

    def _for_watch(self, watch: WatchConfig, row: InboxRow, seen: Seen) -> bool:
        # The watch's alerts and digests reach all of its groups at once: record only what
        # each of them may read.
        if not readable_by_all(seen.readers, watch.groups):
            return False
        rule = watch.rule()
        if not in_scope(rule.scope, seen.observation):
            return False
        terms = matched_terms(rule.terms, seen.observation)
        activity = Activity(
            watch=watch.name,
            inbox_id=row.id,
            at=seen.at,
            thread=seen.thread,
            author=seen.observation.author,
            terms=terms,
            title=seen.observation.title,
            topic_id=seen.topic_id,
            category_id=seen.observation.category_id,
            room_id=seen.room_id,
            event_id=seen.event_id,
            link=seen.link,
            forum_url=seen.forum_url,
            matrix_url=seen.matrix_url,
            words=keywords(seen.observation.text),
        )
        if not self.records.record(activity):
            return False
        body = {
            "watch": watch.name,
            "thread": seen.thread,
            "title": seen.observation.title,
            "forum_url": seen.forum_url,
            "matrix_url": seen.matrix_url,
            "terms": list(terms),
            "author": seen.observation.author,
            # What the destinations are checked against when it is sent
            # (:mod:`bridges.watching.sinks`), and the link that is all a reader without the
            # tier gets: no slug, which is the title.
            "source": {
                "category_id": seen.observation.category_id,
                "chat_room_id": seen.room_id if seen.event_id is not None else None,
            },
            "withheld_url": None if seen.topic_id is None else f"{self._base}/t/{seen.topic_id}",
        }
        raised = False
        if terms:
            raised |= self._raise(watch, seen.thread, AlertKind.MATCH, {**body, "detail": ""})
        history = self.records.activity(watch.name, since=seen.at - HISTORY, thread=seen.thread)
        if rule.terms and not any(a.terms for a in history):
            return raised
        participants = len({a.author for a in history})
        for hit in crossed(rule.thresholds, [a.at for a in history], participants, seen.at):
            raised |= self._raise(watch, seen.thread, hit.kind, {**body, "detail": hit.detail})
        return raised

    def _raise(
        self, watch: WatchConfig, thread: str, kind: AlertKind, body: dict[str, object]
    ) -> bool:
        raised = raise_alert(
            self.records, self.config, watch.name, thread, kind, body, self.clock()
        )
        if raised:
            log.info("watching: %s alert for %s on watch %s", kind.value, thread, watch.name)
        return raised


def _readers(security: CategorySecurity | None) -> frozenset[str] | None:
    """The category's reading groups; ``None`` when unknown (never read, or a restricted
    category whose groups the forum did not show)."""
    if security is None:
        return None
    if security.read_restricted and security.group_permissions is None:
        return None
    return security.readers
