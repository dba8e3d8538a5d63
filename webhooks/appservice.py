"""The application-service API: the homeserver's door.

https://spec.matrix.org/v1.13/application-service-api/ — every request carries the
``hs_token``; transactions are recorded atomically, and an event already recorded (a retried
transaction, or a transaction id the homeserver reused) is acknowledged without recording it
again. The unprefixed legacy routes behave the same (matrix.md §1.2).
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Callable

import sqlalchemy.exc
from flask import Blueprint, Response, request

from bridges.matrix.events import Skipped, read_events
from bridges.matrix.matrix_config import MatrixConfig
from bridges.model import UserID
from bridges.store.audit import AuditEntry, AuditLog
from bridges.store.limits import text_problem
from bridges.store.store import Store
from policies.decision import Outcome
from webhooks.door_errors import answer, matrix_error
from webhooks.link_pages import RedactPaths, redact_access_log

log = logging.getLogger(__name__)

#: Largest transaction body accepted. Synapse sends up to 100 events (64 KiB each at most) plus
#: 100 EDUs and 100 to-device messages; refusing a genuine transaction would block every later
#: one, so this is far above the forum's webhook limit.
MAX_TRANSACTION_BYTES = 32 * 1024 * 1024

PREFIXES = ("/_matrix/app/v1", "")


class RedactAccessToken(RedactPaths):
    """Keeps a legacy ``?access_token=<hs_token>`` out of the HTTP server's access log (a
    homeserver that authenticates the old way puts the token in every request line)."""

    pattern = re.compile(r"([?&]access_token=)[^&\s\x1b]+")


def is_appservice_path(path: str) -> bool:
    """Whether ``path`` is the homeserver's to call (so its errors take the Matrix shape)."""
    return path.startswith("/_matrix/") or path.split("/", 2)[1] in (
        "transactions",
        "users",
        "rooms",
    )


