"""Forum -> chat: topics become threads, posts become thread messages from their authors' ghosts.

Thread model (docs/crossing.md): the root event is sent by the topic author's ghost and shows
the title, the first post and a link to the topic; each later post is a message in that thread
(``rel_type: m.thread``), a genuine ``m.in_reply_to`` when it replies to a carried post.
See https://spec.matrix.org/v1.13/client-server-api/#threading

- Uploads in a post follow its text as ``m.image`` / ``m.file`` events
  (:mod:`bridges.relay.forum_to_chat.forum_media`).
- ``post_edited`` becomes an ``m.replace`` from the same ghost; an edited first post or title
  (``topic_edited``) replaces the thread root. Only the author's edits of a post are carried
  (:mod:`bridges.relay.forum_to_chat.forum_edits`).
- ``post_destroyed``, the author's own delete (the "(post deleted by author)" rewrite, never
  shown as an edit) and ``topic_destroyed`` redact the copy and its media; ``post_recovered``
  carries the post again as a new event (a recovered first post becomes the thread's new root).
- Every send goes through :func:`bridges.relay.forum_to_chat.send_once.send_once`: once per step,
  even across a homeserver restart.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from typing import Any

from bridges.context import RelayContext
from bridges.discourse.media_paths import FileKind, forum_file
from bridges.formatting import MatrixContent, forum_to_matrix
from bridges.links import LinkConfig
from bridges.matrix.bot_format import name_author
from bridges.membership.ghost_gate import GhostRefused
from bridges.model import (
    Author,
    CategoryID,
    ContentURI,
    EventID,
    EventKind,
    ForumPost,
    ForumTopic,
    ForumUsername,
    InboxPayload,
    Platform,
    PostID,
    RoomID,
    TopicID,
    UserID,
)
from bridges.relay.crossings import Crossings, Shown, Verdict
from bridges.relay.forum_to_chat.forum_edits import foreign_edit
from bridges.relay.forum_to_chat.forum_media import ForumMedia, uploads_in
from bridges.relay.forum_to_chat.forum_retraction import Retraction
from bridges.relay.forum_to_chat.send_once import send_once, txn_id
from bridges.review.forum_queue import ForumQueue
from bridges.store.inbox import InboxRow
from bridges.store.mapping import Message, Thread
from policies.crossing import ignore
from policies.decision import Outcome

log = logging.getLogger(__name__)

#: What the forum writes over a post its non-staff author deletes (``PostDestroyer``,
#: ``js.post.deleted_by_author_simple`` and ``js.topic.deleted_by_author_simple`` in English);
#: the ``post_edited`` that carries it may come before ``user_deleted`` is set.
SELF_DELETE_TEXTS = frozenset({"(post deleted by author)", "(topic deleted by author)"})


class ToMatrix:
    """Delivers forum events into linked rooms."""

    def __init__(
        self,
        ctx: RelayContext,
        crossings: Crossings,
        media: ForumMedia,
        retraction: Retraction,
        forum_queue: ForumQueue,
        admits: Callable[[UserID, RoomID], None],
    ) -> None:
        self.ctx = ctx
        self.media = media
        self.crossings = crossings
        self.forum_queue = forum_queue
        self.retraction = retraction
        #: Whether the author's ghost may be in a link's room
        #: (:mod:`bridges.membership.ghost_gate`).
        self.admits = admits

    def handle(self, row: InboxRow, event: InboxPayload) -> None:
        if isinstance(event, ForumPost):
            if row.kind is EventKind.POST_CREATED:
                self._created(row, event)
            elif row.kind is EventKind.POST_EDITED:
                self._edited(row, event)
            elif row.kind is EventKind.POST_DESTROYED:
                self._destroyed(
                    row, event, "deleted-by-author" if event.user_deleted else "deleted"
                )
            elif row.kind is EventKind.POST_RECOVERED:
                self._recovered(row, event)
        elif isinstance(event, ForumTopic):
            if row.kind is EventKind.TOPIC_EDITED:
                self._topic_edited(row, event)
            elif row.kind is EventKind.TOPIC_DESTROYED:
                self._topic_destroyed(row, event)
            elif row.kind is EventKind.TOPIC_RECOVERED:
                self._topic_recovered(row, event)

    # --- new posts -----------------------------------------------------------------------------

    def _created(self, row: InboxRow, post: ForumPost) -> None:
        for link in self._links_for(post):
            carried = self.ctx.store.mapping.message_for_post(link.name, post.post_id)
            if carried is not None:
                # Written by porch itself (an echo), or carried already: then only what an
                # interrupted delivery did not finish (its media events) is left to send.
                if carried.origin is Platform.FORUM and not carried.redacted:
                    self._finish_media(row, link, carried, post)
                continue
            if self.forum_queue.claim(row, link, post):
                continue  # a message porch posted that the forum's moderators approved
            if post.author.username.lower() == self.ctx.discourse.relay_username.lower():
                self.ctx.audit(
                    row, link, ignore("echo", "posted by porch's relay account"), "porch"
                )
                continue
            if self._withdrawn(row, link, post.topic_id, post.author.username):
                continue
            verdict = self._admitted(link, post, self._decide(row, link, post))
            self.ctx.audit(row, link, verdict.decision, post.author.username)
            if verdict.shown is None:
                continue
            room = self.ctx.room_of(link)
            if post.is_first_post:
                self._send_root(row, link, room, post, verdict.shown)
            else:
                thread = self.ctx.store.mapping.thread_for_topic(link.name, post.topic_id)
                if thread is None:
                    thread = self._adopt_topic(row, link, room, post.topic_id)
                if thread is not None:
                    self._send_reply(row, link, room, thread, post, verdict.shown)

    def _admitted(self, link: LinkConfig, post: ForumPost, verdict: Verdict) -> Verdict:
        """The verdict, refused when the copy's sender, the author's ghost, may not be in the
        link's room (:mod:`bridges.membership.ghost_gate`); a fact unknown raises RetryLater."""
        if verdict.shown is None or verdict.shown.alias is not None:
            return verdict
        try:
            self.admits(self.ctx.ghosts.user_id_for(post.author.username), self.ctx.room_of(link))
        except GhostRefused as refused:
            return Verdict(refused.decision())
        return verdict

    def _links_for(self, post: ForumPost) -> list[LinkConfig]:
        links = [
            link
            for link in self.ctx.links
            if link.forum.matches(post.category_id, post.category_slug)
        ]
        if any(link.forum.tags for link in links):
            tags = set(self.ctx.forum.topic(post.topic_id).get("tags") or ())
            tags = {t if isinstance(t, str) else str(t.get("name", "")) for t in tags}
            links = [lk for lk in links if not lk.forum.tags or tags & set(lk.forum.tags)]
        return links

    def _decide(
        self, row: InboxRow, link: LinkConfig, post: ForumPost, title: str | None = None
    ) -> Verdict:
        """The policies' verdict on carrying ``post`` over ``link``
        (:mod:`bridges.relay.crossings`); a first post's copy shows ``title`` (by default the
        topic's)."""
        if title is None and post.is_first_post:
            title = post.topic_title
        return self.crossings.forum_post(row, link, post, title)

    def _send_root(
        self, row: InboxRow, link: LinkConfig, room: RoomID, post: ForumPost, shown: Shown
    ) -> Thread:
        ghost = self._sender(post.author, room, shown)
        content = self._root_content(post, post.topic_title, shown)
        event_id = self._send(row, room, content, ghost, txn_id(row, link, "root"))
        thread = Thread(link.name, post.topic_id, room, event_id, post.post_id, Platform.FORUM)
        root = Message(
            link.name,
            post.post_id,
            post.topic_id,
            post.post_number,
            room,
            event_id,
            ghost,
            Platform.FORUM,
            False,
        )
        self.ctx.store.mapping.record_root(thread, root, self.ctx.clock())
        self.media.sync(row, link, room, event_id, event_id, post, ghost, shown)
        return thread

    def _send_reply(
        self,
        row: InboxRow,
        link: LinkConfig,
        room: RoomID,
        thread: Thread,
        post: ForumPost,
        shown: Shown,
    ) -> None:
        mapping = self.ctx.store.mapping
        ghost = self._sender(post.author, room, shown)
        content = self._post_content(post, shown)
        target = None
        if post.reply_to_post_number is not None:
            target = mapping.message_for_post_number(
                link.name, post.topic_id, post.reply_to_post_number
            )
        relation: dict[str, Any] = {"rel_type": "m.thread", "event_id": thread.root_event_id}
        if target is not None:
            relation["is_falling_back"] = False
            relation["m.in_reply_to"] = {"event_id": target.event_id}
        else:
            # For clients without threads: a fallback reply to the latest message.
            latest = mapping.latest_in_thread(link.name, post.topic_id)
            fallback = latest.event_id if latest is not None else thread.root_event_id
            relation["is_falling_back"] = True
            relation["m.in_reply_to"] = {"event_id": fallback}
        content["m.relates_to"] = relation
        event_id = self._send(row, room, content, ghost, txn_id(row, link, "post"))
        mapping.add_message(
            Message(
                link.name,
                post.post_id,
                post.topic_id,
                post.post_number,
                room,
                event_id,
                ghost,
                Platform.FORUM,
                False,
            ),
            self.ctx.clock(),
        )
        self.media.sync(row, link, room, thread.root_event_id, event_id, post, ghost, shown)

    def _finish_media(
        self, row: InboxRow, link: LinkConfig, carried: Message, post: ForumPost
    ) -> None:
        thread = self.ctx.store.mapping.thread_for_topic(link.name, post.topic_id)
        if thread is None or not uploads_in(post.cooked, self.ctx.discourse.base_url):
            return
        # The decision the text went out under is not kept: the media follow the same one,
        # taken again (as on a retry before the text went out), and nothing if it no longer
        # lets the post cross.
        verdict = self._decide(row, link, post)
        if verdict.shown is None:
            return
        root = thread.root_event_id
        self.media.sync(
            row,
            link,
            carried.room_id,
            root,
            carried.event_id,
            post,
            carried.sender,
            verdict.shown,
            remove=False,
        )

    def _adopt_topic(
        self, row: InboxRow, link: LinkConfig, room: RoomID, topic_id: TopicID
    ) -> Thread | None:
        """Start the thread of a topic that began before porch carried it (first reply since)."""
        topic = self.ctx.forum.topic(topic_id)
        posts = topic.get("post_stream", {}).get("posts") or []
        if not posts or posts[0].get("post_number") != 1:
            log.warning("relay: topic %s has no first post to start its thread from", topic_id)
            return None
        first = _post_from_topic_view(topic, posts[0])
        if self.ctx.store.mapping.message_for_post(link.name, first.post_id) is not None:
            return self.ctx.store.mapping.thread_for_topic(link.name, topic_id)
        verdict = self._decide(row, link, first)
        self.ctx.audit(row, link, verdict.decision, first.author.username)
        if verdict.shown is None:
            return None
        return self._send_root(row, link, room, first, verdict.shown)

    # --- changes to carried posts --------------------------------------------------------------

    def _edited(self, row: InboxRow, post: ForumPost) -> None:
        if post.user_deleted or post.raw.strip() in SELF_DELETE_TEXTS:
            # The forum's self-delete: the post is rewritten to "(post deleted by author)",
            # which must never show as an edit; the copy goes now, and the post_destroyed
            # that follows finds nothing left to redact.
            self._destroyed(row, post, "deleted-by-author")
            return
        if post.hidden:
            self._hidden(row, post)
            return
        copies = self._forum_copies(post.post_id)
        # Only the author's edits are carried; the copy keeps the author's text otherwise.
        foreign = foreign_edit(self.ctx.forum, post) if copies else None
        for copy in copies:
            link = self._link(copy.link)
            if link is None:
                continue
            if foreign is not None:
                self.ctx.audit(row, link, foreign.decision, foreign.editor)
                continue
            verdict = self._decide(row, link, post)
            self.ctx.audit(row, link, verdict.decision, post.author.username)
            if verdict.decision.outcome is Outcome.REFUSED:
                # What was allowed is no longer: the copy (a first post: the topic) goes.
                self._refused(row, link, copy, post, verdict)
                continue
            if verdict.shown is None:
                continue
            new = (
                self._root_content(post, post.topic_title, verdict.shown)
                if post.is_first_post
                else self._post_content(post, verdict.shown)
            )
            self._send_edit(row, link, copy, new)
            thread = self.ctx.store.mapping.thread_for_topic(link.name, post.topic_id)
            if thread is not None:
                root = thread.root_event_id
                self.media.sync(
                    row, link, copy.room_id, root, copy.event_id, post, copy.sender, verdict.shown
                )

    def _send_edit(
        self, row: InboxRow, link: LinkConfig, copy: Message, new: dict[str, Any]
    ) -> None:
        """Replace ``copy`` with ``new`` content (``m.replace``; same sender as the original).

        See https://spec.matrix.org/v1.13/client-server-api/#event-replacements
        """
        edit: dict[str, Any] = {
            "msgtype": new["msgtype"],
            "body": "* " + new["body"],
            "m.new_content": new,
            "m.relates_to": {"rel_type": "m.replace", "event_id": copy.event_id},
            # The full set is in m.new_content; the top level would ping the users mentioned
            # before all over again (https://spec.matrix.org/v1.13/client-server-api/#user-and-room-mentions).
            "m.mentions": {},
        }
        if "formatted_body" in new:
            edit["format"] = "org.matrix.custom.html"
            edit["formatted_body"] = "* " + new["formatted_body"]
        self._send(row, copy.room_id, edit, copy.sender, txn_id(row, link, "edit"))

    def _destroyed(self, row: InboxRow, post: ForumPost, cause: str) -> None:
        self.retraction.post(row, post.post_id, cause, "porch")

    def _hidden(self, row: InboxRow, post: ForumPost) -> None:
        """A hidden post (flags) goes; a hidden first post hides its topic: all of it goes."""
        if not post.is_first_post:
            self.retraction.post(row, post.post_id, "hidden", "porch")
            return
        for thread in self.ctx.store.mapping.threads_for_topic(post.topic_id):
            link = self._link(thread.link)
            if link is not None and self.retraction.withdrawn(link, post.topic_id) is None:
                self.retraction.withdraw_topic(row, link, post.topic_id, "hidden", "porch")

    def _refused(
        self, row: InboxRow, link: LinkConfig, copy: Message, post: ForumPost, verdict: Verdict
    ) -> None:
        if not post.is_first_post:
            self.retraction.post(
                row, post.post_id, "withdrawn", "porch", only=link, refusal=verdict.decision
            )
            return
        topic = ForumTopic(post.topic_id, post.topic_title, post.topic_slug, post.category_id)
        cause = self.retraction.refusal_cause(link, topic)
        self.retraction.withdraw_topic(row, link, copy.topic_id, cause, "porch", verdict.decision)

    def _withdrawn(self, row: InboxRow, link: LinkConfig, topic_id: TopicID, actor: str) -> bool:
        """Whether the topic is withdrawn from the link (recorded as ignored): nothing more of
        it is carried there, so that it never shows in part."""
        withdrawn = self.retraction.withdrawn(link, topic_id)
        if withdrawn is None:
            return False
        why = f"the topic was withdrawn from this room ({withdrawn.reason}); not carried again"
        self.ctx.audit(row, link, ignore("withdrawn", why), actor)
        return True

    def _recovered(self, row: InboxRow, post: ForumPost) -> None:
        mapping = self.ctx.store.mapping
        copies = mapping.messages_for_post(post.post_id)
        if not copies:
            self._created(row, post)
            return
        for copy in copies:
            link = self._link(copy.link)
            if link is None or copy.origin is not Platform.FORUM or not copy.redacted:
                continue
            if self._withdrawn(row, link, post.topic_id, post.author.username):
                continue
            verdict = self._decide(row, link, post, post.topic_title)
            self.ctx.audit(row, link, verdict.decision, post.author.username)
            if verdict.shown is None:
                continue
            shown = verdict.shown
            thread = mapping.thread_for_topic(link.name, post.topic_id)
            thread_root: EventID | None = None
            if post.is_first_post or thread is None:
                content = self._root_content(post, post.topic_title, shown)
            else:
                thread_root = thread.root_event_id
                latest = mapping.latest_in_thread(link.name, post.topic_id)
                content = self._post_content(post, shown)
                content["m.relates_to"] = {
                    "rel_type": "m.thread",
                    "event_id": thread_root,
                    "is_falling_back": True,
                    "m.in_reply_to": {"event_id": latest.event_id if latest else thread_root},
                }
            ghost = self._sender(post.author, copy.room_id, shown)
            # Per post: a recovered topic brings several back in one event.
            txn = txn_id(row, link, f"recover.{post.post_id}")
            event_id = self._send(row, copy.room_id, content, ghost, txn)
            if thread_root is None and thread is not None:
                # The old root is redacted for good: the recovered first post roots the thread
                # from now on. Moved first, so that a crash before replace_event retries both.
                mapping.replace_root(link.name, post.topic_id, event_id)
            mapping.replace_event(link.name, post.post_id, event_id)
            root = thread_root or event_id
            self.media.sync(row, link, copy.room_id, root, event_id, post, ghost, shown)

    def _topic_edited(self, row: InboxRow, topic: ForumTopic) -> None:
        """A new title (or first post) shows in the thread root."""
        mapping = self.ctx.store.mapping
        for thread in mapping.threads_for_topic(topic.topic_id):
            link = self._link(thread.link)
            if link is None or self.retraction.withdrawn(link, topic.topic_id) is not None:
                continue
            if not topic.visible and self.retraction.unlisted_here(link):
                self.retraction.withdraw_topic(row, link, topic.topic_id, "unlisted", "porch")
                continue
            moved = self.retraction.moved_out(link, topic)
            if moved is not None:
                self.ctx.audit(row, link, moved, "porch")
                self.retraction.withdraw_topic(row, link, topic.topic_id, "moved", "porch", moved)
                continue
            if thread.root_post_id is None or thread.origin is not Platform.FORUM:
                continue
            root = mapping.message_for_post(link.name, thread.root_post_id)
            if root is None or root.redacted:
                continue
            first = _post_from_api(self.ctx.forum.get_post(thread.root_post_id), topic)
            verdict = self._decide(row, link, first, topic.title)
            self.ctx.audit(row, link, verdict.decision, first.author.username)
            if verdict.decision.outcome is Outcome.REFUSED:
                cause = self.retraction.refusal_cause(link, topic)
                self.retraction.withdraw_topic(
                    row, link, topic.topic_id, cause, "porch", verdict.decision
                )
            elif verdict.shown is not None:
                new = self._root_content(first, topic.title, verdict.shown)
                self._send_edit(row, link, root, new)
                self.media.sync(
                    row,
                    link,
                    root.room_id,
                    root.event_id,
                    root.event_id,
                    first,
                    root.sender,
                    verdict.shown,
                )

    def _topic_destroyed(self, row: InboxRow, topic: ForumTopic) -> None:
        """Every copy of every post of the topic goes
        (:mod:`bridges.relay.forum_to_chat.forum_retraction`)."""
        self.retraction.topic_deleted(row, topic.topic_id, "porch")

    def _topic_recovered(self, row: InboxRow, topic: ForumTopic) -> None:
        """The replies a topic's deletion took come back with it (``post_recovered`` brings the
        first post back), so that it is never carried in part. Posts deleted or hidden on their
        own stay away; the topic view lists the first 20 posts, and only those come back."""
        view = self.ctx.forum.topic(topic.topic_id)
        for data in view.get("post_stream", {}).get("posts") or []:
            if data.get("post_number") == 1 or data.get("hidden"):
                continue
            if data.get("deleted_at") or data.get("user_deleted"):
                continue
            self._recovered(row, _post_from_topic_view(view, data))

    # --- content ---------------------------------------------------------------------------

    def _post_content(self, post: ForumPost, shown: Shown | None = None) -> dict[str, Any]:
        """The copy of ``post`` as the decision lets the room see it (``shown``)."""
        formatted = forum_to_matrix(
            post.cooked if shown is None else shown.content.body,
            base_url=self.ctx.discourse.base_url,
            mentions=self._mention,
            media=self._inline_image,
        )
        content = _message_content(formatted, self._post_url(post, shown))
        if shown is not None and shown.alias is not None:
            # Sent by porch's bot: the collective name says who speaks.
            body_html = content.get("formatted_body") or html.escape(content["body"])
            content["body"] = f"{shown.alias}:\n{content['body']}"
            content["format"] = "org.matrix.custom.html"
            content["formatted_body"] = (
                f"<p><strong>{html.escape(shown.alias)}</strong>:</p>{body_html}"
            )
        elif self.ctx.matrix.bot is not None and self.ctx.matrix.mode == "bot":
            # One account sends every copy: the copy names its author.
            template, forum = self.ctx.matrix.bot.author_template, self.ctx.discourse.base_url
            content = name_author(content, post.author, template, forum)
        return content

    def _root_content(
        self, post: ForumPost, title: str, shown: Shown | None = None
    ) -> dict[str, Any]:
        content = self._post_content(post, shown)
        if shown is not None and shown.content.title is not None:
            title = shown.content.title
        url = self._topic_url(post, shown)
        body_html = content.get("formatted_body") or html.escape(content["body"])
        content["body"] = f"{title}\n\n{content['body']}\n\n{url}"
        content["format"] = "org.matrix.custom.html"
        content["formatted_body"] = (
            f"<p><strong>{html.escape(title)}</strong></p>{body_html}"
            f'<p><a href="{html.escape(url)}">{html.escape(url)}</a></p>'
        )
        content["external_url"] = url
        return content

    def _topic_url(self, post: ForumPost, shown: Shown | None = None) -> str:
        if shown is not None and shown.title_hidden:
            # The slug is the title in other words.
            return f"{self.ctx.discourse.base_url}/t/{post.topic_id}"
        return f"{self.ctx.discourse.base_url}/t/{post.topic_slug}/{post.topic_id}"

    def _post_url(self, post: ForumPost, shown: Shown | None = None) -> str:
        return f"{self._topic_url(post, shown)}/{post.post_number}"

    def _mention(self, username: str) -> UserID | None:
        """A forum @mention becomes a pill: the linked Matrix account, else the ghost."""
        identity = self.ctx.store.identities.by_forum_username(ForumUsername(username))
        if identity is not None:
            return identity.matrix_user_id
        ghost = self.ctx.ghosts.user_id_for(ForumUsername(username))
        return ghost if self.ctx.store.profiles.ghost(ghost) is not None else None

    def _inline_image(self, url: str) -> ContentURI | None:
        """An image of the forum's own shown inside the text (an avatar, an emoji): uploaded
        once to the media repository.

        Uploads are not: they follow the text as ``m.image`` events of their own
        (:mod:`bridges.relay.forum_to_chat.forum_media`), so in the text they stay links to the
        forum. Any other forum path (``/admin/...``, a topic, a JSON route) is never fetched: it
        stays a link, as an image on another site does (:mod:`bridges.discourse.media_paths`).
        """
        found = forum_file(url, self.ctx.discourse.base_url)
        if found is None or found.kind is FileKind.UPLOAD:
            return None
        mirrored = self.media.mirror(found.url, image=True)
        return None if mirrored is None else mirrored[0]

    def _sender(self, author: Author, room: RoomID, shown: Shown) -> UserID:
        """Who sends the copy: the author's ghost, or porch's bot when the author is shown
        under a collective name (a ghost would name them)."""
        if shown.alias is not None:
            return self.ctx.chat.bot_user_id
        return self._ghost(author, room)

    def _ghost(self, author: Author, room: RoomID) -> UserID:
        avatar = None
        if author.avatar_template:
            avatar = self.ctx.forum.absolute_url(author.avatar_template.replace("{size}", "240"))
        ghost = self.ctx.ghosts.ensure(author, avatar)
        self.ctx.ghosts.ensure_in_room(ghost, room)
        return ghost

    def _send(
        self, row: InboxRow, room: RoomID, content: dict[str, Any], sender: UserID, txn: str
    ) -> EventID:
        return send_once(self.ctx.chat, row, room, content, as_user=sender, txn=txn)

    def _forum_copies(self, post_id: PostID) -> list[Message]:
        """Carried copies of a forum post (not posts porch wrote there from chat)."""
        return [
            m
            for m in self.ctx.store.mapping.messages_for_post(post_id)
            if m.origin is Platform.FORUM and not m.redacted
        ]

    def _link(self, name: str) -> LinkConfig | None:
        return next((link for link in self.ctx.links if link.name == name), None)


