"""Links and quotes in published content: into a topic the room may read they stay, into a
restricted one they go (``Facts.readable_topic_ids``, filled by
:mod:`bridges.relay.readable_topics`). The relay, a real store, the double and a real
homeserver."""

from __future__ import annotations

from collections.abc import Callable

from bridges.relay.readable_topics import linked_topic_ids
from sandbox.forum import SandboxForum
from tests.bridges.relay.forum_to_chat.test_forum_retraction_props import Bench, bench  # noqa: F401


def test_the_topics_a_body_points_at() -> None:
    body = (
        '<p><a href="/t/benches/12">Benches</a>, <a href="https://forum.example/t/13/4">'
        '#13</a>, /t/slug-only and <a href="/p/99">a post</a></p>'
        '<aside class="quote" data-topic="14"><blockquote>...</blockquote></aside>'
    )
    assert linked_topic_ids(body) == [12, 13, 4, 14]


def test_a_link_into_a_public_topic_survives_and_one_into_a_restricted_topic_goes(
    bench: Callable[..., Bench],  # noqa: F811  (the fixture imported above)
    forum: SandboxForum,
) -> None:
    forum.add_category("staff-room", "Staff room", read_restricted=True)
    forum.add_category("board-room", "Board room", read_restricted=True)
    relay = bench("publish-all", {"forum-to-chat": {"action": "allow"}}, {"staff": "staff-room"})
    public = forum.create_topic(
        "alice", "town-square", "Bench survey results", "Most want a bench by the pond."
    )
    hidden = forum.create_topic(
        "sam", "board-room", "Bench budget negotiations", "We can afford two at most."
    )
    public_slug = forum.topic(public["topic_id"])["slug"]
    hidden_slug = forum.topic(hidden["topic_id"])["slug"]
    forum.create_topic(
        "sam",
        "staff-room",
        "Bench announcement draft",
        f"See [the survey](/t/{public_slug}/{public['topic_id']}) and "
        f"[the budget](/t/{hidden_slug}/{hidden['topic_id']}).",
    )
    relay.deliver()
    (root,) = [
        e
        for e in relay.dana.room_messages(relay.room)
        if "Bench announcement draft" in str(e.get("content", {}).get("body"))
    ]
    html = root["content"]["formatted_body"]
    assert f"/t/{public_slug}/{public['topic_id']}" in html and "the survey" in html
    assert hidden_slug not in html and "the budget" not in html
    assert "[link removed]" in html
