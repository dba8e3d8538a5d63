"""Matrix events from appservice transactions, turned into porch's neutral events.

Shapes follow the Matrix spec (https://spec.matrix.org/v1.13/client-server-api/): messages and
their relations (threads, replies, edits), redactions and reactions. Anything else, and anything
malformed, is not carried: a homeserver relays whatever clients send, and one odd event must
not hold up the transaction it came in.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bridges import codec
from bridges.matrix.policy_rule_events import RULE_TYPES, parse_policy_rule
from bridges.model import (
    ChatBan,
    ChatInvite,
    ChatKnock,
    ChatMessage,
    ChatReaction,
    ChatRedaction,
    ContentURI,
    EventID,
    EventKind,
    Platform,
    PolicyRuleChanged,
    RoomID,
    RoomSecurityChanged,
    UserID,
)
from bridges.store.inbox import NewEvent
from bridges.store.limits import unstorable
from policies.linear import Linear

log = logging.getLogger(__name__)

ChatEvent = (
    ChatMessage
    | ChatRedaction
    | ChatReaction
    | ChatInvite
    | RoomSecurityChanged
    | ChatKnock
    | ChatBan  # bans and policy-list rules: bridges.moderation follows them
    | PolicyRuleChanged
)

#: Room state that decides a room's tier (``policies.derive.room_tier``), and the content key
#: holding the value.
SECURITY_STATE = {
    "m.room.join_rules": "join_rule",
    "m.room.history_visibility": "history_visibility",
}

_HTML = "org.matrix.custom.html"
_MEDIA = frozenset({"m.image", "m.file", "m.video", "m.audio"})
# RE2 (linear time): with ``re``, 64 KiB of unclosed "<mx-reply" took about a second.
_MX_REPLY_TAG = Linear(r"<(/?)mx-reply(?:>|[^>\w][^>]*>)", ignore_case=True)
# The first line of a body fallback names the replied-to sender: "> <@alice:example.org> hi",
# or "> * <@alice:example.org> waves" for an emote.
_FALLBACK_FIRST_LINE = re.compile(r"> (\* )?<@[^>\s]+> ")


def _is_quoted(line: str) -> bool:
    # An empty line of the original is quoted as "> ", which some clients trim to ">".
    return line.startswith("> ") or line == ">"


def strip_reply_fallback(body: str, formatted_body: str | None) -> tuple[str, str | None]:
    """Remove a rich-reply fallback from a message's ``body`` and ``formatted_body``.

    Fallbacks were removed from the spec in v1.13 (MSC2781) but receivers should still strip
    them (https://spec.matrix.org/v1.13/client-server-api/#fallbacks-for-rich-replies): in
    ``body``, the leading lines quoted with ``"> "`` and the blank line that follows them; in
    ``formatted_body``, a leading ``<mx-reply>`` element. Carrying a fallback across would leak
    the replied-to message, which may have been redacted or may live behind a closed door.
    """
    lines = body.split("\n")
    quoted = 0
    while quoted < len(lines) and _is_quoted(lines[quoted]):
        quoted += 1
    if quoted and quoted < len(lines) and lines[quoted] == "":
        quoted += 1
    stripped_body = "\n".join(lines[quoted:])
    if formatted_body is None:
        return stripped_body, None
    return stripped_body, _strip_mx_reply(formatted_body)


def _strip_mx_reply(html: str) -> str:
    """Drop a leading ``<mx-reply>`` element, counting nested ones (old clients nested them)."""
    start = html.lstrip()
    if start[:9].lower() != "<mx-reply":
        return html
    depth = 0
    for tag in _MX_REPLY_TAG.finditer(start):
        depth += -1 if tag.group(1) else 1
        if depth == 0:
            return start[tag.end() :]
    # Unclosed: everything is the fallback.
    return ""


def _has_fallback(body: str, formatted_body: str | None, is_reply: bool) -> bool:
    """Whether a message's content carries a reply fallback to strip.

    Clients following v1.13 send none, and their users' own ``"> "`` quotes must survive; so
    the body is only stripped when the fallback's marks are there: a leading ``<mx-reply>``, or,
    in a reply, a first line quoting the replied-to sender.
    """
    if formatted_body is not None and formatted_body.lstrip()[:9].lower() == "<mx-reply":
        return True
    return is_reply and _FALLBACK_FIRST_LINE.match(body) is not None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def parse_event(event: Mapping[str, Any]) -> ChatEvent | None:
    """The neutral event for one client-format Matrix event, or None if porch does not carry it.

    None for state events (they have a ``state_key``) other than invites, knocks and the
    room's join rule and history visibility (:data:`SECURITY_STATE`), for types other than
    ``m.room.message``, ``m.room.redaction`` and ``m.reaction``, and for malformed content.
    """
    if not isinstance(event, Mapping) or not isinstance(event.get("type"), str):
        return None
    if event.get("type") == "m.room.member":
        return _invite(event) or _knock(event) or parse_ban(event)
    if event.get("type") in RULE_TYPES:
        return parse_policy_rule(event)
    if event.get("type") in SECURITY_STATE and event.get("state_key") == "":
        return _security(event)
    if "state_key" in event:
        return None
    event_id, room_id, sender = (
        _str(event.get("event_id")),
        _str(event.get("room_id")),
        _str(event.get("sender")),
    )
    if event_id is None or room_id is None or sender is None:
        return None
    content = _mapping(event.get("content"))
    kind = event.get("type")
    ids = (EventID(event_id), RoomID(room_id), UserID(sender))
    if kind == "m.room.message":
        ts = event.get("origin_server_ts")
        origin_ts = ts if isinstance(ts, int) and not isinstance(ts, bool) else 0
        return _message(*ids, content, origin_ts)
    if kind == "m.room.redaction":
        # Room v11 moved ``redacts`` into the content; older rooms have it at the top level.
        redacts = _str(content.get("redacts")) or _str(event.get("redacts"))
        if redacts is None:
            return None
        return ChatRedaction(*ids, redacts=EventID(redacts), reason=_str(content.get("reason")))
    if kind == "m.reaction":
        relation = _mapping(content.get("m.relates_to"))
        target, key = _str(relation.get("event_id")), _str(relation.get("key"))
        if relation.get("rel_type") != "m.annotation" or target is None or key is None:
            return None
        return ChatReaction(*ids, relates_to=EventID(target), key=key)
    return None


def _security(event: Mapping[str, Any]) -> RoomSecurityChanged | None:
    """A change of the room's join rule or history visibility (its tier may change)."""
    event_id, room_id, sender = (
        _str(event.get("event_id")),
        _str(event.get("room_id")),
        _str(event.get("sender")),
    )
    kind = str(event.get("type"))
    if event_id is None or room_id is None or sender is None:
        return None
    value = _str(_mapping(event.get("content")).get(SECURITY_STATE[kind]))
    return RoomSecurityChanged(EventID(event_id), RoomID(room_id), UserID(sender), kind, value)


def _invite(event: Mapping[str, Any]) -> ChatInvite | None:
    """An invite (``is_direct`` when the inviter means a direct chat); other memberships are
    not carried."""
    content = _mapping(event.get("content"))
    event_id, room_id, sender, invitee = (
        _str(event.get("event_id")),
        _str(event.get("room_id")),
        _str(event.get("sender")),
        _str(event.get("state_key")),
    )
    if content.get("membership") != "invite" or None in (event_id, room_id, sender, invitee):
        return None
    return ChatInvite(
        EventID(str(event_id)),
        RoomID(str(room_id)),
        UserID(str(sender)),
        UserID(str(invitee)),
        is_direct=content.get("is_direct") is True,
    )


def _knock(event: Mapping[str, Any]) -> ChatKnock | None:
    """A knock: the sender asks to join (their own membership, ``state_key`` = ``sender``).
    See https://spec.matrix.org/v1.13/client-server-api/#knocking-on-rooms"""
    content = _mapping(event.get("content"))
    event_id, room_id, sender = (
        _str(event.get("event_id")),
        _str(event.get("room_id")),
        _str(event.get("sender")),
    )
    if content.get("membership") != "knock" or event_id is None or room_id is None:
        return None
    if sender is None or event.get("state_key") != sender:
        return None
    reason = _str(content.get("reason"))
    return ChatKnock(EventID(event_id), RoomID(room_id), UserID(sender), reason)


def parse_ban(event: Mapping[str, Any]) -> ChatBan | None:
    """A ban (``m.room.member`` with ``membership: ban``), None for any other event."""
    content = event.get("content")
    if not isinstance(content, Mapping) or content.get("membership") != "ban":
        return None
    fields = [event.get(k) for k in ("event_id", "room_id", "sender", "state_key")]
    if not all(isinstance(f, str) and f for f in fields):
        return None
    event_id, room_id, sender, target = (str(f) for f in fields)
    reason = content.get("reason")
    return ChatBan(
        EventID(event_id),
        RoomID(room_id),
        UserID(sender),
        UserID(target),
        reason if isinstance(reason, str) else None,
    )


def _message(
    event_id: EventID,
    room_id: RoomID,
    sender: UserID,
    content: Mapping[str, Any],
    origin_server_ts: int,
) -> ChatMessage | None:
    relation = _mapping(content.get("m.relates_to"))
    rel_type = relation.get("rel_type")
    thread_root = in_reply_to = replaces = None
    is_reply = False
    if rel_type == "m.replace":
        # An edit: the new content replaces the whole content; its relations stay those of
        # the original (https://spec.matrix.org/v1.13/client-server-api/#event-replacements).
        original = _str(relation.get("event_id"))
        if original is None:
            return None
        replaces = EventID(original)
        content = _mapping(content.get("m.new_content"))
    else:
        if rel_type == "m.thread":
            root = _str(relation.get("event_id"))
            if root is None:
                return None
            thread_root = EventID(root)
        reply = _str(_mapping(relation.get("m.in_reply_to")).get("event_id"))
        is_reply = reply is not None
        # In a thread, an in_reply_to with is_falling_back is only there for thread-unaware
        # clients: it points at the latest message, not at what the sender answered.
        falling_back = thread_root is not None and relation.get("is_falling_back") is True
        if reply is not None and not falling_back:
            in_reply_to = EventID(reply)
    msgtype, body = _str(content.get("msgtype")), _str(content.get("body"))
    if msgtype is None or body is None:
        return None
    formatted = None
    if content.get("format") == _HTML:
        formatted = _str(content.get("formatted_body"))
    if _has_fallback(body, formatted, is_reply):
        body, formatted = strip_reply_fallback(body, formatted)
    url, info = None, {}
    if msgtype in _MEDIA:
        raw_url = _str(content.get("url"))
        url = None if raw_url is None else ContentURI(raw_url)
        info = dict(_mapping(content.get("info")))
    return ChatMessage(
        event_id=event_id,
        room_id=room_id,
        sender=sender,
        msgtype=msgtype,
        body=body,
        formatted_body=formatted,
        thread_root=thread_root,
        in_reply_to=in_reply_to,
        replaces=replaces,
        url=url,
        info=info,
        origin_server_ts=origin_server_ts,
    )


_KINDS: Mapping[type[ChatEvent], EventKind] = {
    ChatMessage: EventKind.CHAT_MESSAGE,
    ChatRedaction: EventKind.CHAT_REDACTION,
    ChatReaction: EventKind.CHAT_REACTION,
    ChatInvite: EventKind.CHAT_INVITE,
    RoomSecurityChanged: EventKind.ROOM_SECURITY_CHANGED,
    ChatKnock: EventKind.CHAT_KNOCK,
    ChatBan: EventKind.CHAT_BAN,
    PolicyRuleChanged: EventKind.POLICY_RULE_CHANGED,
}


@dataclass(frozen=True, slots=True)
class Skipped:
    """An event of a transaction that porch refused to record, and why."""

    event_id: str | None
    room_id: str | None
    sender: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class ReadEvents:
    """A transaction's events: those to record, in order, and the malformed ones skipped."""

    events: list[NewEvent]
    skipped: list[Skipped]


def inbox_events(
    events: Sequence[Mapping[str, Any]], *, is_ours: Callable[[str], bool]
) -> list[NewEvent]:
    """The inbox events for a transaction's ``events``, in order (see :func:`read_events`;
    malformed events are logged and left out)."""
    return read_events(events, is_ours=is_ours).events


def read_events(events: Sequence[Any], *, is_ours: Callable[[str], bool]) -> ReadEvents:
    """The inbox events for a transaction's ``events``, in order, and the events skipped.

    Events sent by porch's own ghosts and bot (``is_ours(sender)``) are dropped here: loops are
    cut at the door. Everything else porch carries is kept, ``m.notice`` included: whether it
    crosses is for the policies to decide, and to record.

    A malformed event (:func:`malformed`, or one the store could not hold) is skipped and
    reported, never raised: the homeserver resends a transaction until it is accepted
    (https://spec.matrix.org/v1.13/application-service-api/#pushing-events), so one bad event
    must not refuse the events around it.
    """
    out: list[NewEvent] = []
    skipped: list[Skipped] = []
    for raw in events:
        try:
            new = _inbox_event(raw, is_ours)
        except _Malformed as exc:
            skipped.append(_skipped(raw, exc.reason))
            continue
        except Exception as exc:
            # Belt and braces: whatever :func:`malformed` did not foresee skips this event
            # rather than failing the whole transaction.
            log.debug("matrix event could not be read", exc_info=True)
            skipped.append(_skipped(raw, f"could not be read ({type(exc).__name__})"))
            continue
        if new is not None:
            out.append(new)
    for skip in skipped:
        log.warning(
            "matrix event %.80r in %.80r skipped: %s", skip.event_id, skip.room_id, skip.reason
        )
    return ReadEvents(out, skipped)


class _Malformed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _skipped(raw: Any, reason: str) -> Skipped:
    fields = raw if isinstance(raw, Mapping) else {}
    # Only ids that can be written to the audit log and shown; anything else was the problem.
    event_id, room_id, sender = (
        value if isinstance(value, str) and _id_problem(value) is None else None
        for value in (fields.get("event_id"), fields.get("room_id"), fields.get("sender"))
    )
    return Skipped(event_id, room_id, sender, reason)


def _inbox_event(raw: Any, is_ours: Callable[[str], bool]) -> NewEvent | None:
    reason = malformed(raw)
    if reason is not None:
        raise _Malformed(reason)
    event = parse_event(raw)
    if event is None:
        return None
        # A room's security counts whoever changed it, porch's bot included.
    if is_ours(event.sender) and not isinstance(event, RoomSecurityChanged):
        return None
    if isinstance(event, ChatInvite) and not is_ours(event.invitee):
        return None  # only invites of porch's own users ask anything of porch
    kind = _KINDS[type(event)]
    new = NewEvent(
        source=Platform.CHAT,
        kind=kind,
        # One conversation per room: an edit or a redaction never overtakes its original.
        conversation=f"matrix:room:{event.room_id}",
        payload=codec.encode(kind, event),
        keys=(f"matrix:event:{event.event_id}",),
    )
    problem = unstorable(new)
    if problem is not None:
        raise _Malformed(f"porch's store cannot hold it: {problem}")
    return new


# --- what a well-formed event is -----------------------------------------------------------

#: Canonical JSON, in which homeservers hash, sign and send events, holds integers in this
#: range only (https://spec.matrix.org/v1.13/appendices/#canonical-json).
_INT_MIN, _INT_MAX = -(2**53) + 1, 2**53 - 1
#: Deeper nesting than any event porch reads has; a bound keeps every later step (encoding,
#: decoding in the worker) far from Python's recursion limit.
_MAX_DEPTH = 64
#: "The length of an event ID ... must not exceed 255 bytes", and the same for room and user
#: ids (https://spec.matrix.org/v1.13/appendices/#identifier-grammar).
_ID_BYTES = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _id_problem(value: str) -> str | None:
    if not value:
        return "is empty"
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        return "is not valid Unicode"
    if size > _ID_BYTES:
        return f"is longer than {_ID_BYTES} bytes"
    if _CONTROL.search(value):
        return "contains a control character"
    return None


def _json_problem(value: Any) -> str | None:
    """Why a JSON value is not canonical-JSON data porch can carry: an integer out of range, a
    number that is not finite, text that is not Unicode, nesting too deep. Iterative, so no
    nesting breaks it."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > _MAX_DEPTH:
            return f"nested deeper than {_MAX_DEPTH} levels"
        if isinstance(item, bool) or item is None:
            continue
        if isinstance(item, int):
            if not _INT_MIN <= item <= _INT_MAX:
                return "holds an integer out of range"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return "holds a number that is not finite"
        elif isinstance(item, str):
            if _not_unicode(item):
                return "holds text that is not valid Unicode"
        elif isinstance(item, Mapping):
            for key, inner in item.items():
                if not isinstance(key, str) or _not_unicode(key):
                    return "holds a key that is not valid Unicode text"
                stack.append((inner, depth + 1))
        elif isinstance(item, list):
            stack.extend((inner, depth + 1) for inner in item)
        else:
            return f"holds a {type(item).__name__}"
    return None


def _not_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _field_types(fields: Mapping[str, Any], expected: Mapping[str, type]) -> str | None:
    """The first field present in ``fields`` with another type than ``expected`` says."""
    for name, kind in expected.items():
        if name in fields and not isinstance(fields[name], kind):
            return f"{name} is not {'a string' if kind is str else 'an object'}"
    return None


def malformed(raw: Any) -> str | None:
    """Why ``raw`` is not a well-formed client-format event, or None when it is.

    Every event of a transaction has a string ``type``, ``event_id``, ``room_id`` and
    ``sender`` and an object ``content``; ``state_key`` is a string and ``unsigned`` an object
    when present (``ClientEvent``,
    https://spec.matrix.org/v1.13/application-service-api/#put_matrixappv1transactionstxnid).
    For the events porch carries, the content fields it reads must have their types too: a
    message's ``msgtype`` and ``body``, its relation (``m.relates_to``, ``m.in_reply_to``,
    ``m.new_content``), a redaction's ``redacts``, a reaction's key. An event that is simply
    not porch's to carry (a state event, an unknown type, a redacted message) is well-formed.
    """
    if not isinstance(raw, Mapping):
        return f"the event is a JSON {type(raw).__name__}, not an object"
    problem = _json_problem(raw)
    if problem is not None:
        return f"the event {problem}"
    for name in ("type", "event_id", "room_id", "sender"):
        value = raw.get(name)
        if not isinstance(value, str):
            return f"{name} is {'missing' if value is None else 'not a string'}"
        if name != "type":
            problem = _id_problem(value)
            if problem is not None:
                return f"{name} {problem}"
    problem = _field_types(raw, {"content": dict, "state_key": str, "unsigned": dict})
    if problem is not None:
        return problem
    if "content" not in raw:
        return "content is missing"
    ts = raw.get("origin_server_ts")
    if "origin_server_ts" in raw and (not isinstance(ts, int) or isinstance(ts, bool)):
        return "origin_server_ts is not an integer"
    if "state_key" in raw:
        return None  # porch reads state through parse_event, which checks what it uses
    return _content_problem(raw["type"], raw["content"], raw)


def _content_problem(kind: str, content: Mapping[str, Any], raw: Mapping[str, Any]) -> str | None:
    if kind not in ("m.room.message", "m.room.redaction", "m.reaction") or not content:
        return None  # not carried, or redacted (a redacted event keeps no content)
    problem = _field_types(content, {"m.relates_to": dict})
    if problem is not None:
        return problem
    relation = content.get("m.relates_to", {})
    problem = _field_types(
        relation, {"rel_type": str, "event_id": str, "key": str, "m.in_reply_to": dict}
    )
    if problem is not None:
        return f"m.relates_to.{problem}"
    if _field_types(relation.get("m.in_reply_to", {}), {"event_id": str}) is not None:
        return "m.relates_to.m.in_reply_to.event_id is not a string"
    if relation.get("rel_type") in ("m.replace", "m.thread", "m.annotation") and (
        "event_id" not in relation
    ):
        return f"a {relation['rel_type']} relation has no event_id"
    if kind == "m.room.redaction":
        if not isinstance(content.get("redacts", raw.get("redacts")), str):
            return "a redaction has no redacts string"
        return None
    if kind == "m.reaction":
        if relation.get("rel_type") == "m.annotation" and "key" not in relation:
            return "an annotation has no key"
        return None
    if relation.get("rel_type") == "m.replace":
        if not isinstance(content.get("m.new_content"), dict):
            return "an edit has no m.new_content object"
        content = content["m.new_content"]
    for name in ("msgtype", "body"):
        if not isinstance(content.get(name), str):
            return f"a message's {name} is {'missing' if name not in content else 'not a string'}"
    return _field_types(content, {"format": str, "formatted_body": str, "url": str, "info": dict})
