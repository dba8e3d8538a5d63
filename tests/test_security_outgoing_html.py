"""Every message porch sends to Matrix has its HTML cleaned with nh3 at the door out.

The homeserver stores ``formatted_body`` as it is given, so whatever a notice, an alert, a
digest or a relayed post carries reaches every client. The test sends through porch's own
client to the session's real Synapse and reads what a member of the room receives.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bridges.matrix.api import AppserviceAPI
from bridges.matrix.outgoing import clean_content
from tests.rig.matrix import ChatUser

pytestmark = pytest.mark.usefixtures("appservice_stub")

HOSTILE = (
    '<p onclick="steal()">Held for review <strong>#1</strong></p>'
    "<script>steal()</script>"
    '<a href="javascript:steal()">open</a> '
    '<a href="https://forum.example.org/t/1">thread</a>'
    '<img src="https://tracker.example.org/pixel.png">'
    '<iframe src="https://evil.example.org"></iframe>'
)


def _assert_clean(html: str) -> None:
    for bad in ("onclick", "<script", "steal()", "javascript:", "tracker.example", "<iframe"):
        assert bad not in html, html
    assert '<a href="https://forum.example.org/t/1">thread</a>' in html
    assert "<strong>#1</strong>" in html


def test_html_sent_to_a_room_reaches_it_cleaned(
    appservice_api: AppserviceAPI, matrix_user_factory: Callable[..., ChatUser]
) -> None:
    carol = matrix_user_factory()
    room = carol.create_room(name="moderators", invite=[appservice_api.bot_user_id])
    appservice_api.ensure_joined(room, appservice_api.bot_user_id)
    content = {
        "msgtype": "m.notice",
        "body": "Held for review #1",
        "format": "org.matrix.custom.html",
        "formatted_body": HOSTILE,
    }

    event_id = appservice_api.send(room, content, as_user=None, txn_id=appservice_api.new_txn_id())

    seen = carol.wait_for_event(room, lambda e: e.get("event_id") == event_id)
    _assert_clean(seen["content"]["formatted_body"])
    assert seen["content"]["body"] == "Held for review #1"
    assert content["formatted_body"] == HOSTILE, "the caller's content is not changed"


def test_an_edits_new_content_is_cleaned_too() -> None:
    edit = clean_content(
        "m.room.message",
        {
            "msgtype": "m.text",
            "body": "* x",
            "format": "org.matrix.custom.html",
            "formatted_body": "* " + HOSTILE,
            "m.new_content": {
                "msgtype": "m.text",
                "body": "x",
                "format": "org.matrix.custom.html",
                "formatted_body": HOSTILE,
            },
            "m.relates_to": {"rel_type": "m.replace", "event_id": "$e"},
        },
    )
    _assert_clean(edit["formatted_body"])
    _assert_clean(edit["m.new_content"]["formatted_body"])
    assert edit["m.relates_to"] == {"rel_type": "m.replace", "event_id": "$e"}


def test_clean_html_and_other_events_pass_unchanged() -> None:
    # What porch's own formatter makes must survive the second pass as it is.
    made = (
        '<p><a href="https://matrix.to/#/@alice:hs">Alice</a>: <em>hi</em> '
        '<span data-mx-spoiler="">secret</span></p><pre><code class="language-py">x</code></pre>'
    )
    assert clean_content("m.room.message", {"formatted_body": made})["formatted_body"] == made
    reaction = {"m.relates_to": {"rel_type": "m.annotation", "key": "<b>", "event_id": "$e"}}
    assert clean_content("m.reaction", reaction) == reaction
