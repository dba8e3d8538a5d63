"""The last pass of every message porch sends to Matrix: its HTML goes through nh3.

Each producer cleans its own HTML already (the relay through :mod:`bridges.formatting`,
notices, alerts and digests with ``html.escape``); this pass at the one door out
(:meth:`bridges.matrix.api.AppserviceAPI.send`) makes that hold for every producer, present and
future, so that a mistake in a notice template cannot put a script, an event handler or a
``javascript:`` link in front of a room.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridges.formatting.sanitize import sanitize_matrix_html

#: Event types whose content may carry ``formatted_body``.
_MESSAGE_TYPES = frozenset({"m.room.message"})


def clean_content(event_type: str, content: Mapping[str, Any]) -> dict[str, Any]:
    """``content`` with its ``formatted_body`` (and an edit's ``m.new_content`` one) cleaned
    down to the Matrix HTML allow-list; other events are returned as they are."""
    out = dict(content)
    if event_type not in _MESSAGE_TYPES:
        return out
    _clean(out)
    new = out.get("m.new_content")
    if isinstance(new, Mapping):
        out["m.new_content"] = dict(new)
        _clean(out["m.new_content"])
    return out


def _clean(content: dict[str, Any]) -> None:
    formatted = content.get("formatted_body")
    if isinstance(formatted, str):
        content["formatted_body"] = sanitize_matrix_html(formatted)
