"""Retraction: taking back every copy porch made in Matrix of forum content that may no longer
be shown there (docs/policies.md, "Retraction": a publication is deliberate and reversible).

Causes, and what goes:

- a carried topic **moved** into a category the room may not read, **unlisted**, or no longer
  allowed by the link's policy (**withdrawn**; its tags changed, say), or its first post
  **hidden**: every copy of the topic in that link (the root, every reply, their media events
  and the reactions porch's ghosts made on them). The topic is recorded as withdrawn from the
  link (:mod:`bridges.store.retractions`) *before* the first redaction, so that nothing of it
  is carried again there: a later reply, edit or recovery would only carry half a topic. A
  topic moved back to where the room may read it is not carried again.
- a linked category whose security changed (``category_updated``) so that it is more closed
  than the room, on a link whose policy publishes nothing that way: every topic still carried
  from it is withdrawn (**withdrawn**);
- a post **hidden** (flags) or **deleted**: every copy of that post, in every link;
- a topic **deleted**: every copy of every post of the topic, in every link (not only the root).
  A deleted topic is not withdrawn: recovering it on the forum carries it again.

Every retraction is one ``retracted`` entry per link in the audit log: the cause in the rule
(``retract-moved``, ``retract-unlisted``, ``retract-hidden`` ...), the decision that refused
the topic (when there is one) and the number of copies in the detail, and the actor.

Crash safety: each redaction uses a transaction id derived from the inbox event, the link and
the copy (:func:`bridges.relay.forum_to_chat.send_once.txn_id`), and a copy is marked redacted
right after it goes. A retried event skips what is marked; for a copy redacted just before a crash
but not yet marked, it first asks the homeserver whether the event is redacted already (its
``unsigned.redacted_because``), so a homeserver that forgot the transaction id does not get a
second redaction.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from bridges.context import RelayContext
from bridges.discourse.forum_errors import ForumNotFound
from bridges.links import LinkConfig
from bridges.matrix.matrix_errors import MatrixError
from bridges.model import (
    CategoryID,
    EventID,
    ForumCategory,
    ForumTopic,
    InboxPayload,
    LinkName,
    Platform,
    PostID,
    RoomID,
    TopicID,
    UserID,
)
from bridges.relay.forum_to_chat.forum_media import ForumMedia
from bridges.relay.forum_to_chat.send_once import txn_id
from bridges.store.inbox import InboxRow
from bridges.store.mapping import Message
from bridges.store.reactions import Reactions
from bridges.store.retractions import Retractions, Withdrawn, carried_topics, porch_reactions
from bridges.worker import RetryLater
from policies.crossing import BUILTIN_VERSION, retract
from policies.decision import Decision, Outcome
from policies.derive import publishes
from policies.policy_config import FORUM_TO_CHAT
from policies.tiers import Tier

log = logging.getLogger(__name__)

#: Causes after which the topic stays withdrawn from the link (a deletion can be undone on
#: the forum, and its recovery carries the topic again).
WITHDRAWING = frozenset({"moved", "unlisted", "hidden", "withdrawn"})


class Retraction:
    """Redacts every copy of withdrawn, hidden or deleted forum content."""

    def __init__(self, ctx: RelayContext, media: ForumMedia) -> None:
        self.ctx = ctx
        self.media = media
        self.records = Retractions(ctx.store.db)
        self.reactions = Reactions(ctx.store.db)

    # --- what is withdrawn ---------------------------------------------------------------------

    def withdrawn(self, link: LinkConfig, topic_id: TopicID) -> Withdrawn | None:
        """Why the topic is withdrawn from the link, or ``None`` when it is not."""
        return self.records.get(LinkName(link.name), topic_id)

    def refusal_cause(self, link: LinkConfig, topic: ForumTopic) -> str:
        """Why a carried topic is refused now: ``moved`` out of the link's category,
        ``unlisted``, else ``withdrawn`` (the policy changed its mind: tags, security ...)."""
        if not topic.visible:
            return "unlisted"
        if topic.category_id is not None and topic.category_id != self.ctx.category_of(link):
            return "moved"
        return "withdrawn"

    def moved_out(self, link: LinkConfig, topic: ForumTopic) -> Decision | None:
        """The refusal of a topic moved out of the link's category into one more closed than
        the link's room (``None``: it was not). A link's policy publishes its own category:
        it never makes another category's topics public.

        Raises:
            RetryLater: the new category's tier is not known yet (decided once it is).
        """
        if topic.category_id is None or topic.category_id == self.ctx.category_of(link):
            return None
        source = self.ctx.tiers.forum_tier(topic.category_id)
        target = self.ctx.tiers.room_tier(self.ctx.room_of(link))
        if source is None or target is None:
            raise RetryLater(f"topic {topic.topic_id} moved: a tier is not known yet")
        if not target.more_open_than(source):
            return None
        why = (
            f"the topic left the link's category for a {source} one, and the {target} room "
            "may not read it"
        )
        return Decision(Outcome.REFUSED, "boundary", BUILTIN_VERSION, why)

    def unlisted_here(self, link: LinkConfig) -> bool:
        """Whether an unlisted topic may no longer show in the link's room: a room more open
        than ``restricted`` (anyone may find and read it), or one whose tier is unknown."""
        tier = self.ctx.tiers.room_tier(self.ctx.room_of(link))
        return tier is None or tier.more_open_than(Tier.RESTRICTED)

    # --- retracting ----------------------------------------------------------------------------

    def withdraw_topic(
        self,
        row: InboxRow,
        link: LinkConfig,
        topic_id: TopicID,
        cause: str,
        actor: str,
        refusal: Decision | None = None,
    ) -> int:
        """Withdraw the topic from the link: record it, redact every copy, audit it.

        Returns the number of copies redacted now.
        """
        decision = self._decision(cause, refusal)
        if cause in WITHDRAWING:
            self.records.withdraw(
                Withdrawn(
                    LinkName(link.name), topic_id, cause, decision.rule, row.id, self.ctx.clock()
                )
            )
        copies = [
            m
            for m in self.ctx.store.mapping.messages_in_thread(LinkName(link.name), topic_id)
            if m.origin is Platform.FORUM
        ]
        # The room is told the cause only: a refusal's reason may quote what it refused (a
        # blocked word, say); the audit log has it all.
        shown = retract(cause).reason
        count = sum(self._redact_copy(row, link, copy, shown) for copy in copies)
        log.info("retraction: topic %s taken back from %s (%s)", topic_id, link.name, cause)
        self._audit(row, link, decision, actor, count)
        return count

    def topic_deleted(self, row: InboxRow, topic_id: TopicID, actor: str) -> None:
        """A deleted topic: every copy of each of its posts goes, in every link."""
        for thread in self.ctx.store.mapping.threads_for_topic(topic_id):
            link = self._link(thread.link)
            if link is None:
                continue
            live = [
                m
                for m in self.ctx.store.mapping.messages_in_thread(thread.link, topic_id)
                if m.origin is Platform.FORUM and not m.redacted
            ]
            if live:
                self.withdraw_topic(row, link, topic_id, "topic-deleted", actor)

    def post(
        self,
        row: InboxRow,
        post_id: PostID,
        cause: str,
        actor: str,
        only: LinkConfig | None = None,
        refusal: Decision | None = None,
    ) -> None:
        """Every copy of one post (hidden or deleted), in every link it was carried into (or
        in ``only`` that one: a policy's refusal is the link's own, ``refusal`` its reason)."""
        for copy in self.ctx.store.mapping.messages_for_post(post_id):
            if copy.origin is not Platform.FORUM or copy.redacted:
                continue
            if only is not None and copy.link != only.name:
                continue
            link = self._link(copy.link)
            if link is None:
                continue
            decision = self._decision(cause, refusal)
            count = self._redact_copy(row, link, copy, retract(cause).reason)
            self._audit(row, link, decision, actor, count)

    def category_closed(self, row: InboxRow, event: InboxPayload) -> None:
        """A linked category was read again (``category_updated``) and is now more closed than
        the link's room, while the link's policy publishes nothing that way: every topic still
        carried from it is withdrawn. (Under a policy that publishes, each topic is decided
        again on its next event.)"""
        if not isinstance(event, ForumCategory):
            return
        security = self.ctx.store.tiers.category(event.category_id)
        if security is None or security.tier is None:
            return
        for link in self.ctx.links:
            if not link.forum.matches(event.category_id, security.slug):
                continue
            room = self.ctx.tiers.room_tier(self.ctx.room_of(link))
            policy = None if link.policy is None else self.ctx.policies.get(link.policy)
            if room is None or not room.more_open_than(security.tier):
                continue
            if publishes(policy, FORUM_TO_CHAT):
                continue
            why = (
                f"the category is now {security.tier} and the room {room}; the link's policy "
                "publishes nothing from it"
            )
            refusal = Decision(Outcome.REFUSED, "boundary", BUILTIN_VERSION, why)
            for topic_id in carried_topics(self.ctx.store.db, LinkName(link.name)):
                if self._in_category(topic_id, event.category_id):
                    self.withdraw_topic(row, link, topic_id, "withdrawn", "porch", refusal)

    def _in_category(self, topic_id: TopicID, category_id: CategoryID) -> bool:
        try:
            shown = self.ctx.forum.topic(topic_id)
        except ForumNotFound:
            return False  # gone: its deletion takes its copies
        return shown.get("category_id") == category_id

    # --- one copy ------------------------------------------------------------------------------

    def _redact_copy(self, row: InboxRow, link: LinkConfig, copy: Message, reason: str) -> int:
        """Redact a copy, its media events and porch's reactions on it; 1 if the text went now."""
        why = reason[:1].upper() + reason[1:]
        self.media.retract(row, link, copy.post_id, why)
        for reaction in porch_reactions(self.ctx.store.db, copy.link, copy.post_id):
            step = f"redact.like.{reaction.post_id}.{reaction.event_id}"
            self._redact(
                row, link, reaction.room_id, reaction.event_id, reaction.sender, step, why
            )
            self.reactions.remove(reaction.room_id, reaction.event_id)
        if copy.redacted:
            return 0
        for edit, sender in self._edits(copy):
            self._redact(row, link, copy.room_id, edit, sender, f"redact.edit.{edit}", why)
        step = f"redact.{copy.post_id}"
        self._redact(row, link, copy.room_id, copy.event_id, copy.sender, step, why)
        self.ctx.store.mapping.set_redacted(copy.room_id, copy.event_id)
        return 1

    def _edits(self, copy: Message) -> list[tuple[EventID, UserID]]:
        """The edits porch sent of a copy that are not redacted yet. An edit holds the text it
        brought: clients hide it with its original, but the room's history still serves it."""
        porch = (copy.sender, self.ctx.chat.bot_user_id)
        return [
            (EventID(str(e["event_id"])), UserID(str(e["sender"])))
            for e in self.ctx.chat.relations(copy.room_id, copy.event_id, "m.replace")
            if e.get("sender") in porch and e.get("content")
        ]

    def _redact(
        self,
        row: InboxRow,
        link: LinkConfig,
        room: RoomID,
        event: EventID,
        sender: UserID,
        step: str,
        reason: str,
    ) -> None:
        if row.last_error is not None and self._gone(room, event):
            return
        self.ctx.chat.redact(
            room, event, as_user=sender, txn_id=txn_id(row, link, step), reason=reason
        )

    def _gone(self, room: RoomID, event: EventID) -> bool:
        """Whether the homeserver shows the event redacted already (or not at all)."""
        try:
            shown = self.ctx.chat.get_event(room, event)
        except MatrixError as exc:
            if exc.status == 404:
                return True
            raise
        unsigned = shown.get("unsigned")
        return isinstance(unsigned, dict) and "redacted_because" in unsigned

    # --- the record ----------------------------------------------------------------------------

    @staticmethod
    def _decision(cause: str, refusal: Decision | None) -> Decision:
        decision = retract(cause)
        if refusal is None:
            return decision
        reason = f"{decision.reason}; refused by {refusal.rule}: {refusal.reason}"
        return replace(decision, policy_version=refusal.policy_version, reason=reason)

    def _audit(
        self, row: InboxRow, link: LinkConfig, decision: Decision, actor: str, count: int
    ) -> None:
        copies = "1 copy" if count == 1 else f"{count} copies"
        self.ctx.audit(
            row, link, replace(decision, reason=f"{decision.reason} ({copies} redacted)"), actor
        )

    def _link(self, name: str) -> LinkConfig | None:
        return next((link for link in self.ctx.links if link.name == name), None)
