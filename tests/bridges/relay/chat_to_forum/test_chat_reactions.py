"""Which reaction keys mean "like" (a pure function)."""

from __future__ import annotations

import pytest

from bridges.relay.chat_to_forum.chat_reactions import is_like
from bridges.relay.forum_to_chat.forum_likes import LIKE_REACTION


@pytest.mark.parametrize(
    "key", ["👍", "👍️", "👍🏽", "❤️", "❤", "♥️", "💜", "+1", ":+1:", ":thumbsup:", " 👍 "]
)
def test_likes(key: str) -> None:
    assert is_like(key)


@pytest.mark.parametrize("key", ["👎", "🎉", "😂", "-1", "ok", "👍👍", ""])
def test_not_likes(key: str) -> None:
    assert not is_like(key)


def test_porch_shows_a_forum_like_with_a_key_that_means_like() -> None:
    assert is_like(LIKE_REACTION)
