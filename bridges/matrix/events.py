"""Matrix events from appservice transactions, turned into porch's neutral events.

Shapes follow the Matrix spec (https://spec.matrix.org/v1.13/client-server-api/): messages and
their relations (threads, replies, edits), redactions and reactions. Anything else, and anything
malformed, is not carried: a homeserver relays whatever clients send, and one odd event must
not hold up the transaction it came in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bridges import codec
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
from bridges.moderation.policy_lists import RULE_TYPES, parse_policy_rule
from bridges.moderation.sanctions import parse_ban
from bridges.store.inbox import NewEvent

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
_MX_REPLY_TAG = re.compile(r"<(/?)mx-reply\b[^>]*>", re.IGNORECASE)
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
    if not isinstance(event, Mapping):
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


def inbox_events(
    events: Sequence[Mapping[str, Any]], *, is_ours: Callable[[str], bool]
) -> list[NewEvent]:
    """The inbox events for a transaction's ``events``, in order.

    Events sent by porch's own ghosts and bot (``is_ours(sender)``) are dropped here: loops are
    cut at the door. Everything else porch carries is kept, ``m.notice`` included: whether it
    crosses is for the policies to decide, and to record.
    """
    out = []
    for raw in events:
        event = parse_event(raw)
        if event is None:
            continue
        # A room's security counts whoever changed it, porch's bot included.
        if is_ours(event.sender) and not isinstance(event, RoomSecurityChanged):
            continue
        if isinstance(event, ChatInvite) and not is_ours(event.invitee):
            continue  # only invites of porch's own users ask anything of porch
        kind = _KINDS[type(event)]
        out.append(
            NewEvent(
                source=Platform.CHAT,
                kind=kind,
                # One conversation per room: an edit or a redaction never overtakes its original.
                conversation=f"matrix:room:{event.room_id}",
                payload=codec.encode(kind, event),
                keys=(f"matrix:event:{event.event_id}",),
            )
        )
    return out
