"""DiscourseConnect with Discourse as the identity provider.

Protocol (https://meta.discourse.org/t/using-discourse-as-an-identity-provider-sso-discourseconnect/32974):
porch sends the browser to ``/session/sso_provider?sso=<payload>&sig=<hex>`` where ``payload``
is the base64 of a query string with ``nonce`` and ``return_sso_url`` and ``sig`` its
HMAC-SHA256 under the secret porch shares with the forum. The forum, once the person is logged
in, redirects to ``return_sso_url`` with a signed payload of the same shape that carries the
nonce and who they are: ``external_id`` (the forum user id), ``username``, ``email``, ``groups``
(comma-separated names), ``admin``, ``moderator`` ...
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode

from bridges.model import ForumUsername

#: How porch records a link the forum confirmed this way (``identities.verified_via``).
VERIFIED_VIA = "discourse-connect"


class ConnectRefused(Exception):
    """The forum's answer cannot be trusted or used; the message says why, for the person."""


@dataclass(frozen=True, slots=True)
class ConnectIdentity:
    """Who the forum says the person is."""

    nonce: str
    user_id: int
    username: ForumUsername
    groups: tuple[str, ...]
    admin: bool
    moderator: bool
    email: str | None = None
    name: str | None = None


def sign(payload: str, secret: str) -> str:
    """The hex HMAC-SHA256 of the base64 ``payload`` under ``secret``."""
    return hmac.new(secret.encode("utf-8"), payload.encode("ascii"), hashlib.sha256).hexdigest()


def encode(fields: Mapping[str, str]) -> str:
    """A payload: the base64 of ``fields`` as a query string."""
    return base64.b64encode(urlencode(fields).encode("utf-8")).decode("ascii")


def request_query(nonce: str, return_url: str, secret: str) -> dict[str, str]:
    """The ``sso`` and ``sig`` query parameters of porch's request to ``/session/sso_provider``."""
    payload = encode({"nonce": nonce, "return_sso_url": return_url})
    return {"sso": payload, "sig": sign(payload, secret)}


def decode(payload: str) -> dict[str, str]:
    """The fields of a payload; :class:`ConnectRefused` when it is not one."""
    try:
        text = base64.b64decode(payload, validate=False).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ConnectRefused("the forum's answer is not a DiscourseConnect payload") from exc
    return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}


def verify(payload: str, sig: str, secret: str) -> ConnectIdentity:
    """Check the forum's signed answer and read who it names.

    The signature is compared in constant time before anything in the payload is looked at.
    Raises :class:`ConnectRefused` for a wrong signature or an answer without a nonce, a user
    id or a username.
    """
    expected = sign(payload, secret) if payload.isascii() else ""
    if not expected or not hmac.compare_digest(expected.encode(), sig.lower().encode()):
        raise ConnectRefused("the forum's answer is not signed with the secret porch shares")
    fields = decode(payload)
    nonce = fields.get("nonce", "")
    external_id = fields.get("external_id", "")
    username = fields.get("username", "")
    if not nonce:
        raise ConnectRefused("the forum's answer has no nonce")
    if not external_id.isdigit() or not username:
        raise ConnectRefused("the forum's answer does not name a forum user")
    groups = tuple(g for g in fields.get("groups", "").split(",") if g)
    return ConnectIdentity(
        nonce=nonce,
        user_id=int(external_id),
        username=ForumUsername(username),
        groups=groups,
        admin=fields.get("admin") == "true",
        moderator=fields.get("moderator") == "true",
        email=fields.get("email") or None,
        name=fields.get("name") or None,
    )
