"""Chat -> forum, nothing lost and nothing doubled: the same line twice, a crash while the forum
answers, a homeserver that backed off while porch was down, a homeserver that restarts.

Real Synapse, real Matrix clients, the Discourse double (its 120 s memo and
``unique_posts_mins`` as Discourse has them), and ``porch serve`` as a child process.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa

from bridges.store.forum_attempts import forum_attempts
from sandbox.forum import SandboxForum
from sandbox.forum_render import without_comments
from sandbox.synapse import SandboxSynapse
from tests.e2e.chat_side import (
    audit_entries,
    events_with,
    live_posts,
    open_thread,
    porch_store,
    wait_for_post,
)
from tests.e2e.conftest import BOT, Linked
from tests.rig.porch import PorchProcess
from tests.rig.wait import wait_until

#: Discourse's default ``unique_posts_mins``, in seconds.
UNIQUE_POSTS = 5 * 60


def said(forum: SandboxForum, topic_id: int, text: str) -> list[dict[str, object]]:
    """The topic's live posts whose message (the raw after the relay's heading, comments
    dropped as the forum drops them) is ``text``."""
    return [
        p
        for p in live_posts(forum, topic_id)
        if without_comments(str(p["raw"])).strip().endswith(f"\n\n{text}")
    ]


def inbox_done(porch: PorchProcess) -> Callable[[], bool]:
    def done() -> bool:
        with porch_store(porch) as store:
            rows = store.inbox.rows()
        return bool(rows) and all(r.status == "done" for r in rows)

    return done


def refusals(town: Linked) -> list[dict[str, object]]:
    return events_with(town.dana, town.room, "Not posted to the forum")


# --- item 13: the same line twice ---------------------------------------------------------------


def test_the_same_line_twice_is_carried_twice_and_the_audit_says_how(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    town = linked()
    first, root = open_thread(
        town, forum, "Helpers for the summer fair", "Who can help on Saturday morning?"
    )
    topic = first["topic_id"]
    town.dana.send_text(town.room, "ok", thread_root=root["event_id"])
    wait_until(lambda: said(forum, topic, "ok"), 15, "the first 'ok' on the forum")
    # The same text again within the forum's 120 s memo and its unique_posts_mins.
    town.dana.send_text(town.room, "ok", thread_root=root["event_id"])
    wait_until(lambda: len(said(forum, topic, "ok")) >= 2, 15, "the second 'ok' on the forum")
    posts = said(forum, topic, "ok")
    assert len({p["id"] for p in posts}) == 2
    # Readers see the message as written; the mark is invisible.
    assert all("porch:" not in str(p["cooked"]) for p in posts)
    wait_until(inbox_done(town.porch), 15, "the inbox to settle")
    assert not refusals(town)
    notes = [e for e in audit_entries(town.porch) if "made distinct" in (e.detail or "")]
    assert len(notes) == 1 and notes[0].actor == town.dana.user_id
    # Later than unique_posts_mins, a third 'ok' is a new post as well.
    forum.advance_redis(UNIQUE_POSTS + 1)
    town.dana.send_text(town.room, "ok", thread_root=root["event_id"])
    wait_until(lambda: len(said(forum, topic, "ok")) == 3, 15, "the third 'ok'")


def test_a_memo_answer_with_another_messages_post_is_not_taken_for_this_one(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    town = linked()
    first, root = open_thread(
        town, forum, "Choir rehearsal on Friday", "Who is coming along this week?"
    )
    topic = first["topic_id"]
    town.dana.send_text(town.room, "yes", thread_root=root["event_id"])
    wait_until(lambda: said(forum, topic, "yes"), 15, "the first 'yes' on the forum")
    wait_until(inbox_done(town.porch), 15, "the inbox to settle")
    # As if the first 'yes' had crossed before porch kept its attempts (an upgrade): porch
    # does not know it repeats a text, and the forum's memo answers with the first post.
    with porch_store(town.porch) as store, store.db.begin() as conn:
        conn.execute(sa.delete(forum_attempts))
    town.dana.send_text(town.room, "yes", thread_root=root["event_id"])
    wait_until(lambda: len(said(forum, topic, "yes")) == 2, 15, "the second 'yes'")
    wait_until(inbox_done(town.porch), 15, "the inbox to settle again")
    assert not refusals(town)


def openers(forum: SandboxForum, text: str) -> list[dict[str, object]]:
    """First posts of live topics whose message is ``text``."""
    return [
        p
        for p in forum.posts()
        if p["post_number"] == 1
        and not p.get("deleted_at")
        and without_comments(str(p["raw"])).strip().endswith(text)
    ]


def bot_joined(town: Linked) -> None:
    """Wait until porch's bot joined the room (porch joins linked rooms at start): only then
    does the homeserver send the room's messages to porch."""

    def joined() -> bool:
        member = town.dana.room_state(town.room, "m.room.member", BOT) or {}
        return member.get("membership") == "join"

    wait_until(joined, 20, "porch's bot to join the room")


