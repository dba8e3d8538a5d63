"""The sandbox forum's review queue as its ``reviewable`` webhooks show it.

A queued post is a ``ReviewableQueuedPost``: the ``pending_post`` of the ``enqueued`` answer is
the reviewable (same id). Its webhooks carry ``{"reviewable": ReviewableQueuedPostSerializer}``
(the serializer as in Discourse's
``reviewable_serializer.rb`` and ``reviewable_queued_post_serializer.rb``): ``status`` as a word
(``Reviewable.statuses``, a Rails enum), ``version`` counting transitions, the queued post's
fields under ``payload``, and once approved the created post as ``post_id`` (the serializer's
``"#{target_type.downcase}_id"``; the double leaves out ``target_url``, which porch does not
read). Fired as ``reviewable_created`` when
the post is queued and ``reviewable_transitioned_to`` when a moderator decides (webhooks
subscribed to ``reviewable_updated`` receive the latter). The review REST API is not in the
OpenAPI document, so there is nothing to validate these bodies against; they follow the
serializers.
"""

from __future__ import annotations

from typing import Any

from sandbox.forum_model import PendingPost, Post, User
from sandbox.forum_render import iso

REVIEWABLE_TYPE = "ReviewableQueuedPost"


def reviewable_payload(
    pending: PendingPost,
    author: User,
    status: str,
    version: int,
    post: Post | None = None,
    topic_url: str | None = None,
) -> dict[str, Any]:
    """The ``reviewable`` object of a queued post's webhook."""
    payload: dict[str, Any] = {"raw": pending.raw}
    if pending.topic_id is None:
        payload.update(title=pending.title, archetype="regular", tags=list(pending.tags))
    if pending.reply_to_post_number is not None:
        payload["reply_to_post_number"] = pending.reply_to_post_number
    body: dict[str, Any] = {
        "id": pending.id,
        "status": status,
        "type": REVIEWABLE_TYPE,
        "created_at": iso(pending.created_at),
        "can_edit": False,
        "score": 0.0,
        "version": version,
        "target_created_by_trust_level": author.trust_level,
        "created_by_id": author.id,
        "target_created_by_id": author.id,
        "payload": payload,
    }
    topic_id = pending.topic_id if post is None else post.topic_id
    if topic_id is not None:
        body["topic_id"] = topic_id
    if topic_url is not None:
        body["topic_url"] = topic_url
    if pending.category_id is not None:
        body["category_id"] = pending.category_id
    if pending.reply_to_post_number is not None:
        body["reply_to_post_number"] = pending.reply_to_post_number
    if post is not None:
        body["post_id"] = post.id
    return body
