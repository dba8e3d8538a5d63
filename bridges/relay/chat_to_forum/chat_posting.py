"""What every chat -> forum delivery shares: who posts, what they post, which post is whose.

A sender with a linked forum account posts as themselves, so the forum's own permissions,
limits and watched words apply to them; anyone else is posted by the relay account under a
heading that names them (``relay.chat_sender_template``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from bridges.context import RelayContext
from bridges.formatting import escape_markdown, forum_reading, matrix_to_forum, pill_url
from bridges.links import LinkConfig
from bridges.model import ChatMessage, EventID, RoomID, TopicID, UserID
from bridges.relay.chat_to_forum.chat_media import (
    MEDIA_MSGTYPES,
    MediaCarrier,
    MediaFacts,
    media_facts,
    safe_name,
)
from bridges.relay.chat_to_forum.chat_merging import Segments, split
from bridges.relay.crossings import Crossings, held_subject
from bridges.store.inbox import InboxRow
from bridges.store.mapping import Message
from bridges.store.post_parts import Part, PostParts
from policies.decision import Decision
from policies.facts import BodyFormat, Content

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ForumAuthor:
    """The forum account a chat message is posted as, and the heading it needs, if any."""

    username: str
    heading: str | None = None

    def raw(self, text: str) -> str:
        """A post's markdown: the heading (for the relay account), then the message."""
        return f"{self.heading}\n\n{text}" if self.heading else text

    def text_of(self, raw: str) -> str:
        """The message part of a post's markdown (``raw`` without the heading)."""
        if self.heading is None:
            return raw
        _, _, rest = raw.partition("\n\n")
        return rest


@dataclass(frozen=True)
class Draft:
    """What a chat message will say on the forum, rendered once: the text that is judged
    (watched words, protections, the policy's transforms), shown to moderators when held, kept
    with a held item and posted. A media message's file is uploaded only once the message may
    cross; its name is judged with the text.

    ``text``: the forum markdown (a media message: its caption, ``""`` without one);
    ``reading``: the text forum readers see of it; ``media``: the file, for a media message.
    """

    text: str
    reading: str
    media: MediaFacts | None = None

    @property
    def judged(self) -> str:
        """Everything of the message a forum reader may see: the markdown as posted, the text
        it reads as (markup can split a word that reads whole), the file name."""
        parts = [self.text]
        if self.reading.strip() and self.reading.strip() != self.text.strip():
            parts.append(self.reading)
        if self.media is not None:
            parts.append(safe_name(self.media.filename))
        return "\n\n".join(p for p in parts if p)

    def to_json(self) -> dict[str, Any]:
        """The draft as kept with a held item (:mod:`bridges.store.review`)."""
        media = None if self.media is None else asdict(self.media)
        return {"text": self.text, "reading": self.reading, "media": media}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Draft:
        """A kept draft back.

        Raises:
            KeyError, TypeError, ValueError: ``data`` is not a kept draft.
        """
        media = data.get("media")
        return cls(
            str(data["text"]),
            str(data["reading"]),
            None if media is None else MediaFacts(**dict(media)),
        )


def text_draft(
    body: str, formatted_body: str | None, mentions: Callable[[UserID], str | None]
) -> Draft:
    """The draft of a text message: rendered from ``formatted_body`` when there is one, else
    from ``body`` (escaped, :func:`bridges.formatting.plain_to_forum`)."""
    raw = matrix_to_forum(body, formatted_body, mentions=mentions)
    return Draft(raw, forum_reading(raw))


@dataclass(frozen=True)
class Published:
    """What a chat message becomes on the forum once its decision's transforms are applied,
    and the decision with what they changed (for the audit log)."""

    author: ForumAuthor
    text: str
    title: str | None
    decision: Decision


@dataclass(frozen=True)
class Located:
    """Where a chat message lives on the forum: its post (the mapping's row for it) and, for a
    post holding several merged messages, the message's own part of it."""

    head: Message
    part: Part | None

    @property
    def sender(self) -> UserID:
        return self.part.sender if self.part is not None else self.head.sender

    @property
    def redacted(self) -> bool:
        return self.part.redacted if self.part is not None else self.head.redacted


