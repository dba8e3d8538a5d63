"""``merge_window``: consecutive chat messages of one sender become one forum post."""

from __future__ import annotations

import time
from collections.abc import Callable

from sandbox.forum import SandboxForum
from tests.e2e.chat_side import live_posts, open_thread, wait_for_post
from tests.e2e.conftest import Linked
from tests.rig.wait import wait_until

WINDOW = 2.0


def test_quick_messages_of_one_sender_become_one_post(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    town = linked(merge_window=WINDOW)
    first, root = open_thread(
        town, forum, "Plans for the Sunday walk", "Where shall we meet, and when?"
    )
    lines = ["Meet at the old mill.", "Half past nine, not later.", "Bring something to drink."]
    started = time.monotonic()
    for line in lines:
        town.dana.send_text(town.room, line, root["event_id"])
    last_sent = time.monotonic()
    assert last_sent - started < WINDOW, "the messages were not sent within the window"
    merged = wait_for_post(forum, first["topic_id"], lines[-1])
    raw = merged["raw"]
    assert [raw.index(line) for line in lines] == sorted(raw.index(line) for line in lines)
    assert all(raw.count(line) == 1 for line in lines)
    assert len(live_posts(forum, first["topic_id"])) == 2  # the topic's first post and this one
    # The markers porch keeps in the text never show to forum readers.
    assert (
        "porch:" not in merged["cooked"]
        and "matrix.to" not in merged["cooked"].split("</p>", 1)[1]
    )

    # Once the window after the last message has passed, the next message is a post of its
    # own. The window counts from the homeserver's timestamp of that message, which is no later
    # than the moment its send returned.
    wait_until(lambda: time.monotonic() - last_sent > WINDOW + 0.5, WINDOW + 2, "the window")
    town.dana.send_text(town.room, "See you all there!", root["event_id"])
    alone = wait_for_post(forum, first["topic_id"], "See you all there!")
    assert alone["id"] != merged["id"]
    assert "old mill" not in alone["raw"]
    assert forum.post(merged["id"])["raw"] == raw


def test_another_voice_in_between_starts_a_new_post(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    town = linked(merge_window=30)
    first, root = open_thread(
        town, forum, "Choir practice on Thursday", "Who is coming to practice this week?"
    )
    town.dana.send_text(town.room, "I am coming, a bit late.", root["event_id"])
    wait_for_post(forum, first["topic_id"], "a bit late")
    forum.reply("bob", first["topic_id"], "Great, we start with the new song.")
    town.dana.wait_for_text(town.room, "we start with the new song")
    town.dana.send_text(town.room, "Which new song is it?", root["event_id"])
    later = wait_for_post(forum, first["topic_id"], "Which new song")
    assert "a bit late" not in later["raw"]
    assert [p["username"] for p in live_posts(forum, first["topic_id"])] == [
        "alice",
        "chat-relay",
        "bob",
        "chat-relay",
    ]


def test_editing_or_redacting_one_merged_message_changes_only_its_part(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    town = linked(merge_window=30)
    first, root = open_thread(
        town, forum, "Jumble sale donations", "What can people bring to the sale?"
    )
    one = town.dana.send_text(town.room, "Books and board games.", root["event_id"])
    two = town.dana.send_text(town.room, "Old lamps, if they work.", root["event_id"])
    three = town.dana.send_text(town.room, "Kitchen things too.", root["event_id"])
    post = wait_for_post(forum, first["topic_id"], "Kitchen things too.")
    heading = post["raw"].split("\n\n", 1)[0]

    town.dana.edit(town.room, two, "Old lamps and lampshades, if they work.")
    wait_until(lambda: "lampshades" in forum.post(post["id"])["raw"], 10, "the merged part edited")
    raw = forum.post(post["id"])["raw"]
    assert "Books and board games." in raw and "Kitchen things too." in raw
    assert raw.index("Books") < raw.index("lampshades") < raw.index("Kitchen")

    town.dana.redact(town.room, one)
    wait_until(lambda: "Books" not in forum.post(post["id"])["raw"], 10, "the part removed")
    raw = forum.post(post["id"])["raw"]
    assert raw.startswith(heading)  # the sender is still named
    assert "lampshades" in raw and "Kitchen things too." in raw

    town.dana.redact(town.room, two)
    town.dana.redact(town.room, three)
    wait_until(
        lambda: forum.post(post["id"])["user_deleted"] or forum.post(post["id"])["deleted_at"],
        10,
        "the post deleted with its last message",
    )
