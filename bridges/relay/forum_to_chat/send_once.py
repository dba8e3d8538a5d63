"""Sending an event into Matrix once, even across a homeserver restart.

Every send porch makes for an inbox event uses a transaction id derived from that event
(:func:`txn_id`), so a retry after a worker crash gets the first event back instead of a second
one. Synapse keeps that memory only in RAM, for 30 minutes: a send that the homeserver stored
just before it went down, but whose answer never reached porch, would be sent again after the
restart. So each event also carries its transaction id in its content (:data:`MARKER`), and a
send that follows a failed attempt first looks for an event with that mark among the sender's
latest events in the room.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from bridges.links import LinkConfig
from bridges.matrix.api import AppserviceAPI
from bridges.model import EventID, RoomID, UserID
from bridges.store.inbox import InboxRow

log = logging.getLogger(__name__)

#: The content key holding the transaction id porch sent an event with.
MARKER = "org.porch.txn"
#: How many of the sender's latest events of that type are searched for the mark.
LOOK_BACK = 50


def txn_id(row: InboxRow, link: LinkConfig | None, step: str) -> str:
    """A transaction id that is the same on every retry of this delivery step, and only of it.

    Synapse keys appservice transaction ids by path (room, event type) and appservice, not by
    ghost, so the id names the inbox event, the link and the step.
    """
    return f"porch.{row.id}.{link.name if link else '-'}.{step}"


def send_once(
    chat: AppserviceAPI,
    row: InboxRow,
    room_id: RoomID,
    content: Mapping[str, Any],
    *,
    as_user: UserID | None,
    txn: str,
    event_type: str = "m.room.message",
) -> EventID:
    """Send ``content`` as ``as_user`` unless an earlier attempt at this step already did.

    An earlier attempt is possible only when the inbox event failed before
    (``row.last_error``); only then are the room's recent events searched, so a first try
    costs nothing extra.
    """
    marked = {**content, MARKER: txn}
    if row.last_error is not None:
        earlier = find_sent(chat, room_id, txn, as_user=as_user, event_type=event_type)
        if earlier is not None:
            log.info("relay: %s was sent before a failure (%s); not sending again", txn, earlier)
            return earlier
    return chat.send(room_id, marked, as_user=as_user, txn_id=txn, event_type=event_type)


def find_sent(
    chat: AppserviceAPI,
    room_id: RoomID,
    txn: str,
    *,
    as_user: UserID | None,
    event_type: str = "m.room.message",
) -> EventID | None:
    """The event porch sent with transaction id ``txn``, if it is among the sender's latest."""
    sender = as_user or chat.bot_user_id
    events = chat.recent_events(room_id, limit=LOOK_BACK, senders=[sender], types=[event_type])
    for event in events:
        content = event.get("content")
        if isinstance(content, dict) and content.get(MARKER) == txn:
            return EventID(str(event["event_id"]))
    return None
