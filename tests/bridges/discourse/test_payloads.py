"""Discourse webhook bodies become neutral events, whatever extra keys plugins add."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from bridges import codec
from bridges.discourse.payloads import PayloadError, inbox_event, parse_post, parse_topic
from bridges.model import CategoryID, EventKind, ForumPost, ForumTopic, Platform, TopicID

DATA = Path(__file__).resolve().parents[2] / "data" / "discourse"


def body(root: str, /, **changes: Any) -> dict[str, Any]:
    """A recorded-shape payload from tests/data with the inner object's keys changed."""
    data: dict[str, Any] = json.loads((DATA / f"{root}.json").read_text())
    data[root].update(changes)
    return data


def test_a_full_post_payload_with_plugin_keys_parses() -> None:
    post = parse_post(body("post"))
    assert (post.post_id, post.topic_id, post.post_number) == (412, 77, 3)
    assert post.author.username == "alice"
    assert post.author.display_name == "Alice Liddell"
    assert post.author.primary_group_name == "teachers"
    assert post.author.trust_level == 2
    assert post.raw.startswith("Hello **porch**")
    assert post.category_id == 5 and post.category_slug == "town-square"
    assert post.reply_to_post_number == 2
    assert post.topic_title == "Town meeting notes"
    assert not post.deleted and not post.user_deleted and not post.is_private_message


def test_a_private_message_and_missing_optional_keys() -> None:
    data = body("post", topic_archetype="private_message", category_id=None, name=None)
    for key in ("category_slug", "primary_group_name", "reply_to_user", "display_username"):
        del data["post"][key]
    post = parse_post(data)
    assert post.is_private_message
    assert post.category_id is None and post.category_slug is None
    assert post.author.display_name == "alice"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"topic_id": None}, "post.topic_id: expected an integer"),
        ({"id": "412"}, "post.id: expected an integer"),
        ({"raw": 5}, "post.raw: expected a string"),
        ({"hidden": "no"}, "post.hidden: expected true or false"),
    ],
)
def test_a_wrongly_typed_post_field_is_named(change: dict[str, Any], message: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_post(body("post", **change))
    assert str(caught.value) == message


@pytest.mark.parametrize("missing", ["id", "topic_id", "username", "raw", "cooked", "user_id"])
def test_a_missing_post_field_is_named(missing: str) -> None:
    data = body("post")
    del data["post"][missing]
    with pytest.raises(PayloadError) as caught:
        parse_post(data)
    assert caught.value.path == f"post.{missing}"
    assert str(caught.value) == f"post.{missing}: is required"


def test_a_body_without_the_post_object_is_named() -> None:
    with pytest.raises(PayloadError, match=r"^post: is required$"):
        parse_post(body("topic"))
    with pytest.raises(PayloadError, match=r"^post: expected an object$"):
        parse_post({"post": [1]})


def test_a_topic_payload_parses_and_ignores_unknown_keys() -> None:
    topic = parse_topic(body("topic"))
    assert topic == ForumTopic(
        topic_id=TopicID(77),
        title="Town meeting notes",
        slug="town-meeting-notes",
        category_id=CategoryID(5),
        tags=("minutes", "public"),
        archetype="regular",
        visible=True,
        deleted=False,
        author=topic.author,
    )
    assert topic.author is not None and topic.author.username == "alice"


def test_topic_tags_as_objects_and_tagging_off() -> None:
    assert parse_topic(body("topic", tags=[{"id": 1, "name": "minutes"}])).tags == ("minutes",)
    data = body("topic")
    del data["topic"]["tags"]
    assert parse_topic(data).tags == ()


def test_a_broken_topic_names_the_field() -> None:
    data = body("topic")
    del data["topic"]["title"]
    with pytest.raises(PayloadError, match=r"^topic\.title: is required$"):
        parse_topic(data)
    with pytest.raises(PayloadError, match=r"^topic\.tags\[1\]: expected a string$"):
        parse_topic(body("topic", tags=["a", 3]))


# --- inbox events ---------------------------------------------------------------------------


def test_post_created_becomes_an_inbox_event_in_its_topic() -> None:
    event = inbox_event("post_created", "901", body("post"))
    assert event is not None
    assert event.source is Platform.FORUM
    assert event.kind is EventKind.POST_CREATED
    assert event.conversation == "discourse:topic:77"
    assert event.keys[0] == "discourse:delivery:901"
    assert event.keys[1].startswith("discourse:post_created:412:v1::")
    assert len(event.keys) == 2
    decoded = codec.decode(event.kind, event.payload)
    assert isinstance(decoded, ForumPost) and decoded == parse_post(body("post"))


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("post_edited", EventKind.POST_EDITED),
        ("post_destroyed", EventKind.POST_DESTROYED),
        ("post_recovered", EventKind.POST_RECOVERED),
    ],
)
def test_every_post_event_is_recorded(name: str, kind: EventKind) -> None:
    event = inbox_event(name, "5", body("post"))
    assert event is not None and event.kind is kind


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("topic_edited", EventKind.TOPIC_EDITED),
        ("topic_destroyed", EventKind.TOPIC_DESTROYED),
        ("topic_recovered", EventKind.TOPIC_RECOVERED),
    ],
)
def test_every_topic_event_is_recorded(name: str, kind: EventKind) -> None:
    event = inbox_event(name, None, body("topic"))
    assert event is not None and event.kind is kind
    assert event.conversation == "discourse:topic:77"
    assert len(event.keys) == 1 and event.keys[0].startswith(f"discourse:{name}:77:")


