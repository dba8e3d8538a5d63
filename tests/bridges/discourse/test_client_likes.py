"""Likes and taking them back through porch's forum client, against the Discourse double."""

from __future__ import annotations

import pytest

from bridges.discourse.client import ForumClient
from bridges.discourse.discourse_config import DiscourseConfig
from bridges.discourse.forum_errors import ForumAuthError
from bridges.model import PostID
from sandbox.forum import SandboxForum


@pytest.fixture
def client(discourse_config: DiscourseConfig) -> ForumClient:
    return ForumClient(discourse_config)


def test_unlike_takes_the_like_back_and_a_second_unlike_is_fine(
    forum: SandboxForum, client: ForumClient
) -> None:
    first = forum.create_topic(
        "alice", "town-square", "Where should the new bench go?", "Park gate or library steps?"
    )
    post = PostID(first["id"])
    client.like(post, as_user="bob")
    assert forum.topic(first["topic_id"])["like_count"] == 1

    client.unlike(post, as_user="bob")
    assert forum.topic(first["topic_id"])["like_count"] == 0
    deletes = [c for c in forum.requests_log() if c.method == "DELETE"]
    assert deletes and deletes[-1].api_username == "bob"

    client.unlike(post, as_user="bob")  # nothing to take back: a retry must not fail
    assert forum.topic(first["topic_id"])["like_count"] == 0


def test_liking_ones_own_post_is_refused(forum: SandboxForum, client: ForumClient) -> None:
    first = forum.create_topic(
        "alice", "town-square", "Where should the new bench go?", "Park gate or library steps?"
    )
    with pytest.raises(ForumAuthError):
        client.like(PostID(first["id"]), as_user="alice")
