"""JSON encoding of the neutral events, for the durable inbox."""

from __future__ import annotations

import dataclasses
import json
from functools import cache
from typing import Any

from pydantic import TypeAdapter

from bridges.model import PAYLOAD_TYPES, EventKind, InboxPayload


@cache
def _adapter(kind: EventKind) -> TypeAdapter[Any]:
    return TypeAdapter(PAYLOAD_TYPES[kind])


def encode(kind: EventKind, event: InboxPayload) -> str:
    """Serialise ``event`` for the inbox; ``kind`` must match its type."""
    expected = PAYLOAD_TYPES[kind]
    if not isinstance(event, expected):
        raise TypeError(f"{kind.value} carries {expected.__name__}, not {type(event).__name__}")
    return json.dumps(dataclasses.asdict(event), separators=(",", ":"), sort_keys=True)


def decode(kind: EventKind | str, payload: str) -> InboxPayload:
    """Rebuild the neutral event stored in the inbox under ``kind``."""
    event: InboxPayload = _adapter(EventKind(kind)).validate_json(payload)
    return event
