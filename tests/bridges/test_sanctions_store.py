"""The sanctions table: recorded with their steps, listed, and undone exactly once."""

from __future__ import annotations

from bridges.store.sanction_records import Action, Sanction
from bridges.store.store import Store


def test_a_sanction_keeps_its_steps_and_is_undone_once(store: Store) -> None:
    steps = (
        Action("ban", room="!r", user="@ghost_bob:hs"),
        Action("mute", room="!r", user="@bob:hs", undo={"previous": 10}),
        Action("silence", forum_user_id=7),
        Action("hide", post_id=42),
    )
    sanction_id = store.sanctions.record(
        Sanction("chat_ban", "forum", "forum:mod", "forum:bob", steps, "spam", "u", at=5.0)
    )
    found = store.sanctions.get(sanction_id)
    assert found is not None and found.active
    assert found.actions == steps
    assert found.actions[1].undo == {"previous": 10}
    assert [s.id for s in store.sanctions.active_for("forum:bob", "chat_ban")] == [sanction_id]
    assert store.sanctions.active_for("forum:bob", "chat_mute") == []

    assert store.sanctions.mark_undone(sanction_id, "operator:eve", 9.0)
    assert not store.sanctions.mark_undone(sanction_id, "operator:eve", 10.0)
    undone = store.sanctions.get(sanction_id)
    assert undone is not None and not undone.active
    assert (undone.undone_at, undone.undone_by) == (9.0, "operator:eve")
    assert store.sanctions.active_for("forum:bob") == []
    store.sanctions.reopen(sanction_id)  # an undo that failed holds again
    assert [s.id for s in store.sanctions.active_for("forum:bob")] == [sanction_id]
    assert store.sanctions.mark_undone(sanction_id, "operator:eve", 9.0)
    later = store.sanctions.record(
        Sanction("post_hide", "room", "@mod:hs", "post:42", (steps[3],), None, "!r", at=6.0)
    )
    assert [s.id for s in store.sanctions.recent()] == [later, sanction_id]
    assert [s.id for s in store.sanctions.recent(active_only=True)] == [later]
    assert store.sanctions.get(later + 100) is None
