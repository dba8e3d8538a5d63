"""The plain data a decision reads: facts about the crossing, and the content that would cross.

The relay gathers these from the platforms and the store; the policies never fetch anything.
``None`` always means *unknown* (not fetched yet, platform unreachable), which is different from
empty: a decision that needs an unknown fact waits rather than guessing (fail closed).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from policies.tiers import Tier


@dataclass(frozen=True, slots=True)
class Facts:
    """What is known about one crossing when it is decided.

    Attributes:
        source_tier: the tier of the space the content was written in; ``None``: unknown.
        target_tier: the tier of the space it would go to; ``None``: unknown.
        category_slug: the forum category's slug (either direction: the link's category).
        category_name: the forum category's display name.
        tags: the forum topic's tags.
        title: the forum topic's title.
        topic_id: the forum topic the content belongs to, if any.
        author_username: the forum username of the author (for chat messages: the linked forum
            account, ``None`` when the sender has none).
        author_groups: the forum groups of the author, including Discourse's automatic groups
            (``staff``, ``admins``, ``trust_level_2`` ...); ``None``: not known yet. An unlinked
            chat sender's groups are known to be empty.
        trust_level: the author's forum trust level (0..4); ``None``: unknown.
        staff: whether the author is forum staff (admin or moderator); ``None``: unknown.
        unlisted: whether the source topic is unlisted (not discoverable even in an open
            category): it counts as no more open than ``restricted``.
        forum_url: the forum's base URL, to recognise absolute links into it.
        readable_topic_ids: topics known to be readable by everyone at the target tier; quotes
            of and links to any other forum topic are treated as pointing into a restricted one.
    """

    source_tier: Tier | None
    target_tier: Tier | None
    category_slug: str | None = None
    category_name: str | None = None
    tags: frozenset[str] = frozenset()
    title: str | None = None
    topic_id: int | None = None
    author_username: str | None = None
    author_groups: frozenset[str] | None = None
    trust_level: int | None = None
    staff: bool | None = None
    unlisted: bool = False
    forum_url: str | None = None
    readable_topic_ids: frozenset[int] = frozenset()

    @property
    def effective_source_tier(self) -> Tier | None:
        """The source tier, lowered to ``restricted`` for an unlisted topic."""
        if self.source_tier is None:
            return None
        if self.unlisted and self.source_tier.more_open_than(Tier.RESTRICTED):
            return Tier.RESTRICTED
        return self.source_tier

    @property
    def outward(self) -> bool | None:
        """Whether the crossing goes into a more open space; ``None`` when a tier is unknown."""
        source = self.effective_source_tier
        if source is None or self.target_tier is None:
            return None
        return self.target_tier.more_open_than(source)


class BodyFormat(StrEnum):
    """How a body is written: cooked forum HTML / Matrix ``formatted_body``, or source text."""

    HTML = "html"
    MARKDOWN = "markdown"
    TEXT = "text"


@dataclass(frozen=True, slots=True)
class Content:
    """What would cross: the parts a reader on the other side can see.

    Attributes:
        body: the message or post body, in ``format``.
        format: ``html`` (cooked post, ``formatted_body``), ``markdown`` (raw post) or ``text``.
        title: the topic title shown with a thread root, if any.
        author_display_name: the name the other side shows for the author.
        author_username: the author's forum username, if the copy names it (ghost, mention).
        tags: the topic tags shown with the copy.
        category_name: the category name shown with the copy.
    """

    body: str
    format: BodyFormat = BodyFormat.HTML
    title: str | None = None
    author_display_name: str | None = None
    author_username: str | None = None
    tags: tuple[str, ...] = ()
    category_name: str | None = None
