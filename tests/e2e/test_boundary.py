"""The institutional/public boundary, end to end: a real Synapse, the Discourse double and a
``porch serve`` process deciding with the tiers it reads from both.

- A topic of a members-only category does not reach a public room, and the audit says why.
- A topic tagged for publication does, under a policy that publishes it: staff anonymised,
  personal data removed.
- While the category's security cannot be read, nothing crosses; once it can, it does.
- A private room's messages reach an open category only as its policy publishes them.
- Tiers follow the platforms: a category opened by its admin (``category_updated``), a room
  made invite-only (its join rule, in order with its messages).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bridges.store.audit import AuditEntry
from tests.e2e.chat_side import audit_entries, open_thread, wait_for_post
from tests.e2e.conftest import BOT, Linked, is_text
from tests.e2e.forum_helpers import wait_handled
from tests.rig.matrix import ChatUser
from tests.rig.porch import PorchProcess
from tests.rig.wait import wait_until

PUBLISH_TAGGED = {
    "description": "staff threads tagged publish go out, staff anonymised, no personal data",
    "forum-to-chat": {
        "action": "allow",
        "when": {"tags": ["publish"]},
        "otherwise": "deny",
        "transforms": {
            "anonymise": [{"groups": ["staff"], "as": "Policy team"}],
            "remove_personal_data": True,
        },
    },
}


def _staff_room(forum: Any) -> None:
    forum.add_user("sam", name="Sam Sterling", moderator=True)
    forum.add_category("staff-room", "Staff room", read_restricted=True)


def _entries(porch: PorchProcess, outcome: str) -> list[AuditEntry]:
    return [e for e in audit_entries(porch) if e.outcome == outcome]


def _texts(town: Linked) -> list[str]:
    return [
        str(e.get("content", {}).get("body", ""))
        for e in town.dana.room_messages(town.room)
        if e.get("type") == "m.room.message"
    ]


def test_a_restricted_topic_stays_out_of_an_open_room(
    linked: Callable[..., Linked], forum: Any
) -> None:
    _staff_room(forum)
    town = linked(forum={"category": "staff-room"})

    forum.create_topic(
        "sam", "staff-room", "Budget cuts in the library service", "Not for the public yet."
    )
    (refused,) = wait_until(
        lambda: _entries(town.porch, "refused"), 30, "the refusal in the audit log"
    )
    assert refused.rule == "boundary"
    assert refused.actor == "sam"
    assert "from a private space does not go into a more open open space" in str(refused.detail)
    # The refusal is final for that post: it was decided before anything could be sent.
    assert not any("Budget cuts" in text or "public yet" in text for text in _texts(town))


def test_a_topic_tagged_for_publication_goes_out_anonymised_without_personal_data(
    linked: Callable[..., Linked], forum: Any
) -> None:
    _staff_room(forum)
    town = linked(start=False, forum={"category": "staff-room"}, policy="publish-tagged")
    town.porch.data["policies"] = {"publish-tagged": PUBLISH_TAGGED}
    town.porch.write()
    town.porch.start()

    forum.create_topic(
        "sam", "staff-room", "Internal staffing rota for March", "Nobody outside should see this."
    )
    forum.create_topic(
        "sam",
        "staff-room",
        "Library opening hours from April",
        "Sam Sterling here: from April the library opens at 8. Questions to "
        "sam.sterling@council.example.org or +44 20 7946 0958.",
        tags=["publish"],
    )
    root = town.dana.wait_for_event(town.room, is_text("Library opening hours"), timeout=30)
    body = root["content"]["body"]
    assert root["sender"] == BOT, "the staff member's own ghost would name them"
    assert body.startswith("Library opening hours from April\n\nPolicy team:")
    assert "from April the library opens at 8" in body
    assert "[email removed]" in body and "[phone removed]" in body
    for leak in ("Sterling", "sam.sterling", "council.example.org", "7946"):
        assert leak not in body
        assert leak not in root["content"]["formatted_body"]

    transformed = _entries(town.porch, "transformed")
    assert [e.rule for e in transformed] == ["policy:publish-tagged/forum-to-chat"]
    detail = str(transformed[0].detail)
    assert "remove_personal_data" in detail and "anonymise: author shown as Policy team" in detail
    assert "sam.sterling" not in detail, "the audit records what was removed, not the data"
    (untagged,) = _entries(town.porch, "refused")
    assert untagged.rule == "policy:publish-tagged/forum-to-chat/otherwise"
    assert not any("staffing rota" in text for text in _texts(town))


def test_nothing_crosses_while_the_category_security_cannot_be_read(
    linked: Callable[..., Linked], forum: Any
) -> None:
    town = linked()
    forum.fail_next(10**6, status=500, method="GET", path_prefix="/c/")

    forum.create_topic(
        "alice", "town-square", "Where should the new bench go?", "Park gate or library steps?"
    )

    def failed_reads() -> int:
        calls = forum.requests_log()
        return sum(1 for c in calls if c.path.startswith("/c/") and c.status == 500)

    wait_until(lambda: failed_reads() >= 2, 30, "porch trying to read the category twice")
    waiting = _entries(town.porch, "waiting")
    assert waiting and waiting[0].rule == "tier-unknown"
    assert "500" in str(waiting[0].detail), "the audit says which read failed"
    assert not any("new bench" in text for text in _texts(town)), "sent on a guess"

    forum.clear_faults()
    town.dana.wait_for_event(town.room, is_text("Where should the new bench go?"), timeout=30)
    assert [e.rule for e in _entries(town.porch, "carried")] == ["tier"]


def test_a_category_opened_by_its_admin_is_carried_from_its_webhook_on(
    linked: Callable[..., Linked], forum: Any, forum_secret: str
) -> None:
    """``category_updated`` makes porch read the security again at once (without it the
    cached tier would hold until ``relay.tier_refresh``)."""
    _staff_room(forum)
    town = linked(forum={"category": "staff-room"})
    forum.set_webhook(
        f"{town.porch.url}/discourse/webhook", forum_secret, events={"post", "topic", "category"}
    )
    forum.create_topic("sam", "staff-room", "Draft: library hours", "Still being discussed.")
    wait_until(lambda: _entries(town.porch, "refused"), 30, "the refusal of the draft")

    forum.set_category_security("staff-room", group_permissions={"everyone": 1})
    wait_handled(town, "forum.category_changed", "porch reading the category again", timeout=30)
    forum.create_topic("sam", "staff-room", "Library hours are decided", "Open at 8 from April.")
    town.dana.wait_for_event(town.room, is_text("Library hours are decided"), timeout=30)
    assert not any("Draft: library hours" in text for text in _texts(town))


def test_a_room_made_invite_only_no_longer_publishes_to_an_open_category(
    linked: Callable[..., Linked], forum: Any
) -> None:
    town = linked()
    first, root = open_thread(
        town, forum, "Bike lanes on Main Street", "Paint or kerbs, what do you think?"
    )
    town.dana.send_text(town.room, "Kerbs, paint does not stop cars.", root["event_id"])
    wait_for_post(forum, first["topic_id"], "Kerbs, paint does not stop cars.", timeout=30)

    # The room closes: what is said in it from now on is members-only.
    town.dana.put_state(town.room, "m.room.join_rules", {"join_rule": "invite"})
    town.dana.send_text(town.room, "Between us: the budget is gone.", root["event_id"])
    (refused,) = wait_until(
        lambda: _entries(town.porch, "refused"), 30, "the refusal of the message"
    )
    assert (refused.rule, refused.actor) == ("boundary", town.dana.user_id)
    assert "from a private space" in str(refused.detail)
    assert not any("budget is gone" in p["raw"] for p in forum.posts(first["topic_id"]))


def test_a_private_room_publishes_to_an_open_category_without_personal_data(
    porch_factory: Callable[..., PorchProcess],
    matrix_user_factory: Callable[..., ChatUser],
    forum: Any,
) -> None:
    dana = matrix_user_factory()
    room = dana.create_room(name="Council staff", preset="private_chat")
    dana.invite(room, BOT)
    porch = porch_factory(
        links=[
            {
                "name": "staff",
                "forum": {"category": "town-square"},
                "room": room,
                "policy": "staff-answers",
            }
        ]
    )
    porch.data["policies"] = {
        "staff-answers": {
            "chat-to-forum": {"action": "allow", "transforms": {"remove_personal_data": True}}
        }
    }
    porch.write()
    porch.start()
    # Open forum into the private room: no publication, carried without a rule for it.
    first = forum.create_topic(
        "alice", "town-square", "Questions for the council", "When are the bins collected?"
    )
    root = dana.wait_for_event(room, is_text("Questions for the council"), timeout=30)

    dana.send_text(
        room, "Tuesdays. Call 020 7946 0958 or bins@council.example.org.", root["event_id"]
    )
    post = wait_for_post(forum, first["topic_id"], "Tuesdays.", timeout=30)
    assert "[phone removed]" in post["raw"] and "[email removed]" in post["raw"]
    assert "7946" not in post["raw"] and "bins@" not in post["raw"]
    rules = [(e.outcome, e.rule) for e in audit_entries(porch) if e.outcome != "ignored"]
    assert rules == [("carried", "tier"), ("transformed", "policy:staff-answers/chat-to-forum")]
    (published,) = _entries(porch, "transformed")
    assert "remove_personal_data" in str(published.detail)
