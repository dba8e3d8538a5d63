"""Porch's Prometheus instruments: what the doors and the worker count while they work.

Every counter and histogram porch records lives here, in prometheus-client's default registry,
so the doors (``webhooks``) and the worker (``bridges.worker``) count into the same objects
and ``GET /metrics`` shows them whichever role the process runs. Values read from the store at
scrape time (inbox depth, decisions) are collectors in :mod:`webhooks.metrics_endpoint`, not here.

Label values are few and fixed (doors, directions, platforms, reasons, exception class names),
never ids or user text, so the number of series stays small.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from bridges.discourse.forum_errors import ForumRateLimited
from bridges.matrix.matrix_errors import MatrixRateLimited
from bridges.model import Platform

#: The doors events arrive through (label ``door``).
DOORS = ("discourse", "matrix")
#: Why a door did not record an event (label ``reason`` of :data:`EVENTS_REJECTED`).
REJECT_REASONS = (
    "signature",  # the forum's HMAC signature is missing or wrong
    "token",  # the homeserver's hs_token is missing or wrong
    "malformed",  # not JSON, not the expected shape, headers that contradict the body
    "content_type",  # a body that is not JSON
    "oversize",  # larger than porch accepts (413)
    "duplicate",  # already recorded (a redelivery, a retried transaction)
    "ignored",  # a valid event porch has no use for (pings, its own ghosts, other types)
    "unavailable",  # the store failed; nothing recorded, the caller should send it again
)

EVENTS_RECEIVED = Counter(
    "porch_events_received",
    "Events that reached a door (for the matrix door: each event of a transaction read, or "
    "the transaction as one when it was refused before being read).",
    ["door"],
)
EVENTS_ACCEPTED = Counter(
    "porch_events_accepted",
    "Events a door recorded in the inbox (new, not duplicates).",
    ["door"],
)
EVENTS_REJECTED = Counter(
    "porch_events_rejected",
    "Events a door did not record, by reason.",
    ["door", "reason"],
)

#: Outcomes of one worker attempt at an inbox event (label ``outcome``).
OUTCOMES = ("completed", "retried", "paced", "dead")

WORKER_EVENTS = Counter(
    "porch_worker_events",
    "Inbox events a worker settled, by direction and outcome (completed; retried after a "
    "failure; paced: waiting for a rate limit; dead: parked as a dead letter).",
    ["direction", "outcome"],
)
DELIVERY_LATENCY = Histogram(
    "porch_delivery_latency_seconds",
    "From the moment a door recorded an event to the moment a worker completed it.",
    ["direction"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0),
)
FAILURES = Counter(
    "porch_delivery_failures",
    "Failed delivery attempts, by the platform that failed and the error's type.",
    ["platform", "error"],
)
CLAIMS = Counter(
    "porch_worker_claims",
    "Claims a worker made on the inbox, by whether they found work.",
    ["result"],
)
CLAIMED_EVENTS = Counter(
    "porch_worker_claimed_events",
    "Inbox events workers claimed (each claim takes the head event of up to 16 conversations).",
)
CLAIM_SECONDS = Histogram(
    "porch_worker_claim_seconds",
    "How long one claim on the inbox took (a slow store shows here first).",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0),
)
#: What a config reload (SIGHUP, :mod:`bridges.reload`) came to.
RELOAD_OUTCOMES = ("applied", "invalid", "refused")
CONFIG_RELOADS = Counter(
    "porch_config_reloads",
    "Config reloads (SIGHUP) by outcome: applied, invalid (the file did not validate) or "
    "refused (it would orphan mappings); the last two keep the running config.",
    ["outcome"],
)
for _outcome in RELOAD_OUTCOMES:
    CONFIG_RELOADS.labels(_outcome)


def direction(source: Platform) -> str:
    """``forum-to-chat`` for events from the forum, ``chat-to-forum`` for Matrix events."""
    return "forum-to-chat" if source is Platform.FORUM else "chat-to-forum"


def failed_platform(exc: BaseException) -> str:
    """Which part failed: ``discourse``, ``matrix``, ``store`` or ``porch`` (anything else).

    Decided by the module of the exception, or of the exception it was raised from (the relay
    wraps platform errors in ``RetryLater``).
    """
    for candidate in (exc, exc.__cause__):
        if candidate is None:
            continue
        module = type(candidate).__module__
        if module.startswith("bridges.discourse"):
            return "discourse"
        if module.startswith("bridges.matrix"):
            return "matrix"
        if module.startswith("sqlalchemy"):
            return "store"
    return "porch"


def is_rate_limit(exc: BaseException) -> bool:
    """Whether a wait is a platform's rate limit (pacing porch was asked for, not a failure)."""
    return any(
        isinstance(candidate, ForumRateLimited | MatrixRateLimited)
        for candidate in (exc, exc.__cause__)
    )


def error_name(exc: BaseException) -> str:
    """The error's class name; for a wrapped platform error, the platform error's class."""
    cause = exc.__cause__
    if cause is not None and failed_platform(cause) != "porch":
        return type(cause).__name__
    return type(exc).__name__
