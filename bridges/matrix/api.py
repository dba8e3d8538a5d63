"""Porch's application-service client: a thin, typed, synchronous client-server API client.

The relay worker runs in threads, so this is plain ``requests`` (mautrix is asyncio-only and
matrix-nio has no appservice support). Porch acts as its ghosts by identity assertion:
``Authorization: Bearer <as_token>`` plus ``?user_id=@ghost:server``; without ``user_id`` a call
acts as porch's bot (the registration's ``sender_localpart``).
See https://spec.matrix.org/v1.13/application-service-api/#identity-assertion

Every call has a timeout (``matrix.timeout``). Short rate limits are sat out inside the call;
long ones and transient failures raise (:mod:`bridges.matrix.matrix_errors`) so that the relay can
reschedule instead of blocking a worker.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, unquote

import requests

from bridges.matrix.matrix_config import AppserviceConfig, MatrixConfig
from bridges.matrix.matrix_errors import (
    MatrixError,
    MatrixRateLimited,
    MatrixUnavailable,
    is_errcode,
)
from bridges.matrix.outgoing import clean_content
from bridges.model import ContentURI, EventID, RoomID, UserID

log = logging.getLogger(__name__)

_CLIENT = "/_matrix/client/v3"

#: A rate limit up to this long is waited out inside the call; a longer one is the relay's job.
MAX_INLINE_WAIT = 2.0
#: How many times one call sits out a short rate limit before giving up.
MAX_RATE_LIMIT_RETRIES = 3
#: The wait assumed when a 429 does not say how long (Synapse always does).
_DEFAULT_RETRY_AFTER = 1.0


def _seg(value: str) -> str:
    """One URL path segment: ids carry ``!``, ``#``, ``:``, ``$`` and possibly ``/``."""
    return quote(value, safe="")


def _where(method: str, path: str) -> str:
    """How errors name a call: readable ids, and never the query string (or a token)."""
    return f"{method} {unquote(path)}"


