"""Downloads of forum files: only the forum's file routes, never with porch's API key, and an
image only when the forum answers with one (against the Discourse double over loopback)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
import requests

from bridges.discourse.client import ForumClient
from bridges.discourse.discourse_config import DiscourseConfig
from bridges.discourse.forum_errors import ForumNotAnImage, ForumRefusedURL, ForumRejected
from sandbox.forum import SandboxForum
from sandbox.forum_render import avatar_png
from tests.bridges.discourse.test_client import _config
from tests.rig.forum import FORUM_API_KEY


@pytest.fixture
def client(discourse_config: DiscourseConfig) -> ForumClient:
    return ForumClient(discourse_config)


def _admin_paths(forum: SandboxForum) -> list[str]:
    return [c.path for c in forum.requests_log() if c.path.startswith("/admin")]


def test_a_post_cannot_make_porch_fetch_an_admin_route(
    forum: SandboxForum, client: ForumClient
) -> None:
    alice = forum.add_user("eve")["id"]
    admin_json = f"/admin/users/{alice}.json"
    # The threat is real: the forum serves this page to porch's key.
    shown = requests.get(
        forum.base_url + admin_json,
        headers={"Api-Key": FORUM_API_KEY, "Api-Username": "porch"},
        timeout=5,
    )
    assert shown.status_code == 200 and shown.json()["username"] == "eve"
    before = len(_admin_paths(forum))

    for url in (
        admin_json,
        forum.base_url + admin_json,
        "/admin/users/list/active.json?show_emails=true",
        f"/uploads/../admin/users/{alice}.json",
        f"/uploads/%2e%2e/admin/users/{alice}.json",
        f"/uploads/%252e%252e/admin/users/{alice}.json",
        f"/uploads/..%2fadmin/users/{alice}.json",
        f"/uploads/..\\admin/users/{alice}.json",
        f"/user_avatar/../admin/users/{alice}.json",
        f"//{forum.base_url.split('://', 1)[1]}{admin_json}",
    ):
        with pytest.raises(ForumRefusedURL):
            client.download(url, max_bytes=100_000)
        with pytest.raises(ForumRefusedURL):
            client.download(url, max_bytes=100_000, images_only=False)
    assert _admin_paths(forum)[before:] == [], "an admin route was requested"


def test_a_public_upload_and_an_avatar_are_fetched_without_the_api_key(
    forum: SandboxForum, client: ForumClient
) -> None:
    image = avatar_png("bench", 24)
    uploaded = forum.upload("alice", image, "bench.png")
    template = forum.add_user("dora")["avatar_template"]

    assert client.download(uploaded["url"], max_bytes=10_000) == (image, "image/png")
    assert client.download(uploaded["short_path"], max_bytes=10_000) == (image, "image/png")
    assert client.download(template, max_bytes=1_000_000)[1] == "image/png"

    fetched = [
        c
        for c in forum.requests_log()
        if c.method == "GET" and c.path.startswith(("/uploads/", "/user_avatar/"))
    ]
    assert len(fetched) == 4  # the upload, the short URL, its redirect target, the avatar
    assert all(c.status in (200, 302) for c in fetched)
    assert [(c.api_key, c.api_username) for c in fetched] == [(False, None)] * 4


def test_an_answer_that_is_not_an_image_is_refused_unless_an_attachment_is_asked_for(
    forum: SandboxForum, client: ForumClient
) -> None:
    settings = forum._core.state.settings
    settings.authorized_extensions = (*settings.authorized_extensions, "pdf")
    plans = b"%PDF-1.4\n% bench plans\n"
    uploaded = forum.upload("alice", plans, "plans.pdf")

    with pytest.raises(ForumNotAnImage):
        client.download(uploaded["url"], max_bytes=10_000)
    assert client.download(uploaded["url"], max_bytes=10_000, images_only=False) == (
        plans,
        "application/pdf",
    )


class _Redirecting(BaseHTTPRequestHandler):
    """A forum whose upload route redirects to an admin route, recording what it was sent."""

    seen: ClassVar[list[tuple[str, str | None, str | None]]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Api-Key"), self.headers.get("Cookie")))
        if self.path.startswith("/uploads/"):
            self.send_response(302)
            self.send_header("Location", "/admin/users/list/active.json?show_emails=true")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b'{"users": [{"email": "secret@example.org"}]}'
        self.send_response(200)
        self.send_header("Content-Type", "image/png")  # a lie: the check is on the path
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def redirecting_forum() -> Iterator[str]:
    _Redirecting.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirecting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_a_redirect_away_from_the_file_routes_is_not_followed(redirecting_forum: str) -> None:
    client = ForumClient(_config(redirecting_forum))
    with pytest.raises(ForumRejected):
        client.download("/uploads/default/original/1X/a.png", max_bytes=10_000)
    assert [path for path, _, _ in _Redirecting.seen] == ["/uploads/default/original/1X/a.png"]
    assert all(key is None for _, key, _ in _Redirecting.seen)
