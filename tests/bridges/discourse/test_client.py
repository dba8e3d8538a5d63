"""Porch's forum client against the Discourse double, over real loopback HTTP."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from bridges.discourse.client import CreatedPost, EnqueuedPost, ForumClient
from bridges.discourse.discourse_config import DiscourseConfig
from bridges.discourse.forum_errors import (
    ForumAuthError,
    ForumError,
    ForumNotFound,
    ForumRateLimited,
    ForumRefusedURL,
    ForumRejected,
    ForumTooLarge,
    ForumUnavailable,
)
from bridges.model import CategoryID, PostID, TopicID
from sandbox.forum import SandboxForum
from sandbox.forum_render import avatar_png
from tests.rig.forum import FORUM_API_KEY

TITLE = "Where should the new bench go?"
BODY = "The council has one bench to place. Park gate or library steps?"


@pytest.fixture
def client(discourse_config: DiscourseConfig) -> ForumClient:
    return ForumClient(discourse_config)


@pytest.fixture
def topic(forum: SandboxForum) -> int:
    first = forum.create_topic("alice", "town-square", TITLE, BODY, tags=["benches"])
    topic_id: int = first["topic_id"]
    return topic_id


def _config(url: str, *, key: str = FORUM_API_KEY, timeout: float = 5.0) -> DiscourseConfig:
    return DiscourseConfig(
        url=url,  # type: ignore[arg-type]
        api_key=SecretStr(key),
        api_username="porch",
        relay_username="chat-relay",
        webhook_secret=SecretStr("a-webhook-secret-of-length"),
        timeout=timeout,
    )


# --- posting as people -----------------------------------------------------------------------


def test_a_new_topic_and_a_reply_are_posted_as_the_named_users(
    forum: SandboxForum, client: ForumClient
) -> None:
    opened = client.create_post(
        as_user="alice",
        raw="Should the library get a second bench near the door?",
        title="A second bench for the library",
        category_id=CategoryID(forum.category_id("town-square")),
    )
    assert isinstance(opened, CreatedPost)
    assert opened.post_number == 1
    assert opened.topic_slug == "a-second-bench-for-the-library"
    reply = client.create_post(
        as_user="bob",
        raw="Yes please, people queue there every morning.",
        topic_id=opened.topic_id,
        reply_to_post_number=1,
    )
    assert isinstance(reply, CreatedPost)
    assert (reply.topic_id, reply.post_number) == (opened.topic_id, 2)

    posts = forum.posts(opened.topic_id)
    assert [(p["username"], p["post_number"]) for p in posts] == [("alice", 1), ("bob", 2)]
    assert posts[1]["reply_to_post_number"] == 1
    creations = [c for c in forum.requests_log() if c.method == "POST"]
    assert [c.api_username for c in creations] == ["alice", "bob"]


def test_threads_posting_as_different_users_each_keep_their_author(
    forum: SandboxForum, discourse_config: DiscourseConfig, topic: int
) -> None:
    client = ForumClient(discourse_config)
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def post_as(user: str) -> None:
        try:
            start.wait(5)
            for i in range(8):
                client.create_post(
                    as_user=user,
                    raw=f"Message number {i} written by {user} for the bench topic.",
                    topic_id=TopicID(topic),
                )
        except BaseException as exc:  # surfaced below
            failures.append(exc)

    threads = [threading.Thread(target=post_as, args=(u,)) for u in ("alice", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not failures
    replies = forum.posts(topic)[1:]
    assert len(replies) == 16
    for post in replies:
        assert f"written by {post['username']} " in post["raw"]


def test_calls_reuse_one_connection(forum: SandboxForum, client: ForumClient) -> None:
    for _ in range(5):
        client.categories()
    ports = {c.client_port for c in forum.requests_log()}
    assert len(ports) == 1, f"each call opened a new connection: {ports}"


def test_an_identical_retry_returns_the_same_post(
    forum: SandboxForum, client: ForumClient, topic: int
) -> None:
    raw = "Library steps: people wait there for the bus every day."
    first = client.create_post(as_user="chat-relay", raw=raw, topic_id=TopicID(topic))
    again = client.create_post(as_user="chat-relay", raw=raw, topic_id=TopicID(topic))
    assert isinstance(first, CreatedPost) and isinstance(again, CreatedPost)
    assert again.post_id == first.post_id
    assert len(forum.posts(topic)) == 2


def test_a_post_held_for_review_is_reported_as_enqueued(
    forum: SandboxForum, client: ForumClient
) -> None:
    forum.add_category("moderated", "Moderated", require_approval=True)
    first = forum.create_topic("porch", "moderated", "Welcome to the moderated area", BODY)
    result = client.create_post(
        as_user="chat-relay",
        raw="A reply that a moderator has to look at first.",
        topic_id=TopicID(first["topic_id"]),
    )
    assert isinstance(result, EnqueuedPost)
    assert result.pending_post_id == forum.pending_posts()[0].id
    assert len(forum.posts(first["topic_id"])) == 1


# --- reading ---------------------------------------------------------------------------------


def test_reads_posts_topics_categories_and_users(
    forum: SandboxForum, client: ForumClient, topic: int
) -> None:
    forum.add_category("staff-room", "Staff room", group_permissions={"staff": 1})
    first = forum.posts(topic)[0]
    post = client.get_post(PostID(first["id"]))
    assert post["raw"] == BODY
    assert post["username"] == "alice"

    view = client.topic(TopicID(topic))
    assert view["title"] == TITLE
    assert view["tags"] == ["benches"]  # names, though the forum sends tag objects
    assert view["post_stream"]["stream"] == [first["id"]]

    slugs = {c["slug"]: c for c in client.categories()}
    assert {"town-square", "staff-room"} <= set(slugs)
    restricted = client.category(CategoryID(slugs["staff-room"]["id"]))
    assert restricted["read_restricted"] is True
    assert restricted["group_permissions"] == [
        {"permission_type": 1, "group_name": "staff", "group_id": 3}
    ]
    assert client.user("alice")["username"] == "alice"


def test_a_long_topic_sends_twenty_posts_and_every_id(
    forum: SandboxForum, client: ForumClient, topic: int
) -> None:
    for i in range(24):
        forum.reply("bob" if i % 2 else "alice", topic, f"Reply number {i} about the bench.")
    view = client.topic(TopicID(topic))
    assert len(view["post_stream"]["posts"]) == 20
    assert view["post_stream"]["stream"] == [p["id"] for p in forum.posts(topic)]
    assert view["posts_count"] == 25


def test_a_missing_post_is_not_found(client: ForumClient) -> None:
    with pytest.raises(ForumNotFound) as caught:
        client.get_post(PostID(999_999))
    assert caught.value.status == 404
    assert caught.value.error_type == "not_found"


# --- changing posts --------------------------------------------------------------------------


def test_edit_delete_and_recover(forum: SandboxForum, client: ForumClient, topic: int) -> None:
    reply = client.create_post(
        as_user="bob", raw="The park gate gets the morning sun.", topic_id=TopicID(topic)
    )
    assert isinstance(reply, CreatedPost)
    client.edit_post(reply.post_id, "The park gate gets the afternoon sun.", as_user="bob")
    assert forum.post(reply.post_id)["raw"] == "The park gate gets the afternoon sun."

    client.delete_post(reply.post_id, as_user="porch")
    assert forum.post(reply.post_id)["deleted_at"] is not None
    client.recover_post(reply.post_id, as_user="porch")
    assert forum.post(reply.post_id)["deleted_at"] is None

    # An author deleting their own post only marks it, as Discourse does.
    client.delete_post(reply.post_id, as_user="bob")
    marked = forum.post(reply.post_id)
    assert (marked["user_deleted"], marked["raw"]) == (True, "(post deleted by author)")


def test_someone_else_may_not_edit_a_post(client: ForumClient, topic: int) -> None:
    first = client.topic(TopicID(topic))["post_stream"]["stream"][0]
    with pytest.raises(ForumAuthError) as caught:
        client.edit_post(PostID(first), "Bob rewrites what Alice wrote here.", as_user="bob")
    assert caught.value.status == 403


def test_retitle_and_like(forum: SandboxForum, client: ForumClient, topic: int) -> None:
    client.update_topic(TopicID(topic), as_user="alice", title="Where should the benches go?")
    assert forum.topic(topic)["title"] == "Where should the benches go?"
    assert forum.events()[-1].name == "topic_edited"

    first = PostID(forum.posts(topic)[0]["id"])
    client.like(first, as_user="bob")
    client.like(first, as_user="bob")  # a repeated like (a retry) is not an error
    assert forum.topic(topic)["like_count"] == 1


# --- files -----------------------------------------------------------------------------------


def test_upload_then_download_round_trip(forum: SandboxForum, client: ForumClient) -> None:
    image = avatar_png("bench", 32)
    uploaded = client.upload(image, "bench.png", "image/png", as_user="chat-relay")
    assert uploaded["url"].startswith("/uploads/")
    assert (uploaded["width"], uploaded["height"]) == (32, 32)
    data, kind = client.download(uploaded["url"], max_bytes=10_000)
    assert (data, kind) == (image, "image/png")
    upload_call = next(c for c in forum.requests_log() if c.path == "/uploads.json")
    assert upload_call.api_username == "chat-relay"


def test_download_of_an_avatar_template(forum: SandboxForum, client: ForumClient) -> None:
    template = forum.add_user("dora")["avatar_template"]
    assert "{size}" in template
    data, kind = client.download(template, max_bytes=1_000_000)
    assert kind == "image/png"
    assert data.startswith(b"\x89PNG")
    assert client.absolute_url(template).startswith(forum.base_url + "/user_avatar/")


@pytest.fixture
def bystander() -> Iterator[tuple[str, list[socket.socket]]]:
    """Another loopback server; the test asserts nobody ever connects to it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.settimeout(0.2)
    connected: list[socket.socket] = []
    yield f"127.0.0.1:{listener.getsockname()[1]}", connected
    try:
        while True:
            connected.append(listener.accept()[0])
    except OSError:
        pass
    for conn in connected:
        conn.close()
    listener.close()
    assert not connected, "the client connected to a host that is not the forum"


