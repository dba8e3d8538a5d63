"""Forum -> chat edits, end to end: only the author's edits reach the Matrix copy.

A ``post_edited`` webhook names the author, not the editor; porch asks the forum who made the
post's revision (``GET /posts/{id}/revisions/{version}.json``). A moderator's edit stays on the
forum and is refused in the audit log; while the forum cannot say who edited, the event waits.
Real Synapse, real Matrix clients, the Discourse double posting signed webhooks to porch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bridges.store.audit import AuditEntry
from sandbox.forum import SandboxForum
from tests.e2e.chat_side import audit_entries
from tests.e2e.conftest import Linked, is_text
from tests.e2e.forum_helpers import edits_of, porch_store, wait_handled
from tests.rig.wait import wait_until


def _refusals(town: Linked) -> list[AuditEntry]:
    return [e for e in audit_entries(town.porch) if e.rule == "edit:not-author"]


def _carried_reply(town: Linked, forum: SandboxForum) -> tuple[dict[str, Any], dict[str, Any]]:
    """bob's reply in a new topic, and its copy in the room."""
    forum.add_user("mod", name="Morgan Moderator", moderator=True)
    first = forum.create_topic(
        "alice", "town-square", "Where should the new bench go?", "Park gate or library steps?"
    )
    reply = forum.reply("bob", first["topic_id"], "The library steps, where people wait.")
    return reply, town.dana.wait_for_event(town.room, is_text("where people wait"))


def test_the_authors_edit_crosses_and_a_moderators_edit_does_not(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    town = linked()
    reply, carried = _carried_reply(town, forum)

    # A revision of bob's own (an edit reason always makes one): version 2, editor bob.
    forum.edit_post(reply["id"], "The park gate: it gets the morning sun.", edit_reason="sun")
    assert forum.post(reply["id"])["version"] == 2
    edit = wait_until(lambda: edits_of(town, carried["event_id"]), 20, "bob's edit")[0]
    assert edit["sender"] == carried["sender"] == "@forum_bob:localhost"
    assert "morning sun" in edit["content"]["m.new_content"]["body"]
    asked = [c for c in forum.requests_log() if c.path.startswith(f"/posts/{reply['id']}/rev")]
    assert [c.path for c in asked] == [f"/posts/{reply['id']}/revisions/2.json"]

    # A moderator rewrites bob's words: the forum shows them, the room keeps bob's.
    forum.edit_post(reply["id"], "Moved to the library steps by the council.", editor="mod")
    assert forum.post(reply["id"])["version"] == 3
    refused = wait_until(lambda: _refusals(town), 20, "the refusal of the moderator's edit")
    assert [(e.outcome, e.actor, e.link) for e in refused] == [("refused", "mod", "town")]
    assert "only the author's edits" in str(refused[0].detail)
    wait_handled(town, "forum.post_edited", "both edits handled", count=2)
    edits = edits_of(town, carried["event_id"])
    assert len(edits) == 1, "the moderator's edit must not replace bob's copy"
    assert "council" not in str(edits[-1]["content"])

    # bob edits after the moderator: his own revision again (version 4), carried.
    forum.edit_post(reply["id"], "The park gate, council or not: morning sun wins.")
    assert forum.post(reply["id"])["version"] == 4

    def newest() -> dict[str, Any] | None:
        found = edits_of(town, carried["event_id"])
        return found[-1] if len(found) == 2 else None

    latest = wait_until(newest, 20, "bob's edit after the moderator's")
    assert "morning sun wins" in latest["content"]["m.new_content"]["body"]
    assert len(_refusals(town)) == 1


def test_while_the_forum_cannot_say_who_edited_the_edit_waits(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    town = linked()
    reply, carried = _carried_reply(town, forum)
    revisions = f"/posts/{reply['id']}/revisions"
    forum.fail_next(1000, status=502, path_prefix=revisions)

    forum.edit_post(reply["id"], "Moved to the library steps by the council.", editor="mod")

    def failed_lookups() -> int:
        return sum(
            1 for c in forum.requests_log() if c.path.startswith(revisions) and c.status == 502
        )

    wait_until(lambda: failed_lookups() >= 2, 20, "porch to ask who edited, and be retried")
    with porch_store(town) as store:
        pending = [r for r in store.inbox.rows("pending") if r.kind.value == "forum.post_edited"]
    assert len(pending) == 1, "the edit waits for the forum; it is neither dropped nor guessed"
    assert _refusals(town) == [] and edits_of(town, carried["event_id"]) == []

    forum.clear_faults()
    refused = wait_until(lambda: _refusals(town), 30, "the refusal once the forum answers")
    assert refused[0].actor == "mod"
    wait_handled(town, "forum.post_edited", "the moderator's edit handled")
    assert edits_of(town, carried["event_id"]) == []
