"""The forum's review queue: the double's ``reviewable`` webhooks, and the moderators' notices."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bridges.review.desk import notice_content
from bridges.store.review import HeldItem
from sandbox.forum import SandboxForum
from tests.rig.forum import WebhookSink


def _bodies(sink: WebhookSink) -> list[tuple[str, dict[str, Any]]]:
    return [(r.headers["X-Discourse-Event"], json.loads(r.body)) for r in sink.received]


def test_the_double_queues_a_members_posts_and_tells_its_webhooks(
    forum: SandboxForum, webhook_sink: WebhookSink, forum_secret: str
) -> None:
    forum.add_user("mod", moderator=True)
    forum.set_webhook(webhook_sink.url, forum_secret, events={"post", "reviewable_created"})
    topic = forum.create_topic(
        "alice", "town-square", "Bench by the library", "One more bench, please?"
    )
    forum.require_approval("alice")
    queued = forum.reply("alice", topic["topic_id"], "Two benches would be better still.")
    assert queued["action"] == "enqueued"
    staff = forum.reply("mod", topic["topic_id"], "Staff posts are never queued, as on Discourse.")
    assert "id" in staff
    forum.flush_webhooks()
    created = [b for name, b in _bodies(webhook_sink) if name == "reviewable_created"]
    (reviewable,) = (b["reviewable"] for b in created)
    assert reviewable["id"] == queued["pending_post"]["id"]
    assert (reviewable["status"], reviewable["type"], reviewable["version"]) == (
        "pending",
        "ReviewableQueuedPost",
        0,
    )
    assert reviewable["payload"] == {"raw": "Two benches would be better still."}
    assert reviewable["topic_id"] == topic["topic_id"] and "post_id" not in reviewable


def test_an_approval_creates_the_post_then_names_it(
    forum: SandboxForum, webhook_sink: WebhookSink, forum_secret: str
) -> None:
    forum.add_category("moderated", require_approval=True)
    forum.set_webhook(webhook_sink.url, forum_secret, events={"post", "reviewable_updated"})
    first = forum.create_topic(
        "alice", "moderated", "Benches for the park", "Where shall we put them?"
    )
    second = forum.create_topic(
        "alice", "moderated", "Swings for the park", "Who pays for the swings?"
    )
    post = forum.approve(first["pending_post"]["id"])
    forum.reject(second["pending_post"]["id"])
    forum.flush_webhooks()
    names = [name for name, _ in _bodies(webhook_sink)]
    assert names == ["post_created", "reviewable_transitioned_to", "reviewable_transitioned_to"]
    approved = _bodies(webhook_sink)[1][1]["reviewable"]
    assert (approved["status"], approved["post_id"], approved["topic_id"]) == (
        "approved",
        post["id"],
        post["topic_id"],
    )
    assert approved["payload"]["title"] == "Benches for the park"
    rejected = _bodies(webhook_sink)[2][1]["reviewable"]
    assert rejected["status"] == "rejected" and "post_id" not in rejected
    assert forum.pending_posts() == []
    with pytest.raises(KeyError):
        forum.reject(second["pending_post"]["id"])


def test_a_notice_quotes_as_text_and_pings_nobody() -> None:
    item = HeldItem(
        id=3,
        inbox_id=1,
        link="town",
        subject="event:$e",
        direction="chat-to-forum",
        kind="matrix.message",
        payload="{}",
        author="@eve:x",
        preview='<img src=x onerror="alert(1)"> @room\nsecond line',
        rule="watched_words:require_approval",
        policy_version="v",
        reason="contains 'pills'",
        state="pending",
        created_at=0.0,
    )
    content = notice_content(item)
    assert content["msgtype"] == "m.notice" and content["m.mentions"] == {}
    assert "<img" not in content["formatted_body"]
    assert (
        "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; @room<br>second line"
        in (content["formatted_body"])
    )
    assert "> second line" in content["body"] and "!approve 3 / !reject 3" in content["body"]
