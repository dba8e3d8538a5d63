"""Forum -> chat, end to end: edits, titles, formatting and mentions reach the Matrix thread.

Real Synapse, real Matrix clients, the Discourse double posting signed webhooks to a real
``porch serve`` process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bridges.model import ForumUsername
from bridges.store.identities import Identity
from tests.e2e.conftest import Linked, is_text
from tests.e2e.forum_helpers import discourse_cooking, edits_of, porch_store
from tests.rig.wait import wait_until


def latest_edit(town: Linked, event_id: str) -> dict[str, Any] | None:
    found = edits_of(town, event_id)
    return found[-1] if found else None


def test_an_edited_reply_is_replaced_in_matrix_by_the_same_ghost(
    linked: Callable[..., Linked], forum: Any
) -> None:
    town = linked()
    first = forum.create_topic(
        "alice", "town-square", "Where should the new bench go?", "Park gate or library steps?"
    )
    reply = forum.reply("bob", first["topic_id"], "The library steps, where people wait.")
    carried = town.dana.wait_for_event(town.room, is_text("where people wait"))

    forum.edit_post(reply["id"], "The park gate after all: it gets the morning sun.")
    edit = wait_until(
        lambda: latest_edit(town, carried["event_id"]), 15, "the edit of bob's reply"
    )
    assert edit["sender"] == carried["sender"] == "@forum_bob:localhost"
    assert "morning sun" in edit["content"]["m.new_content"]["body"]
    assert "where people wait" not in edit["content"]["m.new_content"]["body"]
    assert "m.relates_to" not in edit["content"]["m.new_content"]


def test_editing_the_first_post_and_the_title_updates_the_thread_root(
    linked: Callable[..., Linked], forum: Any
) -> None:
    town = linked()
    first = forum.create_topic(
        "alice", "town-square", "Where should the new bench go?", "Park gate or library steps?"
    )
    root = town.dana.wait_for_event(town.room, is_text("Where should the new bench go?"))

    # The text alone: post_edited.
    forum.edit_post(first["id"], "Park gate, library steps or the market square?")
    edit = wait_until(lambda: latest_edit(town, root["event_id"]), 15, "the root's edit")
    new = edit["content"]["m.new_content"]
    assert edit["sender"] == "@forum_alice:localhost"
    assert "market square" in new["body"]
    assert "Where should the new bench go?" in new["body"], "the root keeps showing the title"

    # The title with it: the forum sends topic_edited instead of post_edited.
    forum.edit_post(
        first["id"],
        "Park gate, library steps, market square or the pond?",
        title="Where should the two new benches go?",
    )
    assert any(e.name == "topic_edited" for e in forum.events())

    def retitled() -> dict[str, Any] | None:
        found = latest_edit(town, root["event_id"])
        body = found["content"]["m.new_content"]["body"] if found else ""
        return found if "two new benches" in body else None

    edit = wait_until(retitled, 15, "the root showing the new title")
    new = edit["content"]["m.new_content"]
    assert "<strong>Where should the two new benches go?</strong>" in new["formatted_body"]
    assert "the pond" in new["body"]
    assert edit["sender"] == "@forum_alice:localhost"


def test_quotes_code_lists_links_and_mentions_arrive_formatted(
    linked: Callable[..., Linked], forum: Any
) -> None:
    discourse_cooking(forum)
    town = linked()
    first = forum.create_topic(
        "bob", "town-square", "Minutes of the bench meeting", "Minutes follow in the replies."
    )
    town.dana.wait_for_event(town.room, is_text("Minutes of the bench meeting"))
    raw = (
        "Summary for @bob and everyone:\n\n"
        "> The council will pay for one bench.\n\n"
        "```\nbenches = 1\n```\n\n"
        "* park gate\n* library steps\n\n"
        "Details on [the council site](https://council.example.org/benches)."
    )
    forum.reply("alice", first["topic_id"], raw)
    message = town.dana.wait_for_event(town.room, is_text("Summary for"))
    content = message["content"]
    html = content["formatted_body"]
    assert "<blockquote>" in html and "The council will pay for one bench." in html
    assert "<pre><code>" in html and "benches = 1" in html
    assert "<ul>" in html and "<li>park gate</li>" in html
    assert '<a href="https://council.example.org/benches">the council site</a>' in html
    assert '<a href="https://matrix.to/#/@forum_bob:localhost">@bob</a>' in html
    assert content["m.mentions"] == {"user_ids": ["@forum_bob:localhost"]}
    # The plain body keeps the text of all of it.
    for text in ("The council will pay", "benches = 1", "library steps", "@bob"):
        assert text in content["body"]


def test_a_mention_of_a_forum_user_with_a_linked_matrix_account_pills_that_account(
    linked: Callable[..., Linked], forum: Any
) -> None:
    discourse_cooking(forum)
    town = linked()
    forum.add_user("carol", name="Carol Chen")
    with porch_store(town) as store:
        store.identities.link(
            Identity(town.dana.user_id, ForumUsername("carol"), None, "test", 0.0)
        )
    first = forum.create_topic(
        "alice", "town-square", "Who keeps the bench keys?", "@carol has the spare set, I think."
    )
    root = town.dana.wait_for_event(town.room, is_text("Who keeps the bench keys?"))
    pill = f'<a href="https://matrix.to/#/{town.dana.user_id}">@carol</a>'
    assert pill in root["content"]["formatted_body"]
    assert root["content"]["m.mentions"] == {"user_ids": [town.dana.user_id]}
    assert first["topic_id"]
