"""The sandbox forum's penalties: suspending and silencing users, hiding posts.

Routes of ``Admin::UsersController`` (``suspend``, ``unsuspend``, ``silence``, ``unsilence``,
``show``) and ``PostsController#unhide``, with the shapes of the OpenAPI document where it has
them (``suspendUser``, ``silenceUser``, ``adminGetUser``), and a staff flag with
``take_action`` hiding a post (``PostActionCreator``). Admin routes answer 404 to non-staff
(the admin routes' constraint), and the routes' changes fire webhooks as the forum does:
``user_suspended`` / ``user_unsuspended`` (event type ``user``, reference §1.4) and
``user_updated`` for a silence and its undo (the forum has no ``user_silenced`` event; the user
payload carries ``silenced_till``). The user payload is ``WebHookUserSerializer``'s keys porch
reads, with the penalty fields.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, Response, g

from sandbox.forum_core import ForumCore
from sandbox.forum_model import Post, SandboxRejection, User, forbidden, not_found
from sandbox.forum_render import iso, now
from sandbox.forum_serialize import avatar_template, basic_user, webhook_post
from sandbox.forum_state import ForumState

#: ``PostActionType.flag_types``: the flags a staff member may hide a post with.
FLAG_TYPES = frozenset({3, 4, 7, 8})


def _parse_time(value: Any, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise SandboxRejection(
            400, [f"You supplied invalid parameters to the request: {name}"], "invalid_parameters"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=now().tzinfo)


def _in_force(till: datetime | None) -> bool:
    return till is not None and till > now()


def webhook_user(state: ForumState, user: User) -> dict[str, Any]:
    """A ``user`` event's payload: who, staff flags, and the penalties in force."""
    suspended, silenced = _in_force(user.suspended_till), _in_force(user.silenced_till)
    return {
        "id": user.id,
        "username": user.username,
        "name": user.name,
        "avatar_template": avatar_template(state, user),
        "admin": user.admin,
        "moderator": user.moderator,
        "trust_level": user.trust_level,
        "created_at": iso(user.created_at),
        "suspended_till": iso(user.suspended_till) if suspended and user.suspended_till else None,
        "suspend_reason": user.suspend_reason if suspended else None,
        "silenced_till": iso(user.silenced_till) if silenced and user.silenced_till else None,
        "silence_reason": user.silence_reason if silenced else None,
    }


def _name_of(state: ForumState, user_id: int | None) -> str | None:
    found = None if user_id is None else state.users.get(user_id)
    return None if found is None else found.username


def admin_user(state: ForumState, user: User) -> dict[str, Any]:
    """``GET /admin/users/{id}.json`` (``adminGetUser``: every required key, no others)."""
    posts = [p for p in state.posts.values() if p.user_id == user.id and p.deleted_at is None]
    suspended, silenced = _in_force(user.suspended_till), _in_force(user.silenced_till)
    return {
        "id": user.id,
        "username": user.username,
        "name": user.name,
        "avatar_template": avatar_template(state, user),
        "active": True,
        "admin": user.admin,
        "moderator": user.moderator,
        "last_seen_at": None,
        "last_emailed_at": None,
        "created_at": iso(user.created_at),
        "last_seen_age": None,
        "last_emailed_age": None,
        "created_at_age": max(0.0, (now() - user.created_at).total_seconds()),
        "trust_level": user.trust_level,
        "manual_locked_trust_level": None,
        "title": user.title,
        "time_read": 0,
        "staged": False,
        "days_visited": 0,
        "posts_read_count": 0,
        "topics_entered": 0,
        "post_count": len(posts),
        "can_send_activation_email": False,
        "can_activate": False,
        "can_deactivate": not user.admin,
        "ip_address": "127.0.0.1",
        "registration_ip_address": None,
        "can_grant_admin": not user.admin,
        "can_revoke_admin": user.admin,
        "can_grant_moderation": not user.moderator,
        "can_revoke_moderation": user.moderator,
        "can_impersonate": False,
        "like_count": 0,
        "like_given_count": sum(1 for p in state.posts.values() if user.id in p.likes),
        "topic_count": sum(1 for p in posts if p.is_first_post),
        "flags_given_count": 0,
        "flags_received_count": 0,
        "private_topics_count": 0,
        "can_delete_all_posts": not user.staff,
        "can_be_anonymized": not user.staff,
        "can_be_merged": not user.staff,
        "full_suspend_reason": user.suspend_reason if suspended else None,
        "silence_reason": user.silence_reason if silenced else None,
        "primary_group_id": None,
        "badge_count": 0,
        "warnings_received_count": 0,
        "bounce_score": 0,
        "reset_bounce_score_after": None,
        "can_view_action_logs": user.staff,
        "can_disable_second_factor": False,
        "can_delete_sso_record": False,
        "api_key_count": 0,
        "single_sign_on_record": None,
        "approved_by": None,
        "suspended_by": _name_of(state, user.suspended_by_id) if suspended else None,
        "silenced_by": _name_of(state, user.silenced_by_id) if silenced else None,
        "groups": [],
        "external_ids": {},
        "include_ip": True,
    }


