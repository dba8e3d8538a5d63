"""Webhook delivery of the sandbox forum: signed, shaped and queued like Discourse's job.

Each delivery is what ``Jobs::EmitWebHookEvent`` sends (``shared/reference/discourse.md``
§1.1): a POST of ``{"<type>": payload}`` with the headers below, a new ``X-Discourse-Event-Id``
per delivery, and ``X-Discourse-Event-Signature: sha256=<hex HMAC of the raw body>`` when the
webhook has a secret. Deliveries leave from one background thread (Sidekiq's place) in the
order they were queued; a failed delivery is recorded and not retried (automatic retries are
off by default on a real forum). :meth:`WebhookDispatcher.redeliver` re-sends the stored
headers and body unchanged, like the admin's Redeliver button.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import requests

from webhooks.sandbox.forum_state import Event

log = logging.getLogger(__name__)

#: The Discourse version the double answers as (``User-Agent: Discourse/<this>``).
DISCOURSE_VERSION = "3.5.0.beta5"
#: ``WebHookEmitter::REQUEST_TIMEOUT``.
REQUEST_TIMEOUT = 20.0
#: What porch subscribes to: post and topic events (``like`` and others are opt-in).
DEFAULT_EVENT_TYPES = frozenset({"post", "topic"})


@dataclass(frozen=True)
class Delivery:
    """One POST the forum made (or will make) to the webhook URL.

    Readable as attributes or as a mapping (``d.status``, ``d["status"]``).
    """

    event_id: int
    event_type: str
    event_name: str
    url: str
    headers: dict[str, str]
    body: bytes
    #: the receiver's status; None while queued, -1 when the connection failed (as Discourse)
    status: int | None = None
    response_body: str | None = None
    error: str | None = None
    redelivery: bool = False
    sent_at: float | None = None

    def __getitem__(self, key: str) -> Any:
        """Fields read as a mapping too: ``delivery["status"]``."""
        if key not in self.__dataclass_fields__ and key != "payload":
            raise KeyError(key)
        return getattr(self, key)

    @property
    def payload(self) -> dict[str, Any]:
        """The body, decoded."""
        decoded: dict[str, Any] = json.loads(self.body)
        return decoded


def signature(secret: str, body: bytes) -> str:
    """``X-Discourse-Event-Signature``: ``sha256=`` and the lower-case hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class _Hook:
    url: str
    secret: str | None
    event_types: frozenset[str]


@dataclass
class WebhookDispatcher:
    """Queues and sends the forum's webhook deliveries, one at a time, in order."""

    instance_url: str
    _hook: _Hook | None = None
    _queue: queue.Queue[Delivery | None] = field(default_factory=queue.Queue)
    _records: list[Delivery] = field(default_factory=list)
    _pending: int = 0
    _next_id: int = 1
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _thread: threading.Thread | None = None

    def configure(
        self, url: str | None, secret: str | None, event_types: Collection[str] | None = None
    ) -> None:
        """Point the webhook somewhere (None: no webhook, nothing is queued any more)."""
        if secret and len(secret) < 12:
            raise ValueError("a Discourse webhook secret needs at least 12 characters")
        with self._cond:
            if url is None:
                self._hook = None
            else:
                types = frozenset(event_types) if event_types is not None else DEFAULT_EVENT_TYPES
                self._hook = _Hook(url, secret or None, types)

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name="sandbox-forum-webhooks", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(timeout)
        self._thread = None

    # --- queueing ----------------------------------------------------------------------------

    def enqueue(self, event: Event) -> Delivery | None:
        """Queue one event for the webhook, if there is one and it wants this event type."""
        with self._cond:
            hook = self._hook
            if hook is None or (event.type != "ping" and event.type not in hook.event_types):
                return None
            body = json.dumps(
                {"ping": "OK"} if event.type == "ping" else {event.type: event.payload},
                ensure_ascii=False,
                separators=(",", ":"),
            ).encode()
            event_id = self._next_id
            self._next_id += 1
            headers = {
                "Accept": "*/*",
                "Connection": "close",
                "Content-Type": "application/json",
                "Host": urlsplit(hook.url).hostname or "",
                "User-Agent": f"Discourse/{DISCOURSE_VERSION}",
                "X-Discourse-Instance": self.instance_url,
                "X-Discourse-Event-Id": str(event_id),
                "X-Discourse-Event-Type": event.type,
                "X-Discourse-Event": event.name,
            }
            if hook.secret:
                headers["X-Discourse-Event-Signature"] = signature(hook.secret, body)
            delivery = Delivery(event_id, event.type, event.name, hook.url, headers, body)
            self._pending += 1
            self._queue.put(delivery)
            return delivery

    def redeliver(self, event_id: int) -> None:
        """Send a stored delivery again: same headers (id, signature) and same body."""
        with self._cond:
            original = next((d for d in self._records if d.event_id == event_id), None)
            if original is None:
                raise KeyError(f"no delivery with X-Discourse-Event-Id {event_id}")
            url = self._hook.url if self._hook is not None else original.url
            again = replace(
                original,
                url=url,
                status=None,
                response_body=None,
                error=None,
                redelivery=True,
                sent_at=None,
            )
            self._pending += 1
            self._queue.put(again)

    # --- inspection --------------------------------------------------------------------------

    def deliveries(self) -> list[Delivery]:
        """Every delivery attempted so far, in the order it was sent."""
        with self._cond:
            return list(self._records)

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every queued delivery has been sent (and answered or failed)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"{self._pending} webhook deliveries still queued after {timeout:.1f}s"
                    )
                self._cond.wait(left)

    def wait_for(
        self, predicate: Callable[[list[Delivery]], bool], timeout: float, what: str
    ) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self._records):
                left = deadline - time.monotonic()
                if left <= 0:
                    names = [d.event_name for d in self._records]
                    raise TimeoutError(f"timed out waiting for {what}; deliveries so far: {names}")
                self._cond.wait(left)
            return list(self._records)

    # --- the worker --------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            delivery = self._queue.get()
            if delivery is None:
                return
            done = self._send(delivery)
            with self._cond:
                self._records.append(done)
                self._pending -= 1
                self._cond.notify_all()

    def _send(self, delivery: Delivery) -> Delivery:
        started = time.time()
        try:
            response = requests.post(
                delivery.url,
                data=delivery.body,
                headers=delivery.headers,
                timeout=REQUEST_TIMEOUT,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            log.info("webhook %s to %s failed: %s", delivery.event_name, delivery.url, exc)
            return replace(delivery, status=-1, error=str(exc), sent_at=started)
        return replace(
            delivery,
            status=response.status_code,
            response_body=response.text[:2000],
            sent_at=started,
        )
