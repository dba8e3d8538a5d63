"""Chat -> forum reactions, on links with ``reactions: true`` (off by default).

A "like" reaction (:data:`LIKE_KEYS`) on a carried message, by a Matrix user with a linked
forum account, becomes a like of the post by that account; redacting the reaction takes the
like back. The forum has no anonymous likes, so reactions of unlinked users stay in chat (the
audit log says so). Other reaction keys stay in chat.

No loops: porch records a chat reaction *before* it likes the post, so the like's echo
(``post_liked`` for that user and post) finds the record and is dropped
(:mod:`bridges.relay.forum_to_chat.forum_likes`).

A reaction crosses only onto a copy porch made (the mapping) and only where the link's policy
lets content flow that way (:mod:`bridges.relay.reaction_gate`).

Reactions: https://spec.matrix.org/v1.13/client-server-api/#mreaction
"""

from __future__ import annotations

import logging
import unicodedata

from bridges.context import RelayContext
from bridges.discourse.forum_errors import ForumRejected
from bridges.links import LinkConfig
from bridges.model import (
    ChatReaction,
    ChatRedaction,
    EventID,
    Platform,
    PostID,
    RoomID,
    TopicID,
)
from bridges.relay.reaction_gate import reaction_decision
from bridges.store.inbox import InboxRow
from bridges.store.post_media import PostMedia
from bridges.store.reactions import Reaction, Reactions
from policies.crossing import ignore
from policies.decision import Decision, Outcome

log = logging.getLogger(__name__)

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


class ChatReactions:
    """Carries like reactions in linked rooms to the forum as likes, and takes them back."""

    def __init__(self, ctx: RelayContext) -> None:
        self.ctx = ctx
        self.reactions = Reactions(ctx.store.db)
        self.media = PostMedia(ctx.store.db)

    def owns_redaction(self, redaction: ChatRedaction) -> bool:
        """Whether a redaction takes back a reaction porch carried (else it is for
        :mod:`bridges.relay.chat_to_forum.chat_messages`)."""
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

    def _skip(
        self, row: InboxRow, link: LinkConfig, reaction: ChatReaction, rule: str, why: str
    ) -> None:
        self.ctx.audit(row, link, ignore(rule, why), reaction.sender)

    def _link(self, name: str) -> LinkConfig | None:
        return next((link for link in self.ctx.links if link.name == name), None)
