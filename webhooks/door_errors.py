"""JSON answers for the doors: every refusal says why, in the shape its caller understands."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify


def answer(http_status: int, /, **body: Any) -> tuple[Response, int]:
    """A JSON response ``body`` with ``http_status``."""
    return jsonify(body), http_status


def refuse(http_status: int, reason: str) -> tuple[Response, int]:
    """A plain JSON refusal: ``{"error": reason}``."""
    return answer(http_status, error=reason)


def matrix_error(http_status: int, errcode: str, reason: str) -> tuple[Response, int]:
    """A Matrix error: ``{"errcode": ..., "error": ...}``.

    https://spec.matrix.org/v1.13/client-server-api/#standard-error-response
    """
    return answer(http_status, errcode=errcode, error=reason)
