"""Digests per watch, daily or weekly: new threads, the most active, emerging terms, what crossed
per link and what was held or refused (from the audit log), and alerts folded in quiet hours.

An empty digest (nothing the watch may read happened) is not sent. Made for the last complete
period (:func:`policies.watching.period`) from what each of the watch's
groups may read now (:mod:`bridges.watching.report`); sent as a Matrix message in the watch's
room and as an HTML email, each made again for its destination: the room's members must all
be entitled to what it lists, an email lists only what everyone may read
(:mod:`bridges.watching.sinks`). Each period's digest is recorded per channel, so the worker's
scheduled run sends it once even across restarts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from typing import Literal

from bridges.matrix.api import AppserviceAPI
from bridges.model import RoomID
from bridges.store.audit import AuditEntry
from bridges.store.watch_records import AlertRow, WatchRecords
from bridges.watching.access import Readers
from bridges.watching.alerts import alert_text, send_email
from bridges.watching.report import (
    ThreadSummary,
    crossings_when,
    term_days,
    threads,
    visible_when,
)
from bridges.watching.sinks import Audience, Audiences
from bridges.watching.watching_config import WatchConfig, WatchingConfig
from policies.watching import (
    Emerging,
    audience_may_read,
    emerging,
    period,
    readable_by_all,
)

log = logging.getLogger(__name__)

#: How many earlier periods an emerging term's count is compared with.
BASELINE_PERIODS = 7
#: Seconds a digest being sent is kept from other senders.
CLAIM_LEASE = 120.0
#: Threads listed as most active.
TOP = 5


@dataclass
class Digest:
    """One watch's digest for one period."""

    watch: str
    period: str
    start: float
    end: float
    new_threads: list[ThreadSummary] = field(default_factory=list)
    most_active: list[ThreadSummary] = field(default_factory=list)
    emerging: list[Emerging] = field(default_factory=list)
    #: Words of the posts (not the watch's terms) that stand out against their own past.
    emerging_words: list[Emerging] = field(default_factory=list)
    crossed: dict[str, dict[str, int]] = field(default_factory=dict)
    held: list[AuditEntry] = field(default_factory=list)
    folded: list[AlertRow] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.new_threads or self.most_active or self.crossed or self.folded)


def build_digest(
    watch: WatchConfig,
    readers: Readers,
    start: float,
    end: float,
    key: str,
    audience: Audience | Literal["watch"] = "watch",
) -> Digest:
    """The digest of ``watch`` for ``[start, end)``, as every one of its groups may read it
    and, for a destination, as every person of its ``audience`` may too
    (:mod:`bridges.watching.sinks`; ``None``: only what everyone may read)."""

    def allowed(found: frozenset[str] | None) -> bool:
        if not readable_by_all(found, watch.groups):
            return False
        return audience == "watch" or audience_may_read(found, audience)

    records = readers.records
    span = end - start
    history_start = start - BASELINE_PERIODS * span
    seen_before = {a.thread for a in records.activity(watch.name, until=start)}
    recent = visible_when(
        readers, records.activity(watch.name, since=history_start, until=end), allowed
    )
    in_period = [a for a in recent if a.at >= start]
    summaries = threads(in_period)
    counts = term_days(recent, history_start, BASELINE_PERIODS + 1, span)
    words = term_days(recent, history_start, BASELINE_PERIODS + 1, span, words=True)
    own = {t.lower() for t in counts}
    crossed, held = crossings_when(readers, allowed, start, end)
    visible_threads = {a.thread for a in in_period}
    folded = [
        a
        for a in records.alerts(watch.name, since=start, until=end)
        if a.folded and a.thread in visible_threads
    ]
    return Digest(
        watch=watch.name,
        period=key,
        start=start,
        end=end,
        new_threads=[t for t in summaries if t.thread not in seen_before],
        most_active=summaries[:TOP],
        emerging=emerging(counts),
        emerging_words=[e for e in emerging(words, min_count=3) if e.term not in own][:TOP],
        crossed=crossed,
        held=held,
        folded=folded,
    )


