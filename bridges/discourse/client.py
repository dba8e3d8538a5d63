"""Porch's Discourse API client: pydiscourse's endpoints, with the transport porch needs.

pydiscourse (https://github.com/pydiscourse/pydiscourse) knows Discourse's endpoints but, as a
transport, it does not suit a bridge: no shared connections, no timeout by default, one acting
user per client object, and up to three blocking ``time.sleep`` calls (33 s) on a 429. Here
its ``_request`` is replaced:

- one ``requests.Session`` for every call (connection reuse), and a timeout on every call
  (``discourse.timeout``);
- the acting user (``Api-Username``) is chosen per call and per thread, never by changing
  shared state, so two threads can post as two users at once;
- a 429 raises :class:`ForumRateLimited` at once with the wait the forum asked for
  (``Retry-After``, else ``extras.wait_seconds``); the caller schedules the retry;
- every failure maps to one of the exceptions of :mod:`bridges.discourse.forum_errors`.

It adds what pydiscourse lacks: deleting and recovering posts, likes, uploads, a topic by id,
downloads of the forum's files (its file routes only, without credentials), and the admin
calls ``porch setup discourse`` makes (webhooks, site settings).
"""

from __future__ import annotations

import email.utils
import http.cookiejar
import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import requests
from pydiscourse import DiscourseClient

from bridges.discourse.discourse_config import DiscourseConfig
from bridges.discourse.forum_errors import (
    ForumAuthError,
    ForumError,
    ForumNotAnImage,
    ForumNotFound,
    ForumRateLimited,
    ForumRefusedURL,
    ForumRejected,
    ForumTooLarge,
    ForumUnavailable,
)
from bridges.discourse.media_paths import forum_file
from bridges.model import CategoryID, ForumUsername, PostID, TopicID

log = logging.getLogger(__name__)

#: Discourse's ``post_action_type_id`` for a like.
LIKE = 2
#: ``post_action_type_id`` of an "inappropriate" flag (``PostActionType.types``).
INAPPROPRIATE = 4
#: ``PostActionType.types[:inappropriate]``: the flag porch hides a post with.
INAPPROPRIATE = 4
#: When a 429 says nothing about how long to wait (pydiscourse waits this long too).
DEFAULT_RETRY_AFTER = 10.0
#: The avatar size substituted into an avatar template's ``{size}`` when downloading.
AVATAR_SIZE = 240
_MAX_REDIRECTS = 3


@dataclass(frozen=True)
class CreatedPost:
    """The forum created the post."""

    post_id: PostID
    topic_id: TopicID
    post_number: int
    topic_slug: str
    raw: str


@dataclass(frozen=True)
class EnqueuedPost:
    """The forum put the post in its review queue; it exists only once a moderator approves.

    ``reason`` is only sent to staff users (``NewPostManager``).
    """

    pending_post_id: int | None
    reason: str | None


def _retry_after(response: requests.Response, body: Any) -> float:
    """Seconds to wait: ``Retry-After`` (seconds or an HTTP date), else the JSON
    ``extras.wait_seconds``, else :data:`DEFAULT_RETRY_AFTER`."""
    header = response.headers.get("Retry-After", "").strip()
    if header:
        try:
            return max(float(header), 0.0)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(header)
                return max(when.timestamp() - time.time(), 0.0)
            except (TypeError, ValueError):
                pass
    extras = body.get("extras") if isinstance(body, dict) else None
    wait = extras.get("wait_seconds") if isinstance(extras, dict) else None
    if isinstance(wait, int | float) and not isinstance(wait, bool):
        return max(float(wait), 0.0)
    return DEFAULT_RETRY_AFTER


def _json_or_none(response: requests.Response) -> Any:
    if "json" not in response.headers.get("Content-Type", "") or not response.content.strip():
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _messages(body: Any, response: requests.Response) -> list[str]:
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors:
        return [str(e) for e in errors]
    if isinstance(errors, dict):  # POST /users.json: {"errors": {"field": ["..."]}}
        return [f"{k}: {v}" for k, v in errors.items()]
    text = response.text.strip() if "html" not in response.headers.get("Content-Type", "") else ""
    return [text[:300]] if text else [response.reason or f"HTTP {response.status_code}"]