class AppserviceAPI:
    """The client-server API as porch's appservice: its bot and its ghosts."""

    def __init__(self, config: MatrixConfig, session: requests.Session | None = None) -> None:
        if config.appservice is None:
            raise ValueError("matrix.appservice: porch's appservice client needs this section")
        self._appservice: AppserviceConfig = config.appservice
        bot = UserID(f"@{config.appservice.bot_localpart}:{config.server_name}")
        self._connect(config, session, bot)

    def _connect(
        self, config: MatrixConfig, session: requests.Session | None, bot_user_id: UserID
    ) -> None:
        """The HTTP layer's state, shared with bot mode's client (:mod:`.bot_api`)."""
        self.config = config
        self._session = session if session is not None else requests.Session()
        self._base = config.base_url
        self._timeout = config.timeout
        self.bot_user_id: UserID = bot_user_id
        self._txn_counter = itertools.count()
        self._joined: set[tuple[RoomID, UserID]] = set()
        self._lock = threading.Lock()

    # --- identifiers ---------------------------------------------------------------------------

    def user_id(self, localpart: str) -> UserID:
        """The full user id of a local user: ``@<localpart>:<server_name>``."""
        return UserID(f"@{localpart}:{self.config.server_name}")

    def new_txn_id(self) -> str:
        """A transaction id unique across the whole appservice.

        Synapse keys appservice transaction ids by (path, appservice), not by the ghost acting,
        so ids must never repeat between ghosts. See
        https://spec.matrix.org/v1.13/client-server-api/#transaction-identifiers
        """
        return f"porch_{time.time_ns()}_{next(self._txn_counter)}"

    # --- server and appservice ------------------------------------------------------------------

    def versions(self) -> dict[str, Any]:
        """``GET /_matrix/client/versions``: the spec versions the homeserver speaks."""
        return self._json("GET", "/_matrix/client/versions", authenticated=False)

    def whoami(self, as_user: UserID | None = None) -> UserID:
        """Who the homeserver takes porch (or ``as_user``) to be; checks the ``as_token``."""
        body = self._json("GET", f"{_CLIENT}/account/whoami", as_user=as_user)
        return UserID(str(body["user_id"]))

    def ping(self, transaction_id: str | None = None) -> int:
        """Ask the homeserver to ping porch's appservice URL; returns the round trip in ms.

        A successful ping also makes Synapse resend transactions it queued while porch was
        down. See https://spec.matrix.org/v1.13/client-server-api/#post_matrixclientv1appserviceappserviceidping
        """
        body: dict[str, Any] = {}
        if transaction_id is not None:
            body["transaction_id"] = transaction_id
        path = f"/_matrix/client/v1/appservice/{_seg(self._appservice.id)}/ping"
        return int(self._json("POST", path, body=body).get("duration_ms", 0))

    # --- users ---------------------------------------------------------------------------------

    def ensure_registered(self, localpart: str) -> UserID:
        """Register a user in porch's namespace; one that exists already is fine.

        ``type`` is a top-level key and ``inhibit_login`` avoids a device per ghost. See
        https://spec.matrix.org/v1.13/application-service-api/#server-admin-style-permissions
        """
        body = {
            "type": "m.login.application_service",
            "username": localpart,
            "inhibit_login": True,
        }
        try:
            answer = self._json("POST", f"{_CLIENT}/register", body=body)
        except MatrixError as exc:
            if is_errcode(exc, "M_USER_IN_USE"):
                return self.user_id(localpart)
            raise
        return UserID(str(answer.get("user_id") or self.user_id(localpart)))

    def set_displayname(self, user_id: UserID, name: str) -> None:
        """Set a user's global display name (acting as that user)."""
        path = f"{_CLIENT}/profile/{_seg(user_id)}/displayname"
        self._json("PUT", path, as_user=user_id, body={"displayname": name})

    def set_avatar_url(self, user_id: UserID, url: ContentURI) -> None:
        """Set a user's global avatar to an ``mxc://`` URI (acting as that user)."""
        path = f"{_CLIENT}/profile/{_seg(user_id)}/avatar_url"
        self._json("PUT", path, as_user=user_id, body={"avatar_url": url})

    # --- media ---------------------------------------------------------------------------------

    def upload(self, data: bytes, content_type: str, filename: str | None = None) -> ContentURI:
        """Upload bytes to the media repository (as the bot); returns the ``mxc://`` URI."""
        params = {"filename": filename} if filename else None
        body = self._json(
            "POST",
            "/_matrix/media/v3/upload",
            params=params,
            data=data,
            headers={"Content-Type": content_type or "application/octet-stream"},
        )
        uri = str(body.get("content_uri") or "")
        if not uri.startswith("mxc://"):
            raise MatrixError("POST /_matrix/media/v3/upload", 200, None, "no content_uri")
        return ContentURI(uri)

    def download(self, uri: ContentURI, max_bytes: int | None = None) -> tuple[bytes, str]:
        """Fetch an ``mxc://`` URI through authenticated media; returns (bytes, content type).

        Raises ``ValueError`` for a malformed URI or a file larger than ``max_bytes``.
        See https://spec.matrix.org/v1.13/client-server-api/#get_matrixclientv1mediadownloadservernamemediaid
        """
        server, _, media_id = uri.removeprefix("mxc://").partition("/")
        if not uri.startswith("mxc://") or not server or not media_id or "/" in media_id:
            raise ValueError(f"not a content URI: {uri!r}")
        path = f"/_matrix/client/v1/media/download/{_seg(server)}/{_seg(media_id)}"
        response = self._call("GET", path, stream=True)
        with response:
            chunks: list[bytes] = []
            size = 0
            try:
                for chunk in response.iter_content(64 * 1024):
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise ValueError(f"{uri} is larger than {max_bytes} bytes")
                    chunks.append(chunk)
            except requests.RequestException as exc:
                raise MatrixUnavailable(
                    _where("GET", path), response.status_code, None, str(exc)
                ) from exc
        content_type = response.headers.get("Content-Type", "application/octet-stream")
        return b"".join(chunks), content_type

    # --- rooms ---------------------------------------------------------------------------------

    def resolve_room(self, room: str) -> RoomID:
        """A room id as is; an alias (``#name:server``) looked up in the room directory."""
        if room.startswith("!"):
            return RoomID(room)
        if not room.startswith("#"):
            raise ValueError(f"not a room id or alias: {room!r}")
        body = self._json("GET", f"{_CLIENT}/directory/room/{_seg(room)}")
        return RoomID(str(body["room_id"]))

    def create_room(
        self,
        *,
        name: str | None = None,
        alias_localpart: str | None = None,
        invite: Sequence[UserID] = (),
        preset: str = "private_chat",
        as_user: UserID | None = None,
        extra: dict[str, Any] | None = None,
    ) -> RoomID:
        """Create a room (as the bot unless ``as_user``); ``extra`` is merged into the body.

        See https://spec.matrix.org/v1.13/client-server-api/#post_matrixclientv3createroom
        """
        body: dict[str, Any] = {"preset": preset}
        if name is not None:
            body["name"] = name
        if alias_localpart is not None:
            body["room_alias_name"] = alias_localpart
        if invite:
            body["invite"] = list(invite)
        body.update(extra or {})
        answer = self._json("POST", f"{_CLIENT}/createRoom", as_user=as_user, body=body)
        room_id = RoomID(str(answer["room_id"]))
        self._remember_joined(room_id, as_user or self.bot_user_id)
        return room_id

    def join(self, room_id: RoomID, as_user: UserID) -> None:
        """Join ``as_user`` to a room (a no-op for a member)."""
        self._json("POST", f"{_CLIENT}/join/{_seg(room_id)}", as_user=as_user, body={})
        self._remember_joined(room_id, as_user)

    def invite(self, room_id: RoomID, user_id: UserID, as_user: UserID | None = None) -> None:
        """Invite ``user_id`` (as the bot unless ``as_user``); a member or invitee is fine."""
        path = f"{_CLIENT}/rooms/{_seg(room_id)}/invite"
        try:
            self._json("POST", path, as_user=as_user, body={"user_id": user_id})
        except MatrixError as exc:
            # Synapse refuses to invite a member with M_FORBIDDEN; tell that apart from a real
            # refusal by looking at the membership instead of at the error text.
            if not is_errcode(exc, "M_FORBIDDEN"):
                raise
            if self._membership(room_id, user_id, as_user) not in ("join", "invite"):
                raise

    def kick(self, room_id: RoomID, user_id: UserID, reason: str) -> None:
        """Remove ``user_id`` from a room (as the bot), saying why; an invite is withdrawn.

        See https://spec.matrix.org/v1.13/client-server-api/#post_matrixclientv3roomsroomidkick
        """
        path = f"{_CLIENT}/rooms/{_seg(room_id)}/kick"
        self._json("POST", path, body={"user_id": user_id, "reason": reason})
        self.forget_membership(room_id, user_id)

    def ban(self, room_id: RoomID, user_id: UserID, reason: str) -> None:
        """Ban ``user_id`` from a room (as the bot), saying why; a non-member can be banned too.

        See https://spec.matrix.org/v1.13/client-server-api/#post_matrixclientv3roomsroomidban
        """
        path = f"{_CLIENT}/rooms/{_seg(room_id)}/ban"
        self._json("POST", path, body={"user_id": user_id, "reason": reason})
        self.forget_membership(room_id, user_id)

    def unban(self, room_id: RoomID, user_id: UserID, reason: str | None = None) -> None:
        """Lift a ban (as the bot); the user may join again, they are not re-joined.

        See https://spec.matrix.org/v1.13/client-server-api/#post_matrixclientv3roomsroomidunban
        """
        body: dict[str, Any] = {"user_id": user_id}
        if reason:
            body["reason"] = reason
        self._json("POST", f"{_CLIENT}/rooms/{_seg(room_id)}/unban", body=body)

    def put_state(
        self, room_id: RoomID, event_type: str, content: Mapping[str, Any], state_key: str = ""
    ) -> EventID:
        """Send a state event as the bot (power levels, say); returns its event id."""
        path = f"{_CLIENT}/rooms/{_seg(room_id)}/state/{_seg(event_type)}/{_seg(state_key)}"
        return EventID(str(self._json("PUT", path, body=dict(content))["event_id"]))

    def state_events(self, room_id: RoomID) -> list[dict[str, Any]]:
        """The room's whole current state, as the bot sees it (client-format events).

        See https://spec.matrix.org/v1.13/client-server-api/#get_matrixclientv3roomsroomidstate
        """
        response = self._call("GET", f"{_CLIENT}/rooms/{_seg(room_id)}/state")
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, list):
            where = _where("GET", f"{_CLIENT}/rooms/{room_id}/state")
            raise MatrixError(where, response.status_code, None, "the answer is not a list")
        return [e for e in answer if isinstance(e, dict)]

    def memberships(self, room_id: RoomID) -> dict[UserID, str]:
        """Every user the room has a membership for (``join``, ``invite``, ``knock``,
        ``leave``, ``ban``), as the bot sees the room now.

        See https://spec.matrix.org/v1.13/client-server-api/#get_matrixclientv3roomsroomidmembers
        """
        chunk = self._json("GET", f"{_CLIENT}/rooms/{_seg(room_id)}/members").get("chunk")
        out: dict[UserID, str] = {}
        for event in chunk if isinstance(chunk, list) else ():
            if not isinstance(event, dict):
                continue
            user, content = event.get("state_key"), event.get("content")
            membership = content.get("membership") if isinstance(content, dict) else None
            if isinstance(user, str) and isinstance(membership, str):
                out[UserID(user)] = membership
        return out

    def room_creators(self, room_id: RoomID) -> frozenset[UserID]:
        """The room's creators: the sender of ``m.room.create`` (and, since room v12, its
        ``additional_creators``), who hold unlimited power there.

        See https://spec.matrix.org/v1.16/rooms/v12/#authorization-rules
        """
        state = self._call("GET", f"{_CLIENT}/rooms/{_seg(room_id)}/state").json()
        creators: set[UserID] = set()
        for event in state if isinstance(state, list) else ():
            if not isinstance(event, dict) or event.get("type") != "m.room.create":
                continue
            content = event.get("content")
            content = content if isinstance(content, dict) else {}
            named = [event.get("sender"), content.get("creator")]
            extra = content.get("additional_creators")
            named += extra if isinstance(extra, list) else []
            creators |= {UserID(u) for u in named if isinstance(u, str)}
        return frozenset(creators)

    def ensure_joined(self, room_id: RoomID, user_id: UserID) -> None:
        """Make ``user_id`` a member: join, and if the room is closed the bot invites first.

        Memberships porch made are remembered for the life of this client, so a ghost that
        posts often costs one join. The bot must be in the room (or invited) to invite.
        """
        if self._is_joined(room_id, user_id):
            return
        try:
            self.join(room_id, user_id)
            return
        except MatrixError as exc:
            if not is_errcode(exc, "M_FORBIDDEN") or user_id == self.bot_user_id:
                raise
        try:
            self.invite(room_id, user_id)
        except MatrixError as exc:
            if not is_errcode(exc, "M_FORBIDDEN") or self._is_joined(room_id, self.bot_user_id):
                raise
            # The bot may have been invited without having accepted yet.
            self.ensure_joined(room_id, self.bot_user_id)
            self.invite(room_id, user_id)
        self.join(room_id, user_id)

    def forget_membership(self, room_id: RoomID, user_id: UserID) -> None:
        """Drop a remembered membership (the user was kicked or left)."""
        with self._lock:
            self._joined.discard((room_id, user_id))

    # --- events --------------------------------------------------------------------------------

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
        """Send an event as ``as_user`` (the bot if ``None``); returns its event id.

        Sending the same ``txn_id`` to the same room again returns the first event instead of
        a second one (for as long as the homeserver remembers it; Synapse: 30 minutes).
        ``ts`` backdates ``origin_server_ts`` (ms). See
        https://spec.matrix.org/v1.13/application-service-api/#timestamp-massaging
        """
        path = f"{_CLIENT}/rooms/{_seg(room_id)}/send/{_seg(event_type)}/{_seg(txn_id)}"
        params = {"ts": str(ts)} if ts is not None else None
        body = clean_content(event_type, content)  # nh3 at the one door out, whoever wrote it
        answer = self._acting(room_id, as_user, "PUT", path, params=params, body=body)
        return EventID(str(answer["event_id"]))

    def redact(
        self,
        room_id: RoomID,
        event_id: EventID,
        *,
        as_user: UserID | None,
        txn_id: str,
        reason: str | None = None,
    ) -> EventID:
        """Redact an event as ``as_user`` (the bot if ``None``); returns the redaction's id.

        See https://spec.matrix.org/v1.13/client-server-api/#redactions
        """
        path = f"{_CLIENT}/rooms/{_seg(room_id)}/redact/{_seg(event_id)}/{_seg(txn_id)}"
        body = {"reason": reason} if reason else {}
        answer = self._acting(room_id, as_user, "PUT", path, body=body)
        return EventID(str(answer["event_id"]))

    def room_state(
        self, room_id: RoomID, event_type: str, state_key: str = ""
    ) -> dict[str, Any] | None:
        """The content of one state event as the bot sees it, or ``None`` if there is none."""
        path = f"{_CLIENT}/rooms/{_seg(room_id)}/state/{_seg(event_type)}"
        if state_key:
            path += f"/{_seg(state_key)}"
        try:
            return self._json("GET", path)
        except MatrixError as exc:
            if exc.status == 404:
                return None
            raise

    def get_event(
        self, room_id: RoomID, event_id: EventID, as_user: UserID | None = None
    ) -> dict[str, Any]:
        """One event of a room, in client format."""
        path = f"{_CLIENT}/rooms/{_seg(room_id)}/event/{_seg(event_id)}"
        return self._json("GET", path, as_user=as_user)

    def relations(
        self,
        room_id: RoomID,
        event_id: EventID,
        rel_type: str,
        *,
        as_user: UserID | None = None,
        limit: int = 500,
    ) -> list[dict[str, Any]]:
        """The events relating to ``event_id`` with ``rel_type`` (``m.replace`` ...), as
        ``as_user`` (the bot if ``None``), up to ``limit`` of them.

        See https://spec.matrix.org/v1.13/client-server-api/#get_matrixclientv1roomsroomidrelationseventidreltype
        """
        path = (
            f"/_matrix/client/v1/rooms/{_seg(room_id)}/relations/{_seg(event_id)}/{_seg(rel_type)}"
        )
        found: list[dict[str, Any]] = []
        params: dict[str, str] = {"limit": "100"}
        while len(found) < limit:
            answer = self._json("GET", path, as_user=as_user, params=params)
            chunk = answer.get("chunk")
            found += [e for e in chunk or () if isinstance(e, dict)]
            following = answer.get("next_batch")
            if not chunk or not isinstance(following, str):
                break
            params = {"limit": "100", "from": following}
        return found[:limit]

    def recent_events(
        self,
        room_id: RoomID,
        *,
        limit: int = 50,
        senders: Sequence[UserID] = (),
        types: Sequence[str] = (),
        as_user: UserID | None = None,
    ) -> list[dict[str, Any]]:
        """The latest events of a room, newest first, as ``as_user`` (the bot if ``None``).

        ``senders`` and ``types`` narrow them (a room event filter). See
        https://spec.matrix.org/v1.13/client-server-api/#get_matrixclientv3roomsroomidmessages
        """
        path = f"{_CLIENT}/rooms/{_seg(room_id)}/messages"
        params = {"dir": "b", "limit": str(limit)}
        narrowing: dict[str, Any] = {}
        if senders:
            narrowing["senders"] = list(senders)
        if types:
            narrowing["types"] = list(types)
        if narrowing:
            params["filter"] = json.dumps(narrowing, separators=(",", ":"))
        chunk = self._json("GET", path, as_user=as_user, params=params).get("chunk")
        return [e for e in chunk if isinstance(e, dict)] if isinstance(chunk, list) else []

    # --- plumbing ------------------------------------------------------------------------------

    def _membership(self, room_id: RoomID, user_id: UserID, as_user: UserID | None) -> str | None:
        path = f"{_CLIENT}/rooms/{_seg(room_id)}/state/m.room.member/{_seg(user_id)}"
        try:
            member = self._json("GET", path, as_user=as_user)
        except MatrixError:
            return None
        return str(member.get("membership") or "") or None

    def _is_joined(self, room_id: RoomID, user_id: UserID) -> bool:
        with self._lock:
            return (room_id, user_id) in self._joined

    def _remember_joined(self, room_id: RoomID, user_id: UserID) -> None:
        with self._lock:
            self._joined.add((room_id, user_id))

    def _acting(
        self,
        room_id: RoomID,
        as_user: UserID | None,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> dict[str, Any]:
        """A call in a room; a refusal forgets the membership so the next try joins again."""
        try:
            return self._json(method, path, as_user=as_user, params=params, body=body)
        except MatrixError as exc:
            if is_errcode(exc, "M_FORBIDDEN"):
                self.forget_membership(room_id, as_user or self.bot_user_id)
            raise

    def _json(
        self,
        method: str,
        path: str,
        *,
        as_user: UserID | None = None,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        authenticated: bool = True,
    ) -> dict[str, Any]:
        response = self._call(
            method,
            path,
            as_user=as_user,
            params=params,
            body=body,
            data=data,
            headers=headers,
            authenticated=authenticated,
        )
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise MatrixError(
                _where(method, path), response.status_code, None, "the answer is not a JSON object"
            )
        return answer

    def _bearer(self) -> str:
        """The token every authenticated call carries: the appservice's ``as_token``."""
        return self._appservice.as_token.get_secret_value()

    def _call(
        self,
        method: str,
        path: str,
        *,
        as_user: UserID | None = None,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        authenticated: bool = True,
        stream: bool = False,
    ) -> requests.Response:
        """One call, with short rate limits waited out; a 2xx response or an exception.

        The token travels only in the ``Authorization`` header, and errors name the method
        and path (never the query string), so no message or log line can carry it.
        """
        where = _where(method, path)
        query = dict(params or {})
        if as_user is not None:
            query["user_id"] = as_user
        all_headers = dict(headers or {})
        if authenticated:
            all_headers["Authorization"] = f"Bearer {self._bearer()}"
        for attempt in range(MAX_RATE_LIMIT_RETRIES + 1):
            try:
                response = self._session.request(
                    method,
                    self._base + path,
                    params=query or None,
                    json=body if data is None else None,
                    data=data,
                    headers=all_headers,
                    timeout=self._timeout,
                    allow_redirects=False,
                    stream=stream,
                )
            except requests.Timeout as exc:
                raise MatrixUnavailable(
                    where, None, None, f"no answer within {self._timeout:g}s"
                ) from exc
            except requests.RequestException as exc:
                raise MatrixUnavailable(
                    where, None, None, f"cannot reach the homeserver ({type(exc).__name__})"
                ) from exc
            if response.status_code < 300:
                log.debug("matrix: %s -> %d", where, response.status_code)
                return response
            error = _error_of(where, response)
            response.close()
            if not isinstance(error, MatrixRateLimited):
                raise error
            if error.retry_after > MAX_INLINE_WAIT or attempt == MAX_RATE_LIMIT_RETRIES:
                raise error
            log.info("matrix: %s rate limited; waiting %.2fs", where, error.retry_after)
            time.sleep(error.retry_after)
        raise AssertionError("unreachable")  # pragma: no cover


def _error_of(where: str, response: requests.Response) -> MatrixError:
    """The exception for an error answer (https://spec.matrix.org/v1.13/client-server-api/#api-standards)."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    errcode = body.get("errcode") if isinstance(body.get("errcode"), str) else None
    message = str(body.get("error") or response.reason or "error")
    if status == 429 or errcode == "M_LIMIT_EXCEEDED":
        return MatrixRateLimited(where, status, errcode, message, _retry_after(response, body))
    if status >= 500:
        return MatrixUnavailable(where, status, errcode, message)
    return MatrixError(where, status, errcode, message)


def _retry_after(response: requests.Response, body: Mapping[str, Any]) -> float:
    """Seconds to wait: ``retry_after_ms`` in the body, else the ``Retry-After`` header."""
    ms = body.get("retry_after_ms")
    if isinstance(ms, int | float) and not isinstance(ms, bool) and ms >= 0:
        return float(ms) / 1000.0
    header = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(header))
    except ValueError:
        return _DEFAULT_RETRY_AFTER
