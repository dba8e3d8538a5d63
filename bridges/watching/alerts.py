"""Alert delivery: a notice in the watch's Matrix room, an email, a signed webhook.

Alerts are rows first (:class:`bridges.store.watch_records.WatchRecords`): raising one is a unique
insert per thread, watch and kind (the deduplication), and :meth:`Dispatcher.send_due` sends
what is due, channel by channel, recording each channel as it succeeds. A channel that fails is
tried again later (the alert's ``due_at`` moves on); one that succeeded is not sent again. The
room notice uses a transaction id derived from the alert, so a crash between sending and
recording it does not post twice.

Each channel gets the alert as its readers may read it (:mod:`bridges.watching.sinks`): whole
when every reader of the room (or, for email and webhooks, everyone) may read where it came
from, else as a link without the restricted text.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import time
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from html import escape
from typing import Any
from urllib.parse import urlsplit

import requests

from bridges.backoff import backoff
from bridges.matrix.api import AppserviceAPI
from bridges.model import RoomID
from bridges.store.watch_records import AlertRow, WatchRecords
from bridges.watching.access import Readers
from bridges.watching.sinks import Audience, Audiences, withheld
from bridges.watching.watching_config import SmtpConfig, WatchConfig, WatchingConfig, WebhookConfig
from policies.watching import AlertKind, audience_may_read, quiet_until

log = logging.getLogger(__name__)

#: Seconds before a channel that failed is tried again (doubling per attempt, capped).
RETRY_INITIAL = 30.0
RETRY_MAX = 3600.0
#: Seconds an alert being sent is kept from other senders (the observer, the scheduled run,
#: other workers), so that an email or webhook call is not made twice.
CLAIM_LEASE = 120.0
#: The header that carries the webhook body's HMAC-SHA256.
SIGNATURE_HEADER = "X-Porch-Signature"

_KIND_TEXT = {
    "match": "matches",
    "burst": "burst of activity",
    "participants": "many participants",
    "trending": "trending",
}


def raise_alert(
    records: WatchRecords,
    config: WatchingConfig,
    watch: str,
    thread: str,
    kind: AlertKind,
    body: dict[str, object],
    now: float,
) -> bool:
    """Record an alert unless this thread already raised one of this kind for this watch.

    In quiet hours (``watching.quiet_hours``) it waits until they end (``mode: hold``), or is
    never sent on its own and listed in the watch's next digest instead (``mode: digest``).
    Returns whether there is something new to send now.
    """
    quiet = config.quiet_hours
    until = quiet_until(None if quiet is None else quiet.hours(), now)
    folded = until is not None and quiet is not None and quiet.mode == "digest"
    alert = records.raise_alert(
        watch, thread, kind.value, {**body, "kind": kind.value}, now, until or now, folded=folded
    )
    return alert is not None and until is None


def alert_text(body: dict[str, Any]) -> tuple[str, str]:
    """A one-line plain text of an alert and its HTML, with both copies linked."""
    kind = str(body.get("kind", ""))
    title = str(body.get("title") or "(untitled thread)")
    what = _KIND_TEXT.get(kind, kind)
    terms = ", ".join(str(t) for t in body.get("terms") or ())
    detail = str(body.get("detail") or (f"terms: {terms}" if terms else ""))
    links_plain, links_html = [], []
    for label, key in (("forum", "forum_url"), ("Matrix", "matrix_url")):
        url = body.get(key)
        if url:
            links_plain.append(f"{label}: {url}")
            links_html.append(f'<a href="{escape(str(url))}">{label}</a>')
    plain = f"[watch {body.get('watch')}] {what}: {title}"
    if detail:
        plain += f" ({detail})"
    if links_plain:
        plain += " — " + " | ".join(links_plain)
    html = f"<b>[watch {escape(str(body.get('watch')))}]</b> {escape(what)}: {escape(title)}"
    if detail:
        html += f" ({escape(detail)})"
    if links_html:
        html += " — " + " | ".join(links_html)
    return plain, html


def send_email(
    smtp: SmtpConfig, to: Sequence[str], subject: str, plain: str, html: str | None
) -> None:
    """Send one message to ``to`` over SMTP (``smtplib``); raises ``OSError`` /
    ``smtplib.SMTPException`` when the server cannot take it."""
    message = EmailMessage()
    message["From"] = smtp.sender
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message.set_content(plain)
    if html is not None:
        message.add_alternative(html, subtype="html")
    with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout) as client:
        if smtp.starttls:
            # smtplib's own default context checks neither the certificate nor the host name,
            # and the password follows over this connection.
            client.starttls(context=ssl.create_default_context())
        if smtp.username and smtp.password is not None:
            client.login(smtp.username, smtp.password.get_secret_value())
        client.send_message(message)


def sign_body(body: bytes, secret: str) -> str:
    """The signature header's value: ``sha256=<hex HMAC-SHA256 of the body>``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def post_webhook(
    config: WebhookConfig, payload: dict[str, Any], session: requests.Session | None = None
) -> None:
    """POST ``payload`` as JSON, signed when a secret is set; raises :class:`WebhookFailed`
    when it cannot be delivered or the answer is not 2xx."""
    body = json.dumps(payload, sort_keys=True).encode("utf-8")
    headers = {"Content-Type": "application/json"}
    if config.secret is not None:
        headers[SIGNATURE_HEADER] = sign_body(body, config.secret.get_secret_value())
    url = str(config.url)
    # Errors name only the origin: a hook's path or query is often its credential (chat
    # services' incoming hooks), and requests' own messages repeat the whole URL.
    where = f"{urlsplit(url).scheme}://{_host(url)}"
    try:
        answer = (session or requests).post(
            url, data=body, headers=headers, timeout=config.timeout
        )
    except requests.RequestException as exc:
        raise WebhookFailed(f"webhook at {where}: {type(exc).__name__}") from None
    if not 200 <= answer.status_code < 300:
        raise WebhookFailed(f"webhook at {where}: HTTP {answer.status_code}")


