"""The watching dashboard: ``/watching/``, server-rendered, for policy teams.

Sign-in goes through the forum (DiscourseConnect, :mod:`bridges.identity.connect`, the same
secret as account linking): ``/watching/login`` sends the browser to the forum's
``/session/sso_provider`` and ``/watching/sso`` takes its signed answer (the nonce is signed,
not stored, until that answer comes back: :mod:`webhooks.dashboard.nonces`). Only members of
``watching.dashboard.groups`` (or forum admins) get a session; the session keeps the groups the
forum stated, asks the forum again every ``watching.dashboard.groups_recheck`` seconds
(:mod:`webhooks.dashboard.groups`), and every page shows only what those groups may read
(:mod:`bridges.watching.report`): watches whose groups they share, activity in categories they
may read, crossing figures of links whose category they may read.

Pages: the watches and their threads with activity sparklines; a watch's emerging-terms heat
map (term by day); per-link crossing figures from the audit log; the review queue (what waits
and why, without the held text); CSV and JSON exports. No
scripts and no external assets: the charts are inline SVG, the stylesheet is served here.
"""

from __future__ import annotations

import csv
import hmac
import io
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, render_template, request
from werkzeug.utils import redirect
from werkzeug.wrappers import Response as BaseResponse

from bridges.discourse.client import ForumClient
from bridges.identity.connect import ConnectRefused, request_query, verify
from bridges.store.review import PENDING, ReviewQueue
from bridges.store.store import Store
from bridges.watching.access import Readers
from bridges.watching.report import (
    DAY,
    OUTCOMES,
    crossings,
    day_counts,
    term_days,
    threads,
    top_words,
    visible,
)
from bridges.watching.watching_config import WatchConfig
from policies.watching import EVERYONE, emerging
from webhooks.config import PorchConfig
from webhooks.dashboard.charts import heatmap, sparkline
from webhooks.dashboard.groups import GroupCheck, session_groups
from webhooks.dashboard.nonces import make_nonce, nonce_expiry
from webhooks.link_pages import RedactPaths, public_base_url, redact_access_log

PREFIX = "/watching"
COOKIE = "porch_watching"
NONCE_COOKIE = "porch_watching_nonce"
#: Seconds the forum has to answer a sign-in.
NONCE_TTL = 600.0
#: Days shown by default, and at most.
DAYS, MAX_DAYS = 14, 90
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'"
    ),
}


#: The forum's sign-in answer in a request line: it names the person, their email and groups.
_SSO_QUERY = re.compile(r"(/watching/sso\?)[^\s\x1b]+")


class RedactSignIn(RedactPaths):
    """Keeps the forum's sign-in answers out of the HTTP server's access log."""

    pattern = _SSO_QUERY


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is signed in, and the forum groups they read with."""

    username: str
    groups: frozenset[str]

    @property
    def admin(self) -> bool:
        return "admins" in self.groups

    def may_see(self, watch: WatchConfig) -> bool:
        return self.admin or EVERYONE in watch.groups or bool(self.groups & set(watch.groups))


#: A cell starting with one of these is a formula to spreadsheet programs (OWASP, "CSV
#: Injection"); forum titles are anyone's to write.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value: Any) -> Any:
    """``value`` for a CSV cell: text that would start a formula is quoted with ``'``."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _groups(identity: Any) -> list[str]:
    return session_groups(identity.groups, identity.admin, identity.moderator)


