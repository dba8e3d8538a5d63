"""Generated platform input for the doors: appservice transactions and signed forum webhooks.

Each generator mixes well-formed events (which must be recorded) with mutated ones (a field
removed or replaced by junk of any JSON type: huge integers, NaN, lone surrogates, NUL, deep
nesting, over-long ids) and plain junk. Used by ``tests/webhooks/test_door_fuzz.py``,
``tests/e2e/test_door_fuzz.py`` and ``bench/fuzz.py``.
"""

from __future__ import annotations

import copy
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

_ids = itertools.count()

#: Values that break naive readers: beyond canonical JSON and 64 bits, not finite, text that
#: is not Unicode or holds NUL, ids longer than any column, very deep nesting.
_NASTY: list[Any] = [
    2**53,
    -(2**53),
    2**63,
    -(2**63) - 1,
    2**64,
    10**40,
    float("nan"),
    float("inf"),
    -0.0,
    "",
    "\x00",
    "\ud800",
    "a\udfffb",
    "x" * 300,
    "$" + "e" * 300,
    "!" + "r" * 300 + ":x",
    [],
    {},
]


def _deep(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels):
        value = [value]
    return value


_NASTY.append(_deep(70))

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    # A copy each time: a drawn ``{}`` that is then filled must not be the shared one (nor
    # end up inside itself).
    st.sampled_from(_NASTY).map(copy.deepcopy),
)
#: Any JSON value (Python's reader also yields NaN, infinities and lone surrogates).
junk = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=4,
)


#: Bodies that are not JSON (or not JSON Python reads): empty, cut short, not UTF-8, nested past
#: the recursion limit, an integer of more digits than Python converts.
_NOT_JSON = [
    b"",
    b"{",
    b"\xff\xfe",
    b'{"events": [' * 5000,
    b'{"events": [1' + b"0" * 5000 + b"]}",
    b'{"post": {"id": 1' + b"1" * 5000 + b"}}",
]


def fresh_id(prefix: str = "") -> str:
    return f"{prefix}fz{next(_ids)}"


# --- Matrix -----------------------------------------------------------------------------------


@st.composite
def _message_content(draw: st.DrawFn) -> dict[str, Any]:
    msgtype = draw(st.sampled_from(["m.text", "m.notice", "m.emote", "m.image"]))
    content: dict[str, Any] = {"msgtype": msgtype, "body": draw(st.text(max_size=40))}
    if draw(st.booleans()):
        content["format"] = "org.matrix.custom.html"
        content["formatted_body"] = f"<p>{draw(st.text(max_size=20))}</p>"
    if msgtype == "m.image":
        content["url"] = "mxc://localhost/abc"
        content["info"] = {"mimetype": "image/png", "w": 10, "h": 10, "size": 100}
    relation = draw(st.sampled_from(["none", "thread", "reply", "edit"]))
    if relation == "thread":
        content["m.relates_to"] = {"rel_type": "m.thread", "event_id": "$root"}
    elif relation == "reply":
        content["m.relates_to"] = {"m.in_reply_to": {"event_id": "$earlier"}}
    elif relation == "edit":
        new = {"msgtype": "m.text", "body": draw(st.text(max_size=20))}
        content = {"msgtype": "m.text", "body": "* edit", "m.new_content": new}
        content["m.relates_to"] = {"rel_type": "m.replace", "event_id": "$earlier"}
    return content


