"""A forum like (``post_liked``, event type ``like``) becomes a neutral ``ForumLike`` event."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bridges import codec
from bridges.discourse.payloads import PayloadError, inbox_event, parse_like, root_key
from bridges.model import EventKind, ForumLike

DATA = Path(__file__).resolve().parents[2] / "data" / "discourse"


def like_body(**user: Any) -> dict[str, Any]:
    """``WebHookLikeSerializer``: the liked post and the liker (``BasicUserSerializer``)."""
    post = json.loads((DATA / "post.json").read_text())["post"]
    liker = {"id": 9, "username": "Bob", "name": "Bob Brown", "avatar_template": "/a/{size}.png"}
    liker.update(user)
    return {"like": {"post": post, "user": liker}}


def test_a_like_names_the_post_and_the_liker() -> None:
    like = parse_like(like_body())
    assert like.post.post_id == 412 and like.post.topic_id == 77
    assert like.post.author.username == "alice"
    assert (like.liker.username, like.liker.user_id, like.liker.name) == ("Bob", 9, "Bob Brown")


def test_a_like_is_recorded_in_its_topics_conversation_and_round_trips() -> None:
    assert root_key("post_liked") == "like"
    event = inbox_event("post_liked", "31", like_body())
    assert event is not None
    assert event.kind is EventKind.POST_LIKED
    assert event.conversation == "discourse:topic:77"
    assert event.keys == ("discourse:delivery:31",)
    decoded = codec.decode(event.kind, event.payload)
    assert isinstance(decoded, ForumLike) and decoded == parse_like(like_body())


def test_without_a_delivery_id_the_liker_and_post_identify_a_like() -> None:
    event = inbox_event("post_liked", None, like_body())
    assert event is not None and event.keys == ("discourse:post_liked:412:bob",)


def test_a_like_without_its_liker_is_refused_with_the_path() -> None:
    body = like_body()
    del body["like"]["user"]
    with pytest.raises(PayloadError, match=r"^like.user: is required$"):
        parse_like(body)
