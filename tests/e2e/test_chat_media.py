"""Chat -> forum media: Matrix images and files become forum uploads embedded in the reply."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import requests

from sandbox.forum import SandboxForum
from sandbox.forum_render import png
from sandbox.synapse import SandboxSynapse
from tests.e2e.chat_side import in_thread, open_thread, upload_media, wait_for_post
from tests.e2e.conftest import Linked

_EMBEDDED_IMAGE = re.compile(r"!\[([^\]|]*)\|(\d+)x(\d+)\]\((upload://[^)]+)\)")


def _media(
    msgtype: str, body: str, url: str, mimetype: str, size: int | None, **extra: Any
) -> dict[str, Any]:
    info: dict[str, Any] = {"mimetype": mimetype}
    if size is not None:
        info["size"] = size
    return {"msgtype": msgtype, "body": body, "url": url, "info": info, **extra}


def test_an_image_becomes_an_upload_shown_in_the_reply(
    linked: Callable[..., Linked], forum: SandboxForum, synapse: SandboxSynapse
) -> None:
    town = linked()
    first, root = open_thread(
        town, forum, "Photos of the new playground", "Share your photos of it here, please."
    )
    picture = png(12, 8, (40, 160, 60))
    mxc = upload_media(synapse, town.dana, picture, "image/png", "slide.png")
    town.dana.send(
        town.room,
        in_thread(
            root["event_id"], _media("m.image", "slide.png", mxc, "image/png", len(picture))
        ),
    )
    post = wait_for_post(forum, first["topic_id"], "upload://")
    assert post["username"] == "chat-relay"
    embedded = _EMBEDDED_IMAGE.search(post["raw"])
    assert embedded is not None, post["raw"]
    assert embedded.groups()[:3] == ("slide", "12", "8")
    # The forum shows the image from its own uploads, with the very bytes Dana sent.
    src = re.search(r'<img src="(/uploads/[^"]+)"', post["cooked"])
    assert src is not None, post["cooked"]
    assert requests.get(forum.base_url + src.group(1), timeout=5).content == picture
    uploads = [c for c in forum.requests_log() if c.method == "POST" and "/uploads" in c.path]
    assert [c.api_username for c in uploads] == ["chat-relay"]


def test_a_caption_and_a_file_are_carried(
    linked: Callable[..., Linked], forum: SandboxForum, synapse: SandboxSynapse
) -> None:
    town = linked()
    first, root = open_thread(
        town, forum, "Maps for the orienteering day", "Post the maps you drew here, thanks."
    )
    drawing = png(20, 10, (200, 30, 30))
    mxc = upload_media(synapse, town.dana, drawing, "image/png", "route.png")
    captioned = _media(
        "m.image",
        "The red route, about 5 km",
        mxc,
        "image/png",
        len(drawing),
        filename="route.png",
    )
    town.dana.send(town.room, in_thread(root["event_id"], captioned))
    post = wait_for_post(forum, first["topic_id"], "The red route, about 5 km")
    assert _EMBEDDED_IMAGE.search(post["raw"]) is not None, post["raw"]

    plan = png(30, 30, (10, 10, 200))
    mxc = upload_media(synapse, town.dana, plan, "image/png", "plan.png")
    town.dana.send(
        town.room,
        in_thread(root["event_id"], _media("m.file", "plan.png", mxc, "image/png", len(plan))),
    )
    post = wait_for_post(forum, first["topic_id"], "|attachment]")
    assert re.search(r"\[plan\.png\|attachment\]\(upload://[^)]+\) \(\d+", post["raw"]), post[
        "raw"
    ]
    assert re.search(r'<a class="attachment" href="/uploads/[^"]+">plan\.png</a>', post["cooked"])


def test_files_porch_cannot_carry_are_named_instead(
    linked: Callable[..., Linked], forum: SandboxForum, synapse: SandboxSynapse
) -> None:
    town = linked(start=False)
    town.porch.data["relay"]["media_max_bytes"] = 4000
    town.porch.write()
    town.porch.start()
    first, root = open_thread(
        town, forum, "Recordings of the concert", "Share what you recorded at the concert."
    )
    big = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40  # over the 4000 bytes allowed
    mxc = upload_media(synapse, town.dana, big, "image/png", "stage.png")
    town.dana.send(
        town.room,
        in_thread(root["event_id"], _media("m.image", "stage.png", mxc, "image/png", len(big))),
    )
    post = wait_for_post(forum, first["topic_id"], "stage.png")
    assert "(file too large to carry: stage.png, 10 KB)" in post["raw"]
    # Without a declared size, the download itself stops at the limit.
    mxc = upload_media(synapse, town.dana, big, "image/png", "crowd.png")
    town.dana.send(
        town.room,
        in_thread(root["event_id"], _media("m.image", "crowd.png", mxc, "image/png", None)),
    )
    post = wait_for_post(forum, first["topic_id"], "crowd.png")
    assert "(file too large to carry: crowd.png, over 3.9 KB)" in post["raw"]
    # A type the forum does not accept (its authorised extensions) is named with the reason.
    mxc = upload_media(
        synapse, town.dana, b"%PDF-1.4 programme", "application/pdf", "programme.pdf"
    )
    town.dana.send(
        town.room,
        in_thread(root["event_id"], _media("m.file", "programme.pdf", mxc, "application/pdf", 18)),
    )
    post = wait_for_post(forum, first["topic_id"], "programme.pdf")
    assert "(file not accepted by the forum: programme.pdf: " in post["raw"]
    assert "not authorized" in post["raw"]
    assert not [c for c in forum.requests_log() if "/uploads" in c.path and c.status == 200]
