"""Webhook delivery of the sandbox forum: signed, shaped and queued like Discourse's job.

Each delivery is what Discourse's ``Jobs::EmitWebHookEvent`` job sends: a POST of
``{"<type>": payload}`` with the headers below, a new ``X-Discourse-Event-Id``
per delivery, and ``X-Discourse-Event-Signature: sha256=<hex HMAC of the raw body>`` when the
webhook has a secret. Deliveries leave from one background thread (Sidekiq's place) in the
order they were queued; a failed delivery is recorded and not retried (automatic retries are
off by default on a real forum). :meth:`WebhookDispatcher.redeliver` re-sends the stored
headers and body unchanged, like the admin's Redeliver button.

The forum may have several webhooks (:class:`WebHook`, managed through the admin API or
``SandboxForum.set_webhook``). Each one receives the events it subscribes to — by type
(``post``, as older forums did) or by granular name (``post_created``, as newer forums do,
reference §1.4) — unless it is inactive or its category filter leaves the event out (§1.3).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import requests

from sandbox.forum_state import Event

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
    #: the webhook this delivery was for
    web_hook_id: int = 0

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


#: ``WebHookEventType::TYPES`` of a newer forum (reference §1.4): the granular event types a
#: webhook subscribes to, as ``(id, name, group)``. Only the groups a plain forum has.
EVENT_TYPES: tuple[tuple[int, str, str], ...] = (
    (101, "topic_created", "topic"),
    (102, "topic_revised", "topic"),
    (103, "topic_edited", "topic"),
    (104, "topic_destroyed", "topic"),
    (105, "topic_recovered", "topic"),
    (201, "post_created", "post"),
    (202, "post_edited", "post"),
    (203, "post_destroyed", "post"),
    (204, "post_recovered", "post"),
    (301, "user_logged_in", "user"),
    (302, "user_logged_out", "user"),
    (303, "user_confirmed_email", "user"),
    (304, "user_created", "user"),
    (305, "user_approved", "user"),
    (306, "user_updated", "user"),
    (307, "user_destroyed", "user"),
    (308, "user_suspended", "user"),
    (309, "user_unsuspended", "user"),
    (501, "category_created", "category"),
    (502, "category_updated", "category"),
    (503, "category_destroyed", "category"),
    (601, "tag_created", "tag"),
    (602, "tag_updated", "tag"),
    (603, "tag_destroyed", "tag"),
    (901, "reviewable_created", "reviewable"),
    (902, "reviewable_updated", "reviewable"),
    (1401, "group_user_added", "group_user"),
    (1402, "group_user_removed", "group_user"),
    (1501, "like_created", "like"),
)
#: ``WebHook.default_event_types``: what the admin's form preselects.
DEFAULT_EVENT_TYPE_NAMES = ("post_created", "post_edited", "post_destroyed", "post_recovered")
#: ``WebHook.content_types``: the only two a webhook can have (the body is JSON either way).
CONTENT_TYPES = {1: "application/json", 2: "application/x-www-form-urlencoded"}


def subscription_name(event_name: str) -> str:
    """The granular event type a webhook subscribes to for an event name.

    ``WebHook::EVENT_NAME_TO_EVENT_TYPE_MAP`` sends ``topic_*_status_updated`` to ``topic_edited``
    subscribers; the like event (``post_liked``) goes to ``like_created`` subscribers.
    """
    if event_name.startswith("topic_") and event_name.endswith("_status_updated"):
        return "topic_edited"
    if event_name == "post_liked":
        return "like_created"
    if event_name == "user_added_to_group":
        return "group_user_added"
    if event_name == "user_removed_from_group":
        return "group_user_removed"
    if event_name in ("reviewable_score_updated", "reviewable_transitioned_to"):
        return "reviewable_updated"
    return event_name


@dataclass
class WebHook:
    """One webhook of the forum (the ``web_hooks`` row and its join tables)."""

    id: int
    url: str
    secret: str | None
    #: subscription names: event types (``post``) or granular event names (``post_created``)
    event_types: frozenset[str]
    category_ids: frozenset[int] = frozenset()
    active: bool = True
    wildcard: bool = False
    content_type: int = 1
    verify_certificate: bool = True
    #: ``WebHook.last_delivery_statuses``: inactive 1, failed 2, successful 3
    last_delivery_status: int = 1

    def wants(self, event: Event) -> bool:
        """Whether this webhook is sent ``event`` (a ping skips the active and filter checks)."""
        if event.type == "ping":
            return True
        if not self.active:
            return False
        subscribed = self.wildcard or bool(
            {event.type, event.name, subscription_name(event.name)} & self.event_types
        )
        if not subscribed:
            return False
        if self.category_ids:
            category = event.payload.get("category_id")
            return isinstance(category, int) and category in self.category_ids
        return True


@dataclass
class WebhookDispatcher:
    """Holds the forum's webhooks; queues and sends their deliveries, one at a time, in order."""

    instance_url: str
    _hooks: dict[int, WebHook] = field(default_factory=dict)
    #: the webhook :meth:`configure` manages (``SandboxForum.set_webhook``)
    _configured: int | None = None
    _next_hook: int = 1
    _queue: queue.Queue[Delivery | None] = field(default_factory=queue.Queue)
    _records: list[Delivery] = field(default_factory=list)
    _pending: int = 0
    _next_id: int = 1
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _thread: threading.Thread | None = None

    def configure(
        self, url: str | None, secret: str | None, event_types: Collection[str] | None = None
    ) -> None:
        """Point "the" webhook somewhere (None: remove it, nothing is queued for it any more).

        Webhooks made through the admin API are left as they are.
        """
        _check_secret(secret)
        with self._cond:
            if url is None:
                if self._configured is not None:
                    self._hooks.pop(self._configured, None)
                self._configured = None
                return
            types = frozenset(event_types) if event_types is not None else DEFAULT_EVENT_TYPES
            if self._configured is not None and self._configured in self._hooks:
                hook = self._hooks[self._configured]
                hook.url, hook.secret, hook.event_types = url, secret or None, types
            else:
                self._configured = self.add_hook(url, secret, types).id

    # --- the admin's webhooks ------------------------------------------------------------------

    def add_hook(self, url: str, secret: str | None, event_types: Collection[str]) -> WebHook:
        """A new active webhook; more can be changed on the returned object under the lock."""
        _check_secret(secret)
        with self._cond:
            hook = WebHook(self._next_hook, url, secret or None, frozenset(event_types))
            self._next_hook += 1
            self._hooks[hook.id] = hook
            return hook

    def hooks(self) -> list[WebHook]:
        """Every webhook, by id (the objects themselves: change them under :attr:`lock`)."""
        with self._cond:
            return [self._hooks[i] for i in sorted(self._hooks)]

    def hook(self, hook_id: int) -> WebHook | None:
        with self._cond:
            return self._hooks.get(hook_id)

    def remove_hook(self, hook_id: int) -> None:
        with self._cond:
            self._hooks.pop(hook_id, None)
            if self._configured == hook_id:
                self._configured = None

    @property
    def lock(self) -> threading.Condition:
        """Held while the webhooks are read or changed (deliveries read them too)."""
        return self._cond

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
        """Queue one event for every webhook that wants it; returns the first delivery."""
        with self._cond:
            first: Delivery | None = None
            for hook_id in sorted(self._hooks):
                hook = self._hooks[hook_id]
                if hook.wants(event):
                    delivery = self._enqueue_for(hook, event)
                    first = first or delivery
            return first

    def _enqueue_for(self, hook: WebHook, event: Event) -> Delivery:
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
            "Content-Type": CONTENT_TYPES.get(hook.content_type, "application/json"),
            "Host": urlsplit(hook.url).hostname or "",
            "User-Agent": f"Discourse/{DISCOURSE_VERSION}",
            "X-Discourse-Instance": self.instance_url,
            "X-Discourse-Event-Id": str(event_id),
            "X-Discourse-Event-Type": event.type,
            "X-Discourse-Event": event.name,
        }
        if hook.secret:
            headers["X-Discourse-Event-Signature"] = signature(hook.secret, body)
        delivery = Delivery(
            event_id, event.type, event.name, hook.url, headers, body, web_hook_id=hook.id
        )
        self._pending += 1
        self._queue.put(delivery)
        return delivery

    def redeliver(self, event_id: int) -> None:
        """Send a stored delivery again: same headers (id, signature) and same body."""
        with self._cond:
            original = next((d for d in self._records if d.event_id == event_id), None)
            if original is None:
                raise KeyError(f"no delivery with X-Discourse-Event-Id {event_id}")
            hook = self._hooks.get(original.web_hook_id)
            url = hook.url if hook is not None else original.url
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
                hook = self._hooks.get(done.web_hook_id)
                if hook is not None:
                    ok = done.status is not None and 200 <= done.status < 300
                    hook.last_delivery_status = 3 if ok else 2
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


