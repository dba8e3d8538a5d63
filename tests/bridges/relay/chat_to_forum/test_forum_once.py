"""Finding the post an earlier attempt created, against the Discourse double over HTTP."""

from __future__ import annotations

import time

import pytest

from bridges.discourse.client import ForumClient
from bridges.discourse.discourse_config import DiscourseConfig
from bridges.discourse.forum_errors import ForumRateLimited
from bridges.links import LinkConfig
from bridges.matrix.api import AppserviceAPI
from bridges.matrix.matrix_config import MatrixConfig
from bridges.model import (
    ChatMessage,
    EventID,
    EventKind,
    ForumUsername,
    LinkName,
    Platform,
    PostID,
    RoomID,
    TopicID,
    UserID,
)
from bridges.relay.chat_to_forum.chat_messages import ToForum
from bridges.relay.chat_to_forum.forum_once import CLOCK_SLACK, digest, find_earlier
from bridges.store.forum_attempts import Attempt
from bridges.store.identities import Identity
from bridges.store.inbox import InboxRow
from bridges.store.mapping import Message, Thread
from bridges.store.store import Store
from bridges.store.tier_records import RoomSecurity
from policies.tiers import Tier
from sandbox.forum import SandboxForum
from tests.bridges.context import relay_components

TEXT = "**Dana** on Matrix:\n\nThe 42 runs every ten minutes now."


def attempt(topic_id: int, started_at: float, username: str = "chat-relay") -> Attempt:
    return Attempt(EventID("$e"), username, TopicID(topic_id), digest(TEXT), started_at)


def test_the_earlier_post_is_found_by_account_text_and_time(
    forum: SandboxForum, discourse_config: DiscourseConfig
) -> None:
    client = ForumClient(discourse_config)
    topic = forum.create_topic(
        "alice", "town-square", "Bus timetable for May", "What changes in May for the buses?"
    )
    started = time.time()
    forum.reply("bob", topic["topic_id"], TEXT)  # the same text by someone else
    ours = forum.reply("chat-relay", topic["topic_id"], TEXT + "\n")
    forum.reply("alice", topic["topic_id"], "Good to know, thank you for that.")
    calls = len(forum.requests_log())
    found = find_earlier(client, attempt(topic["topic_id"], started), lambda _: False)
    assert found is not None and found.post_id == ours["id"] and found.post_number == 3
    # One read of the topic, one of the candidate post: the look-up is cheap.
    assert len(forum.requests_log()) - calls == 2
    # A post already carrying another message is not this one's.
    taken = find_earlier(client, attempt(topic["topic_id"], started), lambda p: p == ours["id"])
    assert taken is None


def test_posts_from_before_the_attempt_are_not_taken(
    forum: SandboxForum, discourse_config: DiscourseConfig
) -> None:
    client = ForumClient(discourse_config)
    topic = forum.create_topic(
        "alice", "town-square", "Bus timetable for May", "What changes in May for the buses?"
    )
    forum.reply("chat-relay", topic["topic_id"], TEXT)
    later = time.time() + CLOCK_SLACK + 60
    assert find_earlier(client, attempt(topic["topic_id"], later), lambda _: False) is None
    assert find_earlier(client, attempt(topic["topic_id"], 0.0, "alice"), lambda _: False) is None


def test_a_missing_topic_means_no_earlier_post(
    forum: SandboxForum, discourse_config: DiscourseConfig
) -> None:
    client = ForumClient(discourse_config)
    assert find_earlier(client, attempt(999, 0.0), lambda _: False) is None


# --- through the relay: ToForum against the double and a real store ---------------------------

ROOM = RoomID("!town:localhost")
ROOT = EventID("$root")
DANA = UserID("@dana:localhost")


@pytest.fixture
def relay(
    store: Store,
    forum: SandboxForum,
    discourse_config: DiscourseConfig,
    matrix_config: MatrixConfig,
) -> tuple[ToForum, int]:
    """ToForum on a link whose thread is carried; Dana is linked to the forum account bob
    (so no homeserver call is needed)."""
    link = LinkConfig.model_validate(
        {"name": "town", "forum": {"category": "town-square"}, "room": ROOM}
    )
    parts = relay_components(
        store, discourse_config, matrix_config, AppserviceAPI(matrix_config), [link]
    )
    first = forum.create_topic(
        "alice", "town-square", "Sunday walk plans", "Where do we meet, and at what time?"
    )
    topic = TopicID(first["topic_id"])
    post = PostID(first["id"])
    store.mapping.record_root(
        Thread(LinkName("town"), topic, ROOM, ROOT, post, Platform.FORUM),
        Message(
            LinkName("town"),
            post,
            topic,
            1,
            ROOM,
            ROOT,
            UserID("@forum_alice:x"),
            Platform.FORUM,
            False,
        ),
        time.time(),
    )
    store.identities.link(Identity(DANA, ForumUsername("bob"), None, "test", time.time()))
    store.tiers.save_room(RoomSecurity(ROOM, "public", None, Tier.OPEN, time.time()))
    return parts.to_forum, topic


def _say(n: int, body: str) -> tuple[InboxRow, ChatMessage]:
    row = InboxRow(
        n,
        Platform.CHAT,
        EventKind.CHAT_MESSAGE,
        f"matrix:room:{ROOM}",
        "",
        "pending",
        0,
        0.0,
        None,
        0.0,
    )
    message = ChatMessage(
        event_id=EventID(f"$m{n}"),
        room_id=ROOM,
        sender=DANA,
        msgtype="m.text",
        body=body,
        thread_root=ROOT,
        origin_server_ts=int(time.time() * 1000),
    )
    return row, message


def test_a_refused_attempt_has_no_earlier_post_to_find(
    relay: tuple[ToForum, int], forum: SandboxForum
) -> None:
    to_forum, topic = relay
    forum.fail_next(1, status=429, retry_after=1, method="POST", path_prefix="/posts")
    row, msg = _say(1, "Meet at the station at nine.")
    with pytest.raises(ForumRateLimited):
        to_forum.handle(row, msg)
    # Meanwhile bob writes the same words on the forum himself. The forum created nothing for
    # the refused attempt, so the retry must not take bob's own post for the message's copy.
    forum.reply("bob", topic, "Meet at the station at nine.")
    to_forum.handle(row, msg)
    bobs = [p["raw"] for p in forum.posts(topic) if p["username"] == "bob"]
    assert len(bobs) == 2 and all(b.startswith("Meet at the station at nine.") for b in bobs)


def test_a_text_the_account_wrote_on_the_forum_is_posted_made_distinct(
    relay: tuple[ToForum, int], forum: SandboxForum, store: Store
) -> None:
    to_forum, topic = relay
    forum.reply("bob", topic, "See you all at the station.")  # bob, on the forum itself
    row, msg = _say(3, "See you all at the station.")
    to_forum.handle(row, msg)
    bobs = [p for p in forum.posts(topic) if p["username"] == "bob"]
    assert len(bobs) == 2 and bobs[1]["raw"].startswith("See you all at the station.\n\n<!--")
    assert [e.rule for e in store.audit.entries() if e.inbox_id == 3][-1] == "repeated-text"
