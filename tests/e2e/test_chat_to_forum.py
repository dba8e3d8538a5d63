"""Chat -> forum: Matrix messages in carried threads become forum replies, from the right
account, in the right topic, and never come back.

Real Synapse, real Matrix clients, the Discourse double, and ``porch serve`` as a child process.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import requests

from sandbox.forum import SandboxForum
from sandbox.synapse import SandboxSynapse
from tests.e2e.chat_side import (
    audit_entries,
    events_with,
    link_identity,
    live_posts,
    open_thread,
    porch_store,
    set_displayname,
    settled,
    wait_for_post,
)
from tests.e2e.conftest import BOT, Linked, is_text
from tests.rig.matrix import ChatUser
from tests.rig.wait import wait_until


def test_a_thread_message_becomes_a_reply_by_the_relay_naming_its_sender(
    linked: Callable[..., Linked], forum: SandboxForum, synapse: SandboxSynapse
) -> None:
    town = linked()
    set_displayname(synapse, town.dana, "Dana Davis")
    first, root = open_thread(
        town, forum, "Where should the new bench go?", "Park gate or library steps, you say?"
    )
    town.dana.send_text(
        town.room, "Library steps, there is shade after lunch.", thread_root=root["event_id"]
    )
    post = wait_for_post(forum, first["topic_id"], "Library steps, there is shade")
    assert post["username"] == "chat-relay"
    assert post["raw"] == (
        f"**Dana Davis** ([{town.dana.user_id}](https://matrix.to/#/{town.dana.user_id}))"
        " on Matrix:\n\n"
        "Library steps, there is shade after lunch."
    )
    assert post["reply_to_post_number"] is None


def test_a_reply_to_a_carried_message_answers_its_post(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    town = linked()
    first, root = open_thread(
        town, forum, "Opening hours of the library", "Should it open on Sundays as well?"
    )
    forum.reply("bob", first["topic_id"], "Yes, Sunday afternoons at the very least.")
    bob = town.dana.wait_for_event(town.room, is_text("Sunday afternoons"))
    # An in-thread reply to Bob's message (is_falling_back: false).
    town.dana.send_text(
        town.room,
        "Agreed with Bob, afternoons are enough.",
        thread_root=root["event_id"],
        reply_to=bob["event_id"],
    )
    answer = wait_for_post(forum, first["topic_id"], "Agreed with Bob")
    assert answer["reply_to_post_number"] == 2
    # A plain reply outside the thread to Bob's message lands in the same topic, as a reply.
    town.dana.send_text(town.room, "And mornings on Saturdays, please.", reply_to=bob["event_id"])
    plain = wait_for_post(forum, first["topic_id"], "mornings on Saturdays")
    assert plain["reply_to_post_number"] == 2
    # A thread message that only falls back to the latest message answers nobody in particular.
    town.dana.send_text(town.room, "One more idea: longer hours in summer.", root["event_id"])
    loose = wait_for_post(forum, first["topic_id"], "longer hours in summer")
    assert loose["reply_to_post_number"] is None


def test_a_linked_user_posts_as_their_own_forum_account(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    town = linked()
    link_identity(town.porch, town.dana.user_id, "alice")
    first, root = open_thread(
        town, forum, "Bike lanes on Main Street", "Paint or kerbs, what do you all think?", "bob"
    )
    town.dana.send_text(
        town.room, "Kerbs: paint does not stop cars.", thread_root=root["event_id"]
    )
    post = wait_for_post(forum, first["topic_id"], "Kerbs: paint does not stop cars.")
    assert post["username"] == "alice"
    assert post["raw"] == "Kerbs: paint does not stop cars."  # no relay heading
    posted = [
        c
        for c in forum.requests_log()
        if c.method == "POST" and c.path in ("/posts", "/posts.json")
    ]
    assert [c.api_username for c in posted] == ["alice"]


def test_top_level_messages_stay_in_chat_by_default(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    town = linked()
    first, root = open_thread(
        town, forum, "Street party in June", "Who is in for the party this year?"
    )
    town.dana.send_text(town.room, "Unrelated: has anyone seen my umbrella?")
    town.dana.send_text(town.room, "Count me in for the party!", thread_root=root["event_id"])
    wait_for_post(forum, first["topic_id"], "Count me in for the party!")
    # The room's events are handled in order: the top-level one was handled before.
    assert not [p for p in forum.posts() if "umbrella" in p["raw"]]
    ignored = [e for e in audit_entries(town.porch) if e.rule == "not-a-carried-thread"]
    assert [(e.outcome, e.actor) for e in ignored] == [("ignored", town.dana.user_id)]


def _start_topic_from_chat(
    town: Linked, forum: SandboxForum, text: str
) -> tuple[str, dict[str, Any]]:
    """Dana writes a top-level message; returns its event id and the topic's first post."""
    # The admin's step after inviting the bot: `porch check --online` has it join the room.
    # (Its other findings do not matter here: only the bot's membership does.)
    town.porch.cli("check", "--online")
    member = town.dana.room_state(town.room, "m.room.member", BOT) or {}
    assert member.get("membership") == "join", member
    event_id = town.dana.send_text(town.room, text)
    first_line = text.split("\n", 1)[0]

    def topic_post() -> dict[str, Any] | None:
        return next(
            (p for p in forum.posts() if p["post_number"] == 1 and first_line in p["raw"]), None
        )

    return event_id, wait_until(topic_post, 10, "the topic started from chat")


