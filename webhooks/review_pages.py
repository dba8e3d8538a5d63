"""Porch's review page: moderators approve or reject held messages in a browser.

- ``GET /review``: the held messages (and the latest decisions), for a signed-in moderator;
- ``POST /review/login`` (form field ``token``): a moderator's own token from
  ``moderation.review.moderators`` signs them in (a session cookie);
- ``POST /review/<n>/approve`` and ``POST /review/<n>/reject`` (optional ``note``): decide;
- ``POST /review/logout``.

Scripts may send ``Authorization: Bearer <token>`` instead of signing in. The session cookie
is ``HttpOnly``, ``SameSite=Strict`` and signed with the moderator's own token (HMAC-SHA256), so
changing a token in the config ends that moderator's sessions; every form carries a CSRF token
derived the same way and checked in constant time. A decision is recorded with the moderator's
name (:func:`bridges.review.desk.decide`) and carried out by the worker.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from html import escape

from flask import Blueprint, Response, request
from werkzeug.utils import redirect
from werkzeug.wrappers import Response as BaseResponse

from bridges.review.desk import decide
from bridges.review.review_config import ReviewConfig
from bridges.store.review import APPROVED, PENDING, REJECTED, HeldItem
from bridges.store.store import Store

log = logging.getLogger(__name__)

COOKIE = "porch_review"
PATH = "/review"
#: No caching, no referrer, no framing, no scripts; forms post back to porch only.
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
}
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>{title}</h1>{body}</main></body></html>
"""
_LOGIN = (
    '<form method="post" action="/review/login"><p><label>Moderator token '
    '<input type="password" name="token" autocomplete="current-password" required>'
    '</label> <button type="submit">Sign in</button></p></form>'
)


def _sign(secret: str, *parts: str) -> str:
    message = "\x1f".join(parts).encode("utf-8")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


class Sessions:
    """Who a request comes from: a Bearer token or a signed session cookie."""

    def __init__(self, config: ReviewConfig, clock: Callable[[], float]) -> None:
        self.tokens: Mapping[str, str] = {
            name: token.get_secret_value() for name, token in config.moderators.items()
        }
        self.lifetime = config.session_seconds
        self.clock = clock

    def by_token(self, presented: str) -> str | None:
        """The moderator whose token ``presented`` is (every token compared, in constant
        time each)."""
        found = None
        for name, token in self.tokens.items():
            if hmac.compare_digest(presented.encode("utf-8"), token.encode("utf-8")):
                found = name
        return found

    def cookie(self, name: str) -> str:
        expires = str(int(self.clock() + self.lifetime))
        return f"{name}.{expires}.{_sign(self.tokens[name], 'session', name, expires)}"

    def moderator(self) -> tuple[str, str | None] | None:
        """``(name, session cookie)`` of the request's moderator (no cookie for a Bearer
        token), or None."""
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            name = self.by_token(header.removeprefix("Bearer ").strip())
            return None if name is None else (name, None)
        value = request.cookies.get(COOKIE, "")
        parts = value.split(".")
        if len(parts) < 3:
            return None
        signature, expires, name = parts[-1], parts[-2], ".".join(parts[:-2])
        token = self.tokens.get(name)
        if token is None or not expires.isdigit() or int(expires) < self.clock():
            return None
        expected = _sign(token, "session", name, expires)
        if not hmac.compare_digest(signature.encode("utf-8"), expected.encode("utf-8")):
            return None
        return name, value

    def csrf(self, name: str, session: str | None) -> str:
        return _sign(self.tokens[name], "csrf", session or "")

    def csrf_ok(self, name: str, session: str | None) -> bool:
        if session is None:
            return True  # a Bearer token is never sent by a browser on its own
        presented = request.form.get("csrf", "")
        return hmac.compare_digest(
            presented.encode("utf-8"), self.csrf(name, session).encode("utf-8")
        )


def _page(status: int, title: str, body_html: str) -> Response:
    body = _PAGE.format(title=escape(title), body=body_html)
    return Response(body, status, headers=_HEADERS, content_type="text/html; charset=utf-8")


def _when(at: float | None) -> str:
    if at is None:
        return ""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _item_html(item: HeldItem, csrf: str) -> str:
    hidden = f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
    head = (
        f"<h2>#{item.id}: {escape(item.direction)} on {escape(item.link)}, "
        f"from {escape(item.author)}</h2>"
        f"<p><em>{escape(item.rule)}: {escape(item.reason)}</em> ({_when(item.created_at)})</p>"
        f"<pre>{escape(item.preview)}</pre>"
    )
    if item.state != PENDING:
        note = f": {escape(item.decision_note)}" if item.decision_note else ""
        return head + (
            f"<p>{escape(item.state)} by {escape(item.decided_by or '')} "
            f"({_when(item.decided_at)}){note}</p>"
        )
    return head + (
        f'<form method="post" action="{PATH}/{item.id}/approve">{hidden}'
        '<button type="submit">Approve</button></form>'
        f'<form method="post" action="{PATH}/{item.id}/reject">{hidden}'
        '<label>Reason <input type="text" name="note" maxlength="500"></label> '
        '<button type="submit">Reject</button></form>'
    )


