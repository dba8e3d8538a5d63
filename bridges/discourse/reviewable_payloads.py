"""The forum's ``reviewable_*`` webhooks as inbox events (:class:`bridges.model.ForumReviewable`).

Discourse fires ``reviewable_created``, ``reviewable_score_updated`` and
``reviewable_transitioned_to`` (subscribed to as ``reviewable_created`` /
``reviewable_updated``), with the body ``{"reviewable": ReviewableSerializer}``. A queued post's
serializer names the post it became as ``post_id`` once approved
(``"#{target_type.downcase}_id"``). ``status`` is a word on current forums and the enum's number
(``pending: 0, approved: 1, rejected: 2, ignored: 3, deleted: 4``) on older ones.

The review queue (:mod:`bridges.review`) acts on these events; reading them belongs to the
Discourse adapter, which knows no feature.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridges import codec
from bridges.model import EventKind, ForumReviewable, Platform, PostID, TopicID
from bridges.store.inbox import NewEvent

EVENTS = (
    "reviewable_created",
    "reviewable_updated",
    "reviewable_score_updated",
    "reviewable_transitioned_to",
)
_STATUSES = ("pending", "approved", "rejected", "ignored", "deleted")


class ReviewablePayloadError(ValueError):
    """The body is not a reviewable: ``path`` names the field."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_reviewable(event_name: str, body: Mapping[str, Any]) -> ForumReviewable:
    """The reviewable of a ``reviewable_*`` body.

    Raises:
        ReviewablePayloadError: no ``reviewable`` object, or no integer ``id`` or known status.
    """
    inner = body.get("reviewable")
    if not isinstance(inner, Mapping):
        raise ReviewablePayloadError("reviewable", "is required (an object)")
    reviewable_id = _int(inner.get("id"))
    if reviewable_id is None:
        raise ReviewablePayloadError("reviewable.id", "expected an integer")
    status = inner.get("status")
    number = _int(status)
    if number is not None and 0 <= number < len(_STATUSES):
        status = _STATUSES[number]
    if status not in _STATUSES:
        raise ReviewablePayloadError("reviewable.status", f"unknown status {status!r}")
    post_id, topic_id = _int(inner.get("post_id")), _int(inner.get("topic_id"))
    return ForumReviewable(
        reviewable_id=reviewable_id,
        status=str(status),
        type=str(inner.get("type") or ""),
        event=event_name,
        post_id=None if post_id is None else PostID(post_id),
        topic_id=None if topic_id is None else TopicID(topic_id),
    )


def reviewable_event(event_name: str, keys: list[str], body: Mapping[str, Any]) -> NewEvent:
    """The inbox event of one ``reviewable_*`` delivery; its transitions stay in order (one
    conversation per reviewable), and a repeated body is one event."""
    found = parse_reviewable(event_name, body)
    keys.append(f"discourse:reviewable:{found.reviewable_id}:{found.status}:{found.post_id}")
    return NewEvent(
        source=Platform.FORUM,
        kind=EventKind.FORUM_REVIEWABLE,
        conversation=f"discourse:reviewable:{found.reviewable_id}",
        payload=codec.encode(EventKind.FORUM_REVIEWABLE, found),
        keys=tuple(keys),
    )
