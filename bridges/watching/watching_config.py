"""The ``watching:`` config section: watches, where their alerts and digests go, quiet hours.

Example (all optional; without ``watches`` nothing is watched)::

    watching:
      smtp: {host: 127.0.0.1, port: 25, sender: porch@example.org}
      quiet_hours: {start: "22:00", end: "07:00", timezone: Europe/Berlin, mode: hold}
      dashboard: {groups: [policy-team]}
      watches:
        - name: housing
          groups: [policy-team]          # whose eyes: only what these groups may read
          terms: {words: [rent], phrases: [social housing], patterns: ["evict\\w*"]}
          categories: [town-square]
          thresholds: {posts: 5, within: 3600, participants: 4,
                       trending: {factor: 3, window: 3600, min_posts: 3}}
          alerts: {room: "!abc:example.org", emails: [team@example.org],
                   webhook: {url: "https://hooks.example.org/porch", secret: "..."}}
          digest: {every: daily, room: true, emails: [team@example.org]}
"""

from __future__ import annotations

import ipaddress
from datetime import time
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, HttpUrl, SecretStr, field_validator, model_validator

from bridges.configbase import Section
from policies.linear import compile_linear
from policies.watching import (
    EVERYONE,
    QuietHours,
    Rule,
    Scope,
    Terms,
    Thresholds,
    compile_terms,
)


class TermsConfig(Section):
    words: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    #: Regular expressions in RE2 syntax (linear time), matched case-insensitively.
    patterns: tuple[str, ...] = ()

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            # Matched by RE2 (linear time in what members write): no look-arounds or
            # backreferences (https://github.com/google/re2/wiki/Syntax).
            if compile_linear(pattern, ignore_case=True) is None:
                raise ValueError(
                    f"{pattern!r} is not a regular expression porch can run (RE2 syntax: "
                    "no look-arounds or backreferences)"
                )
        return patterns


class TrendingConfig(Section):
    #: How many times the thread's own baseline the last window must reach.
    factor: float = Field(default=3.0, gt=1)
    window: float = Field(default=3600.0, gt=0)
    min_posts: int = Field(default=3, ge=1)


class ThresholdsConfig(Section):
    #: ``posts`` new posts within ``within`` seconds raise a ``burst`` alert.
    posts: int | None = Field(default=None, ge=1)
    within: float = Field(default=3600.0, gt=0)
    participants: int | None = Field(default=None, ge=2)
    trending: TrendingConfig | None = None


class WebhookConfig(Section):
    url: HttpUrl
    #: Signs the body: ``X-Porch-Signature: sha256=<hex HMAC-SHA256>``.
    secret: SecretStr | None = Field(default=None, min_length=12)
    timeout: float = Field(default=10.0, gt=0)


class AlertsConfig(Section):
    #: A Matrix room (id or alias) porch's bot posts notices to; the bot must be invited.
    room: str | None = None
    emails: tuple[str, ...] = ()
    webhook: WebhookConfig | None = None


class DigestConfig(Section):
    every: Literal["daily", "weekly"] = "daily"
    #: Post the digest in the watch's alert room.
    room: bool = True
    emails: tuple[str, ...] = ()


