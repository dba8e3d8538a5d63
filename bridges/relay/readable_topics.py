"""Which forum topics a crossing's content points at, and which of them the target may read.

``policies.boundary`` neutralises every link and quote into a topic that is not known to be
readable at the target (:attr:`policies.facts.Facts.readable_topic_ids`). The relay tells it
which are: for each topic a body links to or quotes, the topic's category tier (an unlisted
topic counts as ``restricted``) compared with the target's. A topic porch cannot see, or whose
category tier is unknown, is not readable: its link goes (fail closed).
"""

from __future__ import annotations

import re

from bridges.context import RelayContext
from bridges.discourse.forum_errors import ForumAuthError, ForumNotFound
from bridges.model import CategoryID, TopicID
from policies.tiers import Tier

#: ``/t/<slug>/<id>``, ``/t/<id>/<post>``: either segment may be the topic (as the boundary
#: transform reads them), so both numbers are looked up.
_TOPIC_PATH = re.compile(r"""/(?:t|raw|print)/([^/?#\s"'<>()\[\]]+)(?:/([^/?#\s"'<>()\[\]]+))?""")
#: Discourse's quote and internal onebox markup: ``<aside class="quote" data-topic="12">``.
_DATA_TOPIC = re.compile(r"""data-topic\s*=\s*["']?(\d+)""")
#: More distinct topics than this in one body are not looked up; their links go.
MAX_LOOKUPS = 20


def linked_topic_ids(body: str) -> list[int]:
    """The topic ids a body may point at (links, previews, quotes), first seen first."""
    found: dict[int, None] = {}
    for match in _TOPIC_PATH.finditer(body):
        for segment in match.groups():
            if segment is not None and segment.isdigit():
                found[int(segment)] = None
    for match in _DATA_TOPIC.finditer(body):
        found[int(match.group(1))] = None
    return list(found)


class ReadableTopics:
    """Looks up the topics a body points at (``/t/{id}.json``) and their category tiers."""

    def __init__(self, ctx: RelayContext) -> None:
        self.ctx = ctx

    def among(self, body: str, target: Tier | None, carried: int | None = None) -> frozenset[int]:
        """The topics ``body`` points at that everyone at the ``target`` tier may read.

        Raises:
            ForumUnavailable, ForumRateLimited: the forum cannot tell now (the event waits,
                rather than losing a link to a guess).
        """
        if target is None:
            return frozenset()
        ids = [i for i in linked_topic_ids(body) if i != carried][:MAX_LOOKUPS]
        return frozenset(i for i in ids if self._readable(TopicID(i), target))

    def _readable(self, topic_id: TopicID, target: Tier) -> bool:
        try:
            topic = self.ctx.forum.topic(topic_id)
        except (ForumNotFound, ForumAuthError):
            # Not there, or not for porch's eyes: nothing anyone outside may follow.
            return False
        category = topic.get("category_id")
        if topic.get("archetype", "regular") != "regular" or not isinstance(category, int):
            return False
        tier = self.ctx.tiers.forum_tier(CategoryID(category))
        if tier is None:
            return False
        if topic.get("visible") is False and tier.more_open_than(Tier.RESTRICTED):
            tier = Tier.RESTRICTED
        return not target.more_open_than(tier)
