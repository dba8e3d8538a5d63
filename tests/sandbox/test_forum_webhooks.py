"""The double's webhooks look and arrive as Discourse's do."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
import requests

from sandbox.forum import SandboxForum, SandboxRejection
from sandbox.forum_hooks import signature
from sandbox.forum_state import Settings
from tests.rig.forum import FORUM_API_KEY, Received, WebhookSink

TITLE = "Where should the new bench go?"
BODY = "The council has one bench to place. Park gate or library steps?"


def _words(text: str) -> set[str]:
    return set(text.split())


#: §1.5, asserted by Discourse's own web_hook_post_serializer_spec.rb.
POST_KEYS = _words(
    "id name username avatar_template created_at cooked post_number post_type updated_at "
    "reply_count reply_to_post_number quote_count incoming_link_count reads score topic_id "
    "topic_slug topic_title category_id display_username primary_group_name flair_name version "
    "user_title bookmarked raw moderator admin staff user_id hidden trust_level deleted_at "
    "user_deleted edit_reason wiki reviewable_id reviewable_score_count "
    "reviewable_score_pending_count topic_posts_count topic_filtered_posts_count topic_archetype "
    "category_slug"
)
#: §1.6, web_hook_topic_view_serializer_spec.rb.
TOPIC_KEYS = _words(
    "id title fancy_title posts_count created_at views reply_count like_count last_posted_at "
    "visible closed archived archetype slug category_id word_count deleted_at user_id "
    "featured_link pinned_globally pinned_at pinned_until unpinned pinned highest_post_number "
    "deleted_by bookmarked participant_count created_by last_poster tags tags_descriptions "
    "thumbnails"
)


@pytest.fixture
def hooked(forum: SandboxForum, webhook_sink: WebhookSink, forum_secret: str) -> SandboxForum:
    forum.set_webhook(webhook_sink.url, forum_secret)
    return forum


def _names(sink: WebhookSink) -> list[str]:
    return [r.headers["X-Discourse-Event"] for r in sink.received]


def _payload(received: Received) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(received.body)
    return body


def test_signature_matches_discourses_test_vector() -> None:
    expected = "sha256=162f107f6b5022353274eb1a7197885cfd35744d8d08e5bcea025d309386b7d6"
    assert signature("my_lovely_secret_for_web_hook", b'{"ping":"OK"}') == expected


def test_a_new_topic_is_delivered_signed_with_discourses_headers(
    hooked: SandboxForum, webhook_sink: WebhookSink, forum_secret: str
) -> None:
    hooked.create_topic("alice", "town-square", TITLE, BODY)
    hooked.flush_webhooks()
    assert _names(webhook_sink) == ["topic_created", "post_created"]
    topic_hook, post_hook = webhook_sink.received
    headers = post_hook.headers
    assert headers["Accept"] == "*/*"
    assert headers["Connection"] == "close"
    assert headers["Content-Type"] == "application/json"  # no charset, as real deliveries
    assert headers["Host"] == "127.0.0.1"  # uri.host, without the port
    assert headers["User-Agent"].startswith("Discourse/")
    assert headers["X-Discourse-Instance"] == hooked.base_url
    assert headers["X-Discourse-Event-Type"] == "post"
    assert int(headers["X-Discourse-Event-Id"]) > int(topic_hook.headers["X-Discourse-Event-Id"])
    mac = hmac.new(forum_secret.encode(), post_hook.body, hashlib.sha256).hexdigest()
    assert headers["X-Discourse-Event-Signature"] == f"sha256={mac}"
    assert topic_hook.headers["X-Discourse-Event-Type"] == "topic"

    post = _payload(post_hook)["post"]
    assert set(post) == POST_KEYS | {"reactions"}  # + a plugin's key consumers must ignore
    assert (post["username"], post["post_number"], post["raw"]) == ("alice", 1, BODY)
    assert post["category_slug"] == "town-square"
    assert post["topic_archetype"] == "regular"
    topic = _payload(topic_hook)["topic"]
    assert set(topic) == TOPIC_KEYS | {"accepted_answer"}
    assert topic["title"] == TITLE
    assert topic["created_by"]["username"] == "alice"


def test_a_reply_names_whom_it_answers(hooked: SandboxForum, webhook_sink: WebhookSink) -> None:
    first = hooked.create_topic("alice", "town-square", TITLE, BODY)
    hooked.reply("bob", first["topic_id"], "Library steps: people wait there.", 1)
    hooked.flush_webhooks()
    reply = _payload(webhook_sink.received[-1])["post"]
    assert reply["reply_to_post_number"] == 1
    assert reply["reply_to_user"]["username"] == "alice"
    assert reply["cooked"] == "<p>Library steps: people wait there.</p>"


def test_posts_made_through_the_api_fire_webhooks_too(
    hooked: SandboxForum, webhook_sink: WebhookSink
) -> None:
    first = hooked.create_topic("alice", "town-square", TITLE, BODY)
    answer = requests.post(
        hooked.base_url + "/posts.json",
        data={"topic_id": first["topic_id"], "raw": "**carol**: the library steps, surely."},
        headers={"Api-Key": FORUM_API_KEY, "Api-Username": "chat-relay"},
        timeout=5,
    )
    assert answer.status_code == 200
    hooked.flush_webhooks()
    created = _payload(webhook_sink.received[-1])["post"]
    assert _names(webhook_sink)[-1] == "post_created"
    assert (created["id"], created["username"]) == (answer.json()["id"], "chat-relay")


def test_an_authors_own_delete_is_an_edit_then_destroys(
    hooked: SandboxForum, webhook_sink: WebhookSink
) -> None:
    first = hooked.create_topic("alice", "town-square", TITLE, BODY)
    hooked.flush_webhooks()
    webhook_sink.received.clear()
    hooked.delete_post(first["id"], by="alice")
    hooked.flush_webhooks()
    assert _names(webhook_sink) == ["post_edited", "post_destroyed", "topic_destroyed"]
    edited = _payload(webhook_sink.received[0])["post"]
    assert (edited["raw"], edited["user_deleted"]) == ("(topic deleted by author)", True)
    # post_destroyed carries the post as it was before the delete (PostDestroyer builds the
    # payload first).
    assert _payload(webhook_sink.received[1])["post"]["raw"] == BODY


def test_a_moderators_delete_and_recover(hooked: SandboxForum, webhook_sink: WebhookSink) -> None:
    first = hooked.create_topic("alice", "town-square", TITLE, BODY)
    reply = hooked.reply("bob", first["topic_id"], "Library steps: people wait there.")
    hooked.flush_webhooks()
    webhook_sink.received.clear()
    hooked.delete_post(reply["id"], by="porch")
    hooked.delete_post(first["id"], by="porch")
    hooked.recover_post(first["id"])
    hooked.flush_webhooks()
    assert _names(webhook_sink) == [
        "post_destroyed",
        "post_destroyed",
        "topic_destroyed",
        "post_recovered",
        "topic_recovered",
    ]
    assert _payload(webhook_sink.received[0])["post"]["deleted_at"] is None  # built before


def test_a_title_change_is_only_a_topic_edit(
    hooked: SandboxForum, webhook_sink: WebhookSink
) -> None:
    first = hooked.create_topic("alice", "town-square", TITLE, BODY)
    hooked.edit_post(first["id"], BODY + " Or both?", title="Where should the benches go?")
    hooked.edit_post(first["id"], BODY + " Or both, maybe?")
    hooked.flush_webhooks()
    assert _names(webhook_sink)[2:] == ["topic_edited", "post_edited"]
    assert _payload(webhook_sink.received[2])["topic"]["title"] == "Where should the benches go?"


def test_quick_small_edits_keep_the_version(
    hooked: SandboxForum, webhook_sink: WebhookSink
) -> None:
    """PostRevisor's grace period: a receiver cannot tell two quick edits apart by version."""
    first = hooked.create_topic("alice", "town-square", TITLE, BODY)
    hooked.edit_post(first["id"], BODY + " Or both?")
    hooked.edit_post(first["id"], BODY + " Or both, maybe?")
    hooked.edit_post(first["id"], BODY + " (moderated)", editor="porch")
    hooked.flush_webhooks()
    versions = [_payload(r)["post"]["version"] for r in webhook_sink.received[1:]]
    assert versions == [1, 1, 1, 2]