class WebhookFailed(OSError):
    """An alert's webhook was not delivered (the message names the URL's origin only)."""


def _host(url: str) -> str:
    """The URL's ``host[:port]``, without any ``user:password@``."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return host if parts.port is None else f"{host}:{parts.port}"


class Dispatcher:
    """Sends due alerts on every channel their watch names."""

    def __init__(
        self,
        config: WatchingConfig,
        records: WatchRecords,
        chat: AppserviceAPI | None,
        resolve_room: Callable[[str], RoomID],
        *,
        clock: Callable[[], float] = time.time,
        session: requests.Session | None = None,
        readers: Readers | None = None,
        audiences: Audiences | None = None,
    ) -> None:
        self.config = config
        self.records = records
        self.chat = chat
        self.resolve_room = resolve_room
        self.clock = clock
        self.session = session
        #: Without these, every destination is one porch cannot name and every source is
        #: unknown: alerts carry links only (fail closed).
        self.readers = readers
        self.audiences = audiences

    def send_due(self) -> int:
        """Send every alert whose time has come; returns how many were finished."""
        finished = 0
        for alert in self.records.due_alerts(self.clock()):
            if not self.records.claim_alert(alert, self.clock(), CLAIM_LEASE):
                continue
            try:
                watch = self.config.watch(alert.watch)
            except KeyError:
                # The watch left the config: its pending alerts have no one to go to.
                self.records.alert_done(alert.id, self.clock())
                continue
            if self._send(watch, alert):
                finished += 1
        return finished

    def _send(self, watch: WatchConfig, alert: AlertRow) -> bool:
        readers = None if self.readers is None else self.readers.of_alert(alert.body)
        errors: list[str] = []
        for channel, send in (
            ("room", self._room),
            ("email", self._email),
            ("webhook", self._webhook),
        ):
            if alert.sent.get(channel) is not None:
                continue
            try:
                if send(watch, alert, readers):
                    self.records.alert_sent(alert.id, channel, self.clock())
            except Exception as exc:  # every channel's failure is retried the same way
                log.warning("watching: alert %d (%s) failed: %s", alert.id, channel, exc)
                errors.append(f"{channel}: {type(exc).__name__}: {exc}")
        now = self.clock()
        if errors:
            wait = backoff(RETRY_INITIAL, alert.attempts + 1, RETRY_MAX)
            self.records.alert_failed(alert.id, "; ".join(errors), now + wait)
            return False
        self.records.alert_done(alert.id, now)
        return True

    def _for(self, alert: AlertRow, readers: frozenset[str] | None, audience: Audience) -> Any:
        """The alert's body as ``audience`` may read it: whole, or :func:`withheld`."""
        if audience_may_read(readers, audience):
            return alert.body
        return {**withheld(alert.body), "kind": alert.kind}

    def _room(self, watch: WatchConfig, alert: AlertRow, readers: frozenset[str] | None) -> bool:
        if watch.alerts.room is None:
            return False
        if self.chat is None:
            raise RuntimeError("no homeserver connection")
        room = self.resolve_room(watch.alerts.room)
        audience = None if self.audiences is None else self.audiences.room(room)
        plain, html = alert_text(self._for(alert, readers, audience))
        content = {
            "msgtype": "m.notice",
            "body": plain,
            "format": "org.matrix.custom.html",
            "formatted_body": html,
        }
        # Derived from the alert: a resend after a crash is the same transaction.
        self.chat.send(room, content, as_user=None, txn_id=f"porch-watch-alert-{alert.id}")
        return True

    def _email(self, watch: WatchConfig, alert: AlertRow, readers: frozenset[str] | None) -> bool:
        if not watch.alerts.emails:
            return False
        if self.config.smtp is None:
            raise RuntimeError("watching.smtp is not configured")
        # Who reads an address is not porch's to know: only what everyone may read goes whole.
        body = self._for(alert, readers, None)
        plain, html = alert_text(body)
        what = alert.kind if body.get("withheld") else body.get("title") or alert.kind
        subject = f"[porch watch {watch.name}] {what}"
        send_email(self.config.smtp, watch.alerts.emails, subject, plain, f"<p>{html}</p>")
        return True

    def _webhook(
        self, watch: WatchConfig, alert: AlertRow, readers: frozenset[str] | None
    ) -> bool:
        if watch.alerts.webhook is None:
            return False
        body = self._for(alert, readers, None)
        plain, _ = alert_text(body)
        shown = {k: v for k, v in body.items() if k not in _INTERNAL}
        payload = {"type": "porch.watch.alert", "id": alert.id, "text": plain, **shown}
        post_webhook(watch.alerts.webhook, payload, self.session)
        return True


#: Body keys porch keeps for itself: where an alert came from, and its withheld link.
_INTERNAL = ("source", "withheld_url")
