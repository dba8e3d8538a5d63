"""The sandbox forum's shared core: state under one lock, webhook queue, API bookkeeping.

Both faces of the double use it: the REST API (``forum_api``) and the member actions of
``SandboxForum``. Besides the forum itself it keeps what the real forum keeps around its API:
the request log tests read, queued faults tests inject, the admin-API rate limit bucket
(``max_admin_api_reqs_per_minute``) and the 120 s memo of API post creation.
"""

from __future__ import annotations

import hmac
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sandbox.forum_hooks import WebhookDispatcher
from sandbox.forum_model import SandboxRejection
from sandbox.forum_state import Event, ForumState

T = TypeVar("T")

#: ``DistributedMemoizer.memoize(signature, 120)`` in ``PostsController#create``.
MEMO_SECONDS = 120.0


@dataclass(frozen=True)
class ApiCall:
    """One HTTP request the forum received, as tests want to see it (attributes or keys)."""

    method: str
    path: str
    api_username: str | None
    status: int
    params: dict[str, Any]
    at: float
    #: the caller's TCP source port: the same port again means a reused connection
    client_port: int | None = None
    #: whether the request carried an ``Api-Key`` header (whatever its value)
    api_key: bool = False

    def __getitem__(self, key: str) -> Any:
        """Fields read as a mapping too: ``call["api_username"]``."""
        if key not in self.__dataclass_fields__:
            raise KeyError(key)
        return getattr(self, key)


@dataclass
class Fault:
    """A queued failure: the next ``remaining`` matching requests get this answer instead."""

    remaining: int
    status: int
    retry_after: int | None
    json_429: bool
    json_extras: bool
    method: str | None
    path_prefix: str | None
    message: str | None

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path_prefix is None or path.startswith(self.path_prefix)


def time_left(seconds: int) -> str:
    """``RateLimiter::LimitExceeded#time_left``."""
    if seconds <= 3:
        return "a few seconds"
    if seconds < 60:
        return f"{seconds} seconds"
    if seconds < 3600:
        minutes = math.ceil(seconds / 60)
        return "1 minute" if minutes == 1 else f"{minutes} minutes"
    hours = math.ceil(seconds / 3600)
    return "1 hour" if hours == 1 else f"{hours} hours"


def rate_limited(seconds: int, error_code: str) -> SandboxRejection:
    """The controller-level JSON 429 (``ApplicationController`` rescuing ``LimitExceeded``)."""
    left = time_left(seconds)
    return SandboxRejection(
        429,
        [f"You’ve performed this action too many times. Please wait {left} before trying again."],
        "rate_limit",
        extras={"wait_seconds": seconds, "time_left": left},
        headers={"Retry-After": str(seconds), "Discourse-Rate-Limit-Error-Code": error_code},
    )


@dataclass
class ForumCore:
    api_key: str
    state: ForumState
    dispatcher: WebhookDispatcher
    admin_api_rate_per_minute: int | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)
    events: list[Event] = field(default_factory=list)
    calls: list[ApiCall] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    memo: dict[str, tuple[float, int, dict[str, Any]]] = field(default_factory=dict)
    #: Seconds ``POST /posts`` waits after creating the post before it answers (a slow forum:
    #: the post exists while the caller still waits).
    post_answer_delay: float = 0.0
    _admin_bucket: deque[float] = field(default_factory=deque)

    def run(self, action: Callable[[], T]) -> T:
        """Do something to the forum under its lock and queue the webhooks it fired, in order."""
        with self.lock:
            try:
                return action()
            finally:
                self._drain()

    def _drain(self) -> None:
        fired, self.state.outbox[:] = list(self.state.outbox), []
        for event in fired:
            self.events.append(event)
            self.dispatcher.enqueue(event)

    def key_matches(self, presented: str) -> bool:
        return hmac.compare_digest(presented.encode(), self.api_key.encode())

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.remaining > 0 and fault.matches(method, path):
                    fault.remaining -= 1
                    return fault
            self.faults = [f for f in self.faults if f.remaining > 0]
            return None

    def admin_api_wait(self) -> int | None:
        """Count one admin-API request; seconds to wait if the shared bucket is full."""
        limit = self.admin_api_rate_per_minute
        if limit is None:
            return None
        with self.lock:
            moment = time.monotonic()
            while self._admin_bucket and moment - self._admin_bucket[0] >= 60.0:
                self._admin_bucket.popleft()
            if len(self._admin_bucket) >= limit:
                return max(1, math.ceil(60.0 - (moment - self._admin_bucket[0])))
            self._admin_bucket.append(moment)
            return None

    def log(self, call: ApiCall) -> None:
        with self.lock:
            self.calls.append(call)

    def memoized(self, signature: str) -> tuple[int, dict[str, Any]] | None:
        hit = self.memo.get(signature)
        if hit is None or hit[0] < self.state.redis_now():
            self.memo.pop(signature, None)
            return None
        return hit[1], hit[2]

    def remember(self, signature: str, status: int, body: dict[str, Any]) -> None:
        # A Redis key with a TTL in Discourse: it runs on the clock of the forum's Redis keys.
        self.memo[signature] = (self.state.redis_now() + MEMO_SECONDS, status, body)
