"""Watched words and protections end to end: the forum's own list (its admin API, served by the
double), a real Synapse and ``porch serve`` deciding what crosses, both ways.

- A blocked word keeps a chat message off the forum, and a forum post out of the room.
- A censored word arrives censored, both ways.
- A word that requires approval holds the message (a ``held`` decision in the audit log).
- A flagged word crosses, is recorded, and the forum post is flagged for the forum's moderators.
- The flood limit holds a sender's excess messages; a new sender's first link is held (when
  someone reviews held messages; without a review destination the protections hold nothing and
  every message crosses).
- Config words add to the forum's; a tag word tags a topic porch opens from chat.
- A change of the forum's list is picked up without a restart; until the list was read once,
  nothing crosses.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

from bridges.store.audit import AuditEntry
from policies.watched_words import CENSOR_CHAR
from sandbox.forum import SandboxForum
from tests.e2e.chat_side import audit_entries, live_posts, open_thread, wait_for_post
from tests.e2e.conftest import Linked, is_text
from tests.rig.wait import wait_until

WORDS_PATH = "/admin/customize/watched_words"


def _ruled(town: Linked, rule: str) -> list[AuditEntry]:
    return [e for e in audit_entries(town.porch) if e.rule == rule]


def _wait_ruled(town: Linked, rule: str, count: int = 1) -> list[AuditEntry]:
    def found() -> list[AuditEntry] | None:
        entries = _ruled(town, rule)
        return entries if len(entries) >= count else None

    return wait_until(found, 30, f"{count} audit entries of rule {rule}")


def _texts(town: Linked) -> list[str]:
    """What porch sent into the room (not what dana wrote there)."""
    return [
        str(e.get("content", {}).get("body", ""))
        for e in town.dana.room_messages(town.room, limit=200)
        if e.get("type") == "m.room.message" and e.get("sender") != town.dana.user_id
    ]


def _reviewed(moderation: dict[str, Any]) -> dict[str, Any]:
    """``moderation`` with a moderator of the ``/review`` page: someone sees what is held."""
    return {**moderation, "review": {"moderators": {"mona": secrets.token_hex(20)}}}


def _configured(linked: Callable[..., Linked], moderation: dict[str, Any], **link: Any) -> Linked:
    town = linked(start=False, **link)
    town.porch.data["moderation"] = moderation
    town.porch.write()
    town.porch.start()
    return town


def test_a_blocked_word_never_crosses_either_way(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    forum.set_watched_words({"word": "liquorice", "action": "block"})
    town = linked()
    first, root = open_thread(town, forum, "Sweets for the summer fair", "What should we sell?")

    town.dana.send_text(town.room, "Liquorice, lots of it!", thread_root=root["event_id"])
    (blocked,) = _wait_ruled(town, "watched_words:block")
    assert blocked.outcome == "refused"
    assert "'Liquorice'" in str(blocked.detail)
    assert blocked.actor == town.dana.user_id
    town.dana.send_text(town.room, "Fudge, then, and lemonade.", thread_root=root["event_id"])
    wait_for_post(forum, first["topic_id"], "Fudge, then")
    assert not any("iquorice" in p["raw"] for p in live_posts(forum, first["topic_id"]))

    forum.reply("bob", first["topic_id"], "Black liquorice sells out every year.")
    _wait_ruled(town, "watched_words:block", count=2)
    forum.reply("bob", first["topic_id"], "Cake sells well too, I hear.")
    town.dana.wait_for_event(town.room, is_text("Cake sells well"), timeout=30)
    assert not any("liquorice" in text.lower() for text in _texts(town))


def test_a_censored_word_arrives_censored(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    forum.set_watched_words({"word": "broccoli", "action": "censor"})
    town = linked()
    first, root = open_thread(
        town, forum, "Vegetables at the school canteen", "Broccoli again on Tuesday, I read."
    )
    assert "Broccoli" not in root["content"]["body"]
    assert CENSOR_CHAR * 8 + " again on Tuesday" in root["content"]["body"]
    assert CENSOR_CHAR * 8 in root["content"]["formatted_body"]

    town.dana.send_text(town.room, "My kids hate broccoli.", thread_root=root["event_id"])
    post = wait_for_post(forum, first["topic_id"], "My kids hate")
    assert f"My kids hate {CENSOR_CHAR * 8}." in post["raw"]
    (transformed,) = [
        e
        for e in audit_entries(town.porch)
        if e.actor == town.dana.user_id and e.outcome == "transformed"
    ]
    assert "watched_words: censored watched word x1" in str(transformed.detail)


def test_a_word_requiring_approval_holds_the_message(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    forum.set_watched_words({"word": "coupon", "action": "require_approval"})
    town = linked()
    first, root = open_thread(
        town, forum, "Saving money on groceries", "Any tips to share with the neighbours?"
    )

    town.dana.send_text(town.room, "Use this COUPON code: SAVE50", thread_root=root["event_id"])
    (held,) = _wait_ruled(town, "watched_words:require_approval")
    assert held.outcome == "held"
    assert "'COUPON'" in str(held.detail)
    assert "(review #1)" in str(held.detail), "it waits in porch's review queue"
    town.dana.send_text(town.room, "Buy seasonal vegetables.", thread_root=root["event_id"])
    wait_for_post(forum, first["topic_id"], "Buy seasonal")
    assert not any("SAVE50" in p["raw"] for p in live_posts(forum, first["topic_id"]))


def test_the_flood_limit_holds_the_excess(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    town = _configured(
        linked, _reviewed({"protections": {"flood": {"messages": 2, "seconds": 600}}})
    )
    first, root = open_thread(
        town, forum, "Street party next Saturday", "Who brings the chairs and the tables?"
    )

    for n in (1, 2, 3):
        town.dana.send_text(town.room, f"Chairs message number {n}", thread_root=root["event_id"])
    (flood,) = _wait_ruled(town, "protections:flood")
    assert flood.outcome == "held"
    assert "more than 2 messages" in str(flood.detail)
    wait_for_post(forum, first["topic_id"], "Chairs message number 2")
    raws = [p["raw"] for p in live_posts(forum, first["topic_id"])]
    assert not any("number 3" in raw for raw in raws)


def test_a_new_senders_first_link_is_held(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    town = _configured(linked, _reviewed({"protections": {"new_user_links": True}}))
    first, root = open_thread(
        town, forum, "Bike repair workshop", "Does anyone know a good one nearby?"
    )

    town.dana.send_text(town.room, "Try https://bikes.example.org", thread_root=root["event_id"])
    (held,) = _wait_ruled(town, "protections:new-user")
    assert held.outcome == "held"
    assert "link" in str(held.detail)
    assert not any("bikes.example" in p["raw"] for p in live_posts(forum, first["topic_id"]))


def test_the_forum_list_is_followed_without_a_restart(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    # The list cannot be read at first: nothing crosses until it can (fail closed).
    forum.fail_next(10**6, status=500, method="GET", path_prefix=WORDS_PATH)
    town = _configured(linked, {"words_refresh": 0.5})
    forum.create_topic(
        "alice",
        "town-square",
        "Pineapple on pizza, yes or no?",
        "Discuss, politely please, everyone.",
    )
    (waiting, *_) = _wait_ruled(town, "watched_words")
    assert waiting.outcome == "waiting"
    assert "500" in str(waiting.detail)
    assert not any("Pineapple" in text for text in _texts(town))
    forum.clear_faults()
    town.dana.wait_for_event(town.room, is_text("Pineapple on pizza"), timeout=30)

    forum.set_watched_words({"word": "pineapple", "action": "block"})
    changed = time.monotonic()
    # The list in force is read again once it is older than words_refresh (0.5 s).
    wait_until(lambda: time.monotonic() - changed > 1.0, 5, "the refresh interval to pass")
    forum.create_topic(
        "bob", "town-square", "Pineapple fritters recipe", "Very easy to make at home, trust me."
    )
    (blocked,) = _wait_ruled(town, "watched_words:block")
    assert "'Pineapple'" in str(blocked.detail)
    reads = [c for c in forum.requests_log() if c.path.startswith(WORDS_PATH) and c.status == 200]
    assert len(reads) >= 2
    forum.create_topic(
        "bob", "town-square", "Apple crumble recipe", "Also easy to make at home, trust me."
    )
    town.dana.wait_for_event(town.room, is_text("Apple crumble"), timeout=30)
    assert not any("fritters" in text for text in _texts(town))


def test_config_words_add_to_the_forum_list_and_tag_new_topics(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    forum.set_watched_words({"word": "bench*", "action": "tag", "replacement": "parks"})
    town = _configured(
        linked,
        {"words": [{"word": "darn", "action": "replace", "replacement": "gosh"}]},
        topics_from_chat=True,
    )
    town.dana.send_text(town.room, "Darn, the new benches in the park are lovely")

    def topic() -> dict[str, Any] | None:
        return next((p for p in forum.posts() if "lovely" in p["raw"]), None)

    post = wait_until(topic, 30, "the new topic")
    assert "gosh, the new benches" in post["raw"]
    assert "parks" in forum.topic(post["topic_id"])["tags"]


def test_a_flagged_word_crosses_and_is_flagged(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    forum.set_watched_words({"word": "pyramid", "action": "flag"})
    town = linked()
    first, root = open_thread(town, forum, "Side income ideas", "Anything honest and local?")

    town.dana.send_text(town.room, "Join my pyramid, easy money!", thread_root=root["event_id"])
    post = wait_for_post(forum, first["topic_id"], "Join my pyramid")
    (flagged,) = _wait_ruled(town, "watched_words:flag")
    assert flagged.outcome == "carried"
    assert "'pyramid'" in str(flagged.detail)
    (flag,) = wait_until(forum.flags, 10, "the forum flag")
    assert (flag["post_id"], flag["username"], flag["type"]) == (post["id"], "porch", 4)
    assert "pyramid" in flag["message"]


def test_mention_spam_is_held(linked: Callable[..., Linked], forum: SandboxForum) -> None:
    town = _configured(linked, _reviewed({"protections": {"max_mentions": 2}}))
    first, root = open_thread(town, forum, "Neighbourhood watch rota", "Who takes which night?")

    crowd = "@ann:localhost @ben:localhost @cat:localhost"
    town.dana.send_text(town.room, f"{crowd} you all owe me", thread_root=root["event_id"])
    (held,) = _wait_ruled(town, "protections:mentions")
    assert held.outcome == "held"
    assert "more than 2 people" in str(held.detail)
    town.dana.send_text(town.room, "@ann:localhost takes Monday.", thread_root=root["event_id"])
    wait_for_post(forum, first["topic_id"], "takes Monday")
    assert not any("owe me" in p["raw"] for p in live_posts(forum, first["topic_id"]))


def test_without_a_review_destination_the_protections_hold_nothing(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    """Porch's defaults, no moderators room and no review page: a held message would wait for
    nobody, forever. A burst past the flood limit, a new sender's first link and a crowd of
    mentions all cross, and ``porch check`` warns that the protections are off."""
    town = _configured(linked, {"protections": {"max_mentions": 2}})
    first, root = open_thread(town, forum, "Allotment open day", "Who can lend a hand?")

    thread = root["event_id"]
    town.dana.send_text(town.room, "Plans at https://plots.town.test/day", thread_root=thread)
    town.dana.send_text(
        town.room, "@ann:localhost @ben:localhost @cat:localhost come along", thread_root=thread
    )
    for n in range(12):
        town.dana.send_text(town.room, f"Burst line {n} of twelve", thread_root=thread)
    wait_for_post(forum, first["topic_id"], "Burst line 11 of twelve")
    raws = "\n".join(p["raw"] for p in live_posts(forum, first["topic_id"]))
    for n in range(12):
        assert f"Burst line {n} of twelve" in raws
    assert "plots.town.test" in raws and "come along" in raws
    assert not [e for e in audit_entries(town.porch) if e.outcome == "held"]

    checked = town.porch.cli("check")
    assert checked.returncode == 0, checked.stderr
    assert "warning: moderation.protections: no review destination" in checked.stderr
