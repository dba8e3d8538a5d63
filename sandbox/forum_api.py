"""The sandbox forum's REST API: the subset of Discourse's API porch uses, as a Flask app.

Authentication follows ``lib/auth/default_current_user_provider.rb`` for an "all users" key:
``Api-Key`` must be the forum's key and
``Api-Username`` (or ``Api-User-Id``) must name a user, else 403 ``invalid_access``. Requests
without ``Api-Key`` are anonymous and may read what anonymous visitors may read. Success bodies
are ``Content-Type: application/json; charset=utf-8`` exactly (pydiscourse insists), errors
have the shapes of §2.3, and every JSON route answers with or without the ``.json`` suffix.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from sandbox.forum_core import ApiCall, Fault, ForumCore, rate_limited
from sandbox.forum_groups import members_json
from sandbox.forum_hooks import (
    BLOCKED_OR_INTERNAL,
    CONTENT_TYPES,
    DEFAULT_EVENT_TYPE_NAMES,
    EVENT_TYPES,
    WebHook,
    event_type_json,
    payload_url_allowed,
    web_hook_json,
)
from sandbox.forum_model import (
    BAD_CREDENTIALS,
    LIKE,
    NOT_LOGGED_IN,
    Post,
    SandboxRejection,
    Topic,
    User,
    forbidden,
    not_found,
)
from sandbox.forum_render import avatar_png
from sandbox.forum_revisions import add_revision_routes
from sandbox.forum_sanctions import FLAG_TYPES, add_routes, flag_takes_action, hide
from sandbox.forum_serialize import (
    basic_topic,
    category_list,
    category_show,
    created_post,
    current_user,
    enqueued,
    latest_posts,
    latest_topics,
    shown_post,
    site,
    topic_view,
    updated_post,
    upload_json,
    user_show,
)
from sandbox.forum_state import set_site_setting, site_settings_json

JSON_TYPE = "application/json; charset=utf-8"
#: ``max_likes_per_day``, reported in ``Discourse-Actions-Max`` after a like.
MAX_LIKES_PER_DAY = 50

V = TypeVar("V", bound=Callable[..., Response])


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False), status, headers=headers, content_type=JSON_TYPE
    )


def _empty() -> Response:
    return Response(b"", 200, content_type=JSON_TYPE)


def _assign(out: dict[str, Any], key: str, values: list[Any]) -> None:
    """Rails parameter names: ``post[raw]`` nests, ``tags[]`` is a list."""
    if key.endswith("[]"):
        key, value = key[:-2], list(values)
    else:
        value = values[-1]
    if "[" in key and key.endswith("]"):
        outer, inner = key[:-1].split("[", 1)
        nested = out.setdefault(outer, {})
        if isinstance(nested, dict):
            nested[inner] = value
        return
    out[key] = value


def parse_params() -> dict[str, Any]:
    """Query, form (urlencoded or multipart) and JSON body parameters, merged as Rails does."""
    out: dict[str, Any] = {}
    for source in (request.args, request.form):
        for key in source:
            _assign(out, key, source.getlist(key))
    if request.is_json:
        body = request.get_json(silent=True)
        if isinstance(body, dict):
            for key, value in body.items():
                if isinstance(value, dict) and isinstance(out.get(key), dict):
                    out[key].update(value)
                else:
                    out[key] = value
    return out


def _int(value: Any, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SandboxRejection(
            400,
            [f"You supplied invalid parameters to the request: {name}"],
            "invalid_parameters",
        ) from None


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1", "t", "yes")


def _missing(name: str) -> SandboxRejection:
    # ActionController::ParameterMissing: a 400 without error_type.
    return SandboxRejection(400, [f"param is missing or the value is empty: {name}"])


def _fault_response(fault: Fault) -> Response:
    headers: dict[str, str] = {}
    if fault.retry_after is not None:
        headers["Retry-After"] = str(fault.retry_after)
    if fault.status == 429:
        wait = fault.retry_after if fault.retry_after is not None else 60
        if not fault.json_429:
            headers["Discourse-Rate-Limit-Error-Code"] = "ip_10_secs_limit"
            text = (
                "Slow down, too many requests from this IP address.\n"
                f"Please retry again in {wait} seconds.\n"
                "Error code: ip_10_secs_limit.\n"
            )
            return Response(text, 429, headers=headers, content_type="text/plain; charset=utf-8")
        limited = rate_limited(wait, "admin_api_key_rate_limit")
        body = limited.body()
        if fault.message:
            body["errors"] = [fault.message]
        if not fault.json_extras:
            body.pop("extras", None)
        headers.setdefault("Discourse-Rate-Limit-Error-Code", "admin_api_key_rate_limit")
        return json_response(body, 429, headers)
    if fault.status == 503:
        message = fault.message or "The site is in read only mode. Interactions are disabled."
        return json_response({"errors": [message], "error_type": "read_only"}, 503, headers)
    if fault.status >= 500:
        page = (
            f"<html><body><h1>{fault.status}</h1>{fault.message or 'Server error'}</body></html>"
        )
        return Response(page, fault.status, headers=headers, content_type="text/html")
    error_type = {403: "invalid_access", 404: "not_found", 400: "invalid_parameters"}.get(
        fault.status
    )
    body = {"errors": [fault.message or f"Injected failure {fault.status}."]}
    if error_type:
        body["error_type"] = error_type
    return json_response(body, fault.status, headers)


def create_app(core: ForumCore) -> Flask:
    """The Flask app serving ``core``'s forum."""
    app = Flask("porch-sandbox-forum", static_folder=None)
    state = core.state

    def route(rule: str, methods: list[str], *, json_suffix: bool = True) -> Callable[[V], V]:
        def register(view: V) -> V:
            app.add_url_rule(rule, view.__name__, view, methods=methods)
            if json_suffix:
                app.add_url_rule(rule + ".json", view.__name__ + "_json", view, methods=methods)
            return view

        return register

    # --- around every request ----------------------------------------------------------------

    @app.before_request
    def authenticate() -> Response | None:
        g.started = time.time()
        g.user = None
        g.api = False
        fault = core.take_fault(request.method, request.path)
        if fault is not None:
            return _fault_response(fault)
        key = request.headers.get("Api-Key")
        if key is None:
            return None
        user: User | None = None
        if core.key_matches(key):
            with core.lock:
                name = request.headers.get("Api-Username")
                user_id = request.headers.get("Api-User-Id")
                if name:
                    user = state.user_named(name)
                elif user_id and user_id.lstrip("-").isdigit():
                    user = state.users.get(int(user_id))
        if user is None:
            raise forbidden(BAD_CREDENTIALS)
        g.user = user
        g.api = True
        wait = core.admin_api_wait()
        if wait is not None:
            raise rate_limited(wait, "admin_api_key_rate_limit")
        return None

    @app.after_request
    def record(response: Response) -> Response:
        try:
            params = parse_params()
        except Exception:  # a malformed body must not hide the request from the log
            params = {}
        core.log(
            ApiCall(
                request.method,
                request.path,
                request.headers.get("Api-Username"),
                response.status_code,
                params,
                getattr(g, "started", time.time()),
                _int_or_none(request.environ.get("REMOTE_PORT")),
                "Api-Key" in request.headers,
            )
        )
        return response

    @app.errorhandler(SandboxRejection)
    def rejected(exc: SandboxRejection) -> Response:
        return json_response(exc.body(), exc.status, exc.headers)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        wants_json = request.path.endswith(".json") or "json" in request.headers.get("Accept", "")
        if status == 404 and wants_json:
            return json_response(not_found().body(), 404)
        if wants_json:
            return json_response({"errors": [exc.description or exc.name]}, status)
        return Response(f"{status} {exc.name}", status, content_type="text/plain; charset=utf-8")

    # --- helpers -----------------------------------------------------------------------------

    def viewer() -> User | None:
        user: User | None = g.user
        return user

    def require_user() -> User:
        user = viewer()
        if user is None:
            raise SandboxRejection(403, [NOT_LOGGED_IN], "not_logged_in")
        return user

    def find_post(post_id: int) -> Post:
        post = state.posts.get(post_id)
        if post is None:
            raise not_found()
        user = viewer()
        if post.deleted_at is not None and not (user is not None and user.staff):
            raise not_found()
        if not state.can_see_post(user, post):
            raise forbidden()
        return post

    def find_topic(topic_id: int) -> Topic:
        topic = state.topics.get(topic_id)
        user = viewer()
        if topic is None or (
            topic.deleted_at is not None and not (user is not None and user.staff)
        ):
            raise not_found()
        if not state.can_see_topic(user, topic):
            raise forbidden()
        return topic

    # --- categories, site --------------------------------------------------------------------

    @route("/categories", ["GET"])
    def categories() -> Response:
        with core.lock:
            return json_response(category_list(state, viewer()))

    @route("/c/<int:category_id>/show", ["GET"])
    def category(category_id: int) -> Response:
        with core.lock:
            found = state.categories.get(category_id)
            if found is None:
                raise not_found()
            if not state.can_see_category(viewer(), found):
                raise forbidden()
            return json_response(category_show(state, found, viewer()))

    @route("/site", ["GET"])
    def site_info() -> Response:
        with core.lock:
            uncategorized = state.category_by_ref("uncategorized")
            return json_response(site(state, viewer(), uncategorized.id if uncategorized else 1))

    @route("/latest", ["GET"])
    def latest() -> Response:
        with core.lock:
            user = viewer()
            topics = [
                t
                for t in state.topics.values()
                if t.deleted_at is None
                and not t.is_private_message
                and state.can_see_topic(user, t)
            ]
            topics.sort(key=lambda t: t.bumped_at or t.created_at, reverse=True)
            return json_response(latest_topics(state, topics[:30], user))

    # --- posts -------------------------------------------------------------------------------

    @route("/posts", ["GET"])
    def list_posts() -> Response:
        params = parse_params()
        before = _int(params.get("before"), "before")
        with core.lock:
            user = viewer()
            posts = [
                p
                for p in sorted(state.posts.values(), key=lambda p: p.id, reverse=True)
                if p.deleted_at is None
                and not state.topics[p.topic_id].is_private_message
                and state.can_see_post(user, p)
                and (before is None or p.id < before)
            ]
            return json_response(latest_posts(state, posts[:50], user))

    @route("/posts", ["POST"])
    def create() -> Response:
        params = parse_params()
        user = require_user()
        raw = params.get("raw")
        if not isinstance(raw, str) or raw == "":
            raise _missing("raw")
        topic_id = _int(params.get("topic_id"), "topic_id")
        tags = params.get("tags") or []
        if isinstance(tags, str):
            tags = [t for t in tags.split(",") if t]
        recipients = params.get("target_recipients") or params.get("target_usernames") or ""
        signature = hashlib.sha1(
            json.dumps(
                [user.id, sorted(params.items(), key=lambda kv: kv[0])], default=str
            ).encode()
        ).hexdigest()

        def perform() -> tuple[int, dict[str, Any]]:
            if g.api:
                hit = core.memoized(signature)
                if hit is not None:
                    return hit
            try:
                result = state.create_post(
                    user,
                    raw=raw,
                    topic_id=topic_id,
                    title=params.get("title"),
                    category=params.get("category"),
                    reply_to_post_number=_int(
                        params.get("reply_to_post_number"), "reply_to_post_number"
                    ),
                    tags=list(tags),
                    target_recipients=[r for r in str(recipients).split(",") if r]
                    if params.get("archetype") == "private_message" or recipients
                    else [],
                    skip_validations=g.api and _truthy(params.get("skip_validations")),
                )
            except SandboxRejection as exc:
                if exc.status != 422:
                    raise
                answer: tuple[int, dict[str, Any]] = (422, exc.body())
            else:
                if isinstance(result, Post):
                    answer = (200, created_post(state, result, user))
                else:
                    waiting = sum(1 for p in state.pending.values() if p.user_id == user.id)
                    answer = (200, enqueued(result, waiting))
            if g.api:
                core.remember(signature, *answer)
            return answer

        status, body = core.run(perform)
        if core.post_answer_delay > 0:
            time.sleep(core.post_answer_delay)  # the post exists; the answer is late
        return json_response(body, status)

    @route("/posts/<int:post_id>", ["GET"])
    def show_post(post_id: int) -> Response:
        with core.lock:
            return json_response(shown_post(state, find_post(post_id), viewer()))

    @route("/posts/<int:post_id>", ["PUT"])
    def update_post(post_id: int) -> Response:
        params = parse_params()
        user = require_user()
        fields = params.get("post")
        if not isinstance(fields, dict) or not isinstance(fields.get("raw"), str):
            raise _missing("post")

        def perform() -> Response:
            post = find_post(post_id)
            if not state.can_edit_post(user, post):
                raise forbidden()
            raw_old = fields.get("raw_old")
            if isinstance(raw_old, str) and raw_old and raw_old != post.raw:
                raise SandboxRejection(
                    409,
                    ["The post was edited by someone else while you were editing it."],
                    "edit_conflict",
                )
            state.revise(
                post,
                user,
                raw=fields["raw"],
                title=params.get("title"),
                category=fields.get("category_id"),
                edit_reason=fields.get("edit_reason") or None,
            )
            return json_response(updated_post(state, post, user))

        return core.run(perform)

    @route("/posts/<int:post_id>", ["DELETE"])
    def delete_post(post_id: int) -> Response:
        user = require_user()

        def perform() -> Response:
            post = find_post(post_id)
            if not state.can_delete_post(user, post):
                raise forbidden()
            state.destroy(post, user)
            return _empty()

        return core.run(perform)

    @route("/posts/<int:post_id>/recover", ["PUT"])
    def recover_post(post_id: int) -> Response:
        user = require_user()

        def perform() -> Response:
            post = state.posts.get(post_id)
            if post is None or not state.can_see_topic(user, state.topics[post.topic_id]):
                raise not_found()
            if not state.can_recover_post(user, post):
                raise forbidden()
            state.recover(post, user)
            return json_response(shown_post(state, post, user))

        return core.run(perform)

    # --- topics ------------------------------------------------------------------------------

    @route("/t/<int:topic_id>", ["GET"])
    def show_topic(topic_id: int) -> Response:
        with core.lock:
            return json_response(topic_view(state, find_topic(topic_id), viewer()))

    @route("/t/<slug>/<int:topic_id>", ["GET"])
    def show_topic_by_slug(slug: str, topic_id: int) -> Response:
        return show_topic(topic_id)

    @route("/t/<int:topic_id>", ["DELETE"])
    def delete_topic(topic_id: int) -> Response:
        user = require_user()

        def perform() -> Response:
            topic = find_topic(topic_id)
            first = state.first_post(topic.id)
            if first is None or not state.can_delete_post(user, first):
                raise forbidden()
            state.destroy(first, user)
            return _empty()

        return core.run(perform)

    @route("/t/-/<int:topic_id>", ["PUT"])
    def update_topic(topic_id: int) -> Response:
        params = parse_params()
        topic_param = params.get("topic")
        nested: dict[str, Any] = topic_param if isinstance(topic_param, dict) else {}
        title = params.get("title", nested.get("title"))
        category_id = params.get("category_id", nested.get("category_id"))
        user = require_user()

        def perform() -> Response:
            topic = find_topic(topic_id)
            first = state.first_post(topic.id)
            if first is None or not state.can_edit_post(user, first):
                raise forbidden()
            state.revise(
                first,
                user,
                title=title if isinstance(title, str) else None,
                category=_int(category_id, "category_id"),
            )
            return json_response(basic_topic(state, topic))

        return core.run(perform)

    # --- users -------------------------------------------------------------------------------

    @route("/u/<username>", ["GET"])
    def show_user(username: str) -> Response:
        with core.lock:
            found = state.user_named(username)
            if found is None:
                raise not_found()
            return json_response(user_show(state, found, viewer()))

    @route("/users/<username>", ["GET"])
    def show_user_alias(username: str) -> Response:
        return show_user(username)

    @route("/groups/<name>/members", ["GET"])
    def group_members(name: str) -> Response:
        require_user()
        params = parse_params()
        limit, offset = _int(params.get("limit"), "limit"), _int(params.get("offset"), "offset")
        with core.lock:
            return json_response(members_json(state, name, limit, offset))

    @route("/session/current", ["GET"])
    def session_current() -> Response:
        user = viewer()
        if user is None:
            raise not_found()
        with core.lock:
            return json_response(current_user(state, user))

    # --- uploads, likes ----------------------------------------------------------------------

    @route("/uploads", ["POST"])
    def upload() -> Response:
        user = require_user()
        sent = request.files.get("file")
        if sent is None:
            raise SandboxRejection(422, ["You must choose a file to upload."])
        data = sent.read()
        kind = request.form.get("type") or request.form.get("upload_type")
        if kind not in (None, "composer", "avatar", "profile_background", "card_background"):
            raise SandboxRejection(400, [f"param is invalid: type {kind}"], "invalid_parameters")

        def perform() -> Response:
            made = state.add_upload(user, data, sent.filename or "file", sent.mimetype or "")
            return json_response(upload_json(made))

        return core.run(perform)

    @route("/post_actions", ["POST"])
    def post_action() -> Response:
        params = parse_params()
        user = require_user()
        post_id = _int(params.get("id"), "id")
        kind = _int(params.get("post_action_type_id"), "post_action_type_id")
        if post_id is None or kind is None:
            raise _missing("id" if post_id is None else "post_action_type_id")
        if flag_takes_action(kind, user, params):
            # A staff flag with take_action hides the post at once (forum_sanctions.py).
            def flag() -> Response:
                post = find_post(post_id)
                hide(state, post)
                return json_response(shown_post(state, post, user))

            return core.run(flag)
        if kind in FLAG_TYPES:
            # A plain flag: recorded for the forum's moderators (``SandboxForum.flags``).
            def flag_only() -> Response:
                post = find_post(post_id)
                record = {"post_id": post.id, "username": user.username, "type": kind}
                already = [f for f in state.flags if f["post_id"] == post.id]
                if any(f["username"] == user.username for f in already):
                    raise forbidden()  # PostActionCreator: already acted on
                state.flags.append({**record, "message": str(params.get("message") or "")})
                return json_response(shown_post(state, post, user))

            return core.run(flag_only)
        if kind != LIKE:
            raise SandboxRejection(
                400,
                ["You supplied invalid parameters to the request: post_action_type_id"],
                "invalid_parameters",
            )

        def perform() -> Response:
            post = find_post(post_id)
            state.like(post, user)
            today = sum(1 for p in state.posts.values() if user.id in p.likes)
            return json_response(
                shown_post(state, post, user),
                headers={
                    "Discourse-Actions-Remaining": str(max(MAX_LIKES_PER_DAY - today, 0)),
                    "Discourse-Actions-Max": str(MAX_LIKES_PER_DAY),
                },
            )

        return core.run(perform)

    @route("/post_actions/<int:post_id>", ["DELETE"])
    def undo_post_action(post_id: int) -> Response:
        user = require_user()

        def perform() -> Response:
            post = find_post(post_id)
            state.unlike(post, user)
            return json_response(shown_post(state, post, user))

        return core.run(perform)

    # --- files -------------------------------------------------------------------------------

    @route("/uploads/default/original/<path:rest>", ["GET"], json_suffix=False)
    def upload_file(rest: str) -> Response:
        name = rest.rsplit("/", 1)[-1]
        sha1 = name.split(".", 1)[0]
        with core.lock:
            found = next((u for u in state.uploads.values() if u.sha1 == sha1), None)
        if found is None or not rest.endswith(f"{found.sha1}.{found.extension}"):
            return Response("Not Found", 404, content_type="text/plain; charset=utf-8")
        return Response(found.data, 200, content_type=found.content_type)

    @route("/uploads/short-url/<name>", ["GET"], json_suffix=False)
    def upload_short(name: str) -> Response:
        with core.lock:
            found = state.upload_by_short(name)
        if found is None:
            return Response("Not Found", 404, content_type="text/plain; charset=utf-8")
        return Response("", 302, headers={"Location": found.url})

    @route("/user_avatar/<host>/<username>/<int:size>/<name>", ["GET"], json_suffix=False)
    def avatar(host: str, username: str, size: int, name: str) -> Response:
        with core.lock:
            found = state.user_named(username)
        if found is None or host != state.host:
            return Response("Not Found", 404, content_type="text/plain; charset=utf-8")
        return Response(avatar_png(found.username, size), 200, content_type="image/png")

    # --- admin: webhooks and site settings ---------------------------------------------------
    #
    # Admin::WebHooksController and Admin::SiteSettingsController of a newer forum (not in the
    # OpenAPI document). Admin routes are behind AdminConstraint: anyone else gets a 404.

    def require_admin() -> User:
        user = viewer()
        if user is None or not user.admin:
            raise not_found()
        return user

    def hook_or_404(hook_id: int) -> WebHook:
        found = core.dispatcher.hook(hook_id)
        if found is None:
            raise not_found()
        return found

    def categories_of(hook: WebHook) -> list[dict[str, Any]]:
        shown = []
        for category_id in sorted(hook.category_ids):
            found = state.categories.get(category_id)
            if found is not None:
                shown.append(
                    {
                        "id": found.id,
                        "name": found.name,
                        "slug": found.slug,
                        "color": found.color,
                        "text_color": "FFFFFF",
                        "read_restricted": found.read_restricted,
                        "parent_category_id": None,
                    }
                )
        return shown

    def hook_fields(params: dict[str, Any], hook: WebHook | None) -> dict[str, Any]:
        """``web_hook_params``, checked as the model validates them; 422 ``{errors}`` if not."""
        fields = params.get("web_hook")
        if not isinstance(fields, dict):
            raise _missing("web_hook")
        errors: list[str] = []
        changes: dict[str, Any] = {}
        if "payload_url" in fields or hook is None:
            url = str(fields.get("payload_url") or "").strip()
            if not re.match(r"^https?://[^/\s]+", url):
                errors.append("Payload url is invalid")
            elif (hook is None or url != hook.url) and not payload_url_allowed(
                url, state.settings.allowed_internal_hosts, state.host
            ):
                errors.append(BLOCKED_OR_INTERNAL)
            changes["url"] = url
        if "secret" in fields:
            secret = str(fields.get("secret") or "")
            if 0 < len(secret) < 12:
                errors.append("Secret is too short (minimum is 12 characters)")
            changes["secret"] = secret or None
        if "content_type" in fields:
            content_type = _int_or_none(fields.get("content_type"))
            if content_type not in CONTENT_TYPES:
                errors.append("Content type can't be blank")
            changes["content_type"] = content_type
        for flag, attribute in (
            ("active", "active"),
            ("wildcard_web_hook", "wildcard"),
            ("verify_certificate", "verify_certificate"),
        ):
            if flag in fields:
                changes[attribute] = _truthy(fields[flag])
        if "web_hook_event_type_ids" in fields:
            wanted = {_int_or_none(i) for i in fields.get("web_hook_event_type_ids") or []}
            changes["event_types"] = frozenset(n for i, n, _ in EVENT_TYPES if i in wanted)
        if "category_ids" in fields:
            ids = {_int_or_none(i) for i in fields.get("category_ids") or []}
            changes["category_ids"] = frozenset(i for i in ids if i in state.categories)
        wildcard = changes.get("wildcard", hook.wildcard if hook else False)
        types = changes.get("event_types", hook.event_types if hook else frozenset())
        if not wildcard and not types:
            errors.append("Web hook event types can't be blank")
        if errors:
            raise SandboxRejection(422, errors)
        return changes

    def apply(hook: WebHook, changes: dict[str, Any]) -> None:
        for attribute, value in changes.items():
            setattr(hook, attribute, value)

    @route("/admin/api/web_hooks", ["GET"])
    def list_web_hooks() -> Response:
        require_admin()
        offset = _int(request.args.get("offset"), "offset") or 0
        with core.lock, core.dispatcher.lock:
            hooks = core.dispatcher.hooks()
            page = hooks[offset : offset + 50]
            grouped: dict[str, list[dict[str, Any]]] = {}
            for type_id, name, group in EVENT_TYPES:
                grouped.setdefault(group, []).append({"id": type_id, "name": name, "group": group})
            body = {
                "web_hooks": [web_hook_json(h) for h in page],
                "extras": {
                    "categories": [c for h in page for c in categories_of(h)],
                    "grouped_event_types": grouped,
                    "default_event_types": [event_type_json(n) for n in DEFAULT_EVENT_TYPE_NAMES],
                    "content_types": [{"id": i, "name": n} for i, n in CONTENT_TYPES.items()],
                    "delivery_statuses": [
                        {"id": 1, "name": "inactive"},
                        {"id": 2, "name": "failed"},
                        {"id": 3, "name": "successful"},
                        {"id": 4, "name": "disabled"},
                    ],
                },
                "total_rows_web_hooks": len(hooks),
                "load_more_web_hooks": f"/admin/api/web_hooks.json?limit=50&offset={offset + 50}",
            }
            return json_response(body)

    @route("/admin/api/web_hooks/<int:hook_id>", ["GET"])
    def show_web_hook(hook_id: int) -> Response:
        require_admin()
        with core.lock, core.dispatcher.lock:
            hook = hook_or_404(hook_id)
            return json_response(
                {"web_hook": web_hook_json(hook), "extras": {"categories": categories_of(hook)}}
            )

    @route("/admin/api/web_hooks", ["POST"])
    def create_web_hook() -> Response:
        require_admin()
        params = parse_params()
        with core.lock, core.dispatcher.lock:
            changes = hook_fields(params, None)
            hook = core.dispatcher.add_hook(changes.pop("url"), None, frozenset())
            hook.active = False  # the column's default; the form sends active
            apply(hook, changes)
            return json_response(
                {"web_hook": web_hook_json(hook), "categories": categories_of(hook)}
            )

    @route("/admin/api/web_hooks/<int:hook_id>", ["PUT"])
    def update_web_hook(hook_id: int) -> Response:
        require_admin()
        params = parse_params()
        with core.lock, core.dispatcher.lock:
            hook = hook_or_404(hook_id)
            apply(hook, hook_fields(params, hook))
            return json_response(
                {"web_hook": web_hook_json(hook), "categories": categories_of(hook)}
            )

    @route("/admin/api/web_hooks/<int:hook_id>", ["DELETE"])
    def delete_web_hook(hook_id: int) -> Response:
        require_admin()
        with core.lock, core.dispatcher.lock:
            hook_or_404(hook_id)
            core.dispatcher.remove_hook(hook_id)
        return json_response({"success": "OK"})

    @route("/admin/customize/watched_words", ["GET"])
    def list_watched_words() -> Response:
        # Admin::WatchedWordsController#index: WatchedWordListSerializer.
        require_admin()
        with core.lock:
            words = [{"id": i, **word} for i, word in enumerate(state.watched_words, start=1)]
        actions = ["block", "censor", "require_approval", "flag", "link", "replace", "tag"]
        return json_response(
            {"actions": [*actions, "silence"], "words": words, "compiled_regular_expressions": {}}
        )

    @route("/admin/site_settings", ["GET"])
    def list_site_settings() -> Response:
        require_admin()
        names = request.args.getlist("filter_names[]") or request.args.getlist("filter_names")
        with core.lock:
            return json_response(site_settings_json(state.settings, names))

    @route("/admin/site_settings/<name>", ["PUT"])
    def update_site_setting(name: str) -> Response:
        require_admin()
        params = parse_params()
        value = params.get(name)
        if value is None:
            raise _missing(name)
        with core.lock:
            set_site_setting(state.settings, name, str(value))
        return _empty()

    add_routes(app, core, parse_params, json_response)
    add_revision_routes(app, core, json_response)
    return app