def raise_for_answer(verb: str, path: str, response: requests.Response) -> Any:
    """The decoded JSON of a successful answer (None when empty), or the matching error."""
    status = response.status_code
    body = _json_or_none(response)
    where = f"{verb} {path}"
    if 200 <= status < 300:
        if not response.content.strip():
            return None
        if body is None:
            got = response.headers.get("Content-Type", "no content type")
            raise ForumUnavailable(
                f"{where}: expected JSON from the forum, got {got}", status=status
            )
        errors = body.get("errors") if isinstance(body, dict) else None
        if errors:
            messages = _messages(body, response)
            raise ForumRejected(
                f"{where}: {'; '.join(messages)}",
                status=status,
                messages=messages,
                error_type=body.get("error_type"),
            )
        return body
    if 300 <= status < 400:
        target = response.headers.get("Location", "?")
        raise ForumUnavailable(
            f"{where}: the forum redirected to {target}; is discourse.url the forum's address "
            "(https, no path)?",
            status=status,
        )
    error_type = body.get("error_type") if isinstance(body, dict) else None
    messages = _messages(body, response)
    text = f"{where} -> {status}: {'; '.join(messages)}"
    if status == 429:
        limit = response.headers.get("Discourse-Rate-Limit-Error-Code")
        wait = _retry_after(response, body)
        raise ForumRateLimited(wait, limit=limit, message=f"{text}; retry after {wait:g}s")
    if status >= 500:
        raise ForumUnavailable(text, status=status, error_type=error_type)
    kind: type[ForumRejected] = ForumRejected
    if status in (401, 403):
        kind = ForumAuthError
    elif status in (404, 410):
        kind = ForumNotFound
    raise kind(text, status=status, messages=messages, error_type=error_type)


class _Transport(DiscourseClient):  # type: ignore[misc]  # pydiscourse is untyped
    """pydiscourse's endpoint methods, sent through porch's session and error mapping."""

    def __init__(self, config: DiscourseConfig, session: requests.Session) -> None:
        super().__init__(
            config.base_url,
            config.api_username,
            config.api_key.get_secret_value(),
            timeout=config.timeout,
        )
        self._session = session
        self._acting = threading.local()

    @contextmanager
    def acting_as(self, username: str | None) -> Iterator[None]:
        """Send this thread's calls inside the block as ``username`` (None: porch itself)."""
        if username is not None and not username.strip():
            raise ValueError("as_user must be a forum username, not empty")
        before = getattr(self._acting, "username", None)
        self._acting.username = username
        try:
            yield
        finally:
            self._acting.username = before

    def auth_headers(self) -> dict[str, str]:
        username = getattr(self._acting, "username", None) or self.api_username
        return {
            "Accept": "application/json; charset=utf-8",
            "Api-Key": self.api_key,
            "Api-Username": username,
        }

    def _request(
        self,
        verb: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        files: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        json: Any = None,
        override_request_kwargs: Mapping[str, Any] | None = None,
    ) -> Any:
        """One call, no retries and no sleeping: the answer's JSON or a ``ForumError``."""
        try:
            response = self._session.request(
                verb,
                self.host + path,
                params=params,
                files=files,
                data=data,
                json=json,
                headers=self.auth_headers(),
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.Timeout as exc:
            raise ForumUnavailable(
                f"{verb} {path}: the forum did not answer within {self.timeout:g}s",
                unreachable=True,
            ) from exc
        except requests.RequestException as exc:
            raise ForumUnavailable(
                f"{verb} {path}: cannot reach the forum ({exc})", unreachable=True
            ) from exc
        log.debug("%s %s -> %s", verb, path, response.status_code)
        return raise_for_answer(verb, path, response)


def _dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ForumUnavailable(f"the forum's answer to {what} is not a JSON object")
    return value


def tag_names(tags: Any) -> list[str]:
    """Topic tags as names: older forums send strings, newer ``{id, name, slug}`` objects."""
    names = []
    for tag in tags or ():
        if isinstance(tag, str):
            names.append(tag)
        elif isinstance(tag, dict) and isinstance(tag.get("name"), str):
            names.append(tag["name"])
    return names


def _refuse_cookies(session: requests.Session) -> None:
    # Calls made as different users share this session: a forum session cookie set for one
    # must never ride along with another's request.
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))