class ChatPosting:
    """Shared steps of the chat -> forum deliveries."""

    def __init__(self, ctx: RelayContext, crossings: Crossings) -> None:
        self.ctx = ctx
        self.parts = PostParts(ctx.store.db)
        self.media = MediaCarrier(ctx.chat, ctx.forum, lambda: ctx.relay.media_max_bytes)
        self.crossings = crossings

    # --- who --------------------------------------------------------------------------------

    def author(self, msg: ChatMessage) -> ForumAuthor:
        """The linked forum account of the sender, else the relay account with a heading."""
        identity = self.ctx.store.identities.by_matrix_user(msg.sender)
        if identity is not None:
            return ForumAuthor(identity.forum_username)
        return self.relay_author(msg.room_id, msg.sender)

    def relay_author(self, room_id: RoomID, sender: UserID) -> ForumAuthor:
        """The relay account, with the heading that names ``sender`` (its display name is
        escaped: it is text, not markdown)."""
        heading = self.ctx.relay.chat_sender_template.format(
            displayname=escape_markdown(self.displayname(room_id, sender)),
            user_id=sender,
            matrix_to=pill_url(sender),
        )
        return ForumAuthor(self.ctx.discourse.relay_username, heading)

    def author_of_post(self, post: dict[str, Any], room_id: RoomID, sender: UserID) -> ForumAuthor:
        """Who wrote an existing post: changes to it must be made as that account."""
        username = str(post.get("username") or "")
        if not username or username.lower() == self.ctx.discourse.relay_username.lower():
            return self.relay_author(room_id, sender)
        return ForumAuthor(username)

    def displayname(self, room_id: RoomID, user_id: UserID) -> str:
        member = self.ctx.chat.room_state(room_id, "m.room.member", user_id) or {}
        name = member.get("displayname")
        return str(name) if name else user_id.split(":", 1)[0].lstrip("@")

    # --- what -------------------------------------------------------------------------------

    def draft(self, msg: ChatMessage) -> Draft:
        """The message as forum markdown (without any heading), before any file is uploaded.

        It is rendered from ``formatted_body`` when there is one, else from the plain ``body``
        (escaped: :func:`bridges.formatting.plain_to_forum`); ``body`` is never judged in its
        place, since a client may send two versions that differ.
        """
        if msg.msgtype in MEDIA_MSGTYPES:
            facts = media_facts(msg, self.media.content_of(msg))
            caption = ""
            if facts.caption is not None:
                caption = matrix_to_forum(facts.caption, facts.caption_html, mentions=self.mention)
            return Draft(caption, forum_reading(caption), facts)
        draft = text_draft(msg.body, msg.formatted_body, self.mention)
        if msg.msgtype != "m.emote":
            return draft
        name = escape_markdown(self.displayname(msg.room_id, msg.sender))
        raw = f"*{name} {draft.text}*"
        return Draft(raw, forum_reading(raw))

    def text(self, draft: Draft, msg: ChatMessage, as_user: str) -> str:
        """The post's markdown (without any heading) from ``draft``: a media message's file is
        uploaded now, as ``as_user``, and embedded after its caption."""
        if draft.media is None:
            return draft.text
        embed = self.media.embed(msg, draft.media, as_user)
        return f"{draft.text}\n\n{embed}" if draft.text else embed

    def title_source(self, draft: Draft) -> str:
        """The text a new topic's title is cut from: what the post reads as (a media message
        without a caption: its file name)."""
        if draft.reading.strip():
            return draft.reading
        return draft.media.filename if draft.media is not None else draft.text

    def mention(self, user_id: UserID) -> str | None:
        """A pill's forum name: the linked account, else the ghost's forum user."""
        identity = self.ctx.store.identities.by_matrix_user(user_id)
        if identity is not None:
            return identity.forum_username
        username = self.ctx.ghosts.username_for(user_id)
        return None if username is None else str(username)

    # --- which ------------------------------------------------------------------------------

    def locate(self, room_id: RoomID, event_id: EventID) -> Located | None:
        """The forum post a Matrix event was carried into (or came from), if any."""
        mapping = self.ctx.store.mapping
        part = self.parts.for_event(room_id, event_id)
        head = mapping.message_for_event(room_id, event_id)
        if head is None and part is not None:
            head = mapping.message_for_post(part.link, part.post_id)
        return None if head is None else Located(head, part)

    def segments_of(
        self, raw: str, head: Message, parts: Sequence[Part], also: EventID | None = None
    ) -> Segments:
        """A post's text cut into its messages (one, for a post that was never merged).

        ``also`` is an event that may have been appended without being recorded yet.
        """
        known = {p.event_id for p in parts}
        if also is not None:
            known.add(also)
        live = [p.event_id for p in parts if not p.redacted]
        return split(raw, known, live[0] if live else head.event_id)

    def decide(
        self, row: InboxRow, link: LinkConfig, msg: ChatMessage, topic_id: TopicID | None
    ) -> tuple[Decision, Draft]:
        """The policies' decision on carrying ``msg`` into ``topic_id`` (``None``: a new topic)
        of the link's category (:mod:`bridges.relay.crossings`), and the draft it judged: the one
        kept with the message's held item when it was held (an approval posts what the moderator
        saw, not a new rendering), else rendered now.

        Raises:
            RetryLater: a fact the decision needs is unknown (the waiting is audited).
        """
        draft = self._kept(row, link, msg) or self.draft(msg)
        verdict = self.crossings.chat_message(
            row, link, msg, topic_id, draft.text, draft.judged, draft.to_json()
        )
        return verdict.decision, draft

    def _kept(self, row: InboxRow, link: LinkConfig, msg: ChatMessage) -> Draft | None:
        kept = self.crossings.review.kept(row, link, held_subject(msg))
        if kept is None:
            return None
        try:
            return Draft.from_json(kept)
        except (KeyError, TypeError, ValueError):
            log.warning("relay: the kept text of %s is unreadable; rendered again", msg.event_id)
            return None

    def publish(
        self,
        decision: Decision,
        msg: ChatMessage,
        author: ForumAuthor,
        text: str,
        title: str | None = None,
    ) -> Published:
        """The post's author, text and (new topic) title as ``decision``'s transforms leave
        them; an author shown under a collective name is posted by the relay account under
        that name. The decision comes back with what the transforms changed, for the audit."""
        if not decision.transforms:
            return Published(author, text, title, decision)
        content = Content(
            text,
            BodyFormat.MARKDOWN,
            title=title,
            author_display_name=self.displayname(msg.room_id, msg.sender),
            author_username=author.username if author.heading is None else None,
        )
        verdict = self.crossings.apply(decision, content)
        shown = verdict.shown
        assert shown is not None  # a decision with transforms crosses
        if shown.alias is not None:
            heading = f"**{escape_markdown(shown.alias)}** on Matrix:"
            author = ForumAuthor(self.ctx.discourse.relay_username, heading)
        return Published(author, shown.content.body, shown.content.title, verdict.decision)

    # --- telling the sender -----------------------------------------------------------------

    def notify(
        self,
        row: InboxRow,
        link: LinkConfig,
        msg: ChatMessage,
        thread_root: EventID | None,
        text: str,
        step: str,
    ) -> None:
        """An ``m.notice`` from porch's bot answering ``msg`` (inside its thread, if any)."""
        # An edit is answered at the message it edits: that is what the sender sees.
        relation: dict[str, Any] = {"m.in_reply_to": {"event_id": msg.replaces or msg.event_id}}
        if thread_root is not None:
            relation.update(rel_type="m.thread", event_id=thread_root, is_falling_back=False)
        notice = {
            "msgtype": "m.notice",
            "body": text,
            "m.relates_to": relation,
            "m.mentions": {"user_ids": [msg.sender]},
        }
        self.ctx.chat.send(
            msg.room_id, notice, as_user=None, txn_id=f"porch.{row.id}.{link.name}.{step}"
        )
