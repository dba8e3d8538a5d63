"""Porch's web pages for linking a forum account (the browser's side of ``!link``).

- ``GET /link/<token>``: the one-time page the bot sent; it names the Matrix account being
  linked and changes nothing. Its button (``POST``, with a SameSite=Strict double-submit CSRF
  cookie) sends the browser on to the forum's DiscourseConnect provider
  (:meth:`bridges.identity.linking.Linking.open_page`) and binds that browser to the request's
  nonce with a cookie.
- ``GET /link/return?sso=..&sig=..``: the forum sends the browser back here; porch checks the
  answer (signature, then that this browser was sent for that nonce) and says on the page
  (and, through the worker, in the direct chat) who is linked.

Without the confirmation a link (or the forum URL it leads to) sent to someone else would
link *their* forum account to the sender's Matrix account as soon as they opened it, since the
forum answers at once for a signed-in member.

These are the only pages meant for people, so they answer in HTML; every failure is a clear
page with a 4xx status and records nothing.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from collections.abc import Callable
from html import escape
from typing import ClassVar
from urllib.parse import urlsplit

from flask import Blueprint, Response, request
from werkzeug.utils import redirect
from werkzeug.wrappers import Response as BaseResponse

from bridges.identity.connect import ConnectRefused
from bridges.identity.linking import LINK_TTL, PAGE_PATH, RETURN_PATH, Linking
from bridges.store.store import Store
from webhooks.config import PorchConfig

log = logging.getLogger(__name__)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>{title}</h1><p>{text}</p></main></body></html>
"""
#: The confirmation page's CSRF token (double submit), and the nonce of the browser that was
#: sent to the forum (only that browser may bring the forum's answer back).
CSRF_COOKIE = "porch_link_csrf"
BIND_COOKIE = "porch_link_nonce"
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


class RedactPaths(logging.Filter):
    """Keeps what ``pattern`` matches in a request line out of the HTTP server's access log,
    but for its first group (the path it names)."""

    pattern: ClassVar[re.Pattern[str]]

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                self.pattern.sub(r"\1[redacted]", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        return True


class RedactLinkPaths(RedactPaths):
    """Keeps page tokens and the forum's answers out of the HTTP server's access log."""

    pattern = _LINK_PATH


def redact_access_log(redact: type[RedactPaths]) -> None:
    """Add ``redact`` to the HTTP server's access log, once."""
    access = logging.getLogger("werkzeug")
    if not any(isinstance(f, redact) for f in access.filters):
        access.addFilter(redact())


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


def confirm_page(requester: str, action: str, csrf: str) -> Response:
    """The page a ``!link`` URL opens: whose Matrix account is being linked, and a button."""
    text = (
        f"This links the Matrix account {requester} to the forum account you are signed in "
        f"to. Continue only if {requester} is you: whoever holds it will post on the forum "
        "as you and join the rooms your forum groups may read."
    )
    form = (
        f'<form method="post" action="{escape(action)}">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        '<button type="submit">Continue to the forum</button></form>'
    )
    body = _PAGE.format(title="Link your forum account", text=escape(text)).replace(
        "</p></main>", f"</p>{form}</main>"
    )
    return Response(body, 200, headers=_HEADERS, content_type="text/html; charset=utf-8")


def link_pages_blueprint(
    config: PorchConfig,
    store: Store,
    clock: Callable[[], float],
    on_accepted: Callable[[], None],
) -> Blueprint:
    """The linking pages, bound to porch's config and store."""
    redact_access_log(RedactLinkPaths)
    pages = Blueprint("link_pages", __name__)
    linking = Linking(store, config.discourse, public_base_url(config) or "", clock)

    public = public_base_url(config) or ""
    secure = public.startswith("https://")
    # Cookie paths as the browser sees them: porch may live under a path of its host.
    base_path = urlsplit(public).path.rstrip("/")

    def confirm(token: str) -> Response:
        # Opening the link changes nothing: the page names the Matrix account first, so that
        # a link someone else was sent cannot silently tie their forum account to it.
        if not linking.enabled:
            return page(404, "Linking is not enabled", "This porch does not link accounts.")
        try:
            requester = linking.requester(token)
        except ConnectRefused as exc:
            return page(410, "This link cannot be used", str(exc))
        csrf = secrets.token_urlsafe(32)
        # The form posts back to this very page (a relative URL: proxies' path prefixes stay).
        response = confirm_page(requester, token, csrf)
        response.set_cookie(
            CSRF_COOKIE,
            csrf,
            path=f"{base_path}{PAGE_PATH}/",
            httponly=True,
            secure=secure,
            samesite="Strict",
            max_age=int(LINK_TTL),
        )
        return response

    def forward(token: str) -> BaseResponse:
        if not linking.enabled:
            return page(404, "Linking is not enabled", "This porch does not link accounts.")
        # A SameSite=Strict cookie only comes back from porch's own page: a form another site
        # submits for the visitor arrives without it.
        cookie, form = request.cookies.get(CSRF_COOKIE, ""), request.form.get("csrf", "")
        if not cookie or not hmac.compare_digest(cookie.encode(), form.encode()):
            return page(
                403, "Not linked", "Open the link the bot sent you again, and continue there."
            )
        try:
            target, nonce = linking.open_page(token)
        except ConnectRefused as exc:
            return page(410, "This link cannot be used", str(exc))
        response = redirect(target, 303)
        response.headers.update(_HEADERS)
        response.delete_cookie(CSRF_COOKIE, path=f"{base_path}{PAGE_PATH}/")
        # Lax: the forum sends the browser back with a top-level GET from its own site.
        response.set_cookie(
            BIND_COOKIE,
            nonce,
            path=f"{base_path}{RETURN_PATH}",
            httponly=True,
            secure=secure,
            samesite="Lax",
            max_age=int(LINK_TTL),
        )
        return response

    def back() -> Response:
        if not linking.enabled:
            return page(404, "Linking is not enabled", "This porch does not link accounts.")
        payload, sig = request.args.get("sso", ""), request.args.get("sig", "")
        if not payload or not sig:
            return page(400, "Not linked", "The forum's answer is missing.")
        try:
            linked = linking.complete(payload, sig, bound_to=request.cookies.get(BIND_COOKIE, ""))
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
    pages.add_url_rule(f"{PAGE_PATH}/<token>", "confirm", confirm, methods=["GET"])
    pages.add_url_rule(f"{PAGE_PATH}/<token>", "forward", forward, methods=["POST"])
    return pages
