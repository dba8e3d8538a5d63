"""Bot mode's door: porch's account logs in with matrix-nio and follows its rooms with ``/sync``.

What the appservice door gets pushed, bot mode fetches: each sync's room events become the same
neutral inbox events (:func:`bridges.matrix.events.inbox_events`, the same keys, so an event is
never recorded twice), and then where the sync stopped (``next_batch``) is stored, so that a
restart resumes there: nothing sent while porch was down is lost, nothing is carried twice.
See https://spec.matrix.org/v1.13/client-server-api/#syncing

- The very first sync only marks where porch starts: the rooms' history is not carried.
- In a room porch has just joined, what came before its join is history too.
- A sync whose timeline of a room is ``limited`` (more happened than it returns) has a gap,
  which is fetched with ``/messages`` back to where the previous sync stopped.
- Invites are carried (a direct chat with the bot, for its commands); porch joins the linked
  rooms it was invited to after its first sync, and tries again after each one until it is in.
- Failures are retried with exponential backoff; after ``matrix.bot.max_sync_failures`` in a row
  (or at once when the homeserver refuses the account) porch gives up, says why in its log and
  in the store, and its readiness turns false (``webhooks.matrix_sync``).

matrix-nio is asyncio; the loop runs in a thread of its own, beside the threaded rest of porch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from nio import (
    AsyncClient,
    AsyncClientConfig,
    InviteMemberEvent,
    LoginResponse,
    MessageDirection,
    RoomMessagesResponse,
    SyncResponse,
    WhoamiResponse,
)

from bridges import metrics
from bridges.backoff import backoff
from bridges.links import LinkConfig
from bridges.matrix.api import AppserviceAPI
from bridges.matrix.bot_config import BotConfig
from bridges.matrix.events import inbox_events
from bridges.matrix.matrix_errors import MatrixError
from bridges.model import RoomID, UserID
from bridges.store.inbox import Inbox
from bridges.store.sync_state import SyncState

log = logging.getLogger(__name__)

#: ``/messages`` pages fetched at most to fill one room's gap (100 events each).
MAX_GAP_PAGES = 50
_GAP_PAGE = 100
_QUERY_TOKEN = re.compile(r"(access_token=)[^&\s\"']+")
#: Errors that no retry will cure: the account or its password is refused.
_FATAL_LOGIN = frozenset({"M_FORBIDDEN", "M_USER_DEACTIVATED", "M_INVALID_USERNAME"})


class GiveUp(Exception):
    """Syncing cannot go on; the message says why and what to do."""


class BotSync:
    """Logs porch's account in and turns its syncs into inbox events until stopped."""

    def __init__(
        self,
        homeserver: str,
        config: BotConfig,
        links: Sequence[LinkConfig],
        sessions: SyncState,
        inbox: Inbox,
        api: AppserviceAPI,
        *,
        on_accepted: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
        request_timeout: float = 15.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
    ) -> None:
        self.homeserver = homeserver
        self.config = config
        self.links = links
        self.sessions = sessions
        self.inbox = inbox
        self.api = api
        self.on_accepted = on_accepted
        self.clock = clock
        self.request_timeout = request_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.user_id = UserID(config.user_id)
        #: Why syncing stopped for good (``None`` while it runs or after :meth:`stop`).
        self.failure: str | None = None
        #: Set once a sync has been recorded (tests and start-up wait on it).
        self.synced = threading.Event()
        self._joined_links: set[str] = set()
        self._told: set[str] = set()
        self._stopping = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    # --- running --------------------------------------------------------------------------

    def run(self) -> None:
        """Sync until :meth:`stop` or until giving up (then :attr:`failure` says why)."""
        try:
            asyncio.run(self._main())
        except asyncio.CancelledError:
            log.info("bot sync: stopped")
        except Exception:
            log.exception("bot sync: stopped by an unexpected error")
            self._give_up("an unexpected error stopped the sync loop; see porch's log")

    def stop(self) -> None:
        """Stop syncing (the long poll in flight is cancelled, not waited for)."""
        self._stopping.set()
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            # The loop may close between the look and the call: then there is nothing to stop.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(task.cancel)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        if self._stopping.is_set():
            return
        client = AsyncClient(
            self.homeserver,
            self.user_id,
            device_id=self.config.device_id,
            config=AsyncClientConfig(
                # porch retries itself, with a bound, and counts what fails.
                max_limit_exceeded=3,
                max_timeouts=0,
                request_timeout=self.request_timeout,
                encryption_enabled=False,
            ),
        )
        try:
            await self._follow(client)
        except GiveUp as exc:
            self._give_up(str(exc))
        except asyncio.CancelledError:
            log.info("bot sync: stopped")
        finally:
            # A stop that comes while the connections close must not break the thread.
            with contextlib.suppress(asyncio.CancelledError):
                await client.close()

    async def _follow(self, client: AsyncClient) -> None:
        self._save_failure(None)
        await self._retrying("log in", lambda: self._log_in(client))
        session = self.sessions.session(self.user_id)
        since = None if session is None else session.next_batch
        if since is None:
            log.info("bot sync: first sync of %s; earlier history is not carried", self.user_id)
        else:
            log.info("bot sync: resuming the sync of %s where it stopped", self.user_id)
        while not self._stopping.is_set():
            since = await self._retrying("sync", self._next_sync(client, since))

    def _next_sync(self, client: AsyncClient, since: str | None) -> Callable[[], Awaitable[str]]:
        async def step() -> str:
            return await self._sync_once(client, since)

        return step

    async def _retrying(self, what: str, step: Callable[[], Awaitable[Any]]) -> Any:
        """``step()``, tried again with exponential backoff; :class:`GiveUp` after
        ``max_sync_failures`` failures in a row."""
        failures = 0
        while True:
            try:
                return await step()
            except (GiveUp, asyncio.CancelledError):
                raise
            except Exception as exc:
                failures += 1
                reason = _describe(exc)
                if failures >= self.config.max_sync_failures:
                    raise GiveUp(
                        f"could not {what} {failures} times in a row (last: {reason}); porch "
                        "no longer hears its rooms: fix the cause and restart porch"
                    ) from exc
                wait = backoff(self.backoff_initial, failures, self.backoff_max)
                log.warning(
                    "bot sync: could not %s (%s); trying again in %.1fs (%d of %d)",
                    what,
                    reason,
                    wait,
                    failures,
                    self.config.max_sync_failures,
                )
                await asyncio.sleep(wait)

    def _give_up(self, reason: str) -> None:
        self.failure = reason
        log.error("bot sync: gave up: %s", reason)
        self._save_failure(reason)

    def _save_failure(self, reason: str | None) -> None:
        try:
            self.sessions.save_failure(self.user_id, reason, self.clock())
        except Exception as exc:  # the store is down too: the log line above says it all
            log.warning("bot sync: could not record the sync's state (%s)", type(exc).__name__)

    # --- the session ------------------------------------------------------------------------

    async def _log_in(self, client: AsyncClient) -> None:
        """Use the configured token, else the stored login, else log in with the password."""
        if self.config.access_token is not None:
            client.access_token = self.config.access_token.get_secret_value()
            await self._check_token(client)
            return
        # Twice: a refused token may have been replaced by another process's login meanwhile.
        for _ in range(2):
            session = self.sessions.session(self.user_id)
            if session is None or session.access_token is None:
                break
            client.access_token = session.access_token
            client.device_id = session.device_id or self.config.device_id
            if await self._check_token(client, fatal=False):
                return
            self.sessions.forget_token(self.user_id, session.access_token, self.clock())
            log.info("bot sync: the stored login of %s was refused", self.user_id)
        await self._password_login(client)

    async def _check_token(self, client: AsyncClient, *, fatal: bool = True) -> bool:
        """Whether the homeserver takes the token for porch's account (``whoami``)."""
        answer = await client.whoami()
        if isinstance(answer, WhoamiResponse):
            if answer.user_id != self.user_id:
                raise GiveUp(
                    f"matrix.bot: the access token is {answer.user_id}'s, not {self.user_id}'s"
                )
            return True
        if answer.status_code == "M_UNKNOWN_TOKEN":
            if fatal:
                raise GiveUp("matrix.bot.access_token: the homeserver does not accept it")
            return False
        raise MatrixError("whoami", None, answer.status_code, str(answer.message))

    async def _password_login(self, client: AsyncClient) -> None:
        if self.config.password is None:
            raise GiveUp("matrix.bot: no password to log in with")
        client.device_id = self.config.device_id
        answer = await client.login(self.config.password.get_secret_value(), device_name="porch")
        if not isinstance(answer, LoginResponse):
            if answer.status_code in _FATAL_LOGIN:
                raise GiveUp(
                    f"matrix.bot: the homeserver refused the login of {self.user_id} "
                    f"({answer.status_code}: {answer.message})"
                )
            raise MatrixError("login", None, answer.status_code, str(answer.message))
        self.sessions.save_login(self.user_id, answer.device_id, answer.access_token, self.clock())
        log.info("bot sync: logged in as %s (device %s)", answer.user_id, answer.device_id)

    # --- one sync ---------------------------------------------------------------------------

    async def _sync_once(self, client: AsyncClient, since: str | None) -> str:
        """One sync recorded; returns where the next one starts."""
        answer = await client.sync(
            timeout=int(self.config.sync_timeout * 1000),
            sync_filter=self._filter(),
            since=since,
        )
        if not isinstance(answer, SyncResponse):
            if answer.status_code == "M_UNKNOWN_TOKEN":
                self.sessions.forget_token(self.user_id, client.access_token, self.clock())
                self.api_token_refused()
                await self._log_in(client)
            raise MatrixError("sync", None, answer.status_code, str(answer.message))
        events, invited = await self._events(client, answer, since)
        new = inbox_events(events, is_ours=lambda sender: sender == self.user_id)
        now = self.clock()
        ids = self.inbox.append(new, now) if new else []
        recorded = sum(1 for i in ids if i is not None)
        self._count(len(events), recorded, len(ids) - recorded)
        # Only once the events are in the inbox: a crash before this line syncs them again,
        # and the inbox's keys drop the ones it has.
        self.sessions.save_batch(self.user_id, answer.next_batch, now)
        if recorded:
            log.debug("bot sync: %d event(s) recorded", recorded)
            self.on_accepted()
        self.synced.set()
        if invited or len(self._joined_links) < len(self.links):
            self._join_links()
        return str(answer.next_batch)

    def api_token_refused(self) -> None:
        """Tell this process's client that the token changes (it reads the store again)."""
        token = getattr(self.api, "token", None)
        if token is not None:
            token.refused()

    def _filter(self) -> dict[str, Any]:
        """Room events only, ``timeline_limit`` per room; no presence, receipts or typing."""
        nothing = {"not_types": ["*"]}
        return {
            "presence": nothing,
            "account_data": nothing,
            "room": {
                "timeline": {"limit": self.config.timeline_limit},
                "state": {"lazy_load_members": True},
                "ephemeral": nothing,
                "account_data": nothing,
            },
        }

    async def _events(
        self, client: AsyncClient, answer: SyncResponse, since: str | None
    ) -> tuple[list[dict[str, Any]], bool]:
        """The client-format events of a sync worth looking at, in order, with their room id;
        and whether it brought invites."""
        out: list[dict[str, Any]] = []
        for room_id, room in answer.rooms.join.items():
            timeline = [dict(event.source) for event in room.timeline.events]
            joined_at = self._own_join(timeline)
            if since is None:
                continue  # the first sync: everything in it is history
            if joined_at is not None:
                timeline = timeline[joined_at + 1 :]
            elif room.timeline.limited and room.timeline.prev_batch:
                gap = await self._gap(client, room_id, room.timeline.prev_batch, since)
                timeline = gap + timeline
            out += [{**event, "room_id": room_id} for event in timeline]
        invites = 0
        for room_id, invite in answer.rooms.invite.items():
            for event in invite.invite_state:
                # nio keeps the content of stripped member events out of ``source``.
                if not isinstance(event, InviteMemberEvent) or event.state_key != self.user_id:
                    continue
                # Stripped state has no event id; the sync position makes one that is the same
                # when this sync is fetched again after a crash, and new for a later invite.
                synthetic = f"$invite.{answer.next_batch}.{room_id}"
                stripped = {
                    "type": "m.room.member",
                    "state_key": event.state_key,
                    "sender": event.sender,
                    "content": dict(event.content),
                }
                out.append({**stripped, "room_id": room_id, "event_id": synthetic})
                invites += 1
        return out, invites > 0

    def _own_join(self, timeline: Sequence[Mapping[str, Any]]) -> int | None:
        """The position of porch's own join in a room's timeline, if it joined in this sync."""
        found = None
        for i, event in enumerate(timeline):
            if event.get("type") != "m.room.member" or event.get("state_key") != self.user_id:
                continue
            content = event.get("content") if isinstance(event.get("content"), dict) else {}
            unsigned = event.get("unsigned") if isinstance(event.get("unsigned"), dict) else {}
            before = unsigned.get("prev_content") if isinstance(unsigned, dict) else None
            was = before.get("membership") if isinstance(before, dict) else None
            if isinstance(content, dict) and content.get("membership") == "join" and was != "join":
                found = i
        return found

    async def _gap(
        self, client: AsyncClient, room_id: str, prev_batch: str, since: str
    ) -> list[dict[str, Any]]:
        """The events between the previous sync and this one's timeline, oldest first."""
        older: list[dict[str, Any]] = []
        start: str | None = prev_batch
        for _ in range(MAX_GAP_PAGES):
            page = await client.room_messages(
                room_id, start=start, end=since, direction=MessageDirection.back, limit=_GAP_PAGE
            )
            if not isinstance(page, RoomMessagesResponse):
                raise MatrixError("messages", None, page.status_code, str(page.message))
            older += [dict(event.source) for event in page.chunk]
            if not page.chunk or not page.end or page.end == start:
                break
            start = page.end
        else:
            log.warning(
                "bot sync: %s: more than %d events came while porch was away; the oldest are "
                "not carried",
                room_id,
                MAX_GAP_PAGES * _GAP_PAGE,
            )
        older.reverse()
        log.info("bot sync: %s: fetched %d event(s) a sync skipped", room_id, len(older))
        return older

    def _join_links(self) -> None:
        """Join every linked room porch is not in yet (it was invited, or the room is open)."""
        for link in self.links:
            if link.name in self._joined_links:
                continue
            try:
                room = self.api.resolve_room(link.room)
                self.api.ensure_joined(room, self.user_id)
            except (MatrixError, ValueError) as exc:
                # Tried again after each sync until it works: said once, then quietly.
                level = logging.DEBUG if link.name in self._told else logging.WARNING
                self._told.add(link.name)
                log.log(level, "bot sync: not in %s (%s) yet: %s", link.room, link.name, exc)
                continue
            log.info("bot sync: in the room of link %s (%s)", link.name, RoomID(room))
            self._joined_links.add(link.name)

    @staticmethod
    def _count(received: int, recorded: int, duplicates: int) -> None:
        if not received:
            return
        metrics.EVENTS_RECEIVED.labels("matrix").inc(received)
        if recorded:
            metrics.EVENTS_ACCEPTED.labels("matrix").inc(recorded)
        if duplicates:
            metrics.EVENTS_REJECTED.labels("matrix", "duplicate").inc(duplicates)
        ignored = received - recorded - duplicates
        if ignored > 0:
            metrics.EVENTS_REJECTED.labels("matrix", "ignored").inc(ignored)


def _describe(exc: BaseException) -> str:
    """An error in a few words, for the log, the store and ``/readyz``. nio sends the token in
    the query string too, so a URL an error might quote has it blanked out."""
    text = _QUERY_TOKEN.sub(r"\1<redacted>", str(exc))
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
