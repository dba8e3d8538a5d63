"""The sandbox forum's post revisions: who edited a post, version by version.

``GET /posts/{id}/revisions/latest.json`` (``PostsController#latest_revision``) and
``GET /posts/{id}/revisions/{number}.json`` (``PostsController#revisions``), answered with
``PostRevisionSerializer``'s keys; ``username`` is the editor of that revision. A post nobody
revised (version 1: its author's edits within the grace period make no revision) answers 404,
as does a revision number the post does not have; a number below 2 is a 400
(``Discourse::InvalidParameters``). The OpenAPI document has neither route.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, g

from sandbox.forum_core import ForumCore
from sandbox.forum_model import (
    Post,
    Revision,
    SandboxRejection,
    User,
    forbidden,
    not_found,
)
from sandbox.forum_render import iso
from sandbox.forum_serialize import avatar_template
from sandbox.forum_state import ForumState


def _raw_after(post: Post, revision: Revision) -> str:
    """The post's raw as ``revision`` left it: what the next revision replaced, else today's."""
    later = [r for r in post.revisions if r.number > revision.number]
    return later[0].previous_raw if later else post.raw


def revision_body(state: ForumState, post: Post, revision: Revision) -> dict[str, Any]:
    """``PostRevisionSerializer`` (the keys porch and a client read)."""
    editor = state.users[revision.user_id]
    before, after = state.cook(revision.previous_raw), state.cook(_raw_after(post, revision))
    last = post.revisions[-1].number
    return {
        "created_at": iso(revision.created_at),
        "post_id": post.id,
        "previous_hidden": False,
        "current_hidden": False,
        "first_revision": 1,
        "previous_revision": revision.number - 1,
        "current_revision": revision.number,
        "next_revision": revision.number + 1 if revision.number < last else None,
        "last_revision": last,
        "current_version": revision.number,
        "version_count": post.version,
        "username": editor.username_lower,
        "display_username": editor.username,
        "avatar_template": avatar_template(state, editor),
        "edit_reason": revision.edit_reason,
        "body_changes": {
            "inline": f'<div class="inline-diff">{after}</div>',
            "side_by_side": (
                f'<div class="revision-content">{before}</div>'
                f'<div class="revision-content">{after}</div>'
            ),
            "side_by_side_markdown": (
                f"<table class='markdown'><tr><td>{html.escape(revision.previous_raw)}</td>"
                f"<td>{html.escape(_raw_after(post, revision))}</td></tr></table>"
            ),
        },
        "wiki": post.wiki,
        "can_edit": True,
    }


def add_revision_routes(app: Flask, core: ForumCore, respond: Callable[[Any], Response]) -> None:
    """Serve the revision routes on ``app`` (each also with the ``.json`` suffix)."""
    state = core.state

    def route(rule: str) -> Callable[[Callable[..., Response]], None]:
        def register(view: Callable[..., Response]) -> None:
            name = f"revisions_{view.__name__}"
            app.add_url_rule(rule, name, view, methods=["GET"])
            app.add_url_rule(rule + ".json", name + "_json", view, methods=["GET"])

        return register

    def visible_post(post_id: int) -> Post:
        viewer: User | None = g.user
        post = state.posts.get(post_id)
        staff = viewer is not None and viewer.staff
        # PostsController#find_post_from_params, then "raise NotFound if post.hidden" for
        # those who may not see hidden posts.
        if post is None or (post.deleted_at is not None and not staff):
            raise not_found()
        if not state.can_see_post(viewer, post):
            raise forbidden()
        if post.hidden and not staff:
            raise not_found()
        return post

    @route("/posts/<int:post_id>/revisions/latest")
    def latest(post_id: int) -> Response:
        with core.lock:
            post = visible_post(post_id)
            if not post.revisions:
                raise not_found()
            return respond(revision_body(state, post, post.revisions[-1]))

    @route("/posts/<int:post_id>/revisions/<int:number>")
    def numbered(post_id: int, number: int) -> Response:
        if number < 2:
            raise SandboxRejection(
                400,
                ["You supplied invalid parameters to the request: revision"],
                "invalid_parameters",
            )
        with core.lock:
            post = visible_post(post_id)
            found = next((r for r in post.revisions if r.number == number), None)
            if found is None:
                raise not_found()
            return respond(revision_body(state, post, found))
