"""``POST /discourse/webhook``: the forum's door.

Discourse signs each delivery with HMAC-SHA256 over the raw body (discourse.md §1.1). The door
checks the signature before it looks at anything else, records the event in the inbox, and
answers 200 only once the record is committed. Discourse does not retry failed deliveries by
default (§1.2), so a refusal is logged with its delivery id for the admin's "Redeliver" button.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Callable
from typing import Any

import sqlalchemy.exc
from flask import Blueprint, Response, request

from bridges.discourse.discourse_config import DiscourseConfig
from bridges.discourse.payloads import (
    EVENT_KINDS,
    PayloadError,
    inbox_event,
    json_problem,
    root_key,
)
from bridges.store.limits import unstorable
from bridges.store.store import Store
from webhooks.door_errors import answer, refuse

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Discourse-Event-Signature"
EVENT_HEADER = "X-Discourse-Event"
TYPE_HEADER = "X-Discourse-Event-Type"
ID_HEADER = "X-Discourse-Event-Id"

# Discourse's form content type still sends a JSON body (discourse.md §1.1, "Quirk").
_CONTENT_TYPES = frozenset({"application/json", "application/x-www-form-urlencoded"})
_SIGNATURE = re.compile(r"sha256=[0-9a-fA-F]{64}")


def signature(secret: str, body: bytes) -> str:
    """The ``X-Discourse-Event-Signature`` value Discourse sends for ``body``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_matches(secret: str, body: bytes, header: str) -> bool:
    """Whether ``header`` is the signature of ``body`` under ``secret`` (constant time)."""
    header = header.strip()
    if not _SIGNATURE.fullmatch(header):
        return False
    expected = signature(secret, body).encode("ascii")
    return hmac.compare_digest(header.lower().encode("ascii"), expected)


def discourse_blueprint(
    config: DiscourseConfig,
    store: Store,
    clock: Callable[[], float],
    on_accepted: Callable[[], None],
) -> Blueprint:
    """The webhook door, bound to porch's forum config and store."""
    door = Blueprint("discourse", __name__)

    @door.post("/discourse/webhook")
    def webhook() -> tuple[Response, int]:
        delivery = request.headers.get(ID_HEADER) or None
        header = request.headers.get(SIGNATURE_HEADER)
        if not header:
            log.warning("discourse webhook (delivery %s): no signature", _for_log(delivery))
            return refuse(401, f"missing {SIGNATURE_HEADER} header")
        # Reading the body enforces MAX_CONTENT_LENGTH (413) before any work on it.
        body = request.get_data(cache=True)
        if not signature_matches(config.webhook_secret.get_secret_value(), body, header):
            log.warning(
                "discourse webhook (delivery %s): signature does not match", _for_log(delivery)
            )
            return refuse(
                403,
                f"{SIGNATURE_HEADER} does not match the body (check discourse.webhook_secret)",
            )
        if request.mimetype not in _CONTENT_TYPES:
            return refuse(
                415,
                f"Content-Type must be application/json, not '{request.mimetype or 'none'}'",
            )
        parsed = _json_object(body)
        if isinstance(parsed, str):
            return _bad(delivery, parsed)
        event_type = request.headers.get(TYPE_HEADER) or None
        event = request.headers.get(EVENT_HEADER) or None
        if "ping" in (event_type, event):
            return answer(200, ok=True, ping="pong")
        if event is None:
            return _bad(delivery, f"missing {EVENT_HEADER} header (the event name)")
        if event not in EVENT_KINDS:
            return answer(200, ignored=event)
        expected_root = root_key(event)
        if event_type is not None and event_type != expected_root:
            return _bad(
                delivery,
                f"{TYPE_HEADER} is '{event_type}' but event '{event}' is a {expected_root} event",
            )
        if expected_root not in parsed:
            roots = ", ".join(sorted(parsed)) or "nothing"
            return _bad(
                delivery,
                f"the body of a {event} event must have a '{expected_root}' object "
                f"at its root; it has {roots}",
            )
        problem = json_problem(parsed)
        if problem is not None:
            return _bad(delivery, problem)
        try:
            new = inbox_event(event, delivery, parsed)
        except PayloadError as exc:
            return _bad(delivery, str(exc))
        except Exception:
            # A shape the parsers did not foresee is still the body's fault: answer 400 (the
            # forum shows it on its webhook page) rather than 500, and keep the trace.
            log.exception(
                "discourse webhook (delivery %s, %s): unreadable body", _for_log(delivery), event
            )
            return _bad(delivery, f"the body of a {event} event could not be read")
        assert new is not None  # every name in EVENT_KINDS makes an event
        problem = unstorable(new)
        if problem is not None:
            return _bad(delivery, f"porch's store cannot hold this event: {problem}")
        try:
            (inbox_id,) = store.inbox.append([new], now=clock())
        except sqlalchemy.exc.SQLAlchemyError as exc:
            log.error(
                "discourse webhook (delivery %s, %s): the store failed, nothing recorded (%s); "
                "redeliver it from the forum's webhook page once the store is back",
                _for_log(delivery),
                event,
                type(exc).__name__,
            )
            return refuse(
                503, "porch's store is unavailable; nothing was recorded, redeliver later"
            )
        if inbox_id is None:
            log.info("discourse webhook (delivery %s, %s): duplicate", _for_log(delivery), event)
            return answer(200, duplicate=True)
        log.info(
            "discourse webhook (delivery %s, %s): inbox #%d", _for_log(delivery), event, inbox_id
        )
        on_accepted()
        return answer(200, recorded=True)

    return door


def _json_object(body: bytes) -> dict[str, Any] | str:
    """The body as a JSON object, or why it is not one."""
    try:
        value = json.loads(body)
    except UnicodeDecodeError:
        return "the body is not UTF-8 text"
    except json.JSONDecodeError as exc:
        return f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    except ValueError:
        return "the body holds a number of more digits than porch reads"
    except RecursionError:
        return "the body is nested too deeply"
    if not isinstance(value, dict):
        return f"the body must be a JSON object, not {type(value).__name__}"
    return value


#: Longest caller-supplied text (a delivery id, a reason quoting the body) a log line repeats.
_LOGGED_CHARS = 120


def _for_log(value: str | None) -> str:
    """``value`` as a log line may show it: printable (``repr`` escapes control characters and
    lone surrogates) and cut short, since the header and the body are the caller's to fill."""
    if value is None:
        return "none"
    shown = value if value.isprintable() else repr(value)[1:-1]
    if len(shown) > _LOGGED_CHARS:
        return f"{shown[:_LOGGED_CHARS]}... ({len(value)} characters)"
    return shown


def _bad(delivery: str | None, reason: str) -> tuple[Response, int]:
    log.warning(
        "discourse webhook (delivery %s): refused: %s", _for_log(delivery), _for_log(reason)
    )
    return refuse(400, reason)
