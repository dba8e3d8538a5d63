"""Forum media at the boundary, end to end (real Synapse, the Discourse double, ``porch serve``).

- A post that shows a forum admin route as an image makes porch fetch nothing: the room gets a
  link, never the page uploaded as an image.
- Under ``hide_metadata`` (with ``remove_personal_data`` and ``anonymise``), the media events
  of a post carry neither the topic's slug nor its title, and their file names and alt text
  went through the same transforms as the text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import requests

from sandbox.forum_render import png
from tests.e2e.conftest import BOT, Linked, is_text
from tests.e2e.forum_helpers import allow_extensions, download, events, wait_handled
from tests.rig.wait import wait_until


def _media_events(town: Linked) -> list[dict[str, Any]]:
    return [
        e
        for e in events(town)
        if e.get("type") == "m.room.message"
        and e.get("content", {}).get("msgtype") in ("m.image", "m.file")
    ]


def _mxc_in(event: dict[str, Any]) -> list[str]:
    text = json.dumps(event.get("content", {}))
    return [part.split('"', 1)[0] for part in text.split("mxc://")[1:]]


def test_an_admin_route_shown_as_an_image_is_never_fetched_nor_uploaded(
    linked: Callable[..., Linked], forum: Any, synapse: Any
) -> None:
    eve = forum.add_user("eve", name="Eve Evans")["id"]
    admin_json = f"/admin/users/{eve}.json"
    town = linked()
    forum.create_topic(
        "alice",
        "town-square",
        "Look at this chart of bench use",
        f"The chart: ![chart]({admin_json})\n\n"
        f"Again: ![again](/uploads/%2e%2e/admin/users/{eve}.json)\n\n"
        f"Once more: ![more](/uploads/../admin/users/{eve}.json)\n\n"
        "And the hooks: ![hooks](/admin/api/web_hooks.json)",
    )
    root = town.dana.wait_for_event(town.room, is_text("Look at this chart"), timeout=30)
    wait_handled(town, "forum.post_created", "the topic's delivery to finish")

    # Nothing of the forum's admin side was asked for, with or without porch's key.
    fetched = [
        c.path
        for c in forum.requests_log()
        if c.path.startswith((f"/admin/users/{eve}", "/admin/api/web_hooks", "/uploads/"))
    ]
    assert fetched == []
    # The room shows links; no image, inline or as an event, carries any forum page.
    formatted = root["content"].get("formatted_body", "")
    assert "<img" not in formatted and _mxc_in(root) == []
    assert f"{forum.base_url}{admin_json}" in formatted
    assert _media_events(town) == []
    for event in events(town):
        for mxc in _mxc_in(event):
            assert b'"username":"eve"' not in download(town.dana, synapse.base_url, mxc)


def _stored_name(town: Linked, homeserver: str, mxc: str) -> str:
    """The ``Content-Disposition`` the media repository serves ``mxc`` with."""
    server, media_id = mxc.removeprefix("mxc://").split("/", 1)
    answer = requests.get(
        f"{homeserver}/_matrix/client/v1/media/download/{server}/{media_id}",
        headers={"Authorization": f"Bearer {town.dana.access_token}"},
        timeout=10,
    )
    answer.raise_for_status()
    return unquote(answer.headers.get("Content-Disposition", ""))


PUBLISH_HIDDEN = {
    "description": "tagged staff threads go out without their metadata or personal data",
    "forum-to-chat": {
        "action": "allow",
        "when": {"tags": ["publish"]},
        "otherwise": "deny",
        "transforms": {
            "anonymise": [{"groups": ["staff"], "as": "Policy team"}],
            "remove_personal_data": True,
            "hide_metadata": True,
        },
    },
}
TITLE = "Library opening hours from April"
SLUG = "library-opening-hours-from-april"


def _staff_room_published(linked: Callable[..., Linked], forum: Any) -> Linked:
    forum.add_user("sam", name="Sam Sterling", moderator=True)
    forum.add_category("staff-room", "Staff room", read_restricted=True)
    allow_extensions(forum, "pdf")
    town = linked(start=False, forum={"category": "staff-room"}, policy="publish-hidden")
    town.porch.data["policies"] = {"publish-hidden": PUBLISH_HIDDEN}
    town.porch.write()
    town.porch.start()
    return town


def test_media_events_pass_the_same_transforms_as_the_text(
    linked: Callable[..., Linked], forum: Any, synapse: Any
) -> None:
    town = _staff_room_published(linked, forum)

    picture = png(40, 30, (30, 160, 90))
    plans = b"%PDF-1.4\n% opening hours\n" + bytes(range(256))
    image = forum.upload("sam", picture, "hours.png")
    pdf = forum.upload("sam", plans, "hours.pdf")
    topic = forum.create_topic(
        "sam",
        "staff-room",
        TITLE,
        "From April the library opens at 8.\n\n"
        f"![{TITLE} poster by Sam Sterling sam.sterling@council.example.org|40x30]"
        f"({image['short_url']})\n\n"
        f"[{SLUG} Sam Sterling +44 20 7946 0958.pdf|attachment]({pdf['short_url']})",
        tags=["publish"],
    )
    root = town.dana.wait_for_event(town.room, is_text("the library opens at 8"), timeout=30)
    assert root["sender"] == BOT
    media = wait_until(lambda: len(_media_events(town)) >= 2 and _media_events(town), 30, "media")
    poster, attachment = media

    assert poster["content"]["msgtype"] == "m.image"
    assert download(town.dana, synapse.base_url, poster["content"]["url"]) == picture
    assert attachment["content"]["msgtype"] == "m.file"
    assert download(town.dana, synapse.base_url, attachment["content"]["url"]) == plans
    post_url = f"{forum.base_url}/t/{topic['topic_id']}/1"
    for event in media:
        assert event["sender"] == BOT, "the author's ghost would name them"
        content = event["content"]
        assert content["external_url"] == post_url
        shown = json.dumps(content)
        for leak in (SLUG, TITLE, "Sterling", "sam.sterling", "council.example.org", "7946"):
            assert leak not in shown, f"{leak!r} in {content}"
        # The media repository keeps the name the file was uploaded under, for anyone with the
        # mxc: it is the forum's hash name, never the name shown in the post.
        stored = _stored_name(town, synapse.base_url, content["url"])
        for leak in (SLUG, "Sterling", "sam.sterling", "7946", "hours"):
            assert leak not in stored, f"{leak!r} in the stored name {stored!r}"
    assert "Policy team" in poster["content"]["body"]
    assert "[email removed]" in poster["content"]["body"]
    assert "[phone removed]" in attachment["content"]["body"]
    assert attachment["content"]["body"].endswith(".pdf")


def test_media_sent_on_a_retry_after_the_text_pass_the_transforms_too(
    linked: Callable[..., Linked], forum: Any
) -> None:
    town = _staff_room_published(linked, forum)
    image = forum.upload("sam", png(20, 20, (200, 40, 40)), "rota.png")
    # The text goes out, then fetching the image fails once: the image follows on a retry,
    # which finds the text already carried and only finishes the media.
    forum.fail_next(1, status=503, method="GET", path_prefix="/uploads/")
    topic = forum.create_topic(
        "sam",
        "staff-room",
        TITLE,
        f"The new rota.\n\n![{TITLE} by Sam Sterling|20x20]({image['short_url']})",
        tags=["publish"],
    )
    town.dana.wait_for_event(town.room, is_text("The new rota."), timeout=30)
    (poster,) = wait_until(lambda: _media_events(town), 30, "the image, on a retry")
    failed = [c for c in forum.requests_log() if c.path.startswith("/uploads/")]
    assert failed[0].status == 503, "the first fetch was to fail"
    content = poster["content"]
    assert content["external_url"] == f"{forum.base_url}/t/{topic['topic_id']}/1"
    for leak in (SLUG, TITLE, "Sterling"):
        assert leak not in json.dumps(content), f"{leak!r} in {content}"
