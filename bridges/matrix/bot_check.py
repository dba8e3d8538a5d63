"""``porch check --online`` in bot mode: the homeserver answers, porch's account logs in, and
it is (or can get) into every linked room.

A password is checked by logging in on a device of its own, logged out again at the end: the
running porch's session (its device and token) is left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from nio import AsyncClient, AsyncClientConfig, LoginError, LoginResponse
from pydantic import SecretStr

from bridges.links import LinkConfig
from bridges.matrix.api import AppserviceAPI
from bridges.matrix.bot_api import BotAPI, BotToken
from bridges.matrix.matrix_config import MatrixConfig
from bridges.matrix.matrix_errors import MatrixError

#: The device a password check logs in on (and out of).
CHECK_DEVICE = "PORCH_CHECK"


def bot_problems(
    config: MatrixConfig,
    links: Sequence[LinkConfig],
    then: Callable[[AppserviceAPI], list[str]] = lambda _chat: [],
) -> list[str]:
    """Every problem found reaching the homeserver as porch's account, each with its config
    path; when there is none, ``then(client)`` adds the checks that need the account."""
    bot = config.bot
    assert bot is not None and config.mode == "bot"
    anonymous = BotAPI(config, BotToken(bot, None))
    try:
        anonymous.versions()
    except MatrixError as exc:
        return [f"matrix.homeserver: the homeserver does not answer: {exc}"]
    with _logged_in(config) as (chat, problem):
        if chat is None:
            return [problem or "matrix.bot: porch's account cannot log in"]
        try:
            who = chat.whoami()
        except MatrixError as exc:
            return [f"matrix.bot.access_token: the homeserver does not accept it ({exc})"]
        if who != bot.user_id:
            return [f"matrix.bot.user_id: the access token is {who}'s, not {bot.user_id}'s"]
        problems = []
        for i, link in enumerate(links):
            try:
                room = chat.resolve_room(link.room)
                chat.ensure_joined(room, chat.bot_user_id)
            except (MatrixError, ValueError) as exc:
                problems.append(
                    f"links[{i}].room: porch's account {bot.user_id} cannot join {link.room} "
                    f"({exc}); invite it to the room"
                )
        return problems or then(chat)


@contextmanager
def _logged_in(config: MatrixConfig) -> Iterator[tuple[BotAPI | None, str | None]]:
    """A client as porch's account: with the configured token, or logged in with the password
    on :data:`CHECK_DEVICE` and logged out afterwards. ``(None, why)`` when the login failed."""
    bot = config.bot
    assert bot is not None
    if bot.access_token is not None:
        yield BotAPI(config, BotToken(bot, None)), None
        return
    assert bot.password is not None  # the config's validation makes sure of one or the other
    client = AsyncClient(
        config.base_url,
        bot.user_id,
        device_id=CHECK_DEVICE,
        config=AsyncClientConfig(max_timeouts=0, request_timeout=config.timeout),
    )
    try:
        answer = asyncio.run(_login(client, bot.password.get_secret_value()))
    except Exception as exc:  # aiohttp's errors; a check reports, it does not crash
        yield None, f"matrix.homeserver: porch's account cannot log in ({type(exc).__name__})"
        return
    if not isinstance(answer, LoginResponse):
        yield (
            None,
            (
                f"matrix.bot.password: the homeserver refused the login of {bot.user_id} "
                f"({answer.status_code}: {answer.message})"
            ),
        )
        return
    token = SecretStr(answer.access_token)
    checked = config.model_copy(update={"bot": bot.model_copy(update={"access_token": token})})
    assert checked.bot is not None
    try:
        yield BotAPI(checked, BotToken(checked.bot, None)), None
    finally:
        # A check device left behind is harmless (and the admin can remove it).
        with contextlib.suppress(Exception):
            asyncio.run(_logout(client, answer.access_token))


async def _login(client: AsyncClient, password: str) -> LoginResponse | LoginError:
    try:
        return await client.login(password, device_name="porch check")
    finally:
        await client.close()


async def _logout(client: AsyncClient, token: str) -> None:
    client.access_token = token
    try:
        await client.logout()
    finally:
        await client.close()
