"""The text of a forum post that holds several chat messages (a link's ``merge_window``).

Once a post holds two messages or more, each message is one segment of the post's markdown,
closed by a marker line: a link reference definition naming the Matrix event,
``[porch:$event]: https://matrix.to/#/!room/$event``. Markdown never renders a reference
definition, so forum readers see only the messages, while porch can find each message's
segment again: to append the next message exactly once (a retry finds its own marker and does
not append again), and to edit or remove one message without touching the others.
CommonMark reference definitions: https://spec.commonmark.org/0.31.2/#link-reference-definitions

A post holding one message has no marker: the forum judges its length (``min_post_length``)
on the message alone, as if porch were not there.

Pure functions, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import quote

from bridges.model import EventID, RoomID

_MARKER = re.compile(r"^\[porch:(\$[^\]\s]+)\]: [^\n]*$", re.MULTILINE)


def marker(room_id: RoomID, event_id: EventID) -> str:
    """The marker line closing ``event_id``'s segment (a permalink to the message)."""
    link = f"https://matrix.to/#/{quote(room_id, safe='')}/{quote(event_id, safe='')}"
    return f"[porch:{event_id}]: {link}"


def segment(text: str, room_id: RoomID, event_id: EventID) -> str:
    """One message's segment: its text, a blank line (a definition cannot interrupt a
    paragraph), and its marker."""
    text = text.strip("\n")
    return f"{text}\n\n{marker(room_id, event_id)}" if text else marker(room_id, event_id)


@dataclass(frozen=True)
class Segments:
    """A merged post's text, cut at the markers of known events.

    ``parts`` are (event, text before its marker) in order; ``tail`` is whatever follows the
    last marker (text a forum editor added, kept as it is).
    """

    parts: tuple[tuple[EventID, str], ...]
    tail: str

    @property
    def events(self) -> list[EventID]:
        return [event for event, _ in self.parts]

    def __contains__(self, event_id: object) -> bool:
        return any(event == event_id for event, _ in self.parts)

    def text_of(self, event_id: EventID) -> str | None:
        return next((text for event, text in self.parts if event == event_id), None)

    def replaced(self, event_id: EventID, text: str) -> Segments:
        """The same segments with ``event_id``'s text replaced."""
        return Segments(tuple((e, text if e == event_id else t) for e, t in self.parts), self.tail)

    def without(self, event_id: EventID) -> Segments:
        return Segments(tuple((e, t) for e, t in self.parts if e != event_id), self.tail)

    def with_part(self, event_id: EventID, text: str) -> Segments:
        """One more message at the end of the post (before any forum-added tail)."""
        return Segments((*self.parts, (event_id, text.strip("\n"))), self.tail)

    def render(self, room_id: RoomID) -> str:
        """The post's markdown again; a lone message without a marker."""
        tail = self.tail.strip("\n") if self.tail.strip() else ""
        if len(self.parts) == 1 and not tail:
            return self.parts[0][1]
        blocks = [segment(text, room_id, event) for event, text in self.parts]
        if tail:
            blocks.append(tail)
        return "\n\n".join(blocks)


def split(raw: str, known: Collection[EventID], lone: EventID) -> Segments:
    """Cut ``raw`` at the markers of ``known`` events.

    Only markers of events porch recorded as parts of this post count: a line a sender typed
    that merely looks like a marker does not cut the post. Without any marker the whole post
    is the message ``lone`` (a post that holds one message).
    """
    parts: list[tuple[EventID, str]] = []
    start = 0
    for match in _MARKER.finditer(raw):
        event = EventID(match.group(1))
        if event not in known or any(event == e for e, _ in parts):
            continue
        parts.append((event, raw[start : match.start()].strip("\n")))
        start = match.end()
    if not parts:
        return Segments(((lone, raw.strip("\n")),), "")
    return Segments(tuple(parts), raw[start:].strip("\n"))
