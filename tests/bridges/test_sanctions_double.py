"""Porch's forum calls for sanctions against the Discourse double, over real HTTP: silence,
suspension and their undo fire the user webhooks porch follows; a staff flag hides a post and
``unhide`` shows it again; the admin user view names who acted."""

from __future__ import annotations

import pytest
import requests

from bridges.discourse.client import ForumClient
from bridges.discourse.discourse_config import DiscourseConfig
from bridges.discourse.forum_errors import ForumRejected
from bridges.model import PostID
from sandbox.forum import SandboxForum
from tests.rig.forum import FORUM_API_KEY


def _user_events(forum: SandboxForum) -> list[tuple[str, object, object]]:
    return [
        (e.name, e.payload.get("silenced_till"), e.payload.get("suspended_till"))
        for e in forum.events()
        if e.type == "user"
    ]


def test_silence_and_unsilence_as_porch(
    forum: SandboxForum, discourse_config: DiscourseConfig
) -> None:
    client = ForumClient(discourse_config)
    bob = client.user("bob")["id"]

    client.silence_user(bob, until="2121-01-01T00:00:00+00:00", reason="banned in chat")
    shown = client.admin_user(bob)
    assert (shown["silenced_by"], shown["silence_reason"]) == ("porch", "banned in chat")
    with pytest.raises(ForumRejected) as again:
        client.silence_user(bob, until="2121-01-01T00:00:00+00:00", reason="twice")
    assert again.value.status == 409
    client.unsilence_user(bob)
    assert client.admin_user(bob)["silenced_by"] is None
    events = _user_events(forum)
    assert [name for name, _, _ in events] == ["user_updated", "user_updated"]
    assert events[0][1] is not None and events[1][1] is None


def test_a_suspension_fires_user_suspended_and_names_the_moderator(
    forum: SandboxForum, discourse_config: DiscourseConfig
) -> None:
    forum.add_user("mod", moderator=True)
    bob = ForumClient(discourse_config).user("bob")["id"]
    response = requests.put(
        f"{forum.base_url}/admin/users/{bob}/suspend.json",
        headers={"Api-Key": FORUM_API_KEY, "Api-Username": "mod"},
        json={"suspend_until": "2121-02-22", "reason": "spam"},
        timeout=5,
    )
    assert response.status_code == 200, response.text
    assert ForumClient(discourse_config).admin_user(bob)["suspended_by"] == "mod"
    ForumClient(discourse_config).unsuspend_user(bob)
    assert [name for name, _, _ in _user_events(forum)] == ["user_suspended", "user_unsuspended"]
    # Members cannot reach the admin routes at all.
    member = requests.get(
        f"{forum.base_url}/admin/users/{bob}.json",
        headers={"Api-Key": FORUM_API_KEY, "Api-Username": "alice"},
        timeout=5,
    )
    assert member.status_code == 404


def test_hide_and_unhide_a_post(forum: SandboxForum, discourse_config: DiscourseConfig) -> None:
    client = ForumClient(discourse_config)
    first = forum.create_topic("alice", "town-square", "Benches for the square", "Where to?" * 3)
    reply = forum.reply("bob", first["topic_id"], "Buy my benches at bench.example!")

    client.hide_post(PostID(reply["id"]), reason="redacted in chat")
    assert forum.post(reply["id"])["hidden"] is True
    client.unhide_post(PostID(reply["id"]))
    assert forum.post(reply["id"])["hidden"] is False
    edits = [e.payload["hidden"] for e in forum.events() if e.name == "post_edited"]
    assert edits == [True, False]
