"""What crosses to the forum is judged, shown and posted as one text, end to end (a real
Synapse, the Discourse double, ``porch serve``):

- a message whose ``body`` is harmless but whose ``formatted_body`` (what the forum gets)
  holds a blocked word is refused;
- one whose ``formatted_body`` holds a word that requires approval is held, the moderators see
  that text (room notice and ``/review`` page), and the approval posts the text they saw, even
  when a new rendering would differ by then;
- a plain body that forges a quote, an image and a mention arrives as the literal text typed;
- a message held from a private room is not quoted in an open moderators room: the notice
  and ``!pending`` point to the review page, where it is approved and delivered.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import requests

from bridges.store.audit import AuditEntry
from sandbox.forum import SandboxForum
from tests.e2e.chat_side import audit_entries, link_identity, open_thread, wait_for_post
from tests.e2e.conftest import BOT, Linked, is_text
from tests.rig.matrix import ChatUser
from tests.rig.wait import wait_until

TOKEN = "moderator-token-8f3a1c9e5b7d2f4a6c8e0b1d3f5a7c9e"


def _ruled(town: Linked, rule: str) -> AuditEntry:
    def found() -> AuditEntry | None:
        return next((e for e in audit_entries(town.porch) if e.rule == rule), None)

    return wait_until(found, 30, f"an audit entry of rule {rule}")


def _moderators(dana: ChatUser, preset: str = "private_chat") -> str:
    room = dana.create_room(name="Moderators", preset=preset)
    dana.invite(room, BOT)
    return room


def _start(town: Linked, moderation: dict[str, Any], policy: dict[str, Any] | None = None) -> None:
    data = town.porch.data
    if policy is not None:
        data["policies"] = {"held": policy}
        data["links"][0]["policy"] = "held"
    data["moderation"] = moderation
    town.porch.write()
    town.porch.start()


def _signed_in(town: Linked) -> tuple[requests.Session, str]:
    web = requests.Session()
    page = web.post(f"{town.porch.url}/review/login", data={"token": TOKEN}, timeout=10)
    assert page.status_code == 200
    return web, page.text


def _approve_on_page(town: Linked, web: requests.Session, page: str, number: int) -> None:
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf is not None
    done = web.post(
        f"{town.porch.url}/review/{number}/approve", data={"csrf": csrf.group(1)}, timeout=10
    )
    assert done.status_code == 200


def test_a_blocked_word_only_in_formatted_body_is_refused(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    forum.set_watched_words({"word": "casino", "action": "block"})
    town = linked()
    first, root = open_thread(town, forum, "Ideas for the fundraiser", "What could we organise?")

    town.dana.send_text(
        town.room,
        "A bake sale, maybe.",
        root["event_id"],
        formatted_body="<p>Join my online <b>casino</b> tonight</p>",
    )
    refused = _ruled(town, "watched_words:block")
    assert refused.outcome == "refused" and "'casino'" in str(refused.detail)
    town.dana.send_text(town.room, "A quiz night then.", root["event_id"])
    wait_for_post(forum, first["topic_id"], "A quiz night then.", timeout=30)
    raws = [p["raw"] for p in forum.posts(first["topic_id"])]
    assert not any("casino" in raw or "bake sale" in raw for raw in raws)


def test_a_held_message_shows_and_posts_the_text_the_forum_gets(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    town = linked(start=False)
    mods = _moderators(town.dana)
    _start(
        town,
        {
            "words_from_forum": False,
            "words": [{"word": "raffle", "action": "require_approval"}],
            "review": {"room": mods, "moderators": {"mona": TOKEN}},
        },
    )
    first, root = open_thread(town, forum, "Summer fair stalls", "Who runs which stall?")
    eve = "@eve:" + town.dana.user_id.split(":", 1)[1]

    town.dana.send_text(
        town.room,
        "See you all there.",
        root["event_id"],
        formatted_body=(
            f'<p>Ask <a href="https://matrix.to/#/{eve}">Eve</a> for <b>raffle</b> tickets</p>'
        ),
    )
    notice = town.dana.wait_for_event(mods, is_text("Held for review #1:"), timeout=30)
    assert "Ask Eve for **raffle** tickets" in notice["content"]["body"]
    assert "See you all there" not in notice["content"]["body"]
    web, page = _signed_in(town)
    assert "Ask Eve for **raffle** tickets" in page
    assert "See you all there" not in page

    # Rendered again now, the pill would become a mention of Eve's forum account; the
    # moderator approves what they saw, and that is what is posted.
    link_identity(town.porch, eve, "bob")
    _approve_on_page(town, web, page, 1)
    post = wait_for_post(forum, first["topic_id"], "raffle", timeout=30)
    assert "Ask Eve for **raffle** tickets" in post["raw"]
    assert "@bob" not in post["raw"] and "See you all there" not in post["raw"]


def test_a_forged_quote_image_and_mention_arrive_as_typed(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    town = linked()
    first, root = open_thread(town, forum, "Council minutes", "The minutes of Tuesday are up.")
    typed = (
        f'[quote="alice, post:1, topic:{first["topic_id"]}"]\n'
        "I resign, effective immediately.\n"
        "[/quote]\n"
        "![](https://evil.example/track.png) @bob <b>see</b>"
    )

    town.dana.send_text(town.room, typed, root["event_id"])
    post = wait_for_post(forum, first["topic_id"], "I resign", timeout=30)
    cooked = post["cooked"]
    assert "<img" not in cooked and "<b>" not in cooked
    assert 'class="mention"' not in cooked, "the relay account mentioned nobody"
    shown = re.sub(r"<[^>]+>", "", cooked).replace("\u2060", "")
    assert '[quote="alice, post:1, topic:' in shown.replace("&quot;", '"')
    assert "![](https://evil.example/track.png) @bob &lt;b&gt;see&lt;/b&gt;" in shown


def test_a_message_from_a_private_room_is_only_pointed_at_in_an_open_moderators_room(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    town = linked(start=False, topics_from_chat=True, direction="chat-to-forum")
    town.dana.put_state(town.room, "m.room.join_rules", {"join_rule": "invite"})
    mods = _moderators(town.dana, preset="public_chat")
    _start(
        town,
        {"review": {"room": mods, "moderators": {"mona": TOKEN}}},
        {"chat-to-forum": {"action": "hold"}},
    )
    # The admin's step after inviting the bot: `porch check --online` has it join the room.
    town.porch.cli("check", "--online")
    wait_until(
        lambda: (
            (town.dana.room_state(town.room, "m.room.member", BOT) or {}).get("membership")
            == "join"
        ),
        30,
        "porch's bot in the private room",
    )

    town.dana.send_text(town.room, "I can cover the Monday shift, my PIN is 4411")
    notice = town.dana.wait_for_event(mods, is_text("Held for review #1:"), timeout=30)
    body = str(notice["content"]["body"])
    assert "4411" not in body and "Monday" not in body
    assert town.dana.user_id not in body
    assert "/review" in body
    town.dana.send_text(mods, "!pending")
    listed = town.dana.wait_for_text(mods, "Held for review:", timeout=30)
    assert "4411" not in listed["content"]["body"]

    web, page = _signed_in(town)
    assert "4411" in page, "the review page shows it to its moderators"
    _approve_on_page(town, web, page, 1)
    wait_until(
        lambda: any("my PIN is 4411" in p["raw"] for p in forum.posts()),
        30,
        "the approved message on the forum",
    )
    assert not [e for e in town.dana.room_messages(mods, limit=50) if "4411" in str(e)]


def test_check_online_warns_when_the_moderators_room_would_only_get_pointers(
    linked: Callable[..., Linked],
) -> None:
    town = linked(start=False, direction="chat-to-forum")
    town.dana.put_state(town.room, "m.room.join_rules", {"join_rule": "invite"})
    open_mods = _moderators(town.dana, preset="public_chat")
    _start(
        town,
        {"review": {"room": open_mods, "moderators": {"mona": TOKEN}}},
        {"chat-to-forum": {"action": "hold"}},
    )
    result = town.porch.cli("check", "--online")
    assert result.returncode == 0, result.stderr
    assert (
        f"warning: moderation.review.room: {open_mods} is open and links[0] (town) holds "
        "messages from its private room" in result.stderr
    )
    assert "/review" in result.stderr

    town.porch.data["moderation"]["review"]["room"] = _moderators(town.dana)
    town.porch.write()
    result = town.porch.cli("check", "--online")
    assert result.returncode == 0, result.stderr
    assert "moderation.review.room" not in result.stderr
