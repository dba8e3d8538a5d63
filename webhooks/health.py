"""``GET /healthz``: whether this process can record events, for operators and orchestrators."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Blueprint, Response

from bridges.store.store import Store
from webhooks.errors import answer

log = logging.getLogger(__name__)


def health_blueprint(store: Store) -> Blueprint:
    """``/healthz`` answers 200 while the store answers a trivial query, 503 otherwise."""
    door = Blueprint("health", __name__)

    @door.get("/healthz")
    def healthz() -> tuple[Response, int]:
        try:
            with store.db.read() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError as exc:
            # The exception text may hold the database URL and its password: only its type.
            log.warning("healthz: the store does not answer (%s)", type(exc).__name__)
            return answer(503, status="unavailable", error="the store does not answer")
        return answer(200, status="ok")

    return door