class ForumClient:
    """Porch's calls to one Discourse forum, with an "all users" API key.

    Thread-safe: every method may be called from several threads at once, each acting as a
    different user. Methods without ``as_user`` act as ``discourse.api_username``.
    """

    def __init__(self, config: DiscourseConfig, session: requests.Session | None = None) -> None:
        """``session`` may be shared with other clients; its cookie jar is set to refuse
        cookies (see :func:`_refuse_cookies`)."""
        self._config = config
        self._session = session if session is not None else requests.Session()
        _refuse_cookies(self._session)
        self._api = _Transport(config, self._session)

    # --- posts -------------------------------------------------------------------------------

    def create_post(
        self,
        *,
        as_user: str,
        raw: str,
        topic_id: TopicID | None = None,
        title: str | None = None,
        category_id: CategoryID | None = None,
        reply_to_post_number: int | None = None,
        tags: Sequence[str] = (),
    ) -> CreatedPost | EnqueuedPost:
        """A reply in ``topic_id``, or a new topic (``title``, ``category_id``, ``tags``), as
        ``as_user``.

        The forum remembers API creations for 120 s: repeating an identical call (after a
        timeout, say) returns the same post instead of a duplicate (reference §2.4).
        """
        if topic_id is None and not title:
            raise ValueError("a new topic needs a title (or pass topic_id for a reply)")
        extra: dict[str, Any] = {}
        if reply_to_post_number is not None:
            extra["reply_to_post_number"] = reply_to_post_number
        with self._api.acting_as(as_user):
            body = _dict(
                self._api.create_post(
                    raw,
                    category_id=category_id,
                    topic_id=topic_id,
                    title=title,
                    tags=list(tags),
                    **extra,
                ),
                "POST /posts",
            )
        if body.get("action") == "enqueued":
            pending = body.get("pending_post")
            pending_id = pending.get("id") if isinstance(pending, dict) else None
            reason = body.get("reason")
            return EnqueuedPost(
                pending_post_id=pending_id if isinstance(pending_id, int) else None,
                reason=reason if isinstance(reason, str) else None,
            )
        try:
            return CreatedPost(
                post_id=PostID(int(body["id"])),
                topic_id=TopicID(int(body["topic_id"])),
                post_number=int(body["post_number"]),
                topic_slug=str(body.get("topic_slug") or ""),
                raw=str(body.get("raw", raw)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ForumUnavailable(f"POST /posts: unexpected answer without {exc}") from exc

    def edit_post(self, post_id: PostID, raw: str, *, as_user: str, edit_reason: str = "") -> None:
        """Replace a post's text, as ``as_user`` (its author, or staff)."""
        with self._api.acting_as(as_user):
            self._api.update_post(post_id, raw, edit_reason)

    def delete_post(self, post_id: PostID, *, as_user: str) -> None:
        """Delete a post as ``as_user``: trashed when staff, marked "deleted by author" when
        its non-staff author (the forum decides, reference §1.4)."""
        with self._api.acting_as(as_user):
            self._api._delete(f"/posts/{int(post_id)}.json")

    def recover_post(self, post_id: PostID, *, as_user: str) -> None:
        with self._api.acting_as(as_user):
            self._api._put(f"/posts/{int(post_id)}/recover.json")

    def get_post(self, post_id: PostID) -> dict[str, Any]:
        """``GET /posts/{id}.json``: the post with its ``raw``."""
        return _dict(self._api.post_by_id(int(post_id)), f"GET /posts/{post_id}")

    def revision_editor(self, post_id: PostID, number: int | None = None) -> ForumUsername | None:
        """Who made revision ``number`` of a post (None: its latest revision); None when the
        forum has no such revision.

        ``GET /posts/{id}/revisions/{number}.json`` or ``.../revisions/latest.json``
        (``PostsController#revisions`` / ``#latest_revision``); ``username`` of
        ``PostRevisionSerializer`` is the editor's. Revision ``n`` made version ``n`` of the
        post; the author's own edits within the grace period make none (the version stays 1),
        and the forum answers 404.
        """
        which = "latest" if number is None else str(int(number))
        path = f"/posts/{int(post_id)}/revisions/{which}.json"
        try:
            body = _dict(self._api._get(path), f"GET {path}")
        except ForumNotFound:
            return None
        username = body.get("username")
        if not isinstance(username, str) or not username:
            raise ForumUnavailable(f"GET {path}: the answer names no editor")
        return ForumUsername(username)

    def like(self, post_id: PostID, *, as_user: str) -> None:
        """``as_user`` likes the post; liking it again is not an error."""
        try:
            with self._api.acting_as(as_user):
                self._api._post("/post_actions.json", id=int(post_id), post_action_type_id=LIKE)
        except ForumAuthError:
            # Discourse answers a second like with 403; find out whether that was all.
            with self._api.acting_as(as_user):
                post = _dict(self._api.post_by_id(int(post_id)), f"GET /posts/{post_id}")
            summary = post.get("actions_summary") or []
            if not any(a.get("id") == LIKE and a.get("acted") for a in summary):
                raise

    def flag(self, post_id: PostID, message: str) -> None:
        """Porch's account flags the post as inappropriate (``post_action_type_id`` 4) for the
        forum's moderators, as Discourse does for a ``flag`` watched word; a post porch has
        flagged already is fine (a second flag is answered with 403)."""
        try:
            self._api._post(
                "/post_actions.json",
                id=int(post_id),
                post_action_type_id=INAPPROPRIATE,
                message=message,
            )
        except ForumAuthError:
            return

    def unlike(self, post_id: PostID, *, as_user: str) -> None:
        """``as_user`` takes back their like of the post; a post they do not like is fine.

        ``DELETE /post_actions/{id}.json?post_action_type_id=2``. Discourse fires no webhook
        for it.
        """
        try:
            with self._api.acting_as(as_user):
                self._api._delete(f"/post_actions/{int(post_id)}.json", post_action_type_id=LIKE)
        except ForumNotFound:
            # No like to take back (never made, or taken back already): the goal is reached.
            return

    # --- topics and categories ---------------------------------------------------------------

    def topic(self, topic_id: TopicID) -> dict[str, Any]:
        """``GET /t/{id}.json`` (first 20 posts, every post id). ``tags`` are names here,
        whichever form the forum sent them in."""
        body = _dict(self._api._get(f"/t/{int(topic_id)}.json"), f"GET /t/{topic_id}")
        if "tags" in body:
            body["tags"] = tag_names(body["tags"])
        return body

    def latest_topics(self) -> list[dict[str, Any]]:
        """``GET /latest.json``: the newest-bumped topics the acting user sees (one page)."""
        body = _dict(self._api._get("/latest.json"), "GET /latest")
        topic_list = body.get("topic_list")
        topics = topic_list.get("topics") if isinstance(topic_list, dict) else None
        return [t for t in topics or [] if isinstance(t, dict)]

    def update_topic(
        self,
        topic_id: TopicID,
        *,
        as_user: str,
        title: str | None = None,
        category_id: CategoryID | None = None,
    ) -> None:
        """Retitle a topic and/or move it to another category."""
        if title is None and category_id is None:
            return
        with self._api.acting_as(as_user):
            self._api._put(f"/t/-/{int(topic_id)}.json", title=title, category_id=category_id)

    def categories(self) -> list[dict[str, Any]]:
        """The categories porch's account can see (``/categories.json``)."""
        found = self._api.categories()
        if not isinstance(found, list):
            raise ForumUnavailable("GET /categories.json: no category list in the answer")
        return [c for c in found if isinstance(c, dict)]

    def category(self, category_id: CategoryID) -> dict[str, Any]:
        """One category with ``read_restricted`` and, for an account that may edit it,
        ``group_permissions``."""
        body = _dict(self._api.category(int(category_id)), f"GET /c/{category_id}/show")
        return _dict(body.get("category"), f"GET /c/{category_id}/show")

    def user(self, username: str) -> dict[str, Any]:
        """A user's profile (the ``user`` object of ``/u/{username}.json``)."""
        return _dict(self._api.user(username), f"GET /users/{username}")

    def group_members(self, group: str, page_size: int = 1000) -> list[str]:
        """The usernames of a group's members (owners included), every page of
        ``GET /groups/{name}/members.json`` (reference §2.3, at most 1000 a page)."""
        names: list[str] = []
        offset = 0
        path = f"/groups/{quote(group, safe='')}/members.json"
        while True:
            body = _dict(self._api._get(path, limit=page_size, offset=offset), f"GET {path}")
            page = [m for m in body.get("members") or () if isinstance(m, dict)]
            owners = [m for m in body.get("owners") or () if isinstance(m, dict)]
            names += [str(m["username"]) for m in page + owners if "username" in m]
            meta = _dict(body.get("meta") or {}, f"GET {path}")
            total = meta.get("total")
            offset += len(page)
            if not page or not isinstance(total, int) or offset >= total:
                return sorted(set(names))

    # --- admin: sanctions (reference §2.3 "Moderation") ---------------------------------------

    def admin_user(self, user_id: int) -> dict[str, Any]:
        """``GET /admin/users/{id}.json``: staff flags, ``suspended_by``, ``silenced_by``..."""
        path = f"/admin/users/{int(user_id)}.json"
        return _dict(self._api._get(path), f"GET {path}")

    def silence_user(self, user_id: int, *, until: str, reason: str) -> None:
        """``PUT /admin/users/{id}/silence.json`` as porch; ``until`` is an ISO 8601 time."""
        self._api._put(
            f"/admin/users/{int(user_id)}/silence.json", silenced_till=until, reason=reason
        )

    def unsilence_user(self, user_id: int) -> None:
        self._api._put(f"/admin/users/{int(user_id)}/unsilence.json")

    def unsuspend_user(self, user_id: int) -> None:
        self._api._put(f"/admin/users/{int(user_id)}/unsuspend.json")

    def hide_post(self, post_id: PostID, *, reason: str) -> None:
        """Hide a post as porch (staff): a flag with ``take_action``, which hides it at once
        (``PostActionCreator``); ``post_action_type_id`` 4 is "inappropriate"."""
        self._api._post(
            "/post_actions.json",
            id=int(post_id),
            post_action_type_id=INAPPROPRIATE,
            take_action="true",
            message=reason,
        )

    def unhide_post(self, post_id: PostID) -> None:
        """``PUT /posts/{id}/unhide.json`` as porch (staff only)."""
        self._api._put(f"/posts/{int(post_id)}/unhide.json")

    # --- admin: who the key is, webhooks, site settings --------------------------------------

    def current_user(self) -> dict[str, Any]:
        """``GET /session/current.json``: the account the key acts as (``admin``, ...).

        A cheap authenticated call: readiness probes use it to prove the key still works.
        """
        body = _dict(self._api._get("/session/current.json"), "GET /session/current")
        return _dict(body.get("current_user"), "GET /session/current")

    def web_hooks(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Every webhook on the forum and the index's ``extras`` (event types, content types).

        ``GET /admin/api/web_hooks.json`` (``Admin::WebHooksController#index``, 50 a page).
        Needs an admin account.
        """
        hooks: list[dict[str, Any]] = []
        extras: dict[str, Any] = {}
        offset = 0
        while True:
            body = _dict(
                self._api._get("/admin/api/web_hooks.json", offset=offset),
                "GET /admin/api/web_hooks",
            )
            page = [h for h in body.get("web_hooks") or [] if isinstance(h, dict)]
            if offset == 0 and isinstance(body.get("extras"), dict):
                extras = body["extras"]
            hooks.extend(page)
            total = body.get("total_rows_web_hooks")
            offset += len(page)
            if not page or not isinstance(total, int) or offset >= total:
                return hooks, extras

    def create_web_hook(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /admin/api/web_hooks.json`` with ``{"web_hook": fields}``; the new webhook."""
        body = self._api._request("POST", "/admin/api/web_hooks.json", json={"web_hook": fields})
        return _dict(_dict(body, "POST /admin/api/web_hooks").get("web_hook"), "a new webhook")

    def update_web_hook(self, web_hook_id: int, fields: Mapping[str, Any]) -> dict[str, Any]:
        """``PUT /admin/api/web_hooks/{id}.json``: change the fields given; the webhook."""
        path = f"/admin/api/web_hooks/{int(web_hook_id)}.json"
        body = self._api._request("PUT", path, json={"web_hook": fields})
        return _dict(_dict(body, f"PUT {path}").get("web_hook"), "an updated webhook")

    def watched_words(self) -> dict[str, Any]:
        """``GET /admin/customize/watched_words.json`` (``Admin::WatchedWordsController``):
        ``{"actions": [...], "words": [{id, word, action, replacement?, case_sensitive}]}``.
        Needs an admin (reference §4)."""
        path = "/admin/customize/watched_words.json"
        return _dict(self._api._get(path), f"GET {path}")

    def site_settings(self, names: Sequence[str]) -> dict[str, str]:
        """The current values of the named site settings (those the forum has).

        ``GET /admin/site_settings.json`` (``Admin::SiteSettingsController#index``); newer
        forums filter by ``filter_names[]``, older ones send every setting. Needs an admin.
        """
        body = _dict(
            self._api._get("/admin/site_settings.json", **{"filter_names[]": list(names)}),
            "GET /admin/site_settings",
        )
        found: dict[str, str] = {}
        for entry in body.get("site_settings") or []:
            if isinstance(entry, dict) and entry.get("setting") in names:
                value = entry.get("value")
                found[str(entry["setting"])] = "" if value is None else str(value)
        return found

    # --- files -------------------------------------------------------------------------------

    def upload(
        self, data: bytes, filename: str, content_type: str, *, as_user: str
    ) -> dict[str, Any]:
        """Upload a file for a post (``type=composer``); the answer has ``url``,
        ``short_url`` and, for images, ``width``/``height``."""
        with self._api.acting_as(as_user):
            body = self._api._post(
                "/uploads.json",
                files={"file": (filename, data, content_type)},
                type="composer",
                synchronous="true",
            )
        return _dict(body, "POST /uploads.json")

    def absolute_url(self, path: str) -> str:
        """A forum URL as the forum sends it (``/uploads/...``) made absolute."""
        return urljoin(self._config.base_url + "/", path)

    def download(self, url: str, max_bytes: int, *, images_only: bool = True) -> tuple[bytes, str]:
        """Fetch one of the forum's files: ``(bytes, content type)``.

        Relative URLs (``/uploads/...``, avatar templates, whose ``{size}`` becomes
        :data:`AVATAR_SIZE`) resolve against the forum. Only the forum's file routes are
        fetched, redirects included (:mod:`bridges.discourse.media_paths`): a post that
        shows ``/admin/...`` as an image gets :class:`ForumRefusedURL`, never a request.

        The request carries no credentials: porch sees a file as an anonymous visitor does,
        so that it never carries what the forum would show only to its admin key (a secure
        upload of another category, say). A file the forum keeps from visitors is refused
        (403/404) and stays a link. Unless ``images_only`` is false (a post's attachments),
        an answer that is not ``image/*`` raises :class:`ForumNotAnImage`; larger than
        ``max_bytes`` raises :class:`ForumTooLarge`.
        """
        target = self.absolute_url(url.replace("{size}", str(AVATAR_SIZE)))
        for _ in range(_MAX_REDIRECTS + 1):
            found = forum_file(target, self._config.base_url)
            if found is None:
                parts = urlsplit(target)
                raise ForumRefusedURL(
                    f"refusing to fetch {parts.scheme}://{parts.hostname or ''}{parts.path}: "
                    "not one of the forum's file routes"
                )
            target = found.url
            path = urlsplit(target).path
            try:
                response = self._session.get(
                    target,
                    headers={"Accept": "image/*" if images_only else "*/*"},
                    auth=_anonymous,  # also keeps requests from adding ~/.netrc credentials
                    timeout=self._config.timeout,
                    stream=True,
                    allow_redirects=False,
                )
            except requests.Timeout as exc:
                raise ForumUnavailable(f"GET {path}: no answer in time") from exc
            except requests.RequestException as exc:
                raise ForumUnavailable(f"GET {path}: cannot reach the forum ({exc})") from exc
            with response:
                if response.is_redirect:
                    target = urljoin(target, response.headers.get("Location", ""))
                    continue
                if response.status_code != 200:
                    response.content  # noqa: B018 - read the body for the error message
                    raise_for_answer("GET", path, response)
                    raise ForumUnavailable(f"GET {path} -> {response.status_code}")
                kind = _content_type(response)
                if images_only and not kind.startswith("image/"):
                    raise ForumNotAnImage(f"GET {path}: the forum answered {kind}, not an image")
                return self._read_limited(response, path, max_bytes), kind
        raise ForumRejected(f"GET {path}: more than {_MAX_REDIRECTS} redirects")

    def _read_limited(self, response: requests.Response, path: str, max_bytes: int) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise ForumTooLarge(f"GET {path}: {declared} bytes is over the {max_bytes} allowed")
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > max_bytes:
                raise ForumTooLarge(f"GET {path}: more than the {max_bytes} bytes allowed")
            chunks.append(chunk)
        return b"".join(chunks)


def _anonymous(request: requests.PreparedRequest) -> requests.PreparedRequest:
    request.headers.pop("Authorization", None)
    return request


def _content_type(response: requests.Response) -> str:
    kind = response.headers.get("Content-Type", "application/octet-stream")
    return kind.split(";", 1)[0].strip().lower()


__all__ = [
    "CreatedPost",
    "EnqueuedPost",
    "ForumClient",
    "ForumError",
    "tag_names",
]