class WatchConfig(Section):
    """One watch."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    #: The forum groups of the people who read this watch: it sees only what they may read.
    groups: tuple[str, ...] = ("everyone",)
    terms: TermsConfig = TermsConfig()
    categories: tuple[str | int, ...] = ()
    tags: tuple[str, ...] = ()
    rooms: tuple[str, ...] = ()
    author_groups: tuple[str, ...] = ()
    thresholds: ThresholdsConfig = ThresholdsConfig()
    alerts: AlertsConfig = AlertsConfig()
    digest: DigestConfig | None = None

    def rule(self) -> Rule:
        """The watch as :mod:`policies.watching` takes it."""
        t = self.thresholds
        trending = t.trending
        return Rule(
            name=self.name,
            terms=Terms(self.terms.words, self.terms.phrases, self.terms.patterns),
            scope=Scope(
                frozenset(str(c) for c in self.categories),
                frozenset(self.tags),
                frozenset(self.rooms),
                frozenset(self.author_groups),
            ),
            thresholds=Thresholds(
                posts=t.posts,
                within=t.within,
                participants=t.participants,
                trending_factor=None if trending is None else trending.factor,
                trending_window=3600.0 if trending is None else trending.window,
                trending_min_posts=3 if trending is None else trending.min_posts,
            ),
        )

    @model_validator(mode="after")
    def _terms_compile(self) -> WatchConfig:
        compile_terms(self.rule().terms)
        return self


def _loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class SmtpConfig(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=25, ge=1, le=65535)
    sender: str
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = False
    timeout: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _no_password_in_clear(self) -> SmtpConfig:
        # SMTP AUTH PLAIN/LOGIN is the password in base64: over a plain connection anyone on
        # the way reads it. A relay on porch's own host is the one place that is fine.
        if self.password is not None and not self.starttls and not _loopback(self.host):
            raise ValueError(
                "password: set starttls: true to log in to a mail server on another host "
                "(without it the password crosses the network in clear text)"
            )
        return self


class QuietHoursConfig(Section):
    start: time
    end: time
    timezone: str = "UTC"
    #: ``hold``: alerts raised in quiet hours are sent when they end; ``digest``: they are not
    #: sent on their own but listed in the watch's next digest.
    mode: Literal["hold", "digest"] = "hold"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {zone!r}") from exc
        return zone

    def hours(self) -> QuietHours:
        return QuietHours(self.start, self.end, ZoneInfo(self.timezone))


class DashboardConfig(Section):
    #: Forum groups whose members may sign in to the dashboard (admins always may).
    groups: tuple[str, ...] = ()
    #: Seconds a dashboard sign-in lasts.
    session_ttl: float = Field(default=8 * 3600.0, gt=0)
    #: Seconds a signed-in user's forum groups are trusted before porch asks the forum again
    #: (one admin API request per user and interval; the forum's budget is shared site-wide).
    #: A group the forum removed stops showing at the next check; a forum that cannot be
    #: asked then signs nobody in until it answers.
    groups_recheck: float = Field(default=300.0, ge=10, le=3600)


class WatchingConfig(Section):
    """The whole ``watching:`` section; empty by default (nothing watched)."""

    watches: tuple[WatchConfig, ...] = ()
    smtp: SmtpConfig | None = None
    quiet_hours: QuietHoursConfig | None = None
    dashboard: DashboardConfig = DashboardConfig()
    #: The UTC hour digests are made at (periods run from this hour to this hour).
    digest_hour: int = Field(default=7, ge=0, le=23)
    #: Seconds between the worker's runs of due alerts and digests.
    tick: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> WatchingConfig:
        names: set[str] = set()
        for i, watch in enumerate(self.watches):
            if watch.name in names:
                raise ValueError(f"watches[{i}].name: '{watch.name}' is used by another watch")
            names.add(watch.name)
            wants_mail = watch.alerts.emails or (watch.digest and watch.digest.emails)
            if wants_mail and self.smtp is None:
                raise ValueError(f"watches[{i}]: emails need a watching.smtp section")
            if watch.digest is not None and watch.digest.room and watch.alerts.room is None:
                raise ValueError(f"watches[{i}].digest.room: needs alerts.room")
        return self

    def watch(self, name: str) -> WatchConfig:
        """The watch called ``name``; KeyError when there is none."""
        for watch in self.watches:
            if watch.name == name:
                return watch
        raise KeyError(name)


def sink_warnings(config: WatchingConfig) -> list[str]:
    """Destinations of a watch that will never get all of what it reads (``porch check``).

    A watch whose groups may read restricted spaces (any group but ``everyone``) sends what
    only they may read to none of: email addresses and webhooks (who reads them is not
    porch's to know: they get a link and no text, and digests leave it out), nor an alert room
    unless every member is a linked forum user of those groups (checked on each send).
    """
    found = []
    for i, watch in enumerate(config.watches):
        if set(watch.groups) <= {EVERYONE}:
            continue
        groups = ", ".join(watch.groups)
        what = f"alerts on what only {groups} may read"
        if watch.alerts.emails:
            found.append(f"watching.watches[{i}].alerts.emails: {what} carry a link, no text")
        if watch.alerts.webhook is not None:
            found.append(f"watching.watches[{i}].alerts.webhook: {what} carry a link, no text")
        if watch.digest is not None and watch.digest.emails:
            found.append(
                f"watching.watches[{i}].digest.emails: the digest lists only what everyone "
                f"may read, not what only {groups} may"
            )
        if watch.alerts.room is not None:
            found.append(
                f"watching.watches[{i}].alerts.room: {what} are shown in full only while the "
                f"room is not public and each member is a linked forum user of {groups}; "
                "otherwise as a link"
            )
    return found
