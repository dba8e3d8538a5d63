"""Sign-in nonces that cost porch nothing until the forum answers.

``GET /watching/login`` is anyone's to call. A nonce stored there would let anonymous visitors
fill a table; instead the nonce carries its own expiry and porch's HMAC over it (a key derived
from ``discourse.connect_secret``), so that the sign-in's start writes nothing. Only an answer
the forum signed, for a nonce porch signed and that has not expired, is recorded, to use it up
once (:meth:`bridges.store.watch_records.WatchRecords.spend_nonce`), and only until it expires.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

#: Separates this key from every other use of the DiscourseConnect secret.
_PURPOSE = b"porch watching dashboard sign-in nonce"


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode("utf-8"), _PURPOSE, hashlib.sha256).digest()


def _mac(secret: str, body: str) -> str:
    return hmac.new(_key(secret), body.encode("ascii"), hashlib.sha256).hexdigest()


def make_nonce(secret: str, expires_at: float) -> str:
    """A fresh nonce valid until ``expires_at`` (epoch seconds): ``<expiry>.<random>.<mac>``."""
    body = f"{int(expires_at)}.{secrets.token_hex(16)}"
    return f"{body}.{_mac(secret, body)}"


def nonce_expiry(secret: str, nonce: str, now: float) -> float | None:
    """When ``nonce`` expires, if porch made it and it has not; ``None`` otherwise."""
    expiry, _, rest = nonce.partition(".")
    token, _, mac = rest.partition(".")
    if not (expiry.isdigit() and len(expiry) <= 12 and token and mac):
        return None
    if not hmac.compare_digest(_mac(secret, f"{expiry}.{token}"), mac):
        return None
    at = float(expiry)
    return at if at >= now else None
