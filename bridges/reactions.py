"""Reactions and likes, both ways, on links with ``reactions: true`` (off by default).

- **Chat -> forum.** A "like" reaction (:data:`LIKE_KEYS`) on a carried message, by a Matrix
  user with a linked forum account, becomes a like of the post by that account; redacting the
  reaction takes the like back. The forum has no anonymous likes, so reactions of unlinked users
  stay in chat (the audit log says so). Other reaction keys stay in chat.
- **Forum -> chat.** A forum like (``post_liked``) becomes a :data:`LIKE_REACTION` reaction by
  the liker's ghost on the carried message. Discourse sends no webhook when a like is taken
  back, so a reaction porch made stays.

No loops: porch records a chat reaction *before* it likes the post, so the like's echo
(``post_liked`` for that user and post) finds the record and is dropped; porch's own ghosts'
reactions never pass the appservice door.

Both ways a reaction crosses only onto a copy porch made (the mapping) and only where the
link's policy lets content flow that way (:mod:`bridges.reaction_gate`).

Reactions: https://spec.matrix.org/v1.13/client-server-api/#mreaction
"""

from __future__ import annotations

import logging
import unicodedata

from bridges.context import RelayContext
from bridges.discourse.errors import ForumRejected
from bridges.links import LinkConfig
from bridges.matrix.errors import MatrixError, is_errcode
from bridges.model import (
    Author,
    ChatReaction,
    ChatRedaction,
    EventID,
    ForumLike,
    ForumPost,
    ForumUsername,
    Platform,
    PostID,
    RoomID,
    TopicID,
    UserID,
)
from bridges.reaction_gate import reaction_decision
from bridges.send_once import find_sent, send_once, txn_id
from bridges.store.inbox import InboxRow
from bridges.store.post_media import PostMedia
from bridges.store.reactions import Reaction, Reactions
from policies.crossing import ignore
from policies.decision import Decision, Outcome

log = logging.getLogger(__name__)

#: The reaction porch shows for a forum like.
LIKE_REACTION = "👍"
#: Reaction keys that mean "like" (compared without emoji variation selectors and skin tones):
#: thumbs up and hearts as clients send them, and the shortcodes some clients send as text.
LIKE_KEYS = frozenset(
    {
        "👍", "❤", "♥", "💖", "💗", "💕", "🧡", "💛", "💚", "💙", "💜", "🤍", "🖤", "🤎",
        "+1", ":+1:", ":thumbsup:", ":thumbs_up:", ":heart:", "like",
    }
)  # fmt: skip
_SKIN_TONES = frozenset(chr(c) for c in range(0x1F3FB, 0x1F400))
_VARIATION_SELECTORS = frozenset({"\ufe0e", "\ufe0f"})


def is_like(key: str) -> bool:
    """Whether a reaction key means "like" (``👍``, ``👍🏽``, ``❤️``, ``+1`` ...)."""
    normal = unicodedata.normalize("NFC", key.strip())
    bare = "".join(c for c in normal if c not in _SKIN_TONES and c not in _VARIATION_SELECTORS)
    return bare.lower() in LIKE_KEYS