def test_the_same_opener_twice_opens_two_topics(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    town = linked(topics_from_chat=True)
    bot_joined(town)
    text = "Hello everyone, is anyone around today?"
    town.dana.send_text(town.room, text)
    wait_until(lambda: openers(forum, text), 15, "the first topic")
    town.dana.send_text(town.room, text)
    wait_until(lambda: len(openers(forum, text)) == 2, 15, "the second topic")
    wait_until(inbox_done(town.porch), 15, "the inbox to settle")
    assert not refusals(town)
    assert len({p["topic_id"] for p in openers(forum, text)}) == 2


# --- item 11: a crash while the forum answers --------------------------------------------------


def test_a_crash_while_the_forum_answers_never_posts_the_message_twice(
    store_url: str, linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    # (store_url: once on SQLite, once on PostgreSQL; asked for first, so it outlives porch)
    town = linked(store_url=store_url)
    first, root = open_thread(
        town, forum, "Bus timetable changes", "What changes in May for the buses?"
    )
    topic = first["topic_id"]
    # The forum creates the post at once but answers late; porch dies while it waits.
    forum.slow_post_answers(4.0)
    town.dana.send_text(town.room, "The 42 runs every ten minutes now.", root["event_id"])
    wait_for_post(forum, topic, "The 42 runs every ten minutes now.", timeout=20)
    town.porch.kill()
    forum.slow_post_answers(0)
    # Porch stays down longer than the forum's memo and its unique_posts_mins.
    forum.advance_redis(UNIQUE_POSTS + 60)
    town.porch.start()
    wait_until(inbox_done(town.porch), 30, "the inbox to settle after the restart")
    assert len(said(forum, topic, "The 42 runs every ten minutes now.")) == 1
    assert not refusals(town)
    # The conversation flows on.
    town.dana.send_text(town.room, "And the 7 only on weekdays.", root["event_id"])
    wait_for_post(forum, topic, "And the 7 only on weekdays.", timeout=20)
    assert len(said(forum, topic, "The 42 runs every ten minutes now.")) == 1


def test_a_crash_while_the_forum_opens_a_topic_never_opens_it_twice(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    town = linked(topics_from_chat=True)
    bot_joined(town)
    text = "Street party on the 21st\nWho brings tables and chairs?"
    forum.slow_post_answers(4.0)
    town.dana.send_text(town.room, text)
    wait_until(lambda: openers(forum, "Who brings tables and chairs?"), 20, "the topic")
    town.porch.kill()
    forum.slow_post_answers(0)
    forum.advance_redis(UNIQUE_POSTS + 60)
    town.porch.start()
    wait_until(inbox_done(town.porch), 30, "the inbox to settle after the restart")
    assert len(openers(forum, "Who brings tables and chairs?")) == 1
    assert not refusals(town)


def retry_schedule(synapse: SandboxSynapse) -> list[tuple[float, float]]:
    """When Synapse scheduled each retry of porch's appservice (its log's local time, as a
    timestamp) and how long it meant to wait, in order."""
    text = synapse.log_path.read_text(errors="replace")
    found = re.findall(
        r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*Scheduling retries on \S+ in ([0-9.]+)s",
        text,
        re.MULTILINE,
    )
    return [
        (datetime.strptime(at, "%Y-%m-%d %H:%M:%S,%f").timestamp(), float(wait))
        for at, wait in found
    ]


def test_messages_held_by_a_backed_off_homeserver_arrive_at_once_after_a_restart(
    linked: Callable[..., Linked], forum: SandboxForum, synapse: SandboxSynapse
) -> None:
    town = linked()
    first, root = open_thread(town, forum, "Library opening hours", "Should it open on Sundays?")
    topic = first["topic_id"]
    town.porch.kill()
    before = len(retry_schedule(synapse))
    town.dana.send_text(town.room, "Sunday afternoons would be lovely.", root["event_id"])
    # Synapse doubles its wait after each failed push (2, 4, 8, 16, 32 s ... up to 512 s).
    # Porch comes back once the homeserver waits 32 s before its next try.
    scheduled = wait_until(
        lambda: [w for w in retry_schedule(synapse)[before:] if w[1] >= 32],
        90,
        "Synapse to back off for 32 s",
    )
    at, wait = scheduled[-1]
    town.porch.start()
    up = time.time()
    wait_for_post(forum, topic, "Sunday afternoons would be lovely.", timeout=30)
    arrived = time.time()
    # Porch's ping at start makes Synapse send what it holds at once: the message crossed
    # before the homeserver would have tried again by itself, and soon after porch was up.
    assert arrived < at + wait, f"arrived {arrived - (at + wait):.1f}s after Synapse's own retry"
    assert arrived - up < 10, f"took {arrived - up:.1f}s after porch was up"


# --- item 12: homeserver restarts ----------------------------------------------------------------


def test_chat_keeps_crossing_after_the_homeserver_restarts_twice(
    linked: Callable[..., Linked], forum: SandboxForum, synapse: SandboxSynapse
) -> None:
    town = linked()
    first, root = open_thread(
        town, forum, "Cycle lanes on Main Street", "Which side of the street is best?"
    )
    topic = first["topic_id"]
    sent: list[str] = []
    # Synapse on SQLite numbers transactions from 1 again after each restart once it has
    # delivered everything, so the second round reuses the first round's ids.
    for restart in range(2):
        synapse.restart()
        for n in range(3):
            text = f"Round {restart} message {n}: the north side, please."
            town.dana.send_text(town.room, text, root["event_id"])
            sent.append(text)
            wait_for_post(forum, topic, text, timeout=30)
    for text in sent:
        assert len(said(forum, topic, text)) == 1, text
