"""The worker loop: claims inbox events, hands them to the relay, and settles each one.

A delivery that fails for a passing reason (an outage, a rate limit, a fact not yet known) is
retried with exponential backoff; one that keeps failing is parked as a dead letter, which
``porch status`` shows and ``porch retry`` puts back. A failure no retry can cure (the event
does not fit the store, collides with a mapping, cannot be read, or the platform called the
request itself bad) parks the event at once: retrying it would only hold every later event of
its conversation back for minutes (:func:`unfixable`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

import sqlalchemy.exc

from bridges import metrics
from bridges.backoff import backoff
from bridges.discourse.forum_errors import ForumRejected
from bridges.links import RelayConfig
from bridges.matrix.matrix_errors import MatrixError
from bridges.store.inbox import Inbox, InboxRow

log = logging.getLogger(__name__)


class Handler(Protocol):
    def handle(self, row: InboxRow) -> None: ...


class RetryLater(Exception):
    """A delivery cannot happen yet; try again after ``delay`` seconds.

    ``counts`` says whether the wait is a failure (an outage) or only pacing (a rate limit
    the platform asked for), which must never turn an event into a dead letter.
    """

    def __init__(self, reason: str, delay: float | None = None, *, counts: bool = True) -> None:
        super().__init__(reason)
        self.delay = delay
        self.counts = counts


class Unfixable(Exception):
    """A delivery that no retry can make: the event is parked as a dead letter at once."""


#: Store errors tied to the values written, not to the store's health: a value out of range or
#: too long for its column, a row colliding with a unique mapping.
_STORE_VALUE_ERRORS = (sqlalchemy.exc.DataError, sqlalchemy.exc.IntegrityError)
_UNFIXABLE = (Unfixable, OverflowError, UnicodeEncodeError, *_STORE_VALUE_ERRORS)
#: Matrix errcodes saying the request itself is wrong
#: (https://spec.matrix.org/v1.13/client-server-api/#common-error-codes).
_BAD_REQUEST_ERRCODES = frozenset({"M_BAD_JSON", "M_NOT_JSON", "M_TOO_LARGE", "M_INVALID_PARAM"})
#: Forum answers saying the request itself is wrong (malformed, too large). 403, 404 and 422
#: are not here: a permission, a topic or a setting may change, so those keep their retries.
_FORUM_BAD_REQUEST = frozenset({400, 413})


def unfixable(exc: BaseException) -> bool:
    """Whether retrying the delivery that raised ``exc`` cannot succeed.

    True for :class:`Unfixable`, values the store refuses (:data:`_STORE_VALUE_ERRORS`, and
    SQLite's ``OverflowError`` for an integer beyond 64 bits), text that cannot be encoded, and
    requests a platform refused as malformed. Everything else, unknown errors included, counts
    as passing (a network error, a 429, a platform's 5xx, the store being down) and is retried
    with backoff as before. :class:`RetryLater` is always passing: its raiser said so.
    """
    seen: set[int] = set()
    candidate: BaseException | None = exc
    while candidate is not None and id(candidate) not in seen:
        seen.add(id(candidate))
        if isinstance(candidate, RetryLater):
            return False
        if isinstance(candidate, _UNFIXABLE):
            return True
        if isinstance(candidate, MatrixError) and candidate.errcode in _BAD_REQUEST_ERRCODES:
            return True
        if isinstance(candidate, ForumRejected) and candidate.status in _FORUM_BAD_REQUEST:
            return True
        candidate = candidate.__cause__
    return False


class Worker:
    """Drains the inbox through a handler, in order per conversation."""

    def __init__(
        self,
        inbox: Inbox,
        handler: Handler,
        config: RelayConfig,
        worker_id: str,
        *,
        clock: Callable[[], float] = time.time,
        lease: float = 120.0,
    ) -> None:
        self.inbox = inbox
        self.handler = handler
        self.config = config
        self.worker_id = worker_id
        self.clock = clock
        self.lease = lease
        self.wake = threading.Event()
        self._stop = threading.Event()
        #: Held while an event is handled: a config reload (:mod:`bridges.reload`) takes it to
        #: swap links and policies between events, never in the middle of one.
        self.between_events = threading.Lock()
        #: The inbox id of the event in hand, if any.
        self.current: int | None = None

    def run_once(self) -> int:
        """Claim and settle one batch; returns how many events were handled."""
        claimed_at = self.clock()
        with metrics.CLAIM_SECONDS.time():
            rows = self.inbox.claim(self.worker_id, claimed_at, self.lease)
        metrics.CLAIMS.labels("work" if rows else "empty").inc()
        metrics.CLAIMED_EVENTS.inc(len(rows))
        handled = 0
        for row in rows:
            with self.between_events:
                if self._stop.is_set():
                    break
                if not self._still_ours(row, claimed_at):
                    log.info("worker: event %d was taken up by another worker; skipped", row.id)
                    continue
                self.current = row.id
                try:
                    self._settle(row)
                finally:
                    self.current = None
            handled += 1
        return handled

    def _still_ours(self, row: InboxRow, claimed_at: float) -> bool:
        """Whether this worker may handle ``row`` now, with at least half a lease to do it in.

        A slow batch may outlive its lease: an event whose claim lapsed may be in another
        worker's hands by now and must not be delivered twice. Past half the lease the claim
        is renewed (one write) before each event, which also says whether it is still ours.
        """
        now = self.clock()
        if now - claimed_at < self.lease / 2:
            return True
        return self.inbox.renew(row.id, self.worker_id, now, self.lease)

    def run(self) -> None:
        """Work until :meth:`stop`; wakes early when :attr:`wake` is set."""
        released = self.inbox.release_orphaned(self.worker_id)
        if released:
            log.info("worker: took back %d event(s) a stopped worker had claimed", released)
        while not self._stop.is_set():
            try:
                handled = self.run_once()
            except Exception:
                # The store itself is unreachable: keep the loop alive and try again.
                log.exception("worker: could not claim events")
                handled = 0
            if not handled:
                self.wake.wait(self.config.poll_interval)
                self.wake.clear()
        self.release_unstarted()

    def release_unstarted(self) -> int:
        """Give back the claimed events this worker will not start (all but the one in hand),
        so another worker takes them now rather than when their lease lapses."""
        try:
            released = self.inbox.release_claims(self.worker_id, keep=self.current)
        except Exception:
            # Their leases lapse on their own; a restart on this host frees them at once.
            log.warning("worker: could not release claimed events", exc_info=True)
            return 0
        if released:
            log.info("worker: released %d claimed event(s) it had not started", released)
        return released

    def stop(self) -> None:
        self._stop.set()
        self.wake.set()

    def _settle(self, row: InboxRow) -> None:
        direction = metrics.direction(row.source)
        try:
            self.handler.handle(row)
        except RetryLater as exc:
            if not metrics.is_rate_limit(exc):
                _count_failure(exc)
            self._retry(row, str(exc), exc.delay, counts=exc.counts)
        except Exception as exc:
            log.warning("worker: event %d (%s) failed: %s", row.id, row.kind.value, exc)
            log.debug("worker: failure detail", exc_info=True)
            _count_failure(exc)
            error = f"{type(exc).__name__}: {exc}"
            if unfixable(exc):
                self._park(row, f"{error} (a retry cannot fix this)")
            else:
                self._retry(row, error, None, counts=True)
        else:
            now = self.clock()
            self.inbox.complete(row.id, now)
            metrics.WORKER_EVENTS.labels(direction, "completed").inc()
            metrics.DELIVERY_LATENCY.labels(direction).observe(max(now - row.received_at, 0.0))

    def _retry(self, row: InboxRow, error: str, delay: float | None, *, counts: bool) -> None:
        now = self.clock()
        attempts = row.attempts + 1 if counts else row.attempts
        direction = metrics.direction(row.source)
        if counts and attempts >= self.config.max_attempts:
            self._park(row, error)
            return
        metrics.WORKER_EVENTS.labels(direction, "retried" if counts else "paced").inc()
        if delay is None:
            delay = backoff(self.config.backoff_initial, attempts, self.config.backoff_max)
        self.inbox.retry_later(row.id, now + delay, error, count=counts)

    def _park(self, row: InboxRow, error: str) -> None:
        log.error("worker: event %d parked as a dead letter: %s", row.id, error)
        self.inbox.park(row.id, self.clock(), error)
        metrics.WORKER_EVENTS.labels(metrics.direction(row.source), "dead").inc()


def _count_failure(exc: BaseException) -> None:
    """One failed attempt, by the platform that failed and the error's type. An outage counts
    even when its waits do not bring the event closer to a dead letter."""
    metrics.FAILURES.labels(metrics.failed_platform(exc), metrics.error_name(exc)).inc()