@st.composite
def matrix_event(draw: st.DrawFn, room: str, sender: str) -> dict[str, Any]:
    """A well-formed client-format event of a kind porch reads (or ignores)."""
    kind = draw(
        st.sampled_from(
            ["m.room.message"] * 4
            + ["m.reaction", "m.room.redaction", "m.room.member", "m.room.join_rules", "x.odd"]
        )
    )
    event: dict[str, Any] = {
        "type": kind,
        "event_id": fresh_id("$"),
        "room_id": room,
        "sender": sender,
        "origin_server_ts": draw(st.integers(min_value=0, max_value=2**53 - 1)),
        "unsigned": {"age": draw(st.integers(min_value=0, max_value=10**6))},
    }
    if kind == "m.room.message":
        event["content"] = draw(_message_content())
    elif kind == "m.reaction":
        relation = {"rel_type": "m.annotation", "event_id": "$earlier", "key": "👍"}
        event["content"] = {"m.relates_to": relation}
    elif kind == "m.room.redaction":
        event["content"] = {"redacts": "$earlier", "reason": "spam"}
    elif kind == "m.room.member":
        event["state_key"] = sender
        event["content"] = {"membership": draw(st.sampled_from(["join", "leave", "knock"]))}
    elif kind == "m.room.join_rules":
        event["state_key"] = ""
        event["content"] = {"join_rule": "public"}
    else:
        event["content"] = {"anything": draw(junk)}
    return event


_MATRIX_TOP = ["type", "event_id", "room_id", "sender", "content", "origin_server_ts", "unsigned"]
_MATRIX_CONTENT = ["msgtype", "body", "format", "formatted_body", "url", "info", "m.relates_to"]
_MATRIX_RELATION = ["rel_type", "event_id", "key", "m.in_reply_to", "is_falling_back"]


def _mutate(draw: st.DrawFn, event: dict[str, Any], keys: dict[str, list[str]]) -> None:
    """Remove one field of ``event`` (at its top, in its content, in its relation) or put junk
    in its place."""
    where = draw(st.sampled_from(sorted(keys)))
    container: Any = event
    for step in where.split("/")[1:]:
        if not isinstance(container, dict):
            return
        container = container.setdefault(step, {})
    if not isinstance(container, dict):
        return
    key = draw(st.sampled_from(keys[where]))
    if draw(st.integers(min_value=0, max_value=3)) == 0:
        container.pop(key, None)
    else:
        container[key] = draw(junk)