def _message_content(formatted: MatrixContent, url: str) -> dict[str, Any]:
    mentioned = formatted.mentioned_user_ids
    content: dict[str, Any] = {
        "msgtype": "m.text",
        "body": formatted.body,
        "external_url": url,
        "m.mentions": {"user_ids": mentioned} if mentioned else {},
    }
    if formatted.formatted_body:
        content["format"] = "org.matrix.custom.html"
        content["formatted_body"] = formatted.formatted_body
    return content


def _author(data: dict[str, Any]) -> Author:
    return Author(
        username=ForumUsername(str(data["username"])),
        user_id=int(data.get("user_id") or 0),
        name=data.get("name"),
        avatar_template=data.get("avatar_template"),
        staff=bool(data.get("staff")),
        trust_level=int(data.get("trust_level") or 0),
        primary_group_name=data.get("primary_group_name"),
    )


def _post_from_topic_view(topic: dict[str, Any], post: dict[str, Any]) -> ForumPost:
    category = topic.get("category_id")
    return ForumPost(
        post_id=PostID(int(post["id"])),
        topic_id=TopicID(int(topic["id"])),
        post_number=int(post["post_number"]),
        author=_author(post),
        raw=str(post.get("raw") or ""),
        cooked=str(post.get("cooked") or ""),
        topic_title=str(topic.get("title") or ""),
        topic_slug=str(topic.get("slug") or "topic"),
        category_id=None if category is None else CategoryID(int(category)),
        post_type=int(post.get("post_type") or 1),
        archetype=str(topic.get("archetype") or "regular"),
    )


def _post_from_api(post: dict[str, Any], topic: ForumTopic) -> ForumPost:
    return ForumPost(
        post_id=PostID(int(post["id"])),
        topic_id=topic.topic_id,
        post_number=int(post.get("post_number") or 1),
        author=_author(post),
        raw=str(post.get("raw") or ""),
        cooked=str(post.get("cooked") or ""),
        topic_title=topic.title,
        topic_slug=topic.slug,
        category_id=topic.category_id,
        post_type=int(post.get("post_type") or 1),
        archetype=topic.archetype,
    )
