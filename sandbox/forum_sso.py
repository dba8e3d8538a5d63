"""The double's DiscourseConnect provider: ``/session/sso_provider``, Discourse as the identity
provider, and a test-only browser login.

As in Discourse's ``SessionController#sso_provider`` (``discourse_connect_provider_secrets``,
one ``domain|secret`` per site that may ask; ``*`` for any): the request's signature is checked
with the secret of its ``return_sso_url``'s host (422 otherwise); a logged-in visitor is
redirected (302) to ``return_sso_url`` with a payload signed by the same secret that carries the
nonce and who they are; a visitor who is not logged in is sent to ``/login`` (or, with
``prompt=none``, back with ``failed=true``). The payload format is that of
``DiscourseConnectBase``: base64 of a query string, ``sig`` the hex HMAC-SHA256 of the base64.

Logging in is a browser's business on a real forum; here ``POST /sandbox/login`` with a
``username`` sets the session cookie ``_t`` for that member, so that a test's
``requests.Session`` can play the browser.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit

from flask import Flask, Response, request
from werkzeug.utils import redirect
from werkzeug.wrappers import Response as BaseResponse

from sandbox.forum_core import ForumCore

#: Discourse's session cookie.
SESSION_COOKIE = "_t"


def _sign(payload: str, secret: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def _to_url(base: str, fields: dict[str, str], secret: str) -> str:
    payload = base64.b64encode(urlencode(fields).encode()).decode()
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}{urlencode({'sso': payload, 'sig': _sign(payload, secret)})}"


@dataclass
class SsoProvider:
    """The provider's settings and the double's browser sessions."""

    core: ForumCore
    #: ``discourse_connect_provider_secrets``: host (or ``*``) -> secret. Empty: the provider
    #: is off (``enable_discourse_connect_provider`` false).
    secrets: dict[str, str] = field(default_factory=dict)
    sessions: dict[str, int] = field(default_factory=dict)

    @classmethod
    def install(cls, app: Flask, core: ForumCore) -> SsoProvider:
        """Serve the provider (and the test login) on the double's ``app``."""
        provider = cls(core)
        app.add_url_rule("/session/sso_provider", "sso_provider", provider.sso, methods=["GET"])
        app.add_url_rule("/sandbox/login", "sandbox_login", provider.login, methods=["POST"])
        return provider

    def set_secret(self, domain: str, secret: str) -> None:
        """Allow ``domain`` (a host, or ``*``) to ask, with ``secret``."""
        self.secrets[domain] = secret

    def _secret_for(self, return_url: str) -> str | None:
        host = urlsplit(return_url).hostname or ""
        return self.secrets.get(host) or self.secrets.get("*")

    def login(self) -> Response:
        username = request.form.get("username", "")
        with self.core.lock:
            user = self.core.state.user_named(username)
        if user is None:
            return Response("no such user", 404, content_type="text/plain")
        token = secrets.token_hex(16)
        self.sessions[token] = user.id
        response = Response("logged in", 200, content_type="text/plain")
        response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="Lax")
        return response

    def sso(self) -> BaseResponse:
        if not self.secrets:
            return Response("not found", 404, content_type="text/plain")
        payload, sig = request.args.get("sso", ""), request.args.get("sig", "")
        try:
            text = base64.b64decode(payload).decode()
        except (binascii.Error, UnicodeDecodeError):
            return _login_error()
        fields = {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}
        return_url = fields.get("return_sso_url", "")
        secret = self._secret_for(return_url) if return_url else None
        if secret is None or not hmac.compare_digest(_sign(payload, secret), sig):
            return _login_error()
        nonce = fields.get("nonce", "")
        if not nonce:
            return _login_error()
        with self.core.lock:
            user_id = self.sessions.get(request.cookies.get(SESSION_COOKIE, ""))
            user = None if user_id is None else self.core.state.users.get(user_id)
            groups = [] if user is None else sorted(self.core.state.group_names(user))
        if user is None:
            if fields.get("prompt") == "none":
                answer = {"nonce": nonce, "return_sso_url": return_url, "failed": "true"}
                return redirect(_to_url(return_url, answer, secret), 302)
            return redirect("/login", 302)
        answer = {
            "nonce": nonce,
            "return_sso_url": return_url,
            "name": user.name or "",
            "username": user.username,
            "email": f"{user.username_lower}@sandbox.invalid",
            "external_id": str(user.id),
            "admin": "true" if user.admin else "false",
            "moderator": "true" if user.moderator else "false",
            "groups": ",".join(g for g in groups if g != "everyone"),
        }
        return redirect(_to_url(return_url, answer, secret), 302)


def _login_error() -> Response:
    # Discourse answers a payload it cannot parse or verify with its login error text, 422.
    return Response(
        "Account login timed out, please try logging in again.", 422, content_type="text/plain"
    )