def _day(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _thread_text(t: ThreadSummary) -> str:
    links = " | ".join(u for u in (t.forum_url, t.matrix_url) if u)
    return f"{t.label}: {t.posts} post(s), {len(t.participants)} participant(s)" + (
        f" — {links}" if links else ""
    )


def _thread_html(t: ThreadSummary) -> str:
    links = " | ".join(
        f'<a href="{escape(u)}">{label}</a>'
        for label, u in (("forum", t.forum_url), ("Matrix", t.matrix_url))
        if u
    )
    return (
        f"<li><b>{escape(t.label)}</b>: {t.posts} post(s), {len(t.participants)} "
        f"participant(s){' — ' + links if links else ''}</li>"
    )


def render_text(d: Digest) -> str:
    """The digest as plain text (the Matrix body, the email's text part, the CLI's output)."""
    lines = [f"Digest of watch {d.watch} for {d.period} ({_day(d.start)} to {_day(d.end)})"]
    lines.append("New threads:")
    lines += [f"- {_thread_text(t)}" for t in d.new_threads] or ["- none"]
    lines.append("Most active:")
    lines += [f"- {_thread_text(t)}" for t in d.most_active] or ["- none"]
    lines.append("Emerging terms:")
    lines += [f"- {e.term}: {e.count} (usually {e.baseline:.1f})" for e in d.emerging] or [
        "- none"
    ]
    lines.append("Emerging words:")
    lines += [f"- {e.term}: {e.count} (usually {e.baseline:.1f})" for e in d.emerging_words] or [
        "- none"
    ]
    lines.append("What crossed (per link):")
    lines += [
        f"- {link}: " + ", ".join(f"{n} {outcome}" for outcome, n in figures.items())
        for link, figures in sorted(d.crossed.items())
    ] or ["- nothing"]
    lines.append("Held or refused:")
    lines += [
        f"- {_day(e.at)} {e.link}: {e.outcome} by {e.rule} ({e.detail or ''})" for e in d.held
    ] or ["- none"]
    if d.folded:
        lines.append("Alerts during quiet hours:")
        lines += [f"- {alert_text(a.body)[0]}" for a in d.folded]
    return "\n".join(lines)


def render_html(d: Digest) -> str:
    """The digest as HTML (the Matrix formatted body and the email's HTML part)."""

    def section(title: str, items: list[str], empty: str = "none") -> str:
        inner = "".join(items) or f"<li>{empty}</li>"
        return f"<h3>{escape(title)}</h3><ul>{inner}</ul>"

    parts = [
        f"<h2>Digest of watch {escape(d.watch)} for {escape(d.period)}</h2>",
        f"<p>{_day(d.start)} to {_day(d.end)}</p>",
        section("New threads", [_thread_html(t) for t in d.new_threads]),
        section("Most active", [_thread_html(t) for t in d.most_active]),
        section(
            "Emerging terms",
            [
                f"<li><b>{escape(e.term)}</b>: {e.count} (usually {e.baseline:.1f})</li>"
                for e in d.emerging
            ],
        ),
        section(
            "Emerging words",
            [
                f"<li><b>{escape(e.term)}</b>: {e.count} (usually {e.baseline:.1f})</li>"
                for e in d.emerging_words
            ],
        ),
        section(
            "What crossed (per link)",
            [
                f"<li><b>{escape(link)}</b>: "
                + ", ".join(f"{n} {escape(o)}" for o, n in figures.items())
                + "</li>"
                for link, figures in sorted(d.crossed.items())
            ],
            "nothing",
        ),
        section(
            "Held or refused",
            [
                f"<li>{_day(e.at)} <b>{escape(e.link or '')}</b>: {escape(e.outcome)} by "
                f"{escape(e.rule)} ({escape(e.detail or '')})</li>"
                for e in d.held
            ],
        ),
    ]
    if d.folded:
        parts.append(
            section(
                "Alerts during quiet hours",
                [f"<li>{alert_text(a.body)[1]}</li>" for a in d.folded],
            )
        )
    return "".join(parts)


class Digests:
    """Makes and sends each watch's digest once per period."""

    def __init__(
        self,
        config: WatchingConfig,
        readers: Readers,
        chat: AppserviceAPI | None,
        resolve_room: Callable[[str], RoomID],
        *,
        clock: Callable[[], float] = time.time,
        audiences: Audiences | None = None,
    ) -> None:
        self.config = config
        self.readers = readers
        self.records: WatchRecords = readers.records
        self.chat = chat
        self.resolve_room = resolve_room
        self.clock = clock
        #: Without it, a watch room is a destination porch cannot name (fail closed).
        self.audiences = audiences

    def current(self, watch: WatchConfig, now: float | None = None) -> Digest:
        """The digest of the last complete period of ``watch``'s cadence."""
        every = "daily" if watch.digest is None else watch.digest.every
        key, start, end = period(
            every, self.clock() if now is None else now, self.config.digest_hour
        )
        return build_digest(watch, self.readers, start, end, key)

    def since(self, watch: WatchConfig, seconds: float) -> Digest:
        """A digest of the last ``seconds`` up to now (``porch digest --since``)."""
        end = self.clock()
        return build_digest(watch, self.readers, end - seconds, end + 1, "recent")

    def tick(self) -> int:
        """Send every watch's digest of the last period if not sent yet; how many were sent."""
        sent = 0
        now = self.clock()
        for watch in self.config.watches:
            if watch.digest is None:
                continue
            key, _, _ = period(watch.digest.every, now, self.config.digest_hour)
            done = self.records.digest_sent(watch.name, key) or {}
            wanted = {"room"} if watch.digest.room and watch.alerts.room else set()
            wanted |= {"email"} if watch.digest.emails else set()
            if all(done.get(channel) is not None for channel in wanted):
                continue
            digest = self.current(watch, now)
            try:
                sent += self.send(watch, digest)
            except Exception:
                log.exception("watching: digest of %s for %s failed", watch.name, digest.period)
        return sent

    def _for(self, watch: WatchConfig, digest: Digest, audience: Audience) -> Digest:
        """``digest`` made again as ``audience`` may read it (same period and key)."""
        return build_digest(watch, self.readers, digest.start, digest.end, digest.period, audience)

    def send(self, watch: WatchConfig, digest: Digest) -> int:
        """Send ``digest`` on the channels that have not had it; how many channels sent."""
        if watch.digest is None:
            return 0
        if not self.records.claim_digest(watch.name, digest.period, self.clock(), CLAIM_LEASE):
            return 0
        done = self.records.digest_sent(watch.name, digest.period) or {}
        if digest.empty:
            # Nothing happened that the watch may read: no message, and no rebuilding it.
            for channel in ("room", "email"):
                if done.get(channel) is None:
                    self.records.mark_digest(watch.name, digest.period, channel, self.clock())
            return 0
        count = 0
        if watch.digest.room and watch.alerts.room and done.get("room") is None:
            if self.chat is None:
                raise RuntimeError("no homeserver connection")
            room = self.resolve_room(watch.alerts.room)
            audience = None if self.audiences is None else self.audiences.room(room)
            shown = self._for(watch, digest, audience)
            if not shown.empty:
                text, html = render_text(shown), render_html(shown)
                content = {
                    "msgtype": "m.text",
                    "body": text,
                    "format": "org.matrix.custom.html",
                    "formatted_body": html,
                }
                txn = f"porch-watch-digest-{watch.name}-{digest.period}"
                self.chat.send(room, content, as_user=None, txn_id=txn)
                count += 1
            self.records.mark_digest(watch.name, digest.period, "room", self.clock())
        if watch.digest.emails and done.get("email") is None:
            if self.config.smtp is None:
                raise RuntimeError("watching.smtp is not configured")
            # Who reads an address is not porch's to know: only what everyone may read.
            shown = self._for(watch, digest, None)
            if not shown.empty:
                text, html = render_text(shown), render_html(shown)
                subject = f"[porch watch {watch.name}] digest for {digest.period}"
                page = f"<!doctype html><html><body>{html}</body></html>"
                send_email(self.config.smtp, watch.digest.emails, subject, text, page)
                count += 1
            self.records.mark_digest(watch.name, digest.period, "email", self.clock())
        return count