class ReactionRelay:
    """Carries likes and like reactions between the platforms."""

    def __init__(self, ctx: RelayContext) -> None:
        self.ctx = ctx
        self.reactions = Reactions(ctx.store.db)
        self.media = PostMedia(ctx.store.db)

    # --- chat -> forum -----------------------------------------------------------------------

    def owns_redaction(self, redaction: ChatRedaction) -> bool:
        """Whether a redaction takes back a reaction porch carried (else it is for
        :mod:`bridges.to_forum`)."""
        return self.reactions.for_event(redaction.room_id, redaction.redacts) is not None

    def chat_reaction(self, row: InboxRow, reaction: ChatReaction) -> None:
        """A reaction in a linked room: a like by the reacting user's forum account."""
        link = self.ctx.link_for_room(reaction.room_id)
        if link is None:
            return
        if not link.reactions:
            self._skip(row, link, reaction, "reactions-off", "the link does not carry reactions")
            return
        if not is_like(reaction.key):
            self._skip(row, link, reaction, "not-a-like", f"{reaction.key!r} does not mean like")
            return
        target = self._post_of(link, reaction.room_id, reaction.relates_to)
        if target is None:
            self._skip(row, link, reaction, "not-carried", "the message is not on the forum")
            return
        post_id, _topic = target
        identity = self.ctx.store.identities.by_matrix_user(reaction.sender)
        if identity is None:
            reason = "the forum has no anonymous likes; the sender has no linked forum account"
            self._skip(row, link, reaction, "reaction-unlinked", reason)
            return
        decision = reaction_decision(self.ctx, link, Platform.CHAT)
        self.ctx.audit(row, link, decision, reaction.sender)
        if not decision.crosses:
            return
        # Recorded before the like, so that the forum's echo of it is recognised as porch's.
        self.reactions.add(
            Reaction(
                link.name,
                post_id,
                identity.forum_username,
                reaction.room_id,
                reaction.event_id,
                reaction.sender,
                Platform.CHAT,
            ),
            self.ctx.clock(),
        )
        try:
            self.ctx.forum.like(post_id, as_user=identity.forum_username)
        except ForumRejected as exc:
            # Not allowed (one's own post, a deleted post, no likes left today): stays in chat.
            self.reactions.remove(reaction.room_id, reaction.event_id)
            refused = Decision(Outcome.REFUSED, "forum-rejected", "forum", str(exc))
            self.ctx.audit(row, link, refused, reaction.sender)

    def chat_unreaction(self, row: InboxRow, redaction: ChatRedaction) -> None:
        """A carried reaction was redacted: take the like back once no reaction of that user
        stands for it. Only the reacting user's own redaction counts, as for messages."""
        record = self.reactions.for_event(redaction.room_id, redaction.redacts)
        if record is None:
            return
        link = self._link(record.link)
        if record.origin is not Platform.CHAT or record.sender != redaction.sender:
            # A moderator removed a reaction, or porch's reaction for a forum like went: the
            # like on the forum is someone else's to take back.
            self.reactions.remove(record.room_id, record.event_id)
            why = "only the reacting user's own redaction takes a like back"
            self.ctx.audit(row, link, ignore("not-own-reaction", why), redaction.sender)
            return
        others = [
            r
            for r in self.reactions.for_like(record.link, record.post_id, record.forum_username)
            if r.event_id != record.event_id and r.origin is Platform.CHAT
        ]
        if not others:
            self.ctx.audit(
                row, link, ignore("like-taken-back", "the reaction was redacted"), record.sender
            )
            try:
                self.ctx.forum.unlike(record.post_id, as_user=record.forum_username)
            except ForumRejected as exc:
                refused = Decision(Outcome.REFUSED, "forum-rejected", "forum", str(exc))
                self.ctx.audit(row, link, refused, redaction.sender)
        # Forgotten only after the unlike, so a crash in between retries the unlike.
        self.reactions.remove(record.room_id, record.event_id)

    # --- forum -> chat -----------------------------------------------------------------------

    def forum_like(self, row: InboxRow, like: ForumLike) -> None:
        """A forum like: a reaction from the liker's ghost on each carried copy of the post."""
        for copy in self.ctx.store.mapping.messages_for_post(like.post.post_id):
            link = self._link(copy.link)
            if link is None or copy.redacted:
                continue
            if not link.reactions:
                why = "the link does not carry reactions"
                self.ctx.audit(row, link, ignore("reactions-off", why), like.liker.username)
                continue
            if self.reactions.for_like(link.name, copy.post_id, like.liker.username):
                # Porch's own like of a chat reaction coming back, or a like carried already.
                why = "this like is carried already (or is porch's own)"
                self.ctx.audit(row, link, ignore("echo", why), like.liker.username)
                continue
            decision = self._decide_forum(link, like.post)
            self.ctx.audit(row, link, decision, like.liker.username)
            if not decision.crosses:
                continue
            ghost = self._ghost(like.liker, copy.room_id)
            content = {
                "m.relates_to": {
                    "rel_type": "m.annotation",
                    "event_id": copy.event_id,
                    "key": LIKE_REACTION,
                }
            }
            txn = txn_id(row, link, f"like.{copy.post_id}")
            try:
                event_id = send_once(
                    self.ctx.chat,
                    row,
                    copy.room_id,
                    content,
                    as_user=ghost,
                    txn=txn,
                    event_type="m.reaction",
                )
            except MatrixError as exc:
                # The ghost has this reaction already (sent before a restart made the
                # homeserver forget the transaction id); Synapse refuses a second one.
                if not is_errcode(exc, "M_DUPLICATE_ANNOTATION"):
                    raise
                found = find_sent(
                    self.ctx.chat, copy.room_id, txn, as_user=ghost, event_type="m.reaction"
                )
                if found is None:
                    log.info("relay: %s has reacted to %s already", ghost, copy.event_id)
                    continue
                event_id = found
            self.reactions.add(
                Reaction(
                    link.name,
                    copy.post_id,
                    ForumUsername(like.liker.username),
                    copy.room_id,
                    event_id,
                    ghost,
                    Platform.FORUM,
                ),
                self.ctx.clock(),
            )

    # --- helpers -----------------------------------------------------------------------------

    def _post_of(
        self, link: LinkConfig, room_id: RoomID, event_id: EventID
    ) -> tuple[PostID, TopicID] | None:
        """The forum post a Matrix event of this link stands for (its text or one of its
        media events)."""
        message = self.ctx.store.mapping.message_for_event(room_id, event_id)
        if message is not None and message.link == link.name and not message.redacted:
            return message.post_id, message.topic_id
        media = self.media.for_event(room_id, event_id)
        if media is not None and media.link == link.name:
            parent = self.ctx.store.mapping.message_for_post(link.name, media.post_id)
            if parent is not None and not parent.redacted:
                return parent.post_id, parent.topic_id
        return None

    def _decide_forum(self, link: LinkConfig, post: ForumPost) -> Decision:
        return reaction_decision(
            self.ctx,
            link,
            Platform.FORUM,
            post_type=post.post_type,
            archetype=post.archetype,
        )

    def _ghost(self, author: Author, room: RoomID) -> UserID:
        avatar = None
        if author.avatar_template:
            avatar = self.ctx.forum.absolute_url(author.avatar_template.replace("{size}", "240"))
        ghost = self.ctx.ghosts.ensure(author, avatar)
        self.ctx.ghosts.ensure_in_room(ghost, room)
        return ghost

    def _skip(
        self, row: InboxRow, link: LinkConfig, reaction: ChatReaction, rule: str, why: str
    ) -> None:
        self.ctx.audit(row, link, ignore(rule, why), reaction.sender)

    def _link(self, name: str) -> LinkConfig | None:
        return next((link for link in self.ctx.links if link.name == name), None)