def test_unlisting_a_topic_is_recorded_as_a_topic_edit() -> None:
    event = inbox_event("topic_visible_status_updated", "3", body("topic", visible=False))
    assert event is not None and event.kind is EventKind.TOPIC_EDITED
    topic = codec.decode(event.kind, event.payload)
    assert isinstance(topic, ForumTopic) and not topic.visible


@pytest.mark.parametrize(
    "name",
    [
        "topic_closed_status_updated",
        "topic_created",
        "user_created",
        "group_updated",
        "ping",
        "x",
    ],
)
def test_other_events_are_not_recorded(name: str) -> None:
    assert inbox_event(name, "1", body("post")) is None


def test_the_content_key_is_the_same_under_a_new_delivery_id() -> None:
    first = inbox_event("post_edited", "10", body("post", version=2))
    retry = inbox_event("post_edited", "11", body("post", version=2))
    newer = inbox_event("post_edited", "12", body("post", version=3))
    assert first is not None and retry is not None and newer is not None
    assert first.keys[1] == retry.keys[1]
    assert newer.keys[1] != first.keys[1]


def test_a_quick_edit_that_keeps_the_version_is_not_a_duplicate() -> None:
    # Edits within the forum's grace period do not make a revision: the version stays.
    first = inbox_event("post_edited", "20", body("post", raw="fixed tpyo"))
    second = inbox_event("post_edited", "21", body("post", raw="fixed typo"))
    assert first is not None and second is not None
    assert first.keys[1] != second.keys[1]


def test_a_second_deletion_after_a_recovery_has_a_new_key() -> None:
    first = inbox_event("post_destroyed", None, body("post", deleted_at="2025-03-02T11:00:00Z"))
    again = inbox_event("post_destroyed", None, body("post", deleted_at="2025-03-03T08:00:00Z"))
    assert first is not None and again is not None
    assert first.keys != again.keys
    assert codec.decode(first.kind, first.payload).deleted  # type: ignore[union-attr]


def test_the_authors_self_delete_arrives_as_an_edit_marked_user_deleted() -> None:
    data = body("post", raw="(post deleted by author)", version=2, user_deleted=True)
    event = inbox_event("post_edited", "77", data)
    assert event is not None and event.kind is EventKind.POST_EDITED
    post = codec.decode(event.kind, event.payload)
    assert isinstance(post, ForumPost) and post.user_deleted and not post.deleted


def test_topic_keys_change_with_the_fields_porch_acts_on() -> None:
    def key(**changes: Any) -> str:
        event = inbox_event("topic_edited", "1", body("topic", **changes))
        assert event is not None
        return event.keys[-1]

    same = key()
    assert key(views=999, posts_count=40) == same  # fields porch does not use
    assert key(tags=["public", "minutes"]) == same  # tag order is not a change
    changed = [
        key(title="Renamed"),
        key(category_id=6),
        key(tags=["minutes"]),
        key(visible=False),
        key(deleted_at="2025-03-04T00:00:00Z"),
    ]
    assert same not in changed and len(set(changed)) == len(changed)


def test_a_broken_payload_of_a_recorded_event_raises() -> None:
    data = copy.deepcopy(body("post"))
    del data["post"]["topic_id"]
    with pytest.raises(PayloadError, match=r"^post\.topic_id: is required$"):
        inbox_event("post_created", "1", data)
