"""Who edited a post, through porch's forum client, against the Discourse double."""

from __future__ import annotations

import pytest

from bridges.discourse.client import ForumClient
from bridges.discourse.discourse_config import DiscourseConfig
from bridges.discourse.forum_errors import ForumRateLimited, ForumUnavailable
from bridges.model import PostID
from sandbox.forum import SandboxForum


@pytest.fixture
def client(discourse_config: DiscourseConfig) -> ForumClient:
    return ForumClient(discourse_config)


def _post(forum: SandboxForum) -> PostID:
    first = forum.create_topic(
        "alice", "town-square", "Where should the new bench go?", "Park gate or library steps?"
    )
    return PostID(first["id"])


def test_each_revision_names_its_editor(forum: SandboxForum, client: ForumClient) -> None:
    forum.add_user("mod", moderator=True)
    post = _post(forum)
    assert client.revision_editor(post) is None  # never revised: the forum answers 404

    # Within the grace period the author's small edit makes no revision (a "ninja edit").
    forum.edit_post(post, "Park gate or the library steps?")
    assert forum.post(post)["version"] == 1
    assert client.revision_editor(post) is None

    forum.edit_post(post, "Park gate or the library steps, say?", edit_reason="wording")
    forum.edit_post(post, "Park gate, decided by the council.", editor="mod")
    assert forum.post(post)["version"] == 3
    assert client.revision_editor(post, 2) == "alice"
    assert client.revision_editor(post, 3) == "mod"
    assert client.revision_editor(post) == "mod"
    assert client.revision_editor(post, 4) is None

    # The author's edit after a moderator's is a revision of its own, not the moderator's.
    forum.edit_post(post, "Park gate, decided by the council. Thanks all!")
    assert client.revision_editor(post) == "alice"
    assert client.revision_editor(post, 4) == "alice"


def test_a_throttled_or_failing_forum_is_an_error_not_a_missing_revision(
    forum: SandboxForum, client: ForumClient
) -> None:
    post = _post(forum)
    forum.edit_post(post, "Library steps, with a ramp.", edit_reason="decided")
    forum.fail_next(1, status=429, retry_after=30, path_prefix=f"/posts/{post}/revisions")
    with pytest.raises(ForumRateLimited) as limited:
        client.revision_editor(post)
    assert limited.value.retry_after == 30
    forum.fail_next(1, status=502, path_prefix=f"/posts/{post}/revisions")
    with pytest.raises(ForumUnavailable):
        client.revision_editor(post, 2)
    assert client.revision_editor(post, 2) == "alice"
