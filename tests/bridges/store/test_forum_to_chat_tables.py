"""The forum -> chat tables (migration 3) on SQLite and PostgreSQL."""

from __future__ import annotations

from bridges.model import (
    EventID,
    ForumUsername,
    LinkName,
    Platform,
    PostID,
    RoomID,
    TopicID,
    UserID,
)
from bridges.store.mapping import Message, Thread
from bridges.store.post_media import MediaEvent, MediaInfo, PostMedia
from bridges.store.reactions import Reaction, Reactions
from bridges.store.store import Store

LINK, ROOM = LinkName("town"), RoomID("!room:localhost")
GHOST = UserID("@forum_bob:localhost")


def test_a_posts_media_events_are_kept_once_per_upload(store: Store) -> None:
    media = PostMedia(store.db)
    first = MediaEvent(LINK, PostID(5), "https://f/uploads/a.png", ROOM, EventID("$a"), GHOST)
    media.add(first, 1.0)
    media.add(MediaEvent(LINK, PostID(5), first.source_url, ROOM, EventID("$dup"), GHOST), 2.0)
    second = MediaEvent(LINK, PostID(5), "https://f/uploads/b.pdf", ROOM, EventID("$b"), GHOST)
    media.add(second, 3.0)
    assert media.for_post(LINK, PostID(5)) == [first, second]
    assert media.for_event(ROOM, EventID("$b")) == second
    media.remove(ROOM, EventID("$a"))
    assert media.for_post(LINK, PostID(5)) == [second]
    assert media.for_post(LinkName("other"), PostID(5)) == []


def test_media_info_is_saved_and_replaced(store: Store) -> None:
    media = PostMedia(store.db)
    assert media.info("https://f/uploads/a.png") is None
    media.save_info("https://f/uploads/a.png", MediaInfo("image/png", 10, 4, 3))
    media.save_info("https://f/uploads/a.png", MediaInfo("image/png", 12, 4, 3))
    assert media.info("https://f/uploads/a.png") == MediaInfo("image/png", 12, 4, 3)


def test_reactions_stand_for_likes_by_forum_user_whatever_the_case(store: Store) -> None:
    reactions = Reactions(store.db)
    thumbs = Reaction(
        LINK, PostID(5), ForumUsername("Carol"), ROOM, EventID("$r1"), UserID("@d:x"),
        Platform.CHAT,
    )  # fmt: skip
    assert reactions.add(thumbs, 1.0)
    assert not reactions.add(thumbs, 2.0)
    heart = Reaction(
        LINK, PostID(5), ForumUsername("carol"), ROOM, EventID("$r2"), UserID("@d:x"),
        Platform.CHAT,
    )  # fmt: skip
    reactions.add(heart, 3.0)
    found = reactions.for_like(LINK, PostID(5), ForumUsername("CAROL"))
    assert [r.event_id for r in found] == ["$r1", "$r2"]
    assert found[0].forum_username == "carol"
    assert reactions.for_event(ROOM, EventID("$r2")) is not None
    reactions.remove(ROOM, EventID("$r1"))
    assert [r.event_id for r in reactions.for_like(LINK, PostID(5), ForumUsername("carol"))] == [
        "$r2"
    ]


def test_a_thread_can_be_pointed_at_a_new_root(store: Store) -> None:
    thread = Thread(LINK, TopicID(7), ROOM, EventID("$old"), PostID(70), Platform.FORUM)
    root = Message(
        LINK, PostID(70), TopicID(7), 1, ROOM, EventID("$old"), GHOST, Platform.FORUM, False
    )
    store.mapping.record_root(thread, root, 1.0)
    store.mapping.replace_root(LINK, TopicID(7), EventID("$new"))
    moved = store.mapping.thread_for_topic(LINK, TopicID(7))
    assert moved is not None and moved.root_event_id == "$new"
    assert store.mapping.thread_for_root(ROOM, EventID("$old")) is None
