"""``GET /healthz`` (liveness) and ``GET /readyz`` (readiness), for operators and orchestrators.

- ``/healthz`` answers 200 while this process can record events (the store answers a trivial
  query), 503 otherwise. It never looks at the platforms: a forum outage must not get porch
  restarted, since porch's inbox is exactly what carries events over an outage.
- ``/readyz`` answers 200 when the store, the homeserver (``GET /_matrix/client/versions``) and
  the forum (an authenticated ``GET /session/current.json``) all answer within
  :data:`READY_TIMEOUT` seconds, else 503 with which one failed and why. Orchestrators use it
  to hold traffic back from a porch that could not deliver anything. The forum's answer is
  reused for ``listen.ops.forum_check_interval`` seconds (:func:`cached_check`): all of a
  site's admin API keys share one budget of 60 requests a minute
  (``max_admin_api_reqs_per_minute``), which probes must not spend.
  ``/readyz`` is served on the ops listener only (:func:`webhooks.app.create_ops_app`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import requests
import sqlalchemy as sa
from flask import Blueprint, Response

from bridges.discourse.client import ForumClient
from bridges.discourse.discourse_config import DiscourseConfig
from bridges.discourse.forum_errors import ForumError
from bridges.matrix.matrix_config import MatrixConfig
from bridges.store.store import Store
from webhooks.door_errors import answer

log = logging.getLogger(__name__)

#: Seconds each readiness check may take (the three run at once).
READY_TIMEOUT = 3.0

Check = Callable[[], None]


class NotReady(Exception):
    """A readiness check failed; the message says why (never with a secret or a password)."""


def store_check(store: Store) -> Check:
    def check() -> None:
        try:
            with store.db.read() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError as exc:
            # The exception text may hold the database URL and its password: only its type.
            raise NotReady(f"the store does not answer ({type(exc).__name__})") from exc

    return check


def homeserver_check(config: MatrixConfig, timeout: float = READY_TIMEOUT) -> Check:
    """``GET /_matrix/client/versions``: unauthenticated, so it works in every mode."""
    url = f"{config.base_url}/_matrix/client/versions"
    session = requests.Session()

    def check() -> None:
        try:
            response = session.get(url, timeout=timeout, allow_redirects=False)
        except requests.Timeout as exc:
            raise NotReady(f"the homeserver did not answer within {timeout:g}s") from exc
        except requests.RequestException as exc:
            raise NotReady(f"cannot reach the homeserver ({type(exc).__name__})") from exc
        if response.status_code != 200:
            raise NotReady(f"the homeserver answered {response.status_code} to /versions")
        try:
            body = response.json()
        except ValueError as exc:
            raise NotReady("the homeserver's /versions answer is not JSON") from exc
        if not isinstance(body, dict) or not isinstance(body.get("versions"), list):
            raise NotReady("the homeserver's /versions answer lists no versions")

    return check


def forum_check(config: DiscourseConfig, timeout: float = READY_TIMEOUT) -> Check:
    """An authenticated call: it proves the forum answers and still accepts porch's key."""
    forum = ForumClient(config.model_copy(update={"timeout": min(timeout, config.timeout)}))

    def check() -> None:
        try:
            forum.current_user()
        except ForumError as exc:
            raise NotReady(str(exc)) from exc

    return check


def cached_check(
    check: Check, interval: float, *, clock: Callable[[], float] = time.monotonic
) -> Check:
    """``check``, run at most once per ``interval`` seconds: its last outcome (pass, or the
    :class:`NotReady` it raised) is given again until then.

    Probes that come while a check runs wait for its outcome rather than start their own, so
    no number of probes makes more than one call per interval. A check that breaks otherwise
    (not :class:`NotReady`) is not kept: the next probe tries again.
    """
    lock = threading.Lock()
    last: list[tuple[float, NotReady | None]] = []

    def cached() -> None:
        with lock:
            if last and clock() - last[0][0] < interval:
                failure = last[0][1]
            else:
                try:
                    check()
                except NotReady as exc:
                    failure = exc
                else:
                    failure = None
                last[:] = [(clock(), failure)]
        if failure is not None:
            raise NotReady(str(failure))

    return cached


class Readiness:
    """Runs the checks at once and waits for them at most ``timeout`` seconds."""

    def __init__(self, checks: Mapping[str, Check], timeout: float = READY_TIMEOUT) -> None:
        self.checks = dict(checks)
        self.timeout = timeout
        #: Details every /readyz answer shows without deciding it, by name: e.g. the linked
        #: rooms porch's bot could not join (one link's room must not hold back the others).
        self.notes: dict[str, Callable[[], Mapping[str, str]]] = {}
        self._pool = ThreadPoolExecutor(
            max_workers=max(2 * len(self.checks), 1), thread_name_prefix="porch-readyz"
        )

    def run(self) -> dict[str, str]:
        """``{name: "ok" | why not}`` for every check."""
        futures: dict[str, Future[None]] = {
            name: self._pool.submit(check) for name, check in self.checks.items()
        }
        results: dict[str, str] = {}
        for name, future in futures.items():
            try:
                future.result(timeout=self.timeout)
            except FutureTimeout:
                results[name] = f"no answer within {self.timeout:g}s"
            except NotReady as exc:
                results[name] = str(exc)
            except Exception as exc:  # a check that breaks is a failed check, not a 500
                log.warning("readyz: the %s check failed unexpectedly", name, exc_info=True)
                results[name] = f"check failed ({type(exc).__name__})"
            else:
                results[name] = "ok"
        return results


def health_blueprint(store: Store, readiness: Readiness | None = None) -> Blueprint:
    """``/healthz`` answers 200 while the store answers a trivial query, 503 otherwise;
    ``/readyz`` (when ``readiness`` is given) 200 when every check passes, 503 otherwise."""
    door = Blueprint("health", __name__)
    alive = store_check(store)

    @door.get("/healthz")
    def healthz() -> tuple[Response, int]:
        try:
            alive()
        except NotReady as exc:
            log.warning("healthz: %s", exc)
            return answer(503, status="unavailable", error="the store does not answer")
        return answer(200, status="ok")

    if readiness is not None:
        ready = readiness

        @door.get("/readyz")
        def readyz() -> tuple[Response, int]:
            checks = ready.run()
            failed = {name: why for name, why in checks.items() if why != "ok"}
            notes = {name: dict(note()) for name, note in ready.notes.items()}
            extra = {"notes": notes} if any(notes.values()) else {}
            if failed:
                log.warning(
                    "readyz: not ready: %s", "; ".join(f"{n}: {w}" for n, w in failed.items())
                )
                return answer(
                    503, status="not ready", failed=sorted(failed), checks=checks, **extra
                )
            return answer(200, status="ready", checks=checks, **extra)

    return door
