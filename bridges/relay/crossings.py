"""Crossing decisions in the relay: the facts gathered, the policy asked, the answer recorded.

For every event that asks to cross a link, both directions:

1. the built-in floor first (:func:`policies.crossing.decide`): what it refuses costs no call;
2. the facts (:class:`policies.facts.Facts`): the tiers of both ends (:mod:`bridges.link_tiers`),
   the topic's category, tags, title and listing (``/t/{id}.json``), the author's forum
   trust level and staff flag (from the webhook), and their groups only when the decision
   asks for them (``/u/{username}.json``); a chat sender's linked forum account stands in for
   them, an unlinked sender has no groups;
3. :func:`policies.engine.decide` with the link's named policy;
4. a ``waiting`` decision (a fact is unknown: a tier not read yet, the forum unreachable) is
   recorded in the audit log and raises :class:`RetryLater`: the event waits and is decided
   again; it is never sent on a guess;
5. a decision that crosses is applied (:func:`policies.engine.apply`) to what the other side
   will show: body, title, author name; what the transforms changed goes into the audit
   detail (counts, never the removed data).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from bridges.context import RelayContext
from bridges.discourse.client import tag_names
from bridges.links import LinkConfig
from bridges.model import (
    CategoryID,
    ChatMessage,
    ForumPost,
    ForumUsername,
    Platform,
    TopicID,
)
from bridges.moderation.screening import Screening
from bridges.relay.readable_topics import ReadableTopics
from bridges.review.desk import ReviewDesk
from bridges.store.inbox import InboxRow
from bridges.worker import RetryLater
from policies import crossing as builtin_rules
from policies import engine
from policies.anonymise import NAME as ANONYMISE
from policies.crossing import Crossing
from policies.decision import Decision, Outcome
from policies.facts import BodyFormat, Content, Facts
from policies.metadata import NAME as HIDE_METADATA

log = logging.getLogger(__name__)

#: What a ``waiting`` decision may name that one more call can tell: the author's groups, trust
#: level and staff flag (conditions by their names, transforms by the fact they need).
_AUTHOR_FACTS = frozenset({"author_groups", "groups", "trust_level", "staff"})


@dataclass(frozen=True, slots=True)
class Shown:
    """What the other side shows of a crossing, after the decision's transforms.

    ``alias`` is the collective name the author is shown under (``anonymise``), if any: the
    copy must then come from porch, not from the author's own ghost or account.
    """

    content: Content
    alias: str | None = None
    #: The title was hidden (``hide_metadata``): links to the source leave out its slug.
    title_hidden: bool = False


@dataclass(frozen=True, slots=True)
class Verdict:
    """A decision (its reason with what the transforms changed) and, when it crosses, what
    the other side shows."""

    decision: Decision
    shown: Shown | None = None

    @property
    def crosses(self) -> bool:
        return self.decision.crosses


def held_subject(msg: ChatMessage) -> str:
    """What a held chat message is queued under, for its link (:mod:`bridges.review`)."""
    return f"event:{msg.event_id}"


class Crossings:
    """Gathers the facts of a crossing, asks the link's policy, applies its transforms."""

    def __init__(
        self,
        ctx: RelayContext,
        review: ReviewDesk,
        screening: Screening,
        readable: ReadableTopics,
    ) -> None:
        self.ctx = ctx
        #: A decision that holds a crossing queues it for a moderator (:mod:`bridges.review`).
        self.review = review
        #: Watched words and protections (:mod:`bridges.moderation.screening`).
        self.screening = screening
        #: Which linked topics the target may read (:mod:`bridges.relay.readable_topics`).
        self.readable = readable

    # --- forum -> chat ----------------------------------------------------------------------

    def forum_post(
        self, row: InboxRow, link: LinkConfig, post: ForumPost, title: str | None = None
    ) -> Verdict:
        """Decide whether ``post`` goes into the link's room, and as what.

        ``title``: the topic title the copy shows (a thread root), if any.

        Raises:
            RetryLater: a fact the decision needs is unknown (recorded in the audit log).
        """
        crossing = Crossing(
            source=Platform.FORUM.value,
            direction=link.direction.value,
            link=link.name,
            post_type=post.post_type,
            archetype=post.archetype,
        )
        floor = builtin_rules.decide(crossing)
        if not floor.crosses:
            return Verdict(floor)
        listed = self.ctx.policy_lists.listed_author(post.author.username)
        if listed is not None:
            return Verdict(listed.decision())
        topic = self.ctx.forum.topic(post.topic_id)
        found = topic.get("category_id", post.category_id)
        category = None if found is None else CategoryID(int(found))
        security = None if category is None else self.ctx.tiers.category(category)
        room = self.ctx.room_of(link)
        tags = frozenset(tag_names(topic.get("tags")))
        facts = Facts(
            source_tier=None if security is None else security.tier,
            target_tier=self.ctx.tiers.room_tier(room),
            category_slug=None if security is None else security.slug,
            category_name=None if security is None else security.name,
            tags=tags,
            title=str(topic.get("title") or post.topic_title),
            topic_id=post.topic_id,
            author_username=post.author.username,
            trust_level=post.author.trust_level,
            staff=post.author.staff,
            unlisted=topic.get("visible") is False,
            forum_url=self.ctx.discourse.base_url,
        )
        if facts.outward:
            # Links and quotes into topics the room may read survive the boundary transforms.
            readable = self.readable.among(post.cooked, facts.target_tier, post.topic_id)
            facts = replace(facts, readable_topic_ids=readable)
        content = Content(
            body=post.cooked,
            format=BodyFormat.HTML,
            title=title,
            author_display_name=post.author.display_name,
            author_username=post.author.username,
        )
        unknown = [] if security is not None else [f"category {category}"]
        if facts.target_tier is None:
            unknown.append(f"room {room}")
        decision = self._decide(
            row, link, crossing, facts, post.author.username, unknown, post.author.username
        )
        decision = self.screening.forum_post(row, link, decision, post)
        subject = f"post:{post.post_id}"
        decision = self.review.consult(row, link, subject, decision, post.author.username, content)
        return self.apply(decision, content)

    # --- chat -> forum ----------------------------------------------------------------------

    def chat_message(
        self,
        row: InboxRow,
        link: LinkConfig,
        msg: ChatMessage,
        topic_id: TopicID | None,
        text: str,
        judged: str,
        keep: Mapping[str, Any] | None = None,
    ) -> Verdict:
        """Decide whether ``msg`` goes into the link's category (into ``topic_id``, or as a
        new topic when it is ``None``). The transforms are applied later, by :meth:`apply`.

        ``text`` is the message as the forum will get it (its markdown), ``judged`` all of it
        a forum reader may see (:class:`bridges.relay.chat_to_forum.chat_posting.Draft`): the
        watched words, the protections and the links are judged on these, never on ``body`` (a
        client may send a ``body`` that differs from its ``formatted_body``); a held message shows
        ``text`` to the moderators and keeps ``keep`` for its approval.

        Raises:
            RetryLater: a fact the decision needs is unknown (recorded in the audit log).
        """
        crossing = Crossing(
            source=Platform.CHAT.value,
            direction=link.direction.value,
            link=link.name,
            is_notice=msg.msgtype == "m.notice",
        )
        floor = builtin_rules.decide(crossing)
        if not floor.crosses:
            return Verdict(floor)
        listed = self.ctx.policy_lists.listed(msg.sender)
        if listed is not None:
            return Verdict(listed.decision())
        category = self.ctx.category_of(link)
        security = self.ctx.tiers.category(category)
        identity = self.ctx.store.identities.by_matrix_user(msg.sender)
        tags: frozenset[str] = frozenset(link.forum.tags)
        title = None
        if topic_id is not None:
            topic = self.ctx.forum.topic(topic_id)
            tags = frozenset(tag_names(topic.get("tags")))
            title = str(topic.get("title") or "") or None
        facts = Facts(
            source_tier=self.ctx.tiers.room_tier(msg.room_id),
            target_tier=None if security is None else security.tier,
            category_slug=None if security is None else security.slug,
            category_name=None if security is None else security.name,
            tags=tags,
            title=title,
            topic_id=topic_id,
            author_username=None if identity is None else identity.forum_username,
            # Someone without a linked account is known to be in no forum group.
            author_groups=frozenset() if identity is None else None,
            trust_level=0 if identity is None else None,
            staff=False if identity is None else None,
            forum_url=self.ctx.discourse.base_url,
        )
        if facts.outward:
            readable = self.readable.among(text, facts.target_tier, topic_id)
            facts = replace(facts, readable_topic_ids=readable)
        unknown = [] if facts.source_tier is not None else [f"room {msg.room_id}"]
        if security is None:
            unknown.append(f"category {category}")
        username = None if identity is None else identity.forum_username
        decision = self._decide(row, link, crossing, facts, username, unknown, msg.sender)
        decision = self.screening.chat_message(row, link, decision, msg, judged)
        held = Content(text, BodyFormat.MARKDOWN)
        subject = held_subject(msg)
        return Verdict(
            self.review.consult(row, link, subject, decision, msg.sender, held, msg, keep)
        )

    # --- the decision -----------------------------------------------------------------------

    def _decide(
        self,
        row: InboxRow,
        link: LinkConfig,
        crossing: Crossing,
        facts: Facts,
        username: str | None,
        unknown: list[str],
        actor: str,
    ) -> Decision:
        policy = None if link.policy is None else self.ctx.policies.get(link.policy)
        decision = engine.decide(crossing, facts, policy, name=link.policy)
        asked = _AUTHOR_FACTS.intersection(decision.waiting_for)
        if decision.outcome is Outcome.WAITING and asked and username is not None:
            facts = replace(facts, **self._author_facts(username))
            decision = engine.decide(crossing, facts, policy, name=link.policy)
        if decision.outcome is Outcome.WAITING:
            why = [self.ctx.tiers.errors.get(what) for what in unknown]
            reason = decision.reason
            if any(why):
                reason += f" ({'; '.join(w for w in why if w)})"
            waiting = replace(decision, reason=reason)
            self.ctx.audit(row, link, waiting, actor)
            raise RetryLater(f"waiting for facts: {reason}")
        return decision

    def _author_facts(self, username: str) -> dict[str, Any]:
        """The forum's word on an author: groups (with the automatic ones), trust level, staff."""
        user = self.ctx.forum.user(ForumUsername(username))
        groups = {
            str(g["name"])
            for g in user.get("groups") or ()
            if isinstance(g, dict) and isinstance(g.get("name"), str)
        }
        level = int(user.get("trust_level") or 0)
        admin, moderator = bool(user.get("admin")), bool(user.get("moderator"))
        # Discourse's automatic groups, whatever the profile chose to list.
        groups |= {"everyone", *(f"trust_level_{n}" for n in range(level + 1))}
        groups |= {"admins"} if admin else set()
        groups |= {"moderators"} if moderator else set()
        groups |= {"staff"} if admin or moderator else set()
        return {
            "author_groups": frozenset(groups),
            "trust_level": level,
            "staff": admin or moderator,
        }

    def apply(self, decision: Decision, content: Content) -> Verdict:
        """``content`` as the decision's transforms leave it; the decision's reason names what
        they changed (counts, never the removed data)."""
        if not decision.crosses:
            return Verdict(decision)
        if not decision.transforms:
            return Verdict(decision, Shown(content))
        transformed = engine.apply(decision, content)
        if transformed.detail:
            decision = replace(decision, reason=f"{decision.reason}: {transformed.detail}")
        hidden = HIDE_METADATA in decision.transform_names
        return Verdict(decision, _shown(content, transformed, hidden))


def _shown(original: Content, transformed: engine.Transformed, title_hidden: bool) -> Shown:
    names = {change.transform for change in transformed.changes}
    alias = transformed.content.author_display_name if ANONYMISE in names else None
    return Shown(
        transformed.content,
        alias if alias != original.author_display_name else None,
        # A reply shows no title, yet its link would name the topic in its slug.
        title_hidden=title_hidden,
    )
