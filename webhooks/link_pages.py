"""Porch's web pages for linking a forum account (the browser's side of ``!link``).

- ``GET /link/<token>``: the one-time page the bot sent; it sends the browser on to the forum's
  DiscourseConnect provider (:meth:`bridges.identity.linking.Linking.forum_url`).
- ``GET /link/return?sso=..&sig=..``: the forum sends the browser back here; porch checks the
  answer and says on the page (and, through the worker, in the direct chat) who is linked.

These are the only pages meant for people, so they answer in HTML; every failure is a clear
page with a 4xx status and records nothing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from html import escape

from flask import Blueprint, Response, request
from werkzeug.utils import redirect
from werkzeug.wrappers import Response as BaseResponse

from bridges.identity.connect import ConnectRefused
from bridges.identity.linking import PAGE_PATH, RETURN_PATH, Linking
from bridges.store.store import Store
from webhooks.config import PorchConfig

log = logging.getLogger(__name__)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>{title}</h1><p>{text}</p></main></body></html>
"""
#: Pages hold one-time links and identities: no caching, no referrer, no framing.
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'",
}


#: A linking page's path in a request line: its one-time token, or the forum's answer (which
#: names the person and their email address).
_LINK_PATH = re.compile(r"(/link/)[^\s\x1b]+")


class RedactLinkPaths(logging.Filter):
    """Keeps page tokens and the forum's answers out of the HTTP server's access log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _LINK_PATH.sub(r"\1[redacted]", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        return True


def _redact_access_log() -> None:
    access = logging.getLogger("werkzeug")
    if not any(isinstance(f, RedactLinkPaths) for f in access.filters):
        access.addFilter(RedactLinkPaths())


def public_base_url(config: PorchConfig) -> str | None:
    """The base URL of porch's pages: ``listen.public_url``, else ``matrix.appservice.url``."""
    if config.listen.public_url is not None:
        return str(config.listen.public_url).rstrip("/")
    if config.matrix.appservice is not None:
        return str(config.matrix.appservice.url).rstrip("/")
    return None


def page(status: int, title: str, text: str) -> Response:
    """A small HTML page; ``title`` and ``text`` are escaped."""
    body = _PAGE.format(title=escape(title), text=escape(text))
    return Response(body, status, headers=_HEADERS, content_type="text/html; charset=utf-8")


def link_pages_blueprint(
    config: PorchConfig,
    store: Store,
    clock: Callable[[], float],
    on_accepted: Callable[[], None],
) -> Blueprint:
    """The linking pages, bound to porch's config and store."""
    _redact_access_log()
    pages = Blueprint("link_pages", __name__)
    linking = Linking(store, config.discourse, public_base_url(config) or "", clock)

    def forward(token: str) -> BaseResponse:
        if not linking.enabled:
            return page(404, "Linking is not enabled", "This porch does not link accounts.")
        try:
            target = linking.forum_url(token)
        except ConnectRefused as exc:
            return page(410, "This link cannot be used", str(exc))
        response = redirect(target, 303)
        response.headers.update(_HEADERS)
        return response

    def back() -> Response:
        if not linking.enabled:
            return page(404, "Linking is not enabled", "This porch does not link accounts.")
        payload, sig = request.args.get("sso", ""), request.args.get("sig", "")
        if not payload or not sig:
            return page(400, "Not linked", "The forum's answer is missing.")
        try:
            linked = linking.complete(payload, sig)
        except ConnectRefused as exc:
            log.warning("link pages: refused an answer from the forum: %s", exc)
            return page(400, "Not linked", str(exc))
        log.info(
            "link pages: %s is forum user %s (id %d)",
            linked.matrix_user_id,
            linked.forum.username,
            linked.forum.user_id,
        )
        on_accepted()
        return page(
            200,
            "Linked",
            f"{linked.matrix_user_id} is now linked to the forum account "
            f"{linked.forum.username}. You can close this page; the bot confirms it in your "
            "chat with it.",
        )

    # The fixed path first: it must win over the token route.
    pages.add_url_rule(RETURN_PATH, "back", back, methods=["GET"])
    pages.add_url_rule(f"{PAGE_PATH}/<token>", "forward", forward, methods=["GET"])
    return pages