# --- what moderators do ----------------------------------------------------------------------


def suspend(state: ForumState, user: User, actor: User, till: datetime, reason: str) -> None:
    """``UserSuspender``: 409 if suspended already; fires ``user_suspended``."""
    if not actor.staff or user.admin:
        raise forbidden()
    if _in_force(user.suspended_till):
        raise SandboxRejection(409, ["User is already suspended."], extras={"failed": "FAILED"})
    user.suspended_till, user.suspended_at = till, now()
    user.suspend_reason, user.suspended_by_id = reason, actor.id
    state._emit("user", "user_suspended", webhook_user(state, user))


def unsuspend(state: ForumState, user: User, actor: User) -> None:
    if not actor.staff:
        raise forbidden()
    user.suspended_till = user.suspended_at = None
    user.suspend_reason = user.suspended_by_id = None
    state._emit("user", "user_unsuspended", webhook_user(state, user))


def silence(state: ForumState, user: User, actor: User, till: datetime, reason: str) -> None:
    """``UserSilencer``: 409 if silenced already; fires ``user_updated``."""
    if not actor.staff or user.staff:
        raise forbidden()
    if _in_force(user.silenced_till):
        raise SandboxRejection(409, ["User is already silenced."], extras={"failed": "FAILED"})
    user.silenced_till, user.silenced_at = till, now()
    user.silence_reason, user.silenced_by_id = reason, actor.id
    state._emit("user", "user_updated", webhook_user(state, user))


def unsilence(state: ForumState, user: User, actor: User) -> None:
    if not actor.staff:
        raise forbidden()
    was = _in_force(user.silenced_till)
    user.silenced_till = user.silenced_at = None
    user.silence_reason = user.silenced_by_id = None
    if was:
        state._emit("user", "user_updated", webhook_user(state, user))


def hide(state: ForumState, post: Post) -> None:
    """``Post#hide!``: a hidden first post unlists its topic; fires ``post_edited``."""
    if post.hidden:
        return
    post.hidden = True
    if post.is_first_post:
        state.topics[post.topic_id].visible = False
    state._emit("post", "post_edited", webhook_post(state, post))


def unhide(state: ForumState, post: Post, actor: User) -> None:
    """``PostsController#unhide`` (staff only); fires ``post_edited``."""
    if not actor.staff:
        raise forbidden()
    if not post.hidden:
        return
    post.hidden = False
    if post.is_first_post:
        state.topics[post.topic_id].visible = True
    state._emit("post", "post_edited", webhook_post(state, post))


def flag_takes_action(kind: int, actor: User, params: dict[str, Any]) -> bool:
    """Whether a ``POST /post_actions`` is a staff flag with ``take_action`` (hides the post)."""
    take = str(params.get("take_action", "")).lower() in ("true", "1", "t")
    return kind in FLAG_TYPES and take and actor.staff


