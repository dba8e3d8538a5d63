"""Emoji and spoilers, end to end, both ways: what a reader sees on one side, the other side
shows too (the forum's emoji images as characters, its spoilers as Matrix spoilers).

Real Synapse, real Matrix clients, the Discourse double, ``porch serve`` as a child process.
"""

from __future__ import annotations

from collections.abc import Callable

from sandbox.forum import SandboxForum
from tests.e2e.chat_side import link_identity, open_thread, wait_for_post
from tests.e2e.conftest import Linked, is_text


def test_emoji_and_spoilers_cross_both_ways(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    town = linked()
    first, root = open_thread(
        town, forum, "Film club: the lighthouse mystery", "Seen it? Mind the spoilers."
    )
    forum.reply(
        "bob",
        first["topic_id"],
        "Loved it :tada: The end: [spoiler]the keeper was the thief[/spoiler]",
    )
    message = town.dana.wait_for_event(town.room, is_text("Loved it"))
    content = message["content"]
    assert '<span data-mx-spoiler="">the keeper was the thief</span>' in content["formatted_body"]
    assert "<img" not in content["formatted_body"]  # the emoji image became the character
    assert content["body"].startswith("Loved it \U0001f389 The end:")

    town.dana.send(
        town.room,
        {
            "msgtype": "m.text",
            "body": "Same here \U0001f44d Did you guess ||the thief||?",
            "format": "org.matrix.custom.html",
            "formatted_body": (
                'Same here \U0001f44d Did you guess <span data-mx-spoiler="">the keeper</span>?'
            ),
            "m.relates_to": {"rel_type": "m.thread", "event_id": root["event_id"]},
        },
    )
    raw = wait_for_post(forum, first["topic_id"], "Same here")["raw"]
    assert raw.endswith("Same here \U0001f44d Did you guess [spoiler]the keeper[/spoiler]?")


def test_a_pill_of_a_linked_matrix_user_mentions_their_forum_account(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    town = linked()
    erin = "@erin:localhost"
    link_identity(town.porch, erin, "bob")
    pill = f'<a href="https://matrix.to/#/{erin}">Erin</a>'
    first, root = open_thread(
        town, forum, "Who fixes the park gate?", "It squeaks again every single morning."
    )
    town.dana.send(
        town.room,
        {
            "msgtype": "m.text",
            "body": "Erin, can you look at it?",
            "format": "org.matrix.custom.html",
            "formatted_body": f"{pill}, can you look at it?",
            "m.relates_to": {"rel_type": "m.thread", "event_id": root["event_id"]},
        },
    )
    post = wait_for_post(forum, first["topic_id"], "can you look at it?")
    assert post["raw"].endswith("@bob, can you look at it?")
    assert '<a class="mention" href="/u/bob">@bob</a>' in post["cooked"]
