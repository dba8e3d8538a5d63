"""Merging chat messages into one forum post, exactly once: the relay against the Discourse
double and a real store, with the crashes a worker can meet between writing and recording.

The sender is linked to a forum account, so no homeserver call is needed on this path.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from bridges.discourse.discourse_config import DiscourseConfig
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
from bridges.store.identities import Identity
from bridges.store.inbox import InboxRow
from bridges.store.mapping import Message, Thread
from bridges.store.store import Store
from bridges.store.tier_records import RoomSecurity
from policies.tiers import Tier
from sandbox.forum import SandboxForum
from tests.bridges.context import relay_components

ROOM = RoomID("!town:localhost")
ROOT = EventID("$root")
DANA = UserID("@dana:localhost")
_ROW_IDS = itertools.count(1)


@pytest.fixture
def relay(
    store: Store,
    forum: SandboxForum,
    discourse_config: DiscourseConfig,
    matrix_config: MatrixConfig,
) -> Iterator[tuple[ToForum, int]]:
    """ToForum on a link with a 60 s merge window, and the id of a carried topic."""
    link = LinkConfig.model_validate(
        {"name": "town", "forum": {"category": "town-square"}, "room": ROOM, "merge_window": 60}
    )
    parts = relay_components(
        store, discourse_config, matrix_config, AppserviceAPI(matrix_config), [link]
    )
    first = forum.create_topic(
        "alice", "town-square", "Sunday walk plans", "Where do we meet, and at what time?"
    )
    topic = TopicID(first["topic_id"])
    store.mapping.record_root(
        Thread(LinkName("town"), topic, ROOM, ROOT, PostID(first["id"]), Platform.FORUM),
        Message(
            LinkName("town"),
            PostID(first["id"]),
            topic,
            1,
            ROOM,
            ROOT,
            UserID("@forum_alice:localhost"),
            Platform.FORUM,
            False,
        ),
        time.time(),
    )
    store.identities.link(Identity(DANA, ForumUsername("bob"), None, "test", time.time()))
    # The room is not a real one: its tier (open, as its join rule would say) is known already.
    store.tiers.save_room(RoomSecurity(ROOM, "public", None, Tier.OPEN, time.time()))
    yield parts.to_forum, topic


def _say(event: str, body: str, at: float) -> tuple[InboxRow, ChatMessage]:
    row = InboxRow(
        id=next(_ROW_IDS),
        source=Platform.CHAT,
        kind=EventKind.CHAT_MESSAGE,
        conversation=f"matrix:room:{ROOM}",
        payload="",
        status="pending",
        attempts=0,
        next_attempt_at=0.0,
        last_error=None,
        received_at=0.0,
    )
    message = ChatMessage(
        event_id=EventID(event),
        room_id=ROOM,
        sender=DANA,
        msgtype="m.text",
        body=body,
        thread_root=ROOT,
        origin_server_ts=int(at * 1000),
    )
    return row, message


def _replies(forum: SandboxForum, topic: int) -> list[str]:
    return [p["raw"] for p in forum.posts(topic) if p["post_number"] > 1]


def test_a_retry_after_an_unrecorded_append_does_not_append_again(
    relay: tuple[ToForum, int], forum: SandboxForum, store: Store
) -> None:
    to_forum, topic = relay
    now = time.time()
    to_forum.handle(*_say("$one", "Meet at the old mill.", now))
    to_forum.handle(*_say("$two", "Half past nine.", now + 1))
    [merged] = _replies(forum, topic)
    assert merged.index("old mill") < merged.index("Half past nine")

    # The worker died after the forum took the edit and before the part was recorded.
    with store.db.begin() as conn:
        conn.execute(sa.text("DELETE FROM post_parts WHERE event_id = '$two'"))
    to_forum.handle(*_say("$two", "Half past nine.", now + 1))
    [merged] = _replies(forum, topic)
    assert merged.count("Half past nine.") == 1
    assert to_forum.posting.parts.for_event(ROOM, EventID("$two")) is not None

    # A redelivered message changes nothing either.
    to_forum.handle(*_say("$one", "Meet at the old mill.", now))
    assert _replies(forum, topic) == [merged]


def test_a_retry_after_an_unrecorded_new_post_finds_the_same_post(
    relay: tuple[ToForum, int], forum: SandboxForum, store: Store
) -> None:
    to_forum, topic = relay
    to_forum.handle(*_say("$one", "Meet at the old mill.", time.time()))
    with store.db.begin() as conn:
        conn.execute(sa.text("DELETE FROM post_parts WHERE event_id = '$one'"))
        conn.execute(sa.text("DELETE FROM messages WHERE event_id = '$one'"))
    to_forum.handle(*_say("$one", "Meet at the old mill.", time.time()))
    assert len(_replies(forum, topic)) == 1  # the forum's memo answered with the first post
    assert to_forum.posting.locate(ROOM, EventID("$one")) is not None


def test_a_forum_post_in_between_ends_the_merge(
    relay: tuple[ToForum, int], forum: SandboxForum
) -> None:
    to_forum, topic = relay
    now = time.time()
    to_forum.handle(*_say("$one", "Meet at the old mill.", now))
    # Alice answers on the forum; porch has not carried her post yet, the forum knows it.
    forum.reply("alice", topic, "The mill is closed for repairs this month.")
    to_forum.handle(*_say("$two", "Then the church square instead.", now + 1))
    replies = _replies(forum, topic)
    assert len(replies) == 3
    assert "church square" in replies[2] and "old mill" not in replies[2]


def test_a_message_after_the_window_is_a_post_of_its_own(
    relay: tuple[ToForum, int], forum: SandboxForum
) -> None:
    to_forum, topic = relay
    now = time.time()
    to_forum.handle(*_say("$one", "Meet at the old mill.", now))
    to_forum.handle(*_say("$two", "Or at the bridge, a minute later.", now + 61))
    assert len(_replies(forum, topic)) == 2
