"""The forum's ``reviewable_*`` webhooks as the Discourse adapter reads them."""

from __future__ import annotations

from typing import Any

import pytest

from bridges import codec
from bridges.discourse.payloads import PayloadError, inbox_event, root_key
from bridges.model import EventKind, ForumReviewable, PostID, TopicID


@pytest.mark.parametrize("event", ["reviewable_created", "reviewable_transitioned_to"])
def test_porch_records_reviewable_events(event: str) -> None:
    body = {"reviewable": {"id": 5, "status": 1, "type": "ReviewableQueuedPost", "post_id": 9}}
    new = inbox_event(event, "77", body)
    assert new is not None and new.kind is EventKind.FORUM_REVIEWABLE
    assert root_key(event) == "reviewable"
    assert new.conversation == "discourse:reviewable:5"
    assert new.keys == ("discourse:delivery:77", "discourse:reviewable:5:approved:9")
    assert codec.decode(new.kind, new.payload) == ForumReviewable(
        5, "approved", "ReviewableQueuedPost", event, PostID(9), None
    )
    words = {"reviewable": {"id": 5, "status": "rejected", "topic_id": 3}}
    found = inbox_event(event, None, words)
    assert found is not None
    assert codec.decode(found.kind, found.payload) == ForumReviewable(
        5, "rejected", "", event, None, TopicID(3)
    )


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({}, "reviewable"),
        ({"reviewable": {"status": "pending"}}, "reviewable.id"),
        ({"reviewable": {"id": "5", "status": "pending"}}, "reviewable.id"),
        ({"reviewable": {"id": 5, "status": "lost"}}, "reviewable.status"),
    ],
)
def test_a_body_that_is_no_reviewable_is_refused(body: dict[str, Any], path: str) -> None:
    with pytest.raises(PayloadError) as raised:
        inbox_event("reviewable_created", "1", body)
    assert raised.value.path == path