def test_a_personal_message_has_no_category(
    hooked: SandboxForum, webhook_sink: WebhookSink
) -> None:
    hooked.send_private_message("alice", ["bob"], "Just between us two", "Do you like benches?")
    hooked.flush_webhooks()
    post = _payload(webhook_sink.received[-1])["post"]
    assert post["topic_archetype"] == "private_message"
    assert post["category_id"] is None
    assert "category_slug" not in post


def test_redelivery_repeats_id_signature_and_body(
    hooked: SandboxForum, webhook_sink: WebhookSink
) -> None:
    hooked.create_topic("alice", "town-square", TITLE, BODY)
    hooked.flush_webhooks()
    original = webhook_sink.received[-1]
    hooked.redeliver(int(original.headers["X-Discourse-Event-Id"]))
    hooked.flush_webhooks()
    again = webhook_sink.received[-1]
    assert again.body == original.body
    for name in ("X-Discourse-Event-Id", "X-Discourse-Event-Signature", "X-Discourse-Event"):
        assert again.headers[name] == original.headers[name]
    assert hooked.deliveries()[-1].redelivery


def test_ping(hooked: SandboxForum, webhook_sink: WebhookSink) -> None:
    hooked.ping()
    hooked.flush_webhooks()
    ping = webhook_sink.received[-1]
    assert ping.body == b'{"ping":"OK"}'
    assert (ping.headers["X-Discourse-Event-Type"], ping.headers["X-Discourse-Event"]) == (
        "ping",
        "ping",
    )