def dashboard_blueprint(
    config: PorchConfig,
    store: Store,
    clock: Callable[[], float],
    forum: ForumClient | None = None,
) -> Blueprint:
    """The dashboard's pages, bound to porch's config and store; ``forum`` (by default a client
    of ``config.discourse``) is asked for signed-in users' groups again."""
    redact_access_log(RedactSignIn)
    pages = Blueprint(
        "watching_dashboard",
        __name__,
        template_folder="templates",
        static_folder="static",
        static_url_path="/static",
        url_prefix=PREFIX,
    )
    watching = config.watching
    readers = Readers(store, config.links)
    records = readers.records
    base = public_base_url(config) or ""
    secret = config.discourse.connect_secret
    group_check = GroupCheck(
        forum if forum is not None else ForumClient(config.discourse),
        records,
        frozenset(watching.dashboard.groups),
        watching.dashboard.groups_recheck,
        clock,
    )

    def respond(body: str, status: int = 200) -> Response:
        return Response(body, status, headers=_HEADERS, content_type="text/html; charset=utf-8")

    def page(template: str, status: int = 200, **context: Any) -> Response:
        return respond(render_template(f"dashboard/{template}", prefix=PREFIX, **context), status)

    def viewer() -> Viewer | str | None:
        """Who is signed in, with the groups the forum confirms now; the reason when the
        forum's answer refuses them (``signed-out``, ``unconfirmed``)."""
        token = request.cookies.get(COOKIE)
        found = None if not token else records.session(token, clock())
        if found is None:
            return None
        checked = group_check.check(found[0], found[1])
        if checked.groups is None:
            return checked.refused or "unconfirmed"
        return Viewer(found[0], checked.groups)

    def span() -> tuple[int, float, list[str]]:
        try:
            days = min(max(int(request.args.get("days", DAYS)), 1), MAX_DAYS)
        except ValueError:
            days = DAYS
        today = datetime.fromtimestamp(clock(), UTC).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        start = today.timestamp() - (days - 1) * DAY
        labels = [
            datetime.fromtimestamp(start + i * DAY, UTC).date().isoformat() for i in range(days)
        ]
        return days, start, labels

    def watch_for(who: Viewer, name: str) -> WatchConfig | None:
        try:
            watch = watching.watch(name)
        except KeyError:
            return None
        return watch if who.may_see(watch) else None

    def seen(who: Viewer, watch: WatchConfig, start: float) -> list[Any]:
        # What the watch saw, then only what the viewer's own groups may read now.
        return visible(readers, records.activity(watch.name, since=start), who.groups)

    def signed_in(view: Callable[..., BaseResponse]) -> Callable[..., BaseResponse]:
        def wrapped(**kwargs: Any) -> BaseResponse:
            who = viewer()
            if who == "unconfirmed":
                # Fail closed: without the forum's word, the groups may be gone.
                refused = page(
                    "message.html",
                    503,
                    title="Cannot confirm your groups",
                    text="The forum cannot be asked which groups you are in right now; "
                    "try again in a minute.",
                )
                refused.headers["Retry-After"] = "30"
                return refused
            if not isinstance(who, Viewer):
                return page("signin.html", 401, enabled=secret is not None and bool(base))
            return view(who, **kwargs)

        wrapped.__name__ = view.__name__
        return wrapped

    @pages.get("/login")
    def login() -> BaseResponse:
        if secret is None or not base:
            return page("signin.html", 404, enabled=False)
        # Signed, not stored: an anonymous visitor's request writes nothing.
        nonce = make_nonce(secret.get_secret_value(), clock() + NONCE_TTL)
        query = request_query(nonce, f"{base}{PREFIX}/sso", secret.get_secret_value())
        response = redirect(f"{config.discourse.base_url}/session/sso_provider?{urlencode(query)}")
        response.headers.update(_HEADERS)
        # Only this browser may bring the forum's answer back: an answer someone else started
        # cannot sign a visitor in as them (login CSRF). Lax: the forum's redirect is top-level.
        response.set_cookie(
            NONCE_COOKIE,
            nonce,
            max_age=int(NONCE_TTL),
            httponly=True,
            samesite="Lax",
            secure=base.startswith("https://"),
            path=f"{PREFIX}/sso",
        )
        return response

    @pages.get("/sso")
    def sso() -> BaseResponse:
        if secret is None:
            return page("signin.html", 404, enabled=False)
        try:
            identity = verify(
                request.args.get("sso", ""), request.args.get("sig", ""), secret.get_secret_value()
            )
        except ConnectRefused as exc:
            return page("message.html", 400, title="Not signed in", text=str(exc))
        bound = request.cookies.get(NONCE_COOKIE, "")
        if not hmac.compare_digest(bound.encode(), identity.nonce.encode()):
            return page(
                "message.html",
                400,
                title="Not signed in",
                text="This answer from the forum is for a sign-in started in another browser.",
            )
        expires = nonce_expiry(secret.get_secret_value(), identity.nonce, clock())
        if expires is None or not records.spend_nonce(identity.nonce, expires, clock()):
            return page(
                "message.html",
                400,
                title="Not signed in",
                text="This answer from the forum is unknown, expired or was already used.",
            )
        groups = _groups(identity)
        allowed = set(watching.dashboard.groups)
        if not (identity.admin or allowed & set(groups)):
            return page(
                "message.html",
                403,
                title="Not allowed",
                text=f"{identity.username} is not in a group that may use this dashboard.",
            )
        token = secrets.token_urlsafe(32)
        records.open_session(
            token, identity.username, groups, clock() + watching.dashboard.session_ttl
        )
        group_check.confirmed(identity.username)
        response = redirect(f"{PREFIX}/", 303)
        response.headers.update(_HEADERS)
        response.set_cookie(
            COOKIE,
            token,
            max_age=int(watching.dashboard.session_ttl),
            httponly=True,
            samesite="Lax",
            secure=base.startswith("https://"),
            path=PREFIX,
        )
        return response

    @pages.post("/logout")
    def logout() -> BaseResponse:
        token = request.cookies.get(COOKIE)
        if token:
            records.close_session(token)
        response = redirect(f"{PREFIX}/", 303)
        response.delete_cookie(COOKIE, path=PREFIX)
        return response

    @pages.get("/")
    @signed_in
    def overview(who: Viewer) -> BaseResponse:
        days, start, labels = span()
        watches = []
        for watch in watching.watches:
            if not who.may_see(watch):
                continue
            activity = seen(who, watch, start)
            rows = []
            for summary in threads(activity):
                times = [a.at for a in activity if a.thread == summary.thread]
                rows.append((summary, sparkline(day_counts(times, start, days))))
            watches.append((watch, rows))
        return page("overview.html", who=who, watches=watches, days=days, labels=labels)

    @pages.get("/w/<name>/heatmap")
    @signed_in
    def terms(who: Viewer, name: str) -> BaseResponse:
        watch = watch_for(who, name)
        if watch is None:
            return page("message.html", 404, title="No such watch", text=name)
        days, start, labels = span()
        activity = seen(who, watch, start)
        counts = term_days(activity, start, days)
        ordered = sorted(counts.items(), key=lambda kv: (-sum(kv[1]), kv[0]))
        words = top_words(term_days(activity, start, days, words=True), skip=counts)
        return page(
            "heatmap.html",
            who=who,
            watch=watch,
            chart=heatmap(ordered, labels),
            words=heatmap(words, labels, "emerging words by day") if words else None,
            rising=emerging(counts),
            days=days,
        )

    @pages.get("/crossings")
    @signed_in
    def crossed(who: Viewer) -> BaseResponse:
        days, start, _ = span()
        figures, held = crossings(readers, who.groups, start, clock() + 1)
        return page(
            "crossings.html",
            who=who,
            figures=sorted(figures.items()),
            outcomes=OUTCOMES,
            held=held,
            days=days,
            when=lambda at: datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M"),
        )

    @pages.get("/review")
    @signed_in
    def review(who: Viewer) -> BaseResponse:
        # Read-only, and without the held text: watchers see what waits and why, on links
        # whose category they may read; moderators decide elsewhere.
        items = [
            item
            for item in ReviewQueue(store.db).items(PENDING)
            if readers.may_read_link(item.link, who.groups)
        ]
        return page(
            "review.html",
            who=who,
            items=items,
            when=lambda at: datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M"),
        )

    @pages.get("/w/<name>/export.<fmt>")
    @signed_in
    def export(who: Viewer, name: str, fmt: str) -> BaseResponse:
        watch = watch_for(who, name)
        if watch is None or fmt not in ("csv", "json"):
            return page("message.html", 404, title="No such export", text=name)
        _, start, _ = span()
        rows = [
            {
                "thread": s.thread,
                "title": s.title or "",
                "posts": s.posts,
                "participants": len(s.participants),
                "first_at": datetime.fromtimestamp(s.first_at, UTC).isoformat(),
                "last_at": datetime.fromtimestamp(s.last_at, UTC).isoformat(),
                "terms": ";".join(sorted(s.terms)),
                "forum_url": s.forum_url or "",
                "matrix_url": s.matrix_url or "",
            }
            for s in threads(seen(who, watch, start))
        ]
        headers = {
            **_HEADERS,
            "Content-Disposition": f'attachment; filename="watch-{watch.name}.{fmt}"',
        }
        if fmt == "json":
            body = json.dumps({"watch": watch.name, "threads": rows}, indent=2)
            return Response(body, 200, headers=headers, content_type="application/json")
        out = io.StringIO()
        writer = csv.DictWriter(
            out,
            fieldnames=[
                "thread",
                "title",
                "posts",
                "participants",
                "first_at",
                "last_at",
                "terms",
                "forum_url",
                "matrix_url",
            ],
        )
        writer.writeheader()
        writer.writerows([{k: spreadsheet_cell(v) for k, v in r.items()} for r in rows])
        return Response(
            out.getvalue(), 200, headers=headers, content_type="text/csv; charset=utf-8"
        )

    return pages