def test_download_refuses_other_hosts(
    client: ForumClient, bystander: tuple[str, list[socket.socket]]
) -> None:
    other, _ = bystander
    for url in (
        f"http://{other}/uploads/default/original/1X/x.png",
        f"//{other}/secret",
        f"http://127.0.0.1:1@{other}/x",
        "file:///etc/passwd",
    ):
        with pytest.raises(ForumRefusedURL):
            client.download(url, max_bytes=1000)


def test_download_enforces_the_size_limit(client: ForumClient) -> None:
    big = avatar_png("big", 300)
    uploaded = client.upload(big, "big.png", "image/png", as_user="alice")
    with pytest.raises(ForumTooLarge):
        client.download(uploaded["url"], max_bytes=len(big) - 1)


# --- failures --------------------------------------------------------------------------------


def test_a_429_raises_at_once_with_retry_after(forum: SandboxForum, client: ForumClient) -> None:
    forum.fail_next(1, status=429, retry_after=30, path_prefix="/posts")
    started = time.monotonic()
    with pytest.raises(ForumRateLimited) as caught:
        client.create_post(as_user="alice", raw=BODY, title=TITLE, category_id=CategoryID(2))
    assert time.monotonic() - started < 1.0, "the client waited instead of raising"
    assert caught.value.retry_after == pytest.approx(30)
    assert caught.value.limit == "admin_api_key_rate_limit"
    assert [c.status for c in forum.requests_log()] == [429]  # one attempt, no retries


