"""Online checks: can porch reach both platforms with what the config says?"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence

from bridges.discourse.client import ForumClient
from bridges.discourse.discourse_config import DiscourseConfig
from bridges.discourse.forum_errors import ForumAuthError, ForumError
from bridges.link_tiers import online_problems as tier_problems
from bridges.links import LinkConfig
from bridges.matrix.api import AppserviceAPI
from bridges.matrix.matrix_config import MatrixConfig
from bridges.matrix.matrix_errors import MatrixError, MatrixUnavailable
from policies.policy_config import Policy

log = logging.getLogger(__name__)

#: Pauses between appservice pings that fail for a passing reason (so four tries in all).
PING_BACKOFF = (0.5, 1.0, 2.0)


def online_problems(
    discourse: DiscourseConfig,
    matrix: MatrixConfig,
    links: Sequence[LinkConfig],
    policies: Mapping[str, Policy] | None = None,
) -> list[str]:
    """Every problem found reaching the forum and the homeserver, each with its config path;
    once both are reached, the tiers they give each link
    (:func:`bridges.link_tiers.online_problems`: a declared tier they contradict, a link that
    would publish without a policy)."""
    if matrix.mode == "bot":
        # porch's own account: no appservice to ping, a login to check instead.
        from bridges.matrix.bot_check import bot_problems

        forum = ForumClient(discourse)
        found = _forum_problems(forum, discourse, links)

        def tiers(chat: AppserviceAPI) -> list[str]:
            return [] if found else tier_problems(forum, chat, links, policies or {})

        return found + bot_problems(matrix, links, tiers)
    forum, chat = ForumClient(discourse), AppserviceAPI(matrix)
    problems: list[str] = []
    problems += _forum_problems(forum, discourse, links)
    problems += _matrix_problems(chat, matrix, links)
    if not problems:
        problems += tier_problems(forum, chat, links, policies or {})
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
        ping_until_answered(chat)
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


def ping_until_answered(chat: AppserviceAPI, sleep: Callable[[float], None] = time.sleep) -> None:
    """The appservice ping, tried again after a transient failure.

    Synapse may answer a ping 502 once when the keep-alive connection it holds to porch's
    port has gone stale (``AlreadyCancelled`` or ``AlreadyCalled``); its next attempt opens a
    fresh connection.
    A refusal that is not transient (a wrong token, an unknown appservice) fails at once.
    """
    for pause in PING_BACKOFF:
        try:
            chat.ping()
            return
        except MatrixUnavailable as exc:
            log.info("check: appservice ping failed (%s); trying again in %gs", exc, pause)
            sleep(pause)
    chat.ping()
