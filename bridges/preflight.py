"""Online checks: can porch reach both platforms with what the config says?"""

from __future__ import annotations

from collections.abc import Sequence

from bridges.discourse.client import ForumClient
from bridges.discourse.config import DiscourseConfig
from bridges.discourse.errors import ForumAuthError, ForumError
from bridges.links import LinkConfig
from bridges.matrix.api import AppserviceAPI
from bridges.matrix.config import MatrixConfig
from bridges.matrix.errors import MatrixError


def online_problems(
    discourse: DiscourseConfig, matrix: MatrixConfig, links: Sequence[LinkConfig]
) -> list[str]:
    """Every problem found reaching the forum and the homeserver, each with its config path."""
    problems: list[str] = []
    problems += _forum_problems(ForumClient(discourse), discourse, links)
    problems += _matrix_problems(AppserviceAPI(matrix), matrix, links)
    return problems


def _forum_problems(
    forum: ForumClient, config: DiscourseConfig, links: Sequence[LinkConfig]
) -> list[str]:
    try:
        forum.user(config.api_username)
    except ForumAuthError as exc:
        return [f"discourse.api_key: the forum refused the key for '{config.api_username}': {exc}"]
    except ForumError as exc:
        return [f"discourse.url: cannot reach the forum API: {exc}"]
    problems = []
    for name in (config.relay_username,):
        try:
            forum.user(name)
        except ForumError as exc:
            problems.append(f"discourse.relay_username: no forum account '{name}': {exc}")
    try:
        categories = forum.categories()
    except ForumError as exc:
        return [*problems, f"discourse.url: cannot list categories: {exc}"]
    for i, link in enumerate(links):
        wanted = str(link.forum.category)
        if not any(wanted in (str(c.get("id")), str(c.get("slug"))) for c in categories):
            problems.append(
                f"links[{i}].forum.category: no category '{wanted}' is visible to "
                f"'{config.api_username}'"
            )
    return problems


def _matrix_problems(
    chat: AppserviceAPI, config: MatrixConfig, links: Sequence[LinkConfig]
) -> list[str]:
    try:
        chat.versions()
    except MatrixError as exc:
        return [f"matrix.homeserver: the homeserver does not answer: {exc}"]
    try:
        chat.whoami()
    except MatrixError as exc:
        return [
            f"matrix.appservice.as_token: the homeserver does not accept it ({exc}); "
            "is the registration file (porch registration) loaded by the homeserver?"
        ]
    problems = []
    try:
        chat.ping()
    except MatrixError as exc:
        assert config.appservice is not None
        problems.append(
            f"matrix.appservice.url: the homeserver cannot reach porch at {config.appservice.url}"
            f" ({exc}); is porch serve running there?"
        )
    for i, link in enumerate(links):
        try:
            room = chat.resolve_room(link.room)
            chat.ensure_joined(room, chat.bot_user_id)
        except MatrixError as exc:
            problems.append(
                f"links[{i}].room: porch's bot {chat.bot_user_id} cannot join {link.room} ({exc});"
                " invite it to the room"
            )
    return problems
