"""The review page's session cookie behind a TLS-terminating proxy.

Porch usually runs behind a proxy that speaks plain HTTP to it, so ``request.is_secure`` is
false even though every browser reaches porch over https. With an https ``listen.public_url``
(or appservice URL) the session cookie must still be ``Secure``, or a moderator's session could
be sent over plain HTTP to the same host.
"""

from __future__ import annotations

import pytest

from bridges.store.store import Store
from tests.webhooks.configs import make_config
from webhooks.app import create_app
from webhooks.review_pages import COOKIE

MONA = "mona-token-" + "m" * 32


@pytest.mark.parametrize(
    ("public_url", "secure"), [("https://porch.example.org", True), ("http://127.0.0.1", False)]
)
def test_the_session_cookie_is_secure_when_porch_is_served_over_https(
    store: Store, public_url: str, secure: bool
) -> None:
    config = make_config(
        listen={"public_url": public_url},
        moderation={"review": {"moderators": {"mona": MONA}}},
    )
    client = create_app(config, store).test_client()
    signed = client.post("/review/login", data={"token": MONA})  # over http, as from a proxy
    assert signed.status_code == 303
    (cookie,) = [c for c in signed.headers.getlist("Set-Cookie") if c.startswith(f"{COOKIE}=")]
    assert ("; Secure" in cookie) is secure
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
