"""The moderators-room texts of held messages: quoted only where the room may read them."""

from __future__ import annotations

from bridges.review.desk import notice_content, pending_text, pointer_content, preview_text
from bridges.store.review import HeldItem
from policies.decision import Decision, Outcome
from policies.facts import BodyFormat, Content


def _item(number: int, preview: str, tier: str | None) -> HeldItem:
    return HeldItem(
        id=number,
        inbox_id=number,
        link="staff",
        subject=f"event:$e{number}",
        direction="chat-to-forum",
        kind="matrix.message",
        payload="{}",
        author="@dana:example.org",
        preview=preview,
        rule="policy:held/chat-to-forum",
        policy_version="v1",
        reason="held",
        state="pending",
        created_at=1.0,
        source_tier=tier,
    )


def test_a_pointer_names_the_item_and_the_page_and_nothing_of_the_message() -> None:
    item = _item(4, "my PIN is 4411", "private")
    content = pointer_content(item, "https://porch.example.org/")
    body = content["body"]
    assert body.startswith("Held for review #4:")
    assert "https://porch.example.org/review" in body
    for secret in ("4411", "@dana:example.org", "staff", "policy:held"):
        assert secret not in str(content)
    assert "4411" in str(notice_content(item)), "the full notice quotes it (where allowed)"


def test_pending_lists_without_text_what_the_room_may_not_read() -> None:
    items = [_item(1, "open words", "open"), _item(2, "my PIN is 4411", "private")]
    text = pending_text(items, lambda item: item.source_tier == "open")
    assert "#1 staff chat-to-forum from @dana:example.org: open words" in text
    assert "#2" in text and "4411" not in text


def test_a_held_chat_message_previews_the_markdown_the_forum_gets() -> None:
    decision = Decision(Outcome.HELD, "policy:held/chat-to-forum", "v1", "held")
    shown = preview_text(
        decision, Content("Ask Eve for **raffle** tickets", BodyFormat.MARKDOWN), ""
    )
    assert shown == "Ask Eve for **raffle** tickets"