def test_a_json_429_without_retry_after_uses_wait_seconds(
    forum: SandboxForum, client: ForumClient
) -> None:
    forum.fail_next(1, status=429)  # extras.wait_seconds 60, no header
    with pytest.raises(ForumRateLimited) as caught:
        client.categories()
    assert caught.value.retry_after == pytest.approx(60)


def test_a_json_429_without_extras(forum: SandboxForum, client: ForumClient) -> None:
    forum.fail_next(1, status=429, json_extras=False)
    with pytest.raises(ForumRateLimited) as caught:
        client.categories()
    assert caught.value.retry_after == pytest.approx(10)


def test_a_plain_text_429(forum: SandboxForum, client: ForumClient) -> None:
    forum.fail_next(1, status=429, json_429=False, retry_after=7)
    started = time.monotonic()
    with pytest.raises(ForumRateLimited) as caught:
        client.user("alice")
    assert time.monotonic() - started < 1.0
    assert caught.value.retry_after == pytest.approx(7)
    assert caught.value.limit == "ip_10_secs_limit"


def test_the_shared_admin_api_bucket(discourse_config: DiscourseConfig) -> None:
    with SandboxForum(api_key=FORUM_API_KEY, admin_api_rate_per_minute=3) as limited:
        limited.add_user("porch", admin=True)
        client = ForumClient(discourse_config.model_copy(update={"url": limited.base_url}))
        for _ in range(3):
            client.categories()
        with pytest.raises(ForumRateLimited) as caught:
            client.categories()
    assert 50 <= caught.value.retry_after <= 60


def test_server_errors_are_transient(forum: SandboxForum, client: ForumClient) -> None:
    forum.fail_next(1, status=500)
    with pytest.raises(ForumUnavailable) as caught:
        client.categories()
    assert caught.value.status == 500
    forum.fail_next(1, status=503)
    with pytest.raises(ForumUnavailable) as read_only:
        client.categories()
    assert read_only.value.error_type == "read_only"
    assert client.categories()  # and the next call goes through


def test_a_refusal_carries_the_forums_reasons(client: ForumClient, topic: int) -> None:
    with pytest.raises(ForumRejected) as caught:
        client.create_post(as_user="bob", raw="ok!", topic_id=TopicID(topic))
    assert caught.value.status == 422
    assert caught.value.messages == ("Body is too short (minimum is 20 characters)",)
    assert "Body is too short" in str(caught.value)
    assert not isinstance(caught.value, ForumAuthError)


def test_a_wrong_key_is_an_auth_error_that_hides_the_key(forum: SandboxForum) -> None:
    secret_key = "wrong-key-that-must-not-leak-0000"
    client = ForumClient(_config(forum.base_url, key=secret_key))
    with pytest.raises(ForumAuthError) as caught:
        client.user("porch")
    assert caught.value.error_type == "invalid_access"
    assert secret_key not in str(caught.value)
    assert FORUM_API_KEY not in str(caught.value)


def test_the_timeout_is_honoured() -> None:
    silent = socket.socket()  # accepts connections (backlog) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(5)
    try:
        client = ForumClient(_config(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=0.5))
        started = time.monotonic()
        with pytest.raises(ForumUnavailable) as caught:
            client.categories()
        assert time.monotonic() - started < 3.0
        assert "did not answer within 0.5s" in str(caught.value)
    finally:
        silent.close()


def test_no_forum_at_all_is_transient() -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    client = ForumClient(_config(f"http://127.0.0.1:{port}"))
    with pytest.raises(ForumUnavailable) as caught:
        client.categories()
    assert caught.value.status is None
    assert isinstance(caught.value, ForumError)