@dataclass
class Transaction:
    """A transaction body, and the ids of its well-formed messages that must be recorded."""

    body: Any
    expected: list[str] = field(default_factory=list)
    raw: bytes | None = None  # set when the body is not JSON at all

    def encode(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return json.dumps(self.body).encode("utf-8", "surrogatepass")


@st.composite
def transactions(draw: st.DrawFn, room: str, sender: str) -> Transaction:
    """A transaction: mostly an ``events`` list mixing well-formed, mutated, duplicated and
    junk events; sometimes a body that is not a transaction at all."""
    shape = draw(st.integers(min_value=0, max_value=19))
    if shape == 0:
        return Transaction(None, raw=draw(st.sampled_from(_NOT_JSON)))
    if shape == 1:
        return Transaction(draw(junk))
    events: list[Any] = []
    expected: list[str] = []
    for _ in range(draw(st.integers(min_value=1, max_value=5))):
        event = draw(matrix_event(room, sender))
        mode = draw(st.sampled_from(["good", "good", "mutate", "mutate", "junk", "dup"]))
        if mode == "junk":
            events.append(draw(junk))
            continue
        if mode == "dup" and events:
            events.append(copy.deepcopy(draw(st.sampled_from(events))))
            continue
        if mode == "mutate":
            _mutate(
                draw,
                event,
                {
                    "": _MATRIX_TOP,
                    "/content": _MATRIX_CONTENT,
                    "/content/m.relates_to": _MATRIX_RELATION,
                },
            )
        elif event["type"] == "m.room.message":
            expected.append(event["event_id"])
        events.append(event)
    return Transaction({"events": events}, expected)


# --- Discourse --------------------------------------------------------------------------------


def forum_post(topic_id: int, post_id: int, raw: str, username: str = "alice") -> dict[str, Any]:
    """A ``post`` object shaped as Discourse's ``WebHookPostSerializer`` sends it."""
    return {
        "id": post_id,
        "name": "Alice",
        "username": username,
        "avatar_template": "/user_avatar/forum.test/alice/{size}/1.png",
        "created_at": "2025-03-02T10:15:00.000Z",
        "updated_at": "2025-03-02T10:15:00.000Z",
        "cooked": f"<p>{raw}</p>",
        "raw": raw,
        "post_number": 2,
        "post_type": 1,
        "reply_to_post_number": None,
        "topic_id": topic_id,
        "topic_slug": "fuzz",
        "topic_title": "Fuzz",
        "category_id": 5,
        "category_slug": "town-square",
        "version": 1,
        "user_id": 21,
        "hidden": False,
        "trust_level": 1,
        "deleted_at": None,
        "user_deleted": False,
        "staff": False,
        "topic_archetype": "regular",
        "primary_group_name": None,
    }


def forum_topic(topic_id: int) -> dict[str, Any]:
    """A ``topic`` object shaped as ``WebHookTopicViewSerializer`` sends it."""
    return {
        "id": topic_id,
        "title": "Fuzz",
        "slug": "fuzz",
        "category_id": 5,
        "tags": ["a", {"name": "b"}],
        "archetype": "regular",
        "visible": True,
        "deleted_at": None,
        "created_by": {"id": 21, "username": "alice", "name": None, "avatar_template": "/a"},
    }


_FORUM_POST_KEYS = [*sorted(forum_post(1, 1, "x")), "extra"]
_FORUM_TOPIC_KEYS = [*sorted(forum_topic(1)), "extra"]
_FORUM_EVENTS = {
    "post_created": "post",
    "post_edited": "post",
    "post_destroyed": "post",
    "topic_edited": "topic",
    "topic_created": "topic",
    "category_updated": "category",
    "user_added_to_group": "group_user",
    "post_liked": "like",
    "user_suspended": "user",
    "reviewable_created": "reviewable",
    "ping": "ping",
    "something_new": "thing",
}


@dataclass
class Webhook:
    """A webhook delivery: headers (before signing) and body; ``good`` when it must be
    recorded."""

    event: str
    root: str
    body: Any
    delivery: str
    good: bool = False
    raw: bytes | None = None

    def encode(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return json.dumps(self.body).encode("utf-8", "surrogatepass")


@st.composite
def webhooks(draw: st.DrawFn, topic_id: int) -> Webhook:
    """A signed-to-be forum webhook: a well-formed post or topic event, one with a field
    removed or replaced by junk, a body of the wrong shape, or bytes that are not JSON."""
    event = draw(st.sampled_from(sorted(_FORUM_EVENTS)))
    root = _FORUM_EVENTS[event]
    delivery = draw(st.sampled_from([fresh_id(), fresh_id(), "9" * 300, ""]))
    post_id = next(_ids) + 10_000
    if root == "post":
        inner: Any = forum_post(topic_id, post_id, f"fuzz {post_id}")
    elif root == "topic":
        inner = forum_topic(topic_id)
    elif root == "like":
        inner = {"post": forum_post(topic_id, post_id, "x"), "user": {"id": 2, "username": "b"}}
    else:
        inner = draw(junk)
    body: Any = {root: inner}
    mode = draw(st.sampled_from(["good", "mutate", "mutate", "mutate", "junk", "bytes"]))
    good = False
    if mode == "bytes":
        return Webhook(event, root, None, delivery, raw=draw(st.sampled_from(_NOT_JSON)))
    if mode == "junk":
        body = draw(junk) if draw(st.booleans()) else {root: draw(junk)}
    elif mode == "mutate" and isinstance(inner, dict):
        keys = _FORUM_POST_KEYS if root == "post" else _FORUM_TOPIC_KEYS
        for _ in range(draw(st.integers(min_value=1, max_value=3))):
            key = draw(st.sampled_from(keys))
            if draw(st.integers(min_value=0, max_value=3)) == 0:
                inner.pop(key, None)
            else:
                inner[key] = draw(junk)
    else:
        good = root in ("post", "topic") and delivery not in ("9" * 300, "")
    return Webhook(event, root, body, delivery, good=good)
