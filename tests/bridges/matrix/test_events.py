"""Matrix transaction events become neutral events; porch's own and odd events stay out."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bridges import codec
from bridges.matrix.events import (
    inbox_events,
    malformed,
    parse_ban,
    parse_event,
    read_events,
    strip_reply_fallback,
)
from bridges.model import ChatBan, ChatMessage, ChatReaction, ChatRedaction, EventKind, Platform

ROOM = "!room:porch.test"


def event(kind: str = "m.room.message", content: Any = None, **top: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": kind,
        "event_id": "$ev",
        "room_id": ROOM,
        "sender": "@carol:porch.test",
        "origin_server_ts": 1700000000000,
        "content": {"msgtype": "m.text", "body": "hello"} if content is None else content,
    }
    out.update(top)
    return out


def message(content: dict[str, Any], **top: Any) -> ChatMessage:
    parsed = parse_event(event(content=content, **top))
    assert isinstance(parsed, ChatMessage)
    return parsed


# --- messages ---------------------------------------------------------------------------------


def test_a_plain_message() -> None:
    msg = message({"msgtype": "m.text", "body": "hello"})
    assert msg == ChatMessage(
        event_id="$ev",  # type: ignore[arg-type]
        room_id=ROOM,  # type: ignore[arg-type]
        sender="@carol:porch.test",  # type: ignore[arg-type]
        msgtype="m.text",
        body="hello",
        origin_server_ts=1700000000000,
    )


def test_formatted_body_only_with_the_html_format() -> None:
    html = {"msgtype": "m.text", "body": "*hi*", "formatted_body": "<em>hi</em>"}
    assert message({**html, "format": "org.matrix.custom.html"}).formatted_body == "<em>hi</em>"
    assert message({**html, "format": "text/markdown"}).formatted_body is None
    assert message(html).formatted_body is None


def test_a_thread_message_falling_back_is_not_a_reply() -> None:
    msg = message(
        {
            "msgtype": "m.text",
            "body": "in the thread",
            "m.relates_to": {
                "rel_type": "m.thread",
                "event_id": "$root",
                "m.in_reply_to": {"event_id": "$latest"},
                "is_falling_back": True,
            },
        }
    )
    assert msg.thread_root == "$root"
    assert msg.in_reply_to is None


def test_a_genuine_reply_inside_a_thread() -> None:
    for falling_back in ({"is_falling_back": False}, {}):
        msg = message(
            {
                "msgtype": "m.text",
                "body": "answering you",
                "m.relates_to": {
                    "rel_type": "m.thread",
                    "event_id": "$root",
                    "m.in_reply_to": {"event_id": "$answered"},
                    **falling_back,
                },
            }
        )
        assert (msg.thread_root, msg.in_reply_to) == ("$root", "$answered")


def test_a_plain_reply_outside_a_thread() -> None:
    msg = message(
        {"msgtype": "m.text", "body": "yes", "m.relates_to": {"m.in_reply_to": {"event_id": "$q"}}}
    )
    assert (msg.thread_root, msg.in_reply_to) == (None, "$q")


def test_an_edit_carries_the_new_content_and_the_original() -> None:
    msg = message(
        {
            "msgtype": "m.text",
            "body": "* Hello! My name is bar",
            "m.new_content": {
                "msgtype": "m.text",
                "body": "Hello! My name is **bar**",
                "format": "org.matrix.custom.html",
                "formatted_body": "Hello! My name is <b>bar</b>",
            },
            "m.relates_to": {"rel_type": "m.replace", "event_id": "$original"},
        }
    )
    assert msg.replaces == "$original"
    assert msg.body == "Hello! My name is **bar**"
    assert msg.formatted_body == "Hello! My name is <b>bar</b>"
    assert msg.thread_root is None and msg.in_reply_to is None


def test_an_edit_keeps_a_leading_quote_the_user_wrote() -> None:
    msg = message(
        {
            "msgtype": "m.text",
            "body": "* > quoting\n\nmine",
            "m.new_content": {"msgtype": "m.text", "body": "> quoting\n\nmine"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": "$original"},
        }
    )
    assert msg.body == "> quoting\n\nmine"


def test_an_image_keeps_its_url_and_info() -> None:
    info = {"h": 398, "w": 394, "mimetype": "image/jpeg", "size": 31037}
    msg = message(
        {"msgtype": "m.image", "body": "cat.jpg", "url": "mxc://porch.test/abc", "info": info}
    )
    assert (msg.msgtype, msg.url, msg.info) == ("m.image", "mxc://porch.test/abc", info)
    assert codec.decode(EventKind.CHAT_MESSAGE, codec.encode(EventKind.CHAT_MESSAGE, msg)) == msg


def test_a_text_message_carries_no_url() -> None:
    msg = message({"msgtype": "m.text", "body": "x", "url": "mxc://porch.test/abc", "info": {}})
    assert msg.url is None


# --- reply fallbacks --------------------------------------------------------------------------

FALLBACK_REPLY = {
    "msgtype": "m.text",
    "body": "> <@alice:porch.test> the original\n> second line\n\nmy answer",
    "format": "org.matrix.custom.html",
    "formatted_body": (
        '<mx-reply><blockquote><a href="https://matrix.to/#/!r/$q">In reply to</a> '
        "the original</blockquote></mx-reply>my <b>answer</b>"
    ),
    "m.relates_to": {"m.in_reply_to": {"event_id": "$q"}},
}


def test_a_reply_fallback_is_stripped_from_both_bodies() -> None:
    msg = message(FALLBACK_REPLY)
    assert msg.body == "my answer"
    assert msg.formatted_body == "my <b>answer</b>"
    assert msg.in_reply_to == "$q"


def test_a_plain_text_fallback_is_stripped() -> None:
    content = {k: v for k, v in FALLBACK_REPLY.items() if k not in ("format", "formatted_body")}
    assert message(content).body == "my answer"


def test_a_quote_the_user_wrote_survives_in_a_reply_without_fallback() -> None:
    body = "> what you said\n\nI disagree"
    msg = message(
        {"msgtype": "m.text", "body": body, "m.relates_to": {"m.in_reply_to": {"event_id": "$q"}}}
    )
    assert msg.body == body


def test_strip_reply_fallback() -> None:
    assert strip_reply_fallback("> <@a:b> x\n> y\n\nz\n> w", None) == ("z\n> w", None)
    assert strip_reply_fallback("> <@a:b> x\nz", None) == ("z", None)
    assert strip_reply_fallback("plain\n> not leading", "<p>x</p>") == (
        "plain\n> not leading",
        "<p>x</p>",
    )
    nested = "<mx-reply><blockquote><mx-reply>old</mx-reply>q</blockquote></mx-reply><p>a</p>"
    assert strip_reply_fallback("a", nested) == ("a", "<p>a</p>")
    assert strip_reply_fallback("a", "<p>a</p><mx-reply>late</mx-reply>")[1] == (
        "<p>a</p><mx-reply>late</mx-reply>"
    )


quoted_line = st.text(st.characters(exclude_characters="\n"), max_size=20).map(lambda s: "> " + s)
free_line = st.text(st.characters(exclude_characters="\n"), max_size=30)
first_free_line = free_line.filter(lambda s: s != "" and not s.startswith(">"))


@given(
    fallback=st.lists(quoted_line, min_size=1, max_size=5),
    separator=st.booleans(),
    first=first_free_line,
    rest=st.lists(free_line, max_size=5),
)
def test_stripping_never_removes_text_after_the_fallback(
    fallback: list[str], separator: bool, first: str, rest: list[str]
) -> None:
    after = "\n".join([first, *rest])
    body = "\n".join(fallback) + ("\n\n" if separator else "\n") + after
    assert strip_reply_fallback(body, None) == (after, None)


@given(body=st.text(max_size=80))
def test_stripping_only_ever_removes_quoted_lines_and_one_blank_line(body: str) -> None:
    stripped, _ = strip_reply_fallback(body, None)
    assert body.endswith(stripped)
    removed = body[: len(body) - len(stripped)].split("\n")[:-1] if stripped != body else []
    if removed and removed[-1] == "":
        removed.pop()
    assert all(line.startswith("> ") or line == ">" for line in removed)


@given(after=st.text(max_size=60).filter(lambda s: "mx-reply" not in s.lower()))
def test_stripping_mx_reply_keeps_the_html_after_it(after: str) -> None:
    html = "<mx-reply><blockquote>quoted <b>thing</b></blockquote></mx-reply>" + after
    assert strip_reply_fallback("x", html)[1] == after


# --- redactions, reactions, what is not carried ---------------------------------------------


def test_a_v11_redaction_reads_content_redacts() -> None:
    parsed = parse_event(
        event("m.room.redaction", {"redacts": "$gone", "reason": "spam"}, redacts="$stale")
    )
    assert isinstance(parsed, ChatRedaction)
    assert (parsed.redacts, parsed.reason) == ("$gone", "spam")


def test_a_legacy_redaction_reads_top_level_redacts() -> None:
    parsed = parse_event(event("m.room.redaction", {}, redacts="$gone"))
    assert isinstance(parsed, ChatRedaction)
    assert (parsed.redacts, parsed.reason) == ("$gone", None)


def test_a_reaction() -> None:
    content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$t", "key": "👍️"}}
    parsed = parse_event(event("m.reaction", content))
    assert isinstance(parsed, ChatReaction)
    assert (parsed.relates_to, parsed.key) == ("$t", "👍️")


def test_what_porch_does_not_carry() -> None:
    not_carried = [
        event("m.room.member", {"membership": "join"}, state_key="@carol:porch.test"),
        event(content={"msgtype": "m.text", "body": "state-shaped"}, state_key=""),
        event("m.room.encrypted", {"algorithm": "m.megolm.v1.aes-sha2"}),
        event("m.sticker", {"body": "x", "url": "mxc://a/b"}),
        event(content={}),  # a redacted message
        event(content={"msgtype": "m.text", "body": 5}),
        event(content={"msgtype": "m.text"}),
        event(content={"body": "no msgtype"}),
        event(
            content={"msgtype": "m.text", "body": "x", "m.relates_to": {"rel_type": "m.replace"}}
        ),
        event(
            content={
                "msgtype": "m.text",
                "body": "* x",
                "m.relates_to": {"rel_type": "m.replace", "event_id": "$o"},
            }
        ),
        event("m.room.redaction", {}),
        event("m.reaction", {"m.relates_to": {"rel_type": "m.reference", "event_id": "$t"}}),
        event("m.reaction", {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$t"}}),
        event(sender=None),
        event(content="not an object"),
    ]
    assert [parse_event(e) for e in not_carried] == [None] * len(not_carried)


# --- inbox events -----------------------------------------------------------------------------


def ours(sender: str) -> bool:
    return sender in ("@porch:porch.test", "@forum_alice:porch.test")


def test_inbox_events_drop_porchs_own_senders_and_keep_notices() -> None:
    events = [
        event(event_id="$1", sender="@forum_alice:porch.test"),
        event(event_id="$2", sender="@porch:porch.test"),
        event(event_id="$3", content={"msgtype": "m.notice", "body": "a bot speaks"}),
        event("m.room.member", {"membership": "join"}, event_id="$4", state_key="@x:y"),
        event("m.room.redaction", {"redacts": "$3"}, event_id="$5"),
        event(
            "m.reaction",
            {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$3", "key": "x"}},
            event_id="$6",
        ),
    ]
    out = inbox_events(events, is_ours=ours)
    assert [e.keys for e in out] == [
        ("matrix:event:$3",),
        ("matrix:event:$5",),
        ("matrix:event:$6",),
    ]
    assert [e.kind for e in out] == [
        EventKind.CHAT_MESSAGE,
        EventKind.CHAT_REDACTION,
        EventKind.CHAT_REACTION,
    ]
    assert {e.source for e in out} == {Platform.CHAT}
    assert {e.conversation for e in out} == {f"matrix:room:{ROOM}"}
    notice = codec.decode(out[0].kind, out[0].payload)
    assert isinstance(notice, ChatMessage) and notice.msgtype == "m.notice"


# --- malformed events -------------------------------------------------------------------------


def test_a_type_that_is_not_a_string_is_not_carried_and_does_not_raise() -> None:
    for odd in (["m.room.message"], {"a": 1}, 5, None):
        assert parse_event(event(odd)) is None  # type: ignore[arg-type]


def test_malformed_names_what_is_wrong() -> None:
    cases: list[tuple[Any, str]] = [
        ([], "the event is a JSON list, not an object"),
        ({**event(), "type": ["x"]}, "type is not a string"),
        (event(event_id=None), "event_id is missing"),
        (event(sender=7), "sender is not a string"),
        (event(room_id="!a\x00b:x"), "room_id contains a control character"),
        (event(event_id="$" + "e" * 300), "event_id is longer than 255 bytes"),
        (event(content="x"), "content is not an object"),
        (event(unsigned=[]), "unsigned is not an object"),
        (event(origin_server_ts="1"), "origin_server_ts is not an integer"),
        (event(origin_server_ts=2**63), "the event holds an integer out of range"),
        (event(content={"msgtype": "m.text", "body": "\ud800"}), "not valid Unicode"),
        (event(content={"msgtype": "m.text", "body": "x", "n": float("nan")}), "not finite"),
        (event(content={"msgtype": "m.text", "body": 5}), "a message's body is not a string"),
        (
            event(content={"msgtype": "m.text", "body": "x", "m.relates_to": {"rel_type": 1}}),
            "m.relates_to.rel_type is not a string",
        ),
        (
            event(
                content={
                    "msgtype": "m.text",
                    "body": "* x",
                    "m.relates_to": {"rel_type": "m.replace", "event_id": "$o"},
                }
            ),
            "an edit has no m.new_content object",
        ),
        (event("m.room.redaction", {"reason": "x"}), "a redaction has no redacts string"),
    ]
    for raw, reason in cases:
        found = malformed(raw)
        assert found is not None and reason in found, (raw, found)


def test_well_formed_events_porch_does_not_carry_are_not_malformed() -> None:
    for raw in (
        event(content={}),  # a redacted message
        event("m.room.encrypted", {"algorithm": "m.megolm.v1.aes-sha2"}),
        event("m.room.member", {"membership": "join"}, state_key="@carol:porch.test"),
        event("m.reaction", {"m.relates_to": {"rel_type": "m.reference", "event_id": "$t"}}),
    ):
        assert malformed(raw) is None, raw


def test_read_events_skips_the_malformed_and_keeps_the_rest_in_order() -> None:
    read = read_events(
        [event(event_id="$1"), {**event(event_id="$2"), "type": [1]}, 3, event(event_id="$4")],
        is_ours=ours,
    )
    assert [e.keys for e in read.events] == [("matrix:event:$1",), ("matrix:event:$4",)]
    assert [(s.event_id, s.reason) for s in read.skipped] == [
        ("$2", "type is not a string"),
        (None, "the event is a JSON int, not an object"),
    ]


def _member(membership: str, **extra: object) -> dict[str, object]:
    return {
        "type": "m.room.member",
        "event_id": "$ban",
        "room_id": "!room",
        "sender": "@mod:hs",
        "state_key": "@erin:hs",
        "content": {"membership": membership, **extra},
    }


def test_a_ban_is_read_with_its_reason() -> None:
    assert parse_ban(_member("ban", reason="spam")) == ChatBan(
        "$ban", "!room", "@mod:hs", "@erin:hs", "spam"
    )
    assert parse_ban(_member("leave")) is None
    assert parse_ban({**_member("ban"), "state_key": None}) is None
