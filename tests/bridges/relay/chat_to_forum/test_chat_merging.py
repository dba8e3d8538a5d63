"""The text of merged chat posts: segments, markers, and what forum readers see."""

from __future__ import annotations

from markdown_it import MarkdownIt

from bridges.model import EventID, RoomID
from bridges.relay.chat_to_forum.chat_merging import Segments, marker, split

ROOM = RoomID("!room:example.org")
ONE, TWO, THREE = EventID("$one"), EventID("$two"), EventID("$three")
ALL = {ONE, TWO, THREE}


def _merged() -> str:
    raw = "**Dana** on Matrix:\n\nFirst *point*."
    parts = split(raw, {ONE}, ONE).with_part(TWO, "- a list\n- of two")
    return parts.with_part(THREE, "> a quote").render(ROOM)


def test_a_lone_message_has_no_marker() -> None:
    alone = split("Just text.", {ONE}, ONE)
    assert alone.events == [ONE] and alone.text_of(ONE) == "Just text."
    assert alone.render(ROOM) == "Just text."
    assert alone.replaced(ONE, "Other text.").render(ROOM) == "Other text."


def test_markers_are_invisible_once_rendered() -> None:
    raw = _merged()
    assert raw.count("[porch:") == 3
    html = MarkdownIt("commonmark").render(raw)
    assert "porch:" not in html and "matrix.to" not in html
    assert "<em>point</em>" in html and "<li>of two</li>" in html
    assert "<blockquote>" in html


def test_a_merged_post_splits_back_into_its_messages() -> None:
    parts = split(_merged(), ALL, ONE)
    assert parts.events == [ONE, TWO, THREE]
    assert parts.text_of(ONE) == "**Dana** on Matrix:\n\nFirst *point*."
    assert parts.text_of(TWO) == "- a list\n- of two"
    assert parts.text_of(THREE) == "> a quote"
    assert parts.tail == ""
    assert parts.render(ROOM) == _merged()


def test_one_part_is_replaced_or_removed_alone() -> None:
    parts = split(_merged(), ALL, ONE)
    edited = split(parts.replaced(TWO, "- a list\n- of three").render(ROOM), ALL, ONE)
    assert edited.text_of(TWO) == "- a list\n- of three"
    assert edited.text_of(ONE) == parts.text_of(ONE)
    removed = split(parts.without(TWO).render(ROOM), ALL, ONE)
    assert removed.events == [ONE, THREE]


def test_only_known_markers_cut_and_forum_additions_are_kept() -> None:
    typed = f"Look:\n\n{marker(ROOM, EventID('$forged'))}"
    raw = split("Hello there.", {ONE}, ONE).with_part(TWO, typed).render(ROOM)
    raw += "\n\nEdited on the forum."
    parts = split(raw, {ONE, TWO}, ONE)
    assert parts.events == [ONE, TWO]
    assert "$forged" in (parts.text_of(TWO) or "")
    assert parts.tail == "Edited on the forum."
    assert parts.render(ROOM).endswith("Edited on the forum.")
    # With a tail even a lone message keeps its marker, so the tail stays apart from it.
    lone = Segments(((ONE, "Hi."),), "Added later.").render(ROOM)
    assert split(lone, {ONE}, ONE).tail == "Added later."
