"""What porch reads from a Matrix media message, and how it names files it cannot carry."""

from __future__ import annotations

from bridges.model import ChatMessage, ContentURI, EventID, RoomID, UserID
from bridges.relay.chat_to_forum.chat_media import human_size, media_facts, safe_name


def _image(body: str, **info: object) -> ChatMessage:
    return ChatMessage(
        event_id=EventID("$e"),
        room_id=RoomID("!r:example.org"),
        sender=UserID("@dana:example.org"),
        msgtype="m.image",
        body=body,
        url=ContentURI("mxc://example.org/abc"),
        info=dict(info),
    )


def test_without_filename_the_body_is_the_file_name() -> None:
    facts = media_facts(_image("garden.png", size=1234, mimetype="image/png"), {"body": "x"})
    assert (facts.filename, facts.caption, facts.size, facts.mimetype) == (
        "garden.png",
        None,
        1234,
        "image/png",
    )


def test_a_filename_that_differs_makes_the_body_a_caption() -> None:
    facts = media_facts(_image("Our plot in May"), {"filename": "garden.png"})
    assert (facts.filename, facts.caption) == ("garden.png", "Our plot in May")
    same = media_facts(_image("garden.png"), {"filename": "garden.png"})
    assert same.caption is None
    unread = media_facts(_image("Our plot in May"), None)
    assert (unread.filename, unread.caption) == ("Our plot in May", None)


def test_odd_sizes_are_ignored() -> None:
    assert media_facts(_image("a.png", size="big"), None).size is None
    assert media_facts(_image("a.png", size=True), None).size is None


def test_sizes_read_as_people_read_them() -> None:
    assert human_size(512) == "512 bytes"
    assert human_size(1536) == "1.5 KB"
    assert human_size(10 * 1024 * 1024) == "10 MB"


def test_names_cannot_break_out_of_their_brackets() -> None:
    assert safe_name("my [best] photo|x.png") == "my best photo x.png"
    assert safe_name("  \n ") == "file"
