"""The HTTP face: the Flask application that holds porch's doors.

Each door verifies its caller, turns the payload into neutral events (``bridges``), appends them
to the inbox (``bridges.store``) and answers; it never delivers anything itself. Every error,
from any door or from routing, is JSON with a reason — Matrix-shaped (``errcode``) on the
homeserver's routes — never an HTML page.

Beside the doors: ``/healthz`` (:mod:`webhooks.health`). ``/readyz`` and ``/metrics``
(:mod:`webhooks.metrics_endpoint`) are on the operators' listener only (:func:`create_ops_app`,
``listen.ops``): the numbers are for the operator's tools, and every ``/readyz`` reaches the
forum with porch's admin key, so anyone able to reach the doors must not be able to ask for
them. The account-linking pages (:mod:`webhooks.link_pages`) are for people's browsers, so they
alone answer in HTML.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException, InternalServerError

from bridges.store.store import Store
from webhooks.appservice import appservice_blueprint, is_appservice_path
from webhooks.config import PorchConfig
from webhooks.dashboard import dashboard_blueprint
from webhooks.discourse import discourse_blueprint
from webhooks.door_errors import matrix_error, refuse
from webhooks.health import (
    Readiness,
    cached_check,
    forum_check,
    health_blueprint,
    homeserver_check,
    store_check,
)
from webhooks.link_pages import link_pages_blueprint, public_base_url
from webhooks.matrix_sync import sync_check
from webhooks.metrics_endpoint import (
    StoreCollector,
    count_door_outcomes,
    door_store,
    metrics_blueprint,
    metrics_registry,
)
from webhooks.review_pages import review_pages_blueprint

log = logging.getLogger(__name__)

#: The Matrix error code for each HTTP status on the homeserver's routes. Unknown routes and
#: methods are M_UNRECOGNIZED, as the application-service spec asks.
_MATRIX_ERRCODES = {
    400: "M_BAD_JSON",
    404: "M_UNRECOGNIZED",
    405: "M_UNRECOGNIZED",
    413: "M_TOO_LARGE",
}


def _nothing() -> None:
    return None


def create_app(
    config: PorchConfig,
    store: Store,
    *,
    clock: Callable[[], float] = time.time,
    on_accepted: Callable[[], None] | None = None,
) -> Flask:
    """Porch's WSGI application.

    Args:
        config: the validated config file.
        store: the open store; the doors append to its inbox.
        clock: seconds since the epoch, stamped on recorded events.
        on_accepted: called after a door committed a new event (e.g. to wake the relay
            worker); not called for duplicates or refusals.
    """
    app = _base_app()
    app.register_blueprint(health_blueprint(store))
    # The forum's limit for every route; the appservice door raises it for transactions.
    app.config["MAX_CONTENT_LENGTH"] = config.discourse.max_body_bytes
    wake = on_accepted or _nothing
    # The doors append through an inbox that notes what it recorded, for /metrics.
    counted = door_store(store)
    app.register_blueprint(discourse_blueprint(config.discourse, counted, clock, wake))
    if config.matrix.appservice is not None:
        app.register_blueprint(appservice_blueprint(config.matrix, counted, clock, wake))
    app.register_blueprint(link_pages_blueprint(config, store, clock, wake))
    https = (public_base_url(config) or "").startswith("https://")
    app.register_blueprint(
        review_pages_blueprint(config.moderation.review, store, clock, wake, https=https)
    )
    app.register_blueprint(dashboard_blueprint(config, store, clock))
    count_door_outcomes(app)
    return app


def create_ops_app(
    config: PorchConfig, store: Store, *, clock: Callable[[], float] = time.monotonic
) -> Flask:
    """The operators' endpoints (``/healthz``, ``/readyz``, ``/metrics``), served on the ops
    listener (``listen.ops``) of every porch process, never on the public one.

    ``clock`` (monotonic seconds) times how long ``/readyz`` reuses its forum answer.
    """
    app = _base_app()
    # The forum check spends the forum's site-wide admin API budget: one request per
    # interval, however many probes come.
    forum = cached_check(
        forum_check(config.discourse), config.listen.ops.forum_check_interval, clock=clock
    )
    readiness = Readiness(
        {
            "store": store_check(store),
            "homeserver": homeserver_check(config.matrix),
            "forum": forum,
            # Bot mode: porch's account must be syncing (none in appservice mode).
            **sync_check(config, store),
        }
    )
    app.register_blueprint(health_blueprint(store, readiness))
    # The service adds what only it knows to /readyz (the linked rooms the bot is not in).
    app.extensions["porch.readiness"] = readiness
    # A reload (SIGHUP) gives the per-link inbox metrics the new links (webhooks.reload_parts).
    collector = StoreCollector(store, config.links)
    app.extensions["porch.store_collector"] = collector
    app.register_blueprint(metrics_blueprint(metrics_registry(store, config.links, collector)))
    return app


def _base_app() -> Flask:
    app = Flask(__name__)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
    return app


def _http_error(exc: HTTPException) -> tuple[Response, int]:
    status = exc.code or 500
    if status == 413:
        reason = f"the body is larger than porch accepts ({request.max_content_length} bytes)"
    elif status == 404:
        reason = f"no such endpoint: {request.path}"
    elif status == 405:
        reason = f"{request.method} is not allowed on {request.path}"
    else:
        reason = exc.description or exc.name
    if is_appservice_path(request.path):
        return matrix_error(status, _MATRIX_ERRCODES.get(status, "M_UNKNOWN"), reason)
    return refuse(status, reason)


def _unexpected(exc: Exception) -> tuple[Response, int]:
    log.exception("porch: %s %s failed", request.method, request.path)
    return _http_error(InternalServerError("porch failed to handle the request; see its log"))
