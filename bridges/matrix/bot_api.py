"""Bot mode's client: the client-server API as porch's own, ordinary Matrix account.

The relay makes the same calls in both modes (send, redact, join, resolve an alias, upload and
download media, read state), so :class:`BotAPI` runs them on the appservice client's HTTP layer
(:class:`bridges.matrix.api.AppserviceAPI`: timeouts, rate limits, errors that never carry a
token) with the account's access token instead of the ``as_token``. What only an appservice can
do is refused (:class:`AppserviceOnly`): registering users, acting as them (``user_id``
identity assertion), setting their profiles, backdating events, the appservice ping. Callers
skip those in bot mode; reaching one is a bug, not a passing failure.

The access token comes from the config (``matrix.bot.access_token``) or from the login the sync
loop made (:mod:`bridges.matrix.bot_sync`), which it keeps in the store; a process that does
not sync (a ``--role worker``) reads it from there.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import requests

from bridges.matrix.api import AppserviceAPI
from bridges.matrix.bot_config import BotConfig
from bridges.matrix.matrix_config import MatrixConfig
from bridges.matrix.matrix_errors import MatrixError, MatrixUnavailable
from bridges.model import ContentURI, EventID, RoomID, UserID
from bridges.store.sync_state import SyncState


class AppserviceOnly(MatrixError):
    """A call only an application service can make, asked of porch's bot account."""


class BotToken:
    """The bot account's access token: the configured one, else the stored login's."""

    def __init__(self, config: BotConfig, sessions: SyncState | None) -> None:
        self._config = config
        self._sessions = sessions
        self._cached: str | None = None
        self._lock = threading.Lock()

    def get(self) -> str:
        """The token to call with.

        Raises:
            MatrixUnavailable: porch has not logged in yet (the sync loop logs in at start-up);
                the relay waits for that as for an outage.
        """
        if self._config.access_token is not None:
            return self._config.access_token.get_secret_value()
        with self._lock:
            if self._cached is None and self._sessions is not None:
                session = self._sessions.session(UserID(self._config.user_id))
                self._cached = None if session is None else session.access_token
            if self._cached is None:
                raise MatrixUnavailable(
                    "login", None, None, f"{self._config.user_id} has not logged in yet"
                )
            return self._cached

    def refused(self) -> None:
        """The homeserver refused the token: read the store again next time (the sync loop
        logs in again and stores the new one)."""
        with self._lock:
            self._cached = None


class BotAPI(AppserviceAPI):
    """The relay's calls, made as porch's bot account (``matrix.mode: bot``).

    There are no ghosts, so every call acts as the account and ``as_user`` is not sent: an edit
    or a redaction of a copy an appservice sent as a ghost (before a switch of modes) is made
    by the account, which homeservers allow for redactions with a moderator's power level only.
    """

    def __init__(
        self, config: MatrixConfig, token: BotToken, session: requests.Session | None = None
    ) -> None:
        if config.bot is None:
            raise ValueError("matrix.bot: porch's bot-mode client needs this section")
        self.token = token
        self._connect(config, session, UserID(config.bot.user_id))

    def _bearer(self) -> str:
        return self.token.get()

    # --- what only an appservice can do -----------------------------------------------------

    def ping(self, transaction_id: str | None = None) -> int:
        raise AppserviceOnly("ping", None, None, "bot mode has no appservice to ping")

    def ensure_registered(self, localpart: str) -> UserID:
        raise AppserviceOnly("register", None, None, "bot mode registers no users")

    def set_displayname(self, user_id: UserID, name: str) -> None:
        raise AppserviceOnly("profile", None, None, "bot mode has no ghosts to name")

    def set_avatar_url(self, user_id: UserID, url: ContentURI) -> None:
        raise AppserviceOnly("profile", None, None, "bot mode has no ghosts to picture")

    def send(
        self,
        room_id: RoomID,
        content: Mapping[str, Any],
        *,
        as_user: UserID | None,
        txn_id: str,
        event_type: str = "m.room.message",
        ts: int | None = None,
    ) -> EventID:
        """Send as the account; ``ts`` is dropped (timestamp massaging is for appservices)."""
        return super().send(
            room_id, content, as_user=None, txn_id=txn_id, event_type=event_type, ts=None
        )

    # --- plumbing ---------------------------------------------------------------------------

    def _call(self, method: str, path: str, **options: Any) -> requests.Response:
        """One call as the account (never ``?user_id=``); a refused token is read anew next
        time and the call fails as an outage, so that the relay waits for the new login.

        ``options`` are :meth:`AppserviceAPI._call`'s, passed on as they are but for
        ``as_user``, which is dropped."""
        try:
            return super()._call(method, path, **{**options, "as_user": None})
        except MatrixError as exc:
            if exc.errcode != "M_UNKNOWN_TOKEN":
                raise
            self.token.refused()
            raise MatrixUnavailable(
                exc.where, exc.status, exc.errcode, "porch's account was logged out"
            ) from exc


def chat_api(
    config: MatrixConfig, sessions: SyncState, session: requests.Session | None = None
) -> AppserviceAPI:
    """Porch's Matrix client for ``matrix.mode``: the appservice's, or the bot account's."""
    if config.mode == "bot":
        assert config.bot is not None  # the config's validation makes sure of it
        return BotAPI(config, BotToken(config.bot, sessions), session=session)
    return AppserviceAPI(config, session=session)
