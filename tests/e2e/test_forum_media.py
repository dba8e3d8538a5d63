"""Forum uploads, end to end: each follows its post's text into the thread as m.image / m.file.

Real Synapse (its media repository too), the Discourse double serving the uploaded files.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from sandbox.forum_render import png
from tests.e2e.conftest import Linked, is_text
from tests.e2e.forum_helpers import (
    allow_extensions,
    discourse_cooking,
    download,
    events,
    is_redacted,
    wait_handled,
)
from tests.rig.wait import wait_until

BOB = "@forum_bob:localhost"


def media_events(town: Linked) -> list[dict[str, Any]]:
    return [
        e
        for e in events(town)
        if e.get("type") == "m.room.message"
        and e.get("content", {}).get("msgtype") in ("m.image", "m.file")
    ]


def test_an_image_and_an_attachment_follow_the_text_and_go_with_it(
    linked: Callable[..., Linked], forum: Any, synapse: Any
) -> None:
    discourse_cooking(forum)
    allow_extensions(forum, "pdf")
    town = linked()
    first = forum.create_topic(
        "alice", "town-square", "Where should the new bench go?", "Park gate or library steps?"
    )
    root = town.dana.wait_for_event(town.room, is_text("Where should the new bench go?"))
    picture = png(40, 30, (200, 120, 40))
    plans = b"%PDF-1.4\n% bench plans\n" + bytes(range(256)) * 4
    image = forum.upload("bob", picture, "bench.png")
    pdf = forum.upload("bob", plans, "plans.pdf")
    forum.reply(
        "bob",
        first["topic_id"],
        "Here is the spot and the plan.\n\n"
        f"![bench|40x30]({image['short_url']})\n\n"
        f"[plans.pdf|attachment]({pdf['short_url']})",
    )
    text = town.dana.wait_for_event(town.room, is_text("Here is the spot"))
    media = wait_until(lambda: len(media_events(town)) >= 2 and media_events(town), 20, "media")

    shown = text["content"]
    assert "<img" not in shown.get("formatted_body", ""), "uploads are events, not inline"
    assert image["url"] in shown["formatted_body"], "the text keeps a link to the upload"

    photo, attachment = media
    order = [e["event_id"] for e in events(town)]
    assert order.index(text["event_id"]) < order.index(photo["event_id"])
    assert order.index(photo["event_id"]) < order.index(attachment["event_id"])
    for event in media:
        assert event["sender"] == BOB
        relation = event["content"]["m.relates_to"]
        assert relation["rel_type"] == "m.thread"
        assert relation["event_id"] == root["event_id"]
        assert relation["m.in_reply_to"]["event_id"] == text["event_id"]

    assert photo["content"]["msgtype"] == "m.image"
    assert photo["content"]["body"] == "bench.png"
    assert photo["content"]["info"] == {
        "mimetype": "image/png",
        "size": len(picture),
        "w": 40,
        "h": 30,
    }
    assert download(town.dana, synapse.base_url, photo["content"]["url"]) == picture

    assert attachment["content"]["msgtype"] == "m.file"
    assert attachment["content"]["body"] == "plans.pdf"
    assert attachment["content"]["info"] == {"mimetype": "application/pdf", "size": len(plans)}
    assert download(town.dana, synapse.base_url, attachment["content"]["url"]) == plans

    # Deleting the post takes its media with it.
    forum.delete_post(text_post_id(forum, first["topic_id"], "Here is the spot"))
    for event in (text, photo, attachment):
        wait_until(lambda e=event: is_redacted(town, e["event_id"]), 15, "redacted media")


def text_post_id(forum: Any, topic_id: int, contains: str) -> int:
    return next(p["id"] for p in forum.posts(topic_id) if contains in p["raw"])


def test_the_same_file_in_two_posts_is_uploaded_once_and_a_first_posts_image_joins_its_thread(
    linked: Callable[..., Linked], forum: Any
) -> None:
    town = linked()
    image = forum.upload("alice", png(24, 24, (10, 140, 90)), "map.png")
    first = forum.create_topic(
        "alice",
        "town-square",
        "A map of the bench spots",
        f"All the spots on one map:\n\n![map|24x24]({image['short_url']})",
    )
    root = town.dana.wait_for_event(town.room, is_text("A map of the bench spots"))
    original = wait_until(lambda: media_events(town), 20, "the map in the thread")[0]
    assert original["content"]["m.relates_to"]["event_id"] == root["event_id"]
    assert original["sender"] == "@forum_alice:localhost"

    forum.reply(
        "bob", first["topic_id"], f"Same map, spot 3 ringed:\n\n![map]({image['short_url']})"
    )
    town.dana.wait_for_event(town.room, is_text("Same map, spot 3"))
    again = wait_until(lambda: len(media_events(town)) >= 2 and media_events(town), 20, "2nd")[-1]
    assert again["sender"] == BOB
    assert again["content"]["url"] == original["content"]["url"], "uploaded again"
    assert again["content"]["info"] == original["content"]["info"]


def test_a_file_over_the_size_limit_stays_a_link(
    linked: Callable[..., Linked], forum: Any
) -> None:
    town = linked(start=False)
    town.porch.data["relay"]["media_max_bytes"] = 4096
    town.porch.write()
    town.porch.start()
    big = png(64, 64, (90, 90, 200)) + os.urandom(20_000)  # a PNG with trailing bytes
    image = forum.upload("alice", big, "aerial.png")
    forum.create_topic(
        "alice",
        "town-square",
        "An aerial photo of the square",
        f"Taken from the tower:\n\n![aerial|64x64]({image['short_url']})",
    )
    root = town.dana.wait_for_event(town.room, is_text("An aerial photo of the square"))
    wait_handled(town, "forum.post_created", "the topic's delivery to finish")
    assert media_events(town) == []
    assert image["url"] in root["content"]["formatted_body"]


def test_an_upload_added_or_removed_by_an_edit_follows_the_post(
    linked: Callable[..., Linked], forum: Any
) -> None:
    town = linked()
    first = forum.create_topic(
        "alice", "town-square", "Where should the new bench go?", "Park gate or library steps?"
    )
    town.dana.wait_for_event(town.room, is_text("Where should the new bench go?"))
    reply = forum.reply("bob", first["topic_id"], "The library steps, photo to follow.")
    text = town.dana.wait_for_event(town.room, is_text("photo to follow"))
    image = forum.upload("bob", png(16, 16, (250, 200, 0)), "steps.png")
    forum.edit_post(
        reply["id"], f"The library steps, photo here:\n\n![steps]({image['short_url']})"
    )
    added = wait_until(lambda: media_events(town), 20, "the photo the edit added")[0]
    assert added["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == text["event_id"]

    forum.edit_post(reply["id"], "The library steps. Photo removed, it was blurry.")
    wait_until(lambda: is_redacted(town, added["event_id"]), 15, "the removed photo redacted")
    assert not is_redacted(town, text["event_id"])
