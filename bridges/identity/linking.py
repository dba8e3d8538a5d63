"""One account link, from ``!link`` to the forum's signed answer.

1. ``!link`` in a direct chat with the bot: :meth:`Linking.start` records a request bound to
   the Matrix user who asked and returns a one-time page URL (it expires after ``LINK_TTL``).
2. The page (:mod:`webhooks.link_pages`) calls :meth:`Linking.forum_url`: the request gets a
   fresh nonce and the browser goes to the forum's ``/session/sso_provider``.
3. The forum sends the browser back with a signed answer: :meth:`Linking.complete` checks the
   signature (constant time), uses up the nonce and records the identity and its groups in one
   transaction, then queues the bot's confirmation in the direct chat.

A claimed name is never trusted: only the forum's signed answer names the forum account.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from bridges import codec
from bridges.discourse.discourse_config import DiscourseConfig
from bridges.identity.connect import VERIFIED_VIA, ConnectIdentity, ConnectRefused, verify
from bridges.identity.connect import request_query as connect_query
from bridges.model import EventKind, IdentityLinked, Platform, RoomID, UserID
from bridges.store.identities import Identity
from bridges.store.inbox import NewEvent
from bridges.store.link_requests import (
    BotChats,
    IdentityGroups,
    LinkRequests,
    record_identity,
)
from bridges.store.store import Store

#: Seconds a ``!link`` page stays usable, from the command to the forum's answer.
LINK_TTL = 600.0
#: Where porch's linking pages live under ``listen.public_url``.
PAGE_PATH = "/link"
RETURN_PATH = "/link/return"
_UNUSABLE = "this link is unknown, expired or was already used; send !link to the bot again"


@dataclass(frozen=True, slots=True)
class Linked:
    """A link the forum confirmed."""

    matrix_user_id: UserID
    room_id: RoomID
    forum: ConnectIdentity


class Linking:
    """Starts, continues and completes account links."""

    def __init__(
        self,
        store: Store,
        discourse: DiscourseConfig,
        public_url: str,
        clock: Callable[[], float],
    ) -> None:
        self.store = store
        self.discourse = discourse
        self.public_url = public_url.rstrip("/")
        self.clock = clock
        self.requests = LinkRequests(store.db)
        self.chats = BotChats(store.db)
        self.groups = IdentityGroups(store.db)

    @property
    def enabled(self) -> bool:
        """Linking needs the DiscourseConnect secret shared with the forum, and a URL for
        porch's pages that the forum can send browsers back to."""
        return self.discourse.connect_secret is not None and bool(self.public_url)

    def _secret(self) -> str:
        if self.discourse.connect_secret is None or not self.public_url:
            raise ConnectRefused("linking forum accounts is not enabled on this porch")
        return self.discourse.connect_secret.get_secret_value()

    def start(self, user: UserID, room_id: RoomID) -> str:
        """Record a request of ``user`` (asked in ``room_id``); the page URL to send them."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        self.requests.purge(now)
        self.requests.create(token, user, room_id, now, now + LINK_TTL)
        return f"{self.public_url}{PAGE_PATH}/{token}"

    def requester(self, token: str) -> UserID:
        """Who asked for the page of ``token``, for the page to name before anything is done.

        Raises :class:`ConnectRefused` when the token is unknown, expired or was opened before.
        """
        self._secret()
        request = self.requests.pending(token, self.clock())
        if request is None:
            raise ConnectRefused(_UNUSABLE)
        return request.matrix_user_id

    def forum_url(self, token: str) -> str:
        """The forum URL the page sends the browser to; the token is used up.

        Raises :class:`ConnectRefused` when the token is unknown, expired or was opened before.
        """
        return self.open_page(token)[0]

    def open_page(self, token: str) -> tuple[str, str]:
        """:meth:`forum_url`, and the nonce it carries (the page binds the browser to it, so
        that only the browser that was sent to the forum can bring its answer back)."""
        secret = self._secret()
        nonce = secrets.token_hex(16)
        if self.requests.open(token, nonce, self.clock()) is None:
            raise ConnectRefused(_UNUSABLE)
        query = connect_query(nonce, f"{self.public_url}{RETURN_PATH}", secret)
        return f"{self.discourse.base_url}/session/sso_provider?{urlencode(query)}", nonce

    def complete(self, payload: str, sig: str, *, bound_to: str | None = None) -> Linked:
        """Accept the forum's signed answer: record who the person is and tell them.

        ``bound_to`` is the nonce the browser bringing the answer was given when it was sent
        to the forum (:meth:`open_page`); the answer must carry that one, so that a forum
        answer (or a forum URL) started by someone else cannot link the browser's forum
        account to their Matrix account. ``None`` skips that check (no browser involved).

        Raises :class:`ConnectRefused` (recording nothing) for a bad signature, an answer
        without a user, an answer for another browser, or a nonce that is unknown, expired
        or already used.
        """
        forum = verify(payload, sig, self._secret())
        if bound_to is not None and not hmac.compare_digest(
            bound_to.encode("utf-8"), forum.nonce.encode("utf-8")
        ):
            raise ConnectRefused(
                "this answer from the forum is for a link opened in another browser; open the "
                "link the bot sent you in this browser, or send !link to the bot again"
            )
        now = self.clock()
        with self.store.db.begin() as conn:
            request = self.requests.consume(conn, forum.nonce, now)
            if request is None:
                raise ConnectRefused(
                    "this answer from the forum is unknown, expired or was already used; "
                    "send !link to the bot again"
                )
            identity = Identity(
                request.matrix_user_id, forum.username, forum.user_id, VERIFIED_VIA, now
            )
            record_identity(conn, identity, _groups(forum))
        linked = Linked(request.matrix_user_id, request.room_id, forum)
        event = IdentityLinked(linked.matrix_user_id, linked.room_id, forum.username)
        self.store.inbox.append(
            [
                NewEvent(
                    source=Platform.CHAT,
                    kind=EventKind.IDENTITY_LINKED,
                    # The direct chat's conversation: the answer follows the ``!link`` in order.
                    conversation=f"matrix:room:{linked.room_id}",
                    payload=codec.encode(EventKind.IDENTITY_LINKED, event),
                    keys=(f"porch:linked:{forum.nonce}",),
                )
            ],
            now,
        )
        return linked

    def unlink(self, user: UserID) -> Identity | None:
        """Forget ``user``'s link and groups; the identity that was linked, if any."""
        identity = self.store.identities.by_matrix_user(user)
        self.store.identities.unlink(user)
        self.groups.clear(user)
        return identity


def _groups(forum: ConnectIdentity) -> list[str]:
    """The groups to record: the forum's list, with the staff roles it states as flags (the
    forum's automatic ``admins`` and ``moderators`` groups say the same)."""
    groups = list(forum.groups)
    if forum.admin:
        groups.append("admins")
    if forum.moderator:
        groups.append("moderators")
    return groups
