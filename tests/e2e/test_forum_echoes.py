"""No loops, forum side: what porch itself put on the forum never comes back into Matrix.

The double echoes porch's own posts (with their uploads) and likes as webhooks, as a real forum
does; each echo is handled and dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests

from sandbox.forum_render import png
from tests.e2e.conftest import Linked, is_text
from tests.e2e.forum_helpers import events, wait_handled
from tests.rig.wait import wait_until


def upload_to_matrix(town: Linked, homeserver: str, data: bytes, filename: str) -> str:
    response = requests.post(
        f"{homeserver}/_matrix/media/v3/upload",
        params={"filename": filename},
        data=data,
        headers={
            "Authorization": f"Bearer {town.dana.access_token}",
            "Content-Type": "image/png",
        },
        timeout=10,
    )
    response.raise_for_status()
    return str(response.json()["content_uri"])


def test_an_image_porch_posted_from_chat_does_not_come_back(
    linked: Callable[..., Linked], forum: Any, synapse: Any
) -> None:
    town = linked()
    first = forum.create_topic(
        "alice", "town-square", "Photos of the bench spots", "Post your photos of the spots."
    )
    root = town.dana.wait_for_event(town.room, is_text("Photos of the bench spots"))
    picture = png(32, 20, (30, 160, 200))
    mxc = upload_to_matrix(town, synapse.base_url, picture, "gate.png")
    town.dana.send(
        town.room,
        {
            "msgtype": "m.image",
            "body": "gate.png",
            "url": mxc,
            "info": {"mimetype": "image/png", "size": len(picture), "w": 32, "h": 20},
            "m.relates_to": {
                "rel_type": "m.thread",
                "event_id": root["event_id"],
                "is_falling_back": True,
                "m.in_reply_to": {"event_id": root["event_id"]},
            },
        },
    )

    def posted() -> dict[str, Any] | None:
        return next((p for p in forum.posts(first["topic_id"]) if "upload://" in p["raw"]), None)

    post = wait_until(posted, 20, "the image posted to the forum")
    assert "/uploads/" in post["cooked"]
    forum.flush_webhooks()
    # The forum's post_created for porch's own post (the topic's and this one) is handled ...
    wait_handled(town, "forum.post_created", "the echo to be handled", count=2)
    # ... and shows nothing new in Matrix: the only image is dana's own.
    images = [e for e in events(town) if e.get("content", {}).get("msgtype") == "m.image"]
    assert [e["sender"] for e in images] == [town.dana.user_id]
    texts = [
        e
        for e in events(town)
        if e.get("type") == "m.room.message" and e.get("sender", "").startswith("@forum_")
    ]
    assert [e["event_id"] for e in texts] == [root["event_id"]]
