"""Forum -> chat likes, on links with ``reactions: true`` (off by default).

A forum like (``post_liked``) becomes a :data:`LIKE_REACTION` reaction by the liker's ghost on
the carried message. Discourse sends no webhook when a like is taken back, so a reaction porch
made stays. A like porch made itself for a chat reaction
(:mod:`bridges.relay.chat_to_forum.chat_reactions`) finds its record and is dropped; porch's
own ghosts' reactions never pass the appservice door.

A like crosses only onto a copy porch made (the mapping) and only where the link's policy lets
content flow that way (:mod:`bridges.relay.reaction_gate`).

Reactions: https://spec.matrix.org/v1.13/client-server-api/#mreaction
"""

from __future__ import annotations

import logging

from bridges.context import RelayContext
from bridges.links import LinkConfig
from bridges.matrix.matrix_errors import MatrixError, is_errcode
from bridges.model import (
    Author,
    ForumLike,
    ForumPost,
    ForumUsername,
    Platform,
    RoomID,
    UserID,
)
from bridges.relay.forum_to_chat.send_once import find_sent, send_once, txn_id
from bridges.relay.reaction_gate import reaction_decision
from bridges.store.inbox import InboxRow
from bridges.store.reactions import Reaction, Reactions
from policies.crossing import ignore
from policies.decision import Decision

log = logging.getLogger(__name__)

#: The reaction porch shows for a forum like.
LIKE_REACTION = "👍"


class ForumLikes:
    """Carries forum likes to the carried messages as reactions from the likers' ghosts."""

    def __init__(self, ctx: RelayContext) -> None:
        self.ctx = ctx
        self.reactions = Reactions(ctx.store.db)

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

    def _link(self, name: str) -> LinkConfig | None:
        return next((link for link in self.ctx.links if link.name == name), None)