def _check_secret(secret: str | None) -> None:
    if secret and len(secret) < 12:
        raise ValueError("a Discourse webhook secret needs at least 12 characters")


# --- the admin API's view of webhooks ---------------------------------------------------------

#: ``webhooks.payload_url.blocked_or_internal`` (config/locales/server.en.yml).
BLOCKED_OR_INTERNAL = (
    "Payload URL cannot be used because it resolves to a blocked or internal IP address"
)


_TYPE_IDS = {
    "topic": 1,
    "post": 2,
    "user": 3,
    "group": 4,
    "category": 5,
    "tag": 6,
    "reviewable": 9,
    "group_user": 14,
    "like": 15,
}


def event_type_json(name: str) -> dict[str, Any]:
    """``WebHookEventTypeSerializer``: ``{id, name, group}``."""
    for type_id, type_name, group in EVENT_TYPES:
        if type_name == name:
            return {"id": type_id, "name": type_name, "group": group}
    # A type-level subscription (``post``) made by SandboxForum.set_webhook, with the ids an
    # older forum gave the types (reference §1.4, [B]).
    return {"id": _TYPE_IDS.get(name, 0), "name": name, "group": name}


def web_hook_json(hook: WebHook) -> dict[str, Any]:
    """``AdminWebHookSerializer`` of a newer forum (categories embedded as ids)."""
    return {
        "id": hook.id,
        "payload_url": hook.url,
        "content_type": hook.content_type,
        "last_delivery_status": hook.last_delivery_status if hook.active else 4,
        "secret": hook.secret or "",
        "wildcard_web_hook": hook.wildcard,
        "verify_certificate": hook.verify_certificate,
        "active": hook.active,
        "web_hook_event_types": [event_type_json(n) for n in sorted(hook.event_types)],
        "category_ids": sorted(hook.category_ids),
        "tag_names": [],
        "group_ids": [],
    }


def _internal(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_unspecified


def payload_url_allowed(url: str, allowed_internal_hosts: str, own_host: str) -> bool:
    """``WebHook#ensure_payload_url_allowed``: may the forum call ``url``'s host?

    Hosts in ``allowed_internal_hosts`` (``|``- or newline-separated) and the forum's own host
    bypass the check; other hosts must resolve, and not only to private or loopback addresses
    (``FinalDestination::SSRFDetector``).
    """
    host = (urlsplit(url).hostname or "").lower()
    allowed = {h.strip().lower() for h in allowed_internal_hosts.replace("\n", "|").split("|")}
    if host in allowed - {""} or host == own_host.lower():
        return True
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except (OSError, UnicodeError):
        return False
    return any(not _internal(str(a).split("%", 1)[0]) for a in addresses)
