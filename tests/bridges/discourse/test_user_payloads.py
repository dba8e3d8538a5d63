"""The forum's ``user`` webhooks as the Discourse adapter reads them: penalties, inbox keys."""

from __future__ import annotations

import pytest

from bridges import codec
from bridges.discourse.payloads import PayloadError, inbox_event
from bridges.model import EventKind, ForumUserChanged


def _user(**fields: object) -> dict[str, object]:
    return {"user": {"id": 7, "username": "bob", "admin": False, "moderator": False, **fields}}


def test_user_webhooks_carry_the_penalties_and_count_once_per_change() -> None:
    body = _user(suspended_till="2121-02-22T00:00:00.000Z", suspend_reason="spam")
    first = inbox_event("user_suspended", "d1", body)
    assert first is not None and first.kind is EventKind.FORUM_USER_CHANGED
    user = codec.decode(first.kind, first.payload)
    assert isinstance(user, ForumUserChanged)
    assert (user.username, user.suspend_reason, user.staff) == ("bob", "spam", False)
    # A later profile edit that changes no penalty shares the content key: one inbox event.
    echo = inbox_event("user_updated", "d2", {"user": {**body["user"], "name": "Bob B"}})  # type: ignore[dict-item]
    assert echo is not None and set(first.keys) & set(echo.keys)
    lifted = inbox_event("user_unsuspended", "d3", _user())
    assert lifted is not None and not set(first.keys) & set(lifted.keys)
    with pytest.raises(PayloadError, match=r"user\.id"):
        inbox_event("user_updated", "d4", {"user": {"username": "bob"}})