def _presented_token() -> str | tuple[str, str] | None:
    """The hs_token the caller presented; a pair when header and query disagree."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    bearer = value.strip() if scheme.lower() == "bearer" and value.strip() else None
    legacy = request.args.get("access_token") or None
    if bearer is not None and legacy is not None and bearer != legacy:
        return (bearer, legacy)
    return bearer or legacy


def appservice_blueprint(
    config: MatrixConfig,
    store: Store,
    clock: Callable[[], float],
    on_accepted: Callable[[], None],
) -> Blueprint:
    """The application-service endpoints, bound to porch's Matrix config and store."""
    assert config.appservice is not None, "the appservice door needs matrix.appservice"
    redact_access_log(RedactAccessToken)
    hs_token = config.appservice.hs_token.get_secret_value().encode("utf-8")
    bot = f"@{config.appservice.bot_localpart}:{config.server_name}"
    ghosts = re.compile(config.ghost_regex())

    def is_ours(sender: str) -> bool:
        return sender == bot or ghosts.fullmatch(sender) is not None

    door = Blueprint("appservice", __name__)

    @door.before_request
    def authenticate() -> tuple[Response, int] | None:
        request.max_content_length = MAX_TRANSACTION_BYTES
        token = _presented_token()
        if token is None:
            return matrix_error(401, "M_UNAUTHORIZED", "no hs_token: send Authorization: Bearer")
        if isinstance(token, tuple):
            return matrix_error(
                403, "M_FORBIDDEN", "the Authorization header and access_token differ"
            )
        if not hmac.compare_digest(token.encode("utf-8"), hs_token):
            log.warning("appservice: %s %s with a wrong hs_token", request.method, request.path)
            return matrix_error(403, "M_FORBIDDEN", "the hs_token does not match")
        return None

    def transaction(txn_id: str) -> tuple[Response, int]:
        problem = text_problem(txn_id)
        if problem is not None:
            return matrix_error(400, "M_INVALID_PARAM", f"the transaction id {problem}")
        try:
            body = json.loads(request.get_data(cache=True))
        except (ValueError, RecursionError):
            # ValueError: not UTF-8, not JSON, or an integer of more digits than Python reads.
            return matrix_error(400, "M_NOT_JSON", "the transaction body is not valid JSON")
        if not isinstance(body, dict) or not isinstance(body.get("events"), list):
            return matrix_error(400, "M_BAD_JSON", "the transaction needs an 'events' list")
        read = read_events(body["events"], is_ours=is_ours)
        events = read.events
        try:
            recorded = store.inbox.append_transaction(txn_id, events, now=clock())
        except sqlalchemy.exc.SQLAlchemyError as exc:
            log.error(
                "appservice: transaction %s not recorded, the store failed (%s); "
                "the homeserver will retry it",
                txn_id,
                type(exc).__name__,
            )
            return matrix_error(500, "M_UNKNOWN", "porch's store is unavailable; retry later")
        # Duplicates are recognised per event (its id), never by txn_id: Synapse reuses
        # transaction ids after it restarts (see Inbox.append_transaction).
        log.debug(
            "appservice: transaction %s: %d of %d event(s) recorded, %d already were",
            txn_id,
            recorded,
            len(body["events"]),
            len(events) - recorded,
        )
        if recorded:
            on_accepted()
        if read.skipped:
            _audit_skipped(store.audit, read.skipped, txn_id, clock())
        return answer(200)

    def ping() -> tuple[Response, int]:
        return answer(200)

    def user(user_id: str) -> tuple[Response, int]:
        # Porch registers ghosts itself, as it needs them; it only confirms the ones it has.
        if ghosts.fullmatch(user_id) is not None:
            try:
                known = store.profiles.ghost(UserID(user_id)) is not None
            except sqlalchemy.exc.SQLAlchemyError as exc:
                log.error("appservice: user query for %s failed (%s)", user_id, type(exc).__name__)
                return matrix_error(500, "M_UNKNOWN", "porch's store is unavailable")
            if known:
                return answer(200)
        return matrix_error(404, "M_NOT_FOUND", f"porch has no user {user_id}")

    def room(alias: str) -> tuple[Response, int]:
        return matrix_error(
            404, "M_NOT_FOUND", f"porch does not create rooms for aliases ({alias})"
        )

    for prefix in PREFIXES:
        legacy = "legacy_" if not prefix else ""
        door.add_url_rule(
            f"{prefix}/transactions/<txn_id>", f"{legacy}transaction", transaction, methods=["PUT"]
        )
        door.add_url_rule(f"{prefix}/users/<path:user_id>", f"{legacy}user", user, methods=["GET"])
        door.add_url_rule(f"{prefix}/rooms/<path:alias>", f"{legacy}room", room, methods=["GET"])
    door.add_url_rule("/_matrix/app/v1/ping", "ping", ping, methods=["POST"])
    return door


def _audit_skipped(audit: AuditLog, skipped: list[Skipped], txn_id: str, now: float) -> None:
    """Put the malformed events a transaction held on record, as refused with the reason.

    After the transaction's events are committed: failing to write this record must not make
    the homeserver resend them (the skipped events are in the log either way).
    """
    try:
        with audit.db.begin() as conn:
            for skip in skipped:
                where = f"event {skip.event_id or '?'} in {skip.room_id or '?'}"
                AuditLog.record_in(
                    conn,
                    AuditEntry(
                        at=now,
                        inbox_id=None,
                        link=None,
                        outcome=Outcome.REFUSED.value,
                        rule="malformed-event",
                        policy_version="door",
                        actor=skip.sender or "homeserver",
                        detail=f"{where} (transaction {txn_id}) skipped: {skip.reason}",
                    ),
                )
    except sqlalchemy.exc.SQLAlchemyError as exc:
        log.error(
            "appservice: skipped events not audited, the store failed (%s)", type(exc).__name__
        )
