"""A faithful Discourse double: the sandbox forum of ``porch demo`` and of porch's tests.

:class:`SandboxForum` serves the part of Discourse's REST API porch uses (``forum_api``) over
real loopback HTTP, and sends webhooks shaped, signed and queued as Discourse sends them
(``forum_hooks``). Members act on it through methods (``create_topic``, ``reply``, ...) that
fire the same webhooks as posts made through the API, so porch's loop prevention meets the
real thing. The REST bodies are checked
against the official OpenAPI document by ``tests/sandbox/test_forum_contract.py``.

Usage::

    with SandboxForum(api_key="k" * 20) as forum:
        forum.add_user("alice")
        forum.add_category("town-square")
        forum.set_webhook("http://127.0.0.1:8090/discourse/webhook", "a-long-secret")
        post = forum.create_topic(
            "alice", "town-square", "Where should the bench go?", "Park gate or library steps?"
        )
        forum.flush_webhooks()  # every delivery sent and answered
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from types import TracebackType
from typing import Any

from sandbox.forum_api import create_app
from sandbox.forum_core import ApiCall, Fault, ForumCore
from sandbox.forum_groups import add_member, remove_member
from sandbox.forum_hooks import Delivery, WebHook, WebhookDispatcher
from sandbox.forum_model import PendingPost, Post, SandboxRejection, User
from sandbox.forum_serialize import (
    avatar_template,
    category_show,
    upload_json,
    webhook_post,
    webhook_topic,
)
from sandbox.forum_server import KeepAliveServer
from sandbox.forum_sso import SsoProvider
from sandbox.forum_state import Event, ForumState, Settings

__all__ = [
    "ApiCall",
    "Delivery",
    "Event",
    "SandboxForum",
    "SandboxRejection",
    "Settings",
    "WebHook",
]

_HOST = "127.0.0.1"


class SandboxForum:
    """A Discourse forum in a thread on 127.0.0.1, with an "all users" admin API key."""

    def __init__(
        self,
        *,
        api_key: str,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        port: int | None = None,
        title: str = "Sandbox forum",
        admin_api_rate_per_minute: int | None = None,
        settings: Settings | None = None,
    ) -> None:
        """``admin_api_rate_per_minute`` turns on the site-wide admin API bucket (a real forum:
        60); ``settings`` changes site settings (post and title lengths, ninja-edit window ...).
        """
        if not api_key:
            raise ValueError("api_key must not be empty")
        self.title = title
        self._port = port or 0
        state = ForumState(host=_HOST, settings=settings or Settings())
        self._core = ForumCore(
            api_key=api_key,
            state=state,
            dispatcher=WebhookDispatcher(instance_url=""),
            admin_api_rate_per_minute=admin_api_rate_per_minute,
        )
        #: The Flask app serving the REST API (its ``url_map`` lists what the double serves).
        self.app = create_app(self._core)
        #: The DiscourseConnect provider (``sso.set_secret(host, secret)`` turns it on).
        self.sso = SsoProvider.install(self.app, self._core)
        if webhook_url is not None:
            self.set_webhook(webhook_url, webhook_secret)
        self._server: KeepAliveServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is not None:
            return self._server.port
        if self._port:
            return self._port
        raise RuntimeError("the sandbox forum has no port until it is started")

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``, the forum's ``Discourse.base_url``."""
        return f"http://{_HOST}:{self.port}"

    def start(self) -> None:
        """Listen on the port (a free one if none was given) and start the webhook queue."""
        if self._server is not None:
            return
        self._server = KeepAliveServer(_HOST, self._port, self.app)
        self._core.dispatcher.instance_url = self.base_url
        self._core.dispatcher.start()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"sandbox-forum-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and stop the webhook queue (queued deliveries are dropped)."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.close()
        if self._thread is not None:
            self._thread.join(5)
        self._core.dispatcher.stop()
        self._server = None
        self._thread = None

    def __enter__(self) -> SandboxForum:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- members and categories --------------------------------------------------------------

    def add_user(
        self,
        username: str,
        *,
        name: str | None = None,
        admin: bool = False,
        moderator: bool = False,
        trust_level: int = 1,
        groups: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Create a member. Custom groups named in ``groups`` are created as needed."""

        def add() -> dict[str, Any]:
            user = self._core.state.add_user(
                username,
                name=name,
                admin=admin,
                moderator=moderator,
                trust_level=trust_level,
                groups=groups,
            )
            return self._user_dict(user)

        return self._core.run(add)

    def add_category(
        self,
        slug: str,
        name: str | None = None,
        *,
        read_restricted: bool = False,
        group_permissions: Mapping[str, int] | None = None,
        require_approval: bool = False,
    ) -> dict[str, Any]:
        """Create a category. ``group_permissions`` maps group names to 1 (full), 2 (reply)
        or 3 (see); without ``everyone`` the category is read-restricted.
        ``read_restricted=True`` alone means staff only. ``require_approval`` sends posts of
        non-staff members to the review queue."""

        def add() -> dict[str, Any]:
            state = self._core.state
            made = state.add_category(
                slug,
                name,
                read_restricted=read_restricted,
                group_permissions=group_permissions,
                require_approval=require_approval,
            )
            shown: dict[str, Any] = category_show(state, made, state.system)["category"]
            return shown

        return self._core.run(add)

    def set_category_security(
        self,
        category: str | int,
        *,
        read_restricted: bool = False,
        group_permissions: Mapping[str, int] | None = None,
    ) -> None:
        """Change who may see a category, as ``add_category`` takes it; fires
        ``category_updated`` (event type ``category``, for webhooks subscribed to it)."""

        def change() -> None:
            state = self._core.state
            found = state.category_by_ref(category)
            if found is None:
                raise KeyError(f"no category {category!r}")
            state.set_category_security(
                found, read_restricted=read_restricted, group_permissions=group_permissions
            )

        self._core.run(change)

    def add_to_group(self, username: str, group: str) -> None:
        """An admin adds ``username`` to the custom group ``group`` (made as needed); fires
        ``user_added_to_group`` (event type ``group_user``, for webhooks subscribed to it)."""
        self._core.run(lambda: add_member(self._core.state, self._user(username), group))

    def remove_from_group(self, username: str, group: str) -> None:
        """An admin removes ``username`` from ``group``; fires ``user_removed_from_group``."""
        self._core.run(lambda: remove_member(self._core.state, self._user(username), group))

    # --- what members do ---------------------------------------------------------------------

    def create_topic(
        self,
        username: str,
        category: str | int,
        title: str,
        raw: str,
        tags: Sequence[str] = (),
    ) -> dict[str, Any]:
        """``username`` opens a topic; returns its first post (webhook shape).

        Fires ``topic_created`` and ``post_created``. The forum's rules apply as in the
        composer: a short title or body raises :class:`SandboxRejection`.
        """
        return self._post_as(
            username,
            lambda user: self._core.state.create_post(
                user, raw=raw, title=title, category=category, tags=tags
            ),
        )

    def reply(
        self, username: str, topic_id: int, raw: str, reply_to_post_number: int | None = None
    ) -> dict[str, Any]:
        """``username`` replies in a topic (to a post of it, if a number is given)."""
        return self._post_as(
            username,
            lambda user: self._core.state.create_post(
                user, raw=raw, topic_id=topic_id, reply_to_post_number=reply_to_post_number
            ),
        )

    def send_private_message(
        self, username: str, recipients: Sequence[str], title: str, raw: str
    ) -> dict[str, Any]:
        """A personal message: ``topic_archetype`` is ``private_message``, no category."""
        return self._post_as(
            username,
            lambda user: self._core.state.create_post(
                user, raw=raw, title=title, target_recipients=recipients
            ),
        )

    def edit_post(
        self,
        post_id: int,
        raw: str,
        *,
        title: str | None = None,
        editor: str | None = None,
        edit_reason: str | None = None,
    ) -> dict[str, Any]:
        """Edit a post (as its author unless ``editor`` is named); a title for a first post.

        Fires ``post_edited``, or only ``topic_edited`` when the title changes.
        """

        def edit() -> dict[str, Any]:
            state = self._core.state
            post = self._post(post_id)
            user = self._user(editor) if editor else state.users[post.user_id]
            if not state.can_edit_post(user, post):
                raise SandboxRejection(403, [f"{user.username} may not edit post {post_id}"])
            state.revise(post, user, raw=raw, title=title, edit_reason=edit_reason)
            return webhook_post(state, post)

        return self._core.run(edit)

    def delete_post(self, post_id: int, *, by: str | None = None) -> None:
        """Delete a post. By staff (or ``by=None``: the system user) it is trashed and fires
        ``post_destroyed`` (+ ``topic_destroyed`` for a first post). By its non-staff author it
        is only marked: ``post_edited`` "(post deleted by author)", then ``post_destroyed``
        (+ ``topic_destroyed``), as on a real forum."""

        def delete() -> None:
            state = self._core.state
            post = self._post(post_id)
            user = self._user(by) if by else state.system
            if not state.can_delete_post(user, post):
                raise SandboxRejection(403, [f"{user.username} may not delete post {post_id}"])
            state.destroy(post, user)

        self._core.run(delete)

    def recover_post(self, post_id: int, *, by: str | None = None) -> None:
        """Undo a delete (``post_recovered``; ``post_edited`` first for a self-delete)."""

        def recover() -> None:
            state = self._core.state
            post = self._post(post_id)
            state.recover(post, self._user(by) if by else state.system)

        self._core.run(recover)

    def move_topic(self, topic_id: int, category: str | int, *, by: str | None = None) -> None:
        """Move a topic to another category, as its editor (staff by default) does: fires
        ``topic_edited`` with the new ``category_id``."""

        def move() -> None:
            state = self._core.state
            first = state.first_post(topic_id)
            if first is None:
                raise KeyError(f"no topic {topic_id}")
            state.revise(first, self._user(by) if by else state.system, category=category)

        self._core.run(move)

    def set_topic_visible(self, topic_id: int, visible: bool) -> None:
        """List or unlist a topic (staff's toggle): fires ``topic_visible_status_updated``."""

        def change() -> None:
            state = self._core.state
            topic = state.topics[topic_id]
            if topic.visible is not visible:
                topic.visible = visible
                state._emit("topic", "topic_visible_status_updated", webhook_topic(state, topic))

        self._core.run(change)

    def hide_post(self, post_id: int) -> None:
        """Hide a post as enough flags do (a hidden first post unlists its topic): fires
        ``post_edited`` with ``hidden: true``."""

        def hide() -> None:
            state = self._core.state
            post = self._post(post_id)
            post.hidden = True
            if post.is_first_post:
                state.topics[post.topic_id].visible = False
            state._emit("post", "post_edited", webhook_post(state, post))

        self._core.run(hide)

    def like(self, username: str, post_id: int) -> None:
        """``username`` likes a post (a ``like`` event, for webhooks subscribed to it)."""
        self._core.run(lambda: self._core.state.like(self._post(post_id), self._user(username)))

    def upload(self, username: str, data: bytes, filename: str) -> dict[str, Any]:
        """``username`` uploads a file in the composer; returns the upload JSON."""

        def add() -> dict[str, Any]:
            made = self._core.state.add_upload(self._user(username), data, filename, "")
            return upload_json(made)

        return self._core.run(add)

    def pending_posts(self) -> list[PendingPost]:
        """Posts waiting in the review queue."""
        with self._core.lock:
            return list(self._core.state.pending.values())

    def require_approval(self, username: str, required: bool = True) -> None:
        """Queue ``username``'s posts for a moderator wherever they post (staff excepted), as
        a category's ``require_approval`` does for everyone posting in it."""

        def change() -> None:
            ids = self._core.state.review_user_ids
            user = self._user(username)
            if required:
                ids.add(user.id)
            else:
                ids.discard(user.id)

        self._core.run(change)

    def reject(self, pending_id: int) -> None:
        """A moderator rejects a queued post: it is never created
        (``reviewable_transitioned_to``, status ``rejected``)."""
        self._core.run(lambda: self._core.state.reject(pending_id))

    def approve(self, pending_id: int) -> dict[str, Any]:
        """A moderator approves a queued post; it is created and fires its webhooks
        (``post_created``, then ``reviewable_transitioned_to`` naming the post)."""
        return self._core.run(
            lambda: webhook_post(self._core.state, self._core.state.approve(pending_id))
        )

    # --- inspection --------------------------------------------------------------------------

    def posts(self, topic_id: int | None = None) -> list[dict[str, Any]]:
        """Posts (webhook shape, deleted ones included with ``deleted_at``), oldest first."""
        with self._core.lock:
            state = self._core.state
            chosen = sorted(
                (p for p in state.posts.values() if topic_id is None or p.topic_id == topic_id),
                key=lambda p: p.id,
            )
            return [webhook_post(state, p) for p in chosen]

    def post(self, post_id: int) -> dict[str, Any]:
        with self._core.lock:
            return webhook_post(self._core.state, self._post(post_id))

    def topic(self, topic_id: int) -> dict[str, Any]:
        with self._core.lock:
            found = self._core.state.topics.get(topic_id)
            if found is None:
                raise KeyError(f"no topic {topic_id}")
            return webhook_topic(self._core.state, found)

    def category_id(self, slug: str) -> int:
        with self._core.lock:
            found = self._core.state.category_by_ref(slug)
            if found is None:
                raise KeyError(f"no category {slug!r}")
            return found.id

    def events(self) -> list[Event]:
        """Every webhook event the forum fired, whether or not a webhook was set."""
        with self._core.lock:
            return list(self._core.events)

    def requests_log(self) -> list[ApiCall]:
        """Every HTTP request received: method, path, ``Api-Username``, status, params."""
        with self._core.lock:
            return list(self._core.calls)

    # --- fault injection ---------------------------------------------------------------------

    def fail_next(
        self,
        count: int,
        *,
        status: int = 500,
        retry_after: int | None = None,
        json_429: bool = True,
        json_extras: bool = True,
        method: str | None = None,
        path_prefix: str | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next ``count`` matching requests with a failure instead.

        429: the controller's JSON (``extras.wait_seconds``; ``json_extras=False`` leaves
        ``extras`` out) or, with ``json_429=False``, the per-IP middleware's text/plain.
        ``retry_after`` sets the ``Retry-After`` header. 503 is the JSON read-only answer; other
        5xx an HTML error page; other 4xx a JSON error.
        """
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._core.lock:
            self._core.faults.append(
                Fault(
                    count, status, retry_after, json_429, json_extras, method, path_prefix, message
                )
            )

    def clear_faults(self) -> None:
        """Forget the failures still queued by :meth:`fail_next`: the forum answers again."""
        with self._core.lock:
            self._core.faults.clear()

    def slow_post_answers(self, seconds: float) -> None:
        """``POST /posts`` creates the post at once but answers ``seconds`` later (0: at once),
        like a forum whose answer is lost or late while the post already exists."""
        with self._core.lock:
            self._core.post_answer_delay = seconds

    def advance_redis(self, seconds: float) -> None:
        """Let ``seconds`` pass for the forum's Redis keys: the 120 s memo of API post
        creation and the ``unique_posts_mins`` keys expire as they would after that long."""
        with self._core.lock:
            self._core.state.redis_offset += seconds

    # --- webhooks ----------------------------------------------------------------------------

    def set_webhook(
        self, url: str | None, secret: str | None, *, events: Collection[str] | None = None
    ) -> None:
        """Point the forum's webhook at ``url`` (None: no webhook). ``events`` are the event
        types it is subscribed to; default ``post`` and ``topic``."""
        self._core.dispatcher.configure(url, secret, events)

    def web_hooks(self) -> list[WebHook]:
        """Every webhook on the forum (copies), by id: ``set_webhook``'s and the admin API's."""
        with self._core.dispatcher.lock:
            return [replace(h) for h in self._core.dispatcher.hooks()]

    def flags(self) -> list[dict[str, Any]]:
        """Plain flags raised on posts: ``{post_id, username, type, message}`` each."""
        with self._core.lock:
            return [dict(f) for f in self._core.state.flags]

    def set_watched_words(self, *words: dict[str, Any]) -> None:
        """Replace the admin's watched words: ``{"word": ..., "action": "block", ...}`` each
        (``replacement``, ``case_sensitive`` as the admin API shows them)."""
        with self._core.lock:
            self._core.state.watched_words = [{"case_sensitive": False, **word} for word in words]

    def change_settings(self, **changes: Any) -> None:
        """Change site settings as an admin would (``allowed_internal_hosts="porch"``, ...)."""
        with self._core.lock:
            settings = self._core.state.settings
            for name, value in changes.items():
                if name not in Settings.__dataclass_fields__:
                    raise KeyError(f"no site setting {name!r}")
                setattr(settings, name, value)

    def ping(self) -> None:
        """The admin's Ping button: a ``ping`` delivery with body ``{"ping":"OK"}``."""
        self._core.dispatcher.enqueue(Event("ping", "ping", {}))

    def redeliver(self, event_id: int) -> None:
        """The admin's Redeliver button: the same headers (id, signature) and body again."""
        self._core.dispatcher.redeliver(event_id)

    def deliveries(self) -> list[Delivery]:
        """Deliveries sent so far, with the receiver's status (-1: connection failed)."""
        return self._core.dispatcher.deliveries()

    def flush_webhooks(self, timeout: float = 10.0) -> None:
        """Wait until the webhook queue is empty (every delivery sent and answered)."""
        self._core.dispatcher.flush(timeout)

    def wait_for_deliveries(
        self, count: int = 1, *, event: str | None = None, timeout: float = 10.0
    ) -> list[Delivery]:
        """Wait until at least ``count`` deliveries (of ``event``, if named) were sent."""

        def enough(records: list[Delivery]) -> bool:
            return sum(1 for d in records if event is None or d.event_name == event) >= count

        what = f"{count} {event or 'webhook'} deliveries"
        records = self._core.dispatcher.wait_for(enough, timeout, what)
        return [d for d in records if event is None or d.event_name == event]

    # --- internals ---------------------------------------------------------------------------

    def _user(self, username: str) -> User:
        found = self._core.state.user_named(username)
        if found is None:
            raise KeyError(f"no forum user {username!r}")
        return found

    def _post(self, post_id: int) -> Post:
        found = self._core.state.posts.get(post_id)
        if found is None:
            raise KeyError(f"no post {post_id}")
        return found

    def _post_as(
        self, username: str, create: Callable[[User], Post | PendingPost]
    ) -> dict[str, Any]:
        def act() -> dict[str, Any]:
            result = create(self._user(username))
            if isinstance(result, PendingPost):
                return {"action": "enqueued", "pending_post": {"id": result.id, "raw": result.raw}}
            return webhook_post(self._core.state, result)

        return self._core.run(act)

    def _user_dict(self, user: User) -> dict[str, Any]:
        return {
            "id": user.id,
            "username": user.username,
            "name": user.name,
            "admin": user.admin,
            "moderator": user.moderator,
            "trust_level": user.trust_level,
            "groups": list(user.groups),
            "avatar_template": avatar_template(self._core.state, user),
        }
