"""Watched words acting as Discourse does, end to end (real Synapse, the forum double, ``porch
serve``):

- a ``silence`` word from chat silences the sender's linked forum account and mutes them in the
  bridged room, as one sanction (source ``watched_words``) that ``porch sanctions undo`` lifts;
  a room moderator is never sanctioned;
- a forum post with a ``flag`` word is flagged on the forum;
- a forum edit that adds a blocked word takes the earlier copy out of the room; a chat edit
  that adds one leaves the forum post as it was;
- forum staff are exempt from ``block`` words, both ways;
- a reload (SIGHUP) applies changed config words;
- an alias of a linked room is not used as the moderators room.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import requests

from bridges.store.audit import AuditEntry
from sandbox.forum import SandboxForum
from sandbox.synapse import SandboxSynapse
from tests.e2e.chat_side import (
    audit_entries,
    link_identity,
    open_thread,
    porch_store,
    wait_for_post,
)
from tests.e2e.conftest import Linked, is_text
from tests.e2e.forum_helpers import is_redacted, redactions_of, wait_handled
from tests.e2e.test_lifecycle import reloaded
from tests.e2e.test_sanctions import Moderated, join, moderated  # noqa: F401
from tests.rig.matrix import ChatUser
from tests.rig.wait import wait_until

SILENCE = {"words": [{"word": "casino", "action": "silence"}]}


def _ruled(entries: list[AuditEntry], rule: str) -> list[AuditEntry]:
    return [e for e in entries if e.rule == rule]


def _level(space: Moderated, user_id: str) -> int | None:
    levels = space.town.dana.room_state(space.room, "m.room.power_levels") or {}
    value = levels.get("users", {}).get(user_id)
    return value if isinstance(value, int) else None


def _configured(linked: Callable[..., Linked], moderation: dict[str, Any]) -> Linked:
    town = linked(start=False)
    town.porch.data["moderation"] = {"words_from_forum": False, **moderation}
    town.porch.write()
    town.porch.start()
    return town


def test_a_silence_word_silences_and_mutes_the_sender_until_undone(
    moderated: Callable[..., Moderated],  # noqa: F811
    matrix_user_factory: Callable[..., ChatUser],
) -> None:
    erin = matrix_user_factory()
    space = moderated(moderation=SILENCE)
    join(erin, space.room)
    link_identity(space.porch, erin.user_id, "bob")
    first, root = open_thread(
        space.town, space.forum, "Fundraiser ideas", "What could we do this year?"
    )

    erin.send_text(space.room, "Come to my Casino night, cheap!", thread_root=root["event_id"])

    sanction = space.wait_sanction("word_silence")
    assert (sanction.source, sanction.moderator, sanction.target) == (
        "watched_words",
        "watched_words",
        erin.user_id,
    )
    assert sanction.reason is not None and "'Casino'" in sanction.reason
    assert {a.step for a in sanction.actions} == {"silence", "mute"}
    assert _level(space, erin.user_id) == -1
    assert space.forum_user("bob")["silenced_by"] == "porch"
    (refused,) = _ruled(audit_entries(space.porch), "watched_words:silence")
    assert (refused.outcome, refused.actor) == ("refused", erin.user_id)
    assert [(e.outcome, e.actor) for e in space.audit("sanction:word_silence")] == [
        ("sanctioned", "watched_words")
    ]
    assert not any("Casino" in p["raw"] for p in space.forum.posts(first["topic_id"]))

    undone = space.porch.cli("sanctions", "undo", str(sanction.id), "--by", "operator:eve")
    assert undone.returncode == 0, undone.stderr
    assert _level(space, erin.user_id) is None
    assert not space.forum_user("bob").get("silenced_by")
    assert [e.outcome for e in space.audit("sanction:word_silence")] == ["sanctioned", "undone"]


def test_a_room_moderator_is_never_silenced_by_a_word(
    moderated: Callable[..., Moderated],  # noqa: F811
) -> None:
    space = moderated(moderation=SILENCE)
    first, root = open_thread(
        space.town, space.forum, "Fundraiser ideas", "What could we do this year?"
    )

    space.town.dana.send_text(space.room, "No casino nights, please.", root["event_id"])

    (skipped,) = wait_until(
        lambda: space.audit("sanction:word_silence"), 30, "the sanction considered"
    )
    assert skipped.outcome == "ignored" and "is a moderator" in str(skipped.detail)
    assert space.sanctions() == []
    assert not any("casino" in p["raw"] for p in space.forum.posts(first["topic_id"]))


def test_a_forum_post_with_a_flag_word_is_flagged_on_the_forum(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    town = _configured(linked, {"words": [{"word": "pyramid", "action": "flag"}]})
    first, _ = open_thread(town, forum, "Side income ideas", "Anything honest and local?")

    reply = forum.reply("bob", first["topic_id"], "Join my pyramid scheme, easy money!")

    town.dana.wait_for_event(town.room, is_text("Join my pyramid"), timeout=30)
    (flag,) = wait_until(forum.flags, 30, "the forum flag")
    assert (flag["post_id"], flag["username"], flag["type"]) == (reply["id"], "porch", 4)
    assert "pyramid" in flag["message"]
    (flagged,) = _ruled(audit_entries(town.porch), "watched_words:flag")
    assert flagged.actor == "bob"


def test_a_forum_edit_adding_a_blocked_word_takes_the_copy_back(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    town = _configured(linked, {"words": [{"word": "liquorice", "action": "block"}]})
    first, root = open_thread(town, forum, "Sweets for the fair", "What should we sell this year?")
    reply = forum.reply("bob", first["topic_id"], "Fudge and toffee, I think.")
    copy = town.dana.wait_for_event(town.room, is_text("Fudge and toffee"), timeout=30)

    forum.edit_post(reply["id"], "Fudge and toffee, and liquorice too.")

    wait_until(lambda: is_redacted(town, copy["event_id"]), 30, "the earlier copy redacted")
    entries = audit_entries(town.porch)
    (refused,) = _ruled(entries, "watched_words:block")
    assert refused.outcome == "refused" and "'liquorice'" in str(refused.detail)
    (retracted,) = [e for e in entries if e.outcome == "retracted"]
    assert "refused by watched_words:block" in str(retracted.detail)
    assert "1 copy redacted" in str(retracted.detail)
    assert not is_redacted(town, root["event_id"])
    # The room learns neither the word nor the edit: the redaction's reason names no word.
    (redaction,) = redactions_of(town, copy["event_id"])
    assert "liquorice" not in str(redaction.get("content"))
    texts = [str(e.get("content")) for e in town.dana.room_messages(town.room, 200)]
    assert not any("liquorice" in t for t in texts)


def test_a_chat_edit_adding_a_blocked_word_leaves_the_forum_post_alone(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    town = _configured(linked, {"words": [{"word": "liquorice", "action": "block"}]})
    first, root = open_thread(town, forum, "Sweets for the fair", "What should we sell this year?")
    event_id = town.dana.send_text(town.room, "Fudge, I think.", root["event_id"])
    post = wait_for_post(forum, first["topic_id"], "Fudge, I think.", timeout=30)

    town.dana.edit(town.room, event_id, "Fudge, and liquorice too.")

    (refused,) = wait_until(
        lambda: _ruled(audit_entries(town.porch), "watched_words:block"), 30, "the edit refused"
    )
    assert (refused.outcome, refused.actor) == ("refused", town.dana.user_id)
    after = forum.post(post["id"])
    assert "liquorice" not in after["raw"] and "Fudge, I think." in after["raw"]
    assert int(after.get("version") or 1) == int(post.get("version") or 1)


def test_forum_staff_are_exempt_from_blocked_words_both_ways(
    linked: Callable[..., Linked],
    forum: SandboxForum,
    matrix_user_factory: Callable[..., ChatUser],
) -> None:
    forum.add_user("mona_mod", moderator=True)
    town = _configured(linked, {"words": [{"word": "liquorice", "action": "block"}]})
    first, root = open_thread(town, forum, "Sweets for the fair", "What should we sell this year?")

    forum.reply("mona_mod", first["topic_id"], "Moderator says: liquorice is allowed here.")
    forum.reply("bob", first["topic_id"], "Then I will bring liquorice as well.")
    town.dana.wait_for_event(town.room, is_text("liquorice is allowed"), timeout=30)
    (blocked,) = wait_until(
        lambda: _ruled(audit_entries(town.porch), "watched_words:block"), 30, "bob's refused"
    )
    assert blocked.actor == "bob"

    erin = matrix_user_factory()
    erin.join(town.room)
    link_identity(town.porch, erin.user_id, "mona_mod")
    erin.send_text(town.room, "Staff again: liquorice stays.", thread_root=root["event_id"])
    post = wait_for_post(forum, first["topic_id"], "liquorice stays", timeout=30)
    assert post["username"] == "mona_mod"
    carried = [
        e
        for e in audit_entries(town.porch)
        if e.actor == erin.user_id and e.outcome in ("carried", "transformed")
    ]
    assert carried and "forum staff: exempt" in str(carried[0].detail)
    with porch_store(town.porch) as store:
        assert store.sanctions.recent() == []


def test_a_first_post_edited_to_a_blocked_word_takes_the_topic_back_without_quoting_it(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    town = _configured(linked, {"words": [{"word": "liquorice", "action": "block"}]})
    first, root = open_thread(town, forum, "Sweets for the fair", "What should we sell this year?")

    forum.edit_post(first["id"], "What should we sell this year? Liquorice only!")

    wait_until(lambda: is_redacted(town, root["event_id"]), 30, "the topic's root redacted")
    (redaction,) = redactions_of(town, root["event_id"])
    assert "iquorice" not in str(redaction.get("content"))
    (retracted,) = [e for e in audit_entries(town.porch) if e.outcome == "retracted"]
    assert "watched_words:block" in str(retracted.detail)


def test_a_reload_applies_changed_words_without_a_restart(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    town = _configured(linked, {"words": [{"word": "liquorice", "action": "block"}]})
    first, root = open_thread(town, forum, "Sweets for the fair", "What should we sell this year?")
    pid = town.porch.proc.pid if town.porch.proc is not None else None

    town.porch.data["moderation"]["words"] = [{"word": "fudge", "action": "block"}]
    town.porch.write()
    reloaded(town.porch, "applied")
    assert "the moderation section changed" not in town.porch.log_path.read_text()

    town.dana.send_text(town.room, "Fudge for everyone!", root["event_id"])
    (blocked,) = wait_until(
        lambda: _ruled(audit_entries(town.porch), "watched_words:block"), 30, "fudge refused"
    )
    assert "'Fudge'" in str(blocked.detail)
    town.dana.send_text(town.room, "Liquorice, then.", root["event_id"])
    wait_for_post(forum, first["topic_id"], "Liquorice, then.", timeout=30)
    assert town.porch.proc is not None and town.porch.proc.pid == pid


def test_an_alias_of_a_linked_room_is_not_used_as_the_moderators_room(
    linked: Callable[..., Linked], forum: SandboxForum, synapse: SandboxSynapse
) -> None:
    town = linked(start=False)
    alias = f"#town-{town.room[1:9].lower()}:localhost"
    response = requests.put(
        f"{synapse.base_url}/_matrix/client/v3/directory/room/{quote(alias)}",
        json={"room_id": town.room},
        headers={"Authorization": f"Bearer {town.dana.access_token}"},
        timeout=10,
    )
    response.raise_for_status()
    data = town.porch.data
    data["policies"] = {"held": {"forum-to-chat": {"action": "hold"}}}
    data["links"][0]["policy"] = "held"
    data["moderation"] = {"words_from_forum": False, "review": {"room": alias}}
    town.porch.write()
    town.porch.start()

    forum.create_topic("alice", "town-square", "Held quietly please", "Nobody should see this.")

    wait_handled(town, "forum.post_created", "the held topic", timeout=30)
    (held,) = [e for e in audit_entries(town.porch) if e.outcome == "held"]
    assert held.rule == "policy:held/forum-to-chat"
    assert not [e for e in town.dana.room_messages(town.room, 100) if is_text("Held for")(e)]
    assert "is a linked room; not used" in town.porch.log_path.read_text()