def test_topics_from_chat_start_a_topic_whose_thread_is_the_message(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    # A link narrowed to tagged topics gives the topics it starts its tags.
    town = linked(topics_from_chat=True, forum={"category": "town-square", "tags": ["gardens"]})
    root_id, first = _start_topic_from_chat(
        town, forum, "Community garden on Elm Street\nWho wants a plot? There are twelve."
    )
    topic = forum.topic(first["topic_id"])
    assert topic["title"] == "Community garden on Elm Street"
    assert topic["category_id"] == forum.category_id("town-square")
    assert topic["tags"] == ["gardens"]
    assert first["username"] == "chat-relay"
    assert "Who wants a plot? There are twelve." in first["raw"]

    # Replies in the message's Matrix thread go to the new topic ...
    town.dana.send_text(town.room, "I would like the sunny one by the wall.", root_id)
    wait_for_post(forum, first["topic_id"], "sunny one by the wall")
    # ... and forum replies to the topic come back into that thread.
    forum.reply("alice", first["topic_id"], "Put me down for a plot near the tap, please.")
    reply = town.dana.wait_for_event(town.room, is_text("near the tap"))
    assert reply["sender"] == "@forum_alice:localhost"
    assert reply["content"]["m.relates_to"]["rel_type"] == "m.thread"
    assert reply["content"]["m.relates_to"]["event_id"] == root_id
    # Porch's own topic never came back as a second root.
    settled(town, forum, first["topic_id"], "Marker: the garden is settled now.")
    assert len(events_with(town.dana, town.room, "Community garden on Elm Street")) == 1


def test_editing_the_root_of_a_chat_topic_retitles_it(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    town = linked(topics_from_chat=True)
    root_id, first = _start_topic_from_chat(
        town, forum, "Lost keys at the bakery\nA ring with three keys and a red tag."
    )
    town.dana.edit(
        town.room, root_id, "Found keys at the bakery\nA ring with three keys and a red tag."
    )
    wait_until(
        lambda: forum.topic(first["topic_id"])["title"] == "Found keys at the bakery",
        10,
        "the new title",
    )
    assert forum.post(first["id"])["raw"].endswith(
        "Found keys at the bakery\nA ring with three keys and a red tag."
    )


def test_an_edit_by_the_sender_revises_the_post_without_an_echo(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    town = linked()
    first, root = open_thread(
        town, forum, "Recycling collection day", "Is it still on Tuesdays this year?"
    )
    event_id = town.dana.send_text(town.room, "Tuesdays, I think.", root["event_id"])
    post = wait_for_post(forum, first["topic_id"], "Tuesdays, I think.")
    assert post["version"] == 1
    corrected = (
        "Correction: it moved to Wednesdays in March, and glass is now collected every "
        "second week only, on the same day as paper."
    )
    town.dana.edit(town.room, event_id, corrected)
    edited = wait_for_post(forum, first["topic_id"], "moved to Wednesdays")
    assert edited["id"] == post["id"]
    assert "Tuesdays, I think." not in edited["raw"]
    assert edited["version"] == 2  # a change of over 100 characters is a new revision
    # The forum's post_edited echo must not come back as an edit in the room.
    settled(town, forum, first["topic_id"], "Marker: recycling is settled now.")
    replacements = [
        e
        for e in town.dana.room_messages(town.room, limit=200)
        if e.get("content", {}).get("m.relates_to", {}).get("rel_type") == "m.replace"
    ]
    assert [e["sender"] for e in replacements] == [town.dana.user_id]


def test_an_edit_by_someone_else_is_not_carried(
    linked: Callable[..., Linked],
    forum: SandboxForum,
    matrix_user_factory: Callable[..., ChatUser],
) -> None:
    town = linked()
    erin = matrix_user_factory()
    erin.join(town.room)
    first, root = open_thread(
        town, forum, "Noise from the night market", "Is anyone else bothered by it?"
    )
    event_id = town.dana.send_text(town.room, "Only after midnight, for me.", root["event_id"])
    post = wait_for_post(forum, first["topic_id"], "Only after midnight")
    # Synapse lets anyone send an m.replace; clients and porch only honour the sender's own.
    erin.edit(town.room, event_id, "I love the noise, it should go on all night long.")
    town.dana.send_text(town.room, "And the music stops at eleven.", root["event_id"])
    wait_for_post(forum, first["topic_id"], "music stops at eleven")
    assert forum.post(post["id"])["raw"] == post["raw"]
    assert any(
        e.rule == "not-the-author" and e.actor == erin.user_id for e in audit_entries(town.porch)
    )


def test_a_redaction_deletes_the_post_and_its_echo_redacts_nothing(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    town = linked()
    first, root = open_thread(
        town, forum, "Volunteers for the clean-up", "Saturday at ten, who can come along?"
    )
    forum.reply("bob", first["topic_id"], "I can bring gloves and bags for everyone.")
    bob = town.dana.wait_for_event(town.room, is_text("gloves and bags"))
    event_id = town.dana.send_text(town.room, "I can come, call me on 555-0199.", root["event_id"])
    post = wait_for_post(forum, first["topic_id"], "555-0199")
    town.dana.redact(town.room, event_id, "posted my number by mistake")
    wait_until(lambda: forum.post(post["id"])["deleted_at"], 10, "the forum post deleted")
    # Trashed by porch's staff account: readers see neither the post nor its history.
    public = requests.get(f"{forum.base_url}/t/{first['topic_id']}.json", timeout=5)
    assert public.status_code == 200 and "555-0199" not in public.text
    settled(town, forum, first["topic_id"], "Marker: the clean-up is settled.")
    redactions = [
        e for e in town.dana.room_messages(town.room, limit=200) if e["type"] == "m.room.redaction"
    ]
    assert [e["sender"] for e in redactions] == [town.dana.user_id]
    # Bob's carried reply and the root are intact.
    assert events_with(town.dana, town.room, "gloves and bags")[0]["event_id"] == bob["event_id"]
    assert events_with(town.dana, town.room, "Volunteers for the clean-up")


def test_redacting_the_root_of_a_chat_topic(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    town = linked(topics_from_chat=True)
    answered_id, answered = _start_topic_from_chat(
        town, forum, "Free firewood on Oak Lane\nCome and take it, the pile is by the gate."
    )
    forum.reply("alice", answered["topic_id"], "Thank you, I will come by with a cart.")
    town.dana.wait_for_text(town.room, "come by with a cart")
    lonely_id, lonely = _start_topic_from_chat(
        town, forum, "Ladder to lend this weekend\nAsk me if you need one, it is tall."
    )
    town.dana.redact(town.room, answered_id)
    town.dana.redact(town.room, lonely_id)
    # Nobody answered: the topic goes. Answered: the text goes, the replies stay.
    wait_until(lambda: forum.post(lonely["id"])["deleted_at"], 10, "the lonely topic deleted")
    kept = forum.post(answered["id"])
    assert not kept["deleted_at"] and "Oak Lane" not in kept["raw"]
    assert "deleted in chat" in kept["raw"]
    assert [p["username"] for p in live_posts(forum, answered["topic_id"])] == [
        "chat-relay",
        "alice",
    ]
    forum.flush_webhooks()
    with porch_store(town.porch) as store:
        wait_until(lambda: not store.inbox.rows(status="pending"), 10, "an empty inbox")
        assert store.inbox.rows(status="dead") == []


def test_formatting_reaches_the_forum_as_markdown(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    town = linked()
    first, root = open_thread(
        town, forum, "Agenda for the residents meeting", "Please add your points below."
    )
    forum.reply("bob", first["topic_id"], "Point one: the broken street lights.")
    bob = town.dana.wait_for_event(town.room, is_text("broken street lights"))
    formatted = (
        '<mx-reply><blockquote><a href="https://matrix.to/#/!r/$e">In reply to</a> '
        "Point one: the broken street lights.</blockquote></mx-reply>"
        "<p><strong>Agreed</strong>, and <em>urgently</em>: see "
        '<a href="https://example.org/lights">the report</a>, '
        '<a href="https://matrix.to/#/@forum_alice:localhost">Alice Adams</a>.</p>'
        "<blockquote><p>Lights out since May</p></blockquote>"
        "<ul><li>Elm Street</li><li>Station Road</li></ul>"
        '<pre><code class="language-python">print("fix the lights")\n</code></pre>'
    )
    body = (
        "> <@forum_bob:localhost> Point one: the broken street lights.\n\n"
        "Agreed, and urgently: see the report, Alice Adams.\n"
        "> Lights out since May\n- Elm Street\n- Station Road\n"
        'print("fix the lights")'
    )
    town.dana.send(
        town.room,
        {
            "msgtype": "m.text",
            "body": body,
            "format": "org.matrix.custom.html",
            "formatted_body": formatted,
            "m.relates_to": {
                "rel_type": "m.thread",
                "event_id": root["event_id"],
                "is_falling_back": False,
                "m.in_reply_to": {"event_id": bob["event_id"]},
            },
        },
    )
    raw = wait_for_post(forum, first["topic_id"], "Agreed")["raw"]
    assert "**Agreed**, and *urgently*: see [the report](https://example.org/lights)" in raw
    assert "@alice" in raw  # a pill to a ghost mentions its forum user
    assert "> Lights out since May" in raw
    assert "- Elm Street\n- Station Road" in raw
    assert '```python\nprint("fix the lights")\n```' in raw
    assert "In reply to" not in raw and raw.count("broken street lights") == 0


def test_porch_own_posts_never_come_back_to_the_room(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    town = linked()
    first, root = open_thread(
        town, forum, "Ideas for the summer fair", "Post one idea per reply, please."
    )
    town.dana.send_text(town.room, "A second-hand book stall.", root["event_id"])
    relayed = wait_for_post(forum, first["topic_id"], "A second-hand book stall.")
    # Now as a linked user: the forum's echo is a post by alice, not by the relay.
    link_identity(town.porch, town.dana.user_id, "alice")
    town.dana.send_text(town.room, "And a lemonade stand by the gate.", root["event_id"])
    mine = wait_for_post(forum, first["topic_id"], "lemonade stand")
    assert mine["username"] == "alice"
    settled(town, forum, first["topic_id"], "Marker: the fair is settled now.")
    assert len(events_with(town.dana, town.room, "second-hand book stall")) == 1
    assert len(events_with(town.dana, town.room, "lemonade stand")) == 1
    # The forum did echo both posts to porch, as a real forum does.
    echoed = {
        json.loads(d.body)["post"]["id"]
        for d in forum.deliveries()
        if d.event_name == "post_created" and d.status == 200
    }
    assert {relayed["id"], mine["id"]} <= echoed


def test_a_post_the_forum_refuses_is_explained_to_the_sender(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    town = linked()
    link_identity(town.porch, town.dana.user_id, "alice")
    first, root = open_thread(
        town, forum, "Parking on the green", "Should cars be allowed there at all?", "bob"
    )
    event_id = town.dana.send_text(town.room, "No.", root["event_id"])
    notice = town.dana.wait_for_event(
        town.room,
        lambda e: e.get("content", {}).get("msgtype") == "m.notice",
        what="porch's notice",
    )
    assert notice["sender"] == BOT
    assert "Not posted to the forum" in notice["content"]["body"]
    assert "too short" in notice["content"]["body"]
    relation = notice["content"]["m.relates_to"]
    assert relation["event_id"] == root["event_id"]
    assert relation["m.in_reply_to"]["event_id"] == event_id
    assert [p["post_number"] for p in live_posts(forum, first["topic_id"])] == [1]
    refused = [e for e in audit_entries(town.porch) if e.outcome == "refused"]
    assert [(e.rule, e.actor) for e in refused] == [("forum-rejected", town.dana.user_id)]
    assert "too short" in (refused[0].detail or "")


def test_a_topic_title_in_use_gets_the_message_date(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    town = linked(topics_from_chat=True)
    _, first = _start_topic_from_chat(town, forum, "Hello neighbours\nI just moved in at no. 4.")
    town.dana.send_text(town.room, "Hello neighbours\nWe are the new bakers on the corner.")

    def second() -> dict[str, Any] | None:
        return next(
            (
                p
                for p in forum.posts()
                if p["post_number"] == 1 and "new bakers on the corner" in p["raw"]
            ),
            None,
        )

    title = forum.topic(wait_until(second, 10, "the second topic")["topic_id"])["title"]
    assert forum.topic(first["topic_id"])["title"] == "Hello neighbours"
    assert title.startswith("Hello neighbours (") and title.endswith(" UTC)")


def test_a_post_held_for_review_is_explained_to_the_sender(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    forum.add_category("suggestions", "Suggestions", require_approval=True)
    town = linked(forum={"category": "suggestions"})
    opened = forum.create_topic(
        "alice", "suggestions", "A bench by the pond", "Could we have a bench by the pond?"
    )
    topic = forum.approve(opened["pending_post"]["id"])
    root = town.dana.wait_for_event(town.room, is_text("A bench by the pond"))
    town.dana.send_text(town.room, "Yes please, facing the sunset.", root["event_id"])
    notice = town.dana.wait_for_event(
        town.room,
        lambda e: e.get("content", {}).get("msgtype") == "m.notice",
        what="porch's notice",
    )
    assert "once a moderator approves it" in notice["content"]["body"]
    assert notice["content"]["m.relates_to"]["event_id"] == root["event_id"]
    assert [p.raw.endswith("facing the sunset.") for p in forum.pending_posts()] == [True]
    assert [p["post_number"] for p in live_posts(forum, topic["topic_id"])] == [1]
    held = [e for e in audit_entries(town.porch) if e.outcome == "held"]
    assert [(e.rule, e.actor) for e in held] == [("forum-review-queue", town.dana.user_id)]