def test_failed_deliveries_are_recorded_not_retried(
    forum: SandboxForum, webhook_sink: WebhookSink, forum_secret: str
) -> None:
    webhook_sink.status = 500
    forum.set_webhook(webhook_sink.url, forum_secret)
    forum.create_topic("alice", "town-square", TITLE, BODY)
    forum.flush_webhooks()
    assert [d.status for d in forum.deliveries()] == [500, 500]
    assert len(webhook_sink.received) == 2
    forum.set_webhook("http://127.0.0.1:9/nothing-listens-here", forum_secret)
    forum.reply("bob", forum.posts()[0]["topic_id"], "Library steps: people wait there.")
    forum.flush_webhooks()
    assert forum.deliveries()[-1].status == -1


def test_only_subscribed_event_types_are_sent(
    forum: SandboxForum, webhook_sink: WebhookSink, forum_secret: str
) -> None:
    forum.set_webhook(webhook_sink.url, forum_secret, events=["post"])
    first = forum.create_topic("alice", "town-square", TITLE, BODY)
    forum.like("bob", first["id"])
    forum.flush_webhooks()
    assert _names(webhook_sink) == ["post_created"]
    assert [e.name for e in forum.events()] == ["topic_created", "post_created", "post_liked"]


def test_the_forums_rules_apply_to_members_too(forum: SandboxForum) -> None:
    with pytest.raises(SandboxRejection, match="Body is too short"):
        forum.create_topic("alice", "town-square", TITLE, "Too short.")
    relaxed = SandboxForum(api_key=FORUM_API_KEY, settings=Settings(min_post_length=1))
    relaxed.add_user("alice")
    first = relaxed.create_topic("alice", "uncategorized", TITLE, BODY)
    assert relaxed.reply("alice", first["topic_id"], "ok")["raw"] == "ok"