# --- routes ----------------------------------------------------------------------------------


def add_routes(
    app: Flask,
    core: ForumCore,
    params: Callable[[], dict[str, Any]],
    respond: Callable[[Any], Response],
) -> None:
    """Serve the penalty routes on ``app`` (each also with the ``.json`` suffix)."""
    state = core.state

    def route(rule: str, methods: list[str]) -> Callable[[Callable[..., Response]], None]:
        def register(view: Callable[..., Response]) -> None:
            name = f"sanctions_{view.__name__}"
            app.add_url_rule(rule, name, view, methods=methods)
            app.add_url_rule(rule + ".json", name + "_json", view, methods=methods)

        return register

    def staff() -> User:
        user: User | None = g.user
        if user is None or not user.staff:
            raise not_found()
        return user

    def target(user_id: int) -> User:
        found = state.users.get(user_id)
        if found is None:
            raise not_found()
        return found

    @route("/admin/users/<int:user_id>", ["GET"])
    def show(user_id: int) -> Response:
        staff()
        with core.lock:
            return respond(admin_user(state, target(user_id)))

    @route("/admin/users/<int:user_id>/suspend", ["PUT"])
    def suspend_user(user_id: int) -> Response:
        actor, given = staff(), params()
        if not given.get("suspend_until") or not given.get("reason"):
            raise SandboxRejection(
                400, ["param is missing or the value is empty: suspend_until, reason"]
            )
        till = _parse_time(given["suspend_until"], "suspend_until")

        def perform() -> Response:
            user = target(user_id)
            suspend(state, user, actor, till, str(given["reason"]))
            return respond(
                {
                    "suspension": {
                        "suspend_reason": user.suspend_reason,
                        "full_suspend_reason": user.suspend_reason,
                        "suspended_till": iso(till),
                        "suspended_at": iso(user.suspended_at or now()),
                        "suspended_by": basic_user(state, actor),
                    }
                }
            )

        return core.run(perform)

    @route("/admin/users/<int:user_id>/unsuspend", ["PUT"])
    def unsuspend_user(user_id: int) -> Response:
        actor = staff()

        def perform() -> Response:
            unsuspend(state, target(user_id), actor)
            return respond({"suspension": {"suspended_till": None, "suspended_at": None}})

        return core.run(perform)

    @route("/admin/users/<int:user_id>/silence", ["PUT"])
    def silence_user(user_id: int) -> Response:
        actor, given = staff(), params()
        if not given.get("reason"):
            raise SandboxRejection(400, ["param is missing or the value is empty: reason"])
        until = given.get("silenced_till")
        till = _parse_time(until, "silenced_till") if until else now() + timedelta(days=36500)

        def perform() -> Response:
            user = target(user_id)
            silence(state, user, actor, till, str(given["reason"]))
            return respond(
                {
                    "silence": {
                        "silenced": True,
                        "silence_reason": user.silence_reason,
                        "full_silence_reason": user.silence_reason,
                        "silenced_till": iso(till),
                        "silenced_at": iso(user.silenced_at or now()),
                        "silenced_by": basic_user(state, actor),
                    }
                }
            )

        return core.run(perform)

    @route("/admin/users/<int:user_id>/unsilence", ["PUT"])
    def unsilence_user(user_id: int) -> Response:
        actor = staff()

        def perform() -> Response:
            unsilence(state, target(user_id), actor)
            return respond({"unsilence": {"silenced": False}})

        return core.run(perform)

    @route("/posts/<int:post_id>/unhide", ["PUT"])
    def unhide_post(post_id: int) -> Response:
        user: User | None = g.user
        if user is None:
            raise forbidden()

        def perform() -> Response:
            post = state.posts.get(post_id)
            if post is None:
                raise not_found()
            unhide(state, post, user)
            return respond({"success": "OK"})

        return core.run(perform)