def review_pages_blueprint(
    config: ReviewConfig,
    store: Store,
    clock: Callable[[], float] = time.time,
    on_accepted: Callable[[], None] = lambda: None,
    *,
    https: bool = False,
) -> Blueprint:
    """The review page, bound to the ``moderation.review`` config and porch's store.

    ``https``: porch's public URL is https, so the session cookie is ``Secure`` even when a
    proxy in front of porch speaks plain HTTP to it.
    """
    pages = Blueprint("review_pages", __name__)
    sessions = Sessions(config, clock)

    def disabled() -> Response | None:
        if not sessions.tokens:
            return _page(404, "Review page not enabled", "<p>No moderators are configured.</p>")
        return None

    def login_page(status: int, text: str) -> Response:
        return _page(status, "Held messages", f"<p>{escape(text)}</p>{_LOGIN}")

    def listing(name: str, session: str | None, message: str = "") -> Response:
        csrf = sessions.csrf(name, session)
        pending = store.review.items(PENDING)
        decided = [i for i in store.review.items(None, limit=1000) if i.state != PENDING][-20:]
        parts = [f"<p>Signed in as {escape(name)}.</p>"]
        if message:
            parts.append(f"<p><strong>{escape(message)}</strong></p>")
        parts += [_item_html(i, csrf) for i in pending] or ["<p>Nothing is held.</p>"]
        if decided:
            parts.append("<h2>Latest decisions</h2>")
            parts += [_item_html(i, csrf) for i in reversed(decided)]
        parts.append(
            f'<form method="post" action="{PATH}/logout">'
            f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
            '<button type="submit">Sign out</button></form>'
        )
        return _page(200, "Held messages", "".join(parts))

    def signed_in() -> tuple[str, str | None] | Response:
        """The moderator signed in (name, session), or the page to answer instead."""
        off = disabled()
        if off is not None:
            return off
        who = sessions.moderator()
        if who is None:
            return login_page(401, "Sign in with your moderator token.")
        return who

    def show() -> Response:
        who = signed_in()
        return who if isinstance(who, Response) else listing(*who)

    def login() -> BaseResponse:
        off = disabled()
        if off is not None:
            return off
        name = sessions.by_token(request.form.get("token", ""))
        if name is None:
            log.warning("review page: a sign-in with an unknown token")
            return login_page(403, "That token is not a moderator's.")
        response = redirect(PATH, 303)
        response.headers.update(_HEADERS)
        response.set_cookie(
            COOKIE,
            sessions.cookie(name),
            max_age=int(config.session_seconds),
            path=PATH,
            httponly=True,
            secure=https or request.is_secure,
            samesite="Strict",
        )
        return response

    def logout() -> BaseResponse:
        who = sessions.moderator()
        if who is not None and not sessions.csrf_ok(*who):
            return _page(403, "Not signed out", "<p>The form is stale; reload the page.</p>")
        response = redirect(PATH, 303)
        response.headers.update(_HEADERS)
        response.delete_cookie(COOKIE, path=PATH)
        return response

    def act(item_id: int, action: str) -> Response:
        who = signed_in()
        if isinstance(who, Response):
            return who
        name, session = who
        if not sessions.csrf_ok(name, session):
            return _page(403, "Not decided", "<p>The form is stale; reload the page.</p>")
        item = store.review.get(item_id)
        if item is None:
            return _page(404, "Not found", f"<p>No held message #{item_id}.</p>")
        state = APPROVED if action == "approve" else REJECTED
        note = request.form.get("note", "").strip()[:500] or None
        decided = decide(store.review, item, state, name, clock(), note)
        if decided is None:
            latest = store.review.get(item_id)
            said = "" if latest is None else f" ({latest.state} by {latest.decided_by})"
            return listing(name, session, f"#{item_id} was decided already{said}.")
        log.info("review page: #%d %s by %s", item_id, state, name)
        on_accepted()
        return listing(name, session, f"#{item_id} {state}.")

    pages.add_url_rule(PATH, "show", show, methods=["GET"])
    pages.add_url_rule(f"{PATH}/login", "login", login, methods=["POST"])
    pages.add_url_rule(f"{PATH}/logout", "logout", logout, methods=["POST"])
    pages.add_url_rule(
        f"{PATH}/<int:item_id>/<any(approve, reject):action>", "act", act, methods=["POST"]
    )
    return pages
