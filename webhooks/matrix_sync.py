"""Bot mode in the service: the sync loop as porch's Matrix door, its readiness, and what the
appservice-only commands say in bot mode.

The sync loop is a door (it records events, it delivers nothing), so the process that runs the
doors runs it: ``porch serve`` (one process) and ``--role web``. Several web processes would
each sync; the inbox's keys keep every event once, but one web process is the setup to run.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bridges.matrix.bot_api import chat_api
from bridges.matrix.bot_sync import BotSync
from bridges.model import UserID
from bridges.store.store import Store
from bridges.store.sync_state import SyncState
from webhooks.config import PorchConfig
from webhooks.health import Check, NotReady

#: Seconds beyond one long poll that a sync may take before readiness calls it stalled.
STALL_MARGIN = 60.0


def bot_sync(
    config: PorchConfig,
    store: Store,
    on_accepted: Callable[[], None],
    clock: Callable[[], float] = time.time,
) -> BotSync | None:
    """The sync loop of bot mode (``None`` in appservice mode), with a client of its own."""
    bot = config.matrix.bot
    if config.matrix.mode != "bot" or bot is None:
        return None
    sessions = SyncState(store.db)
    return BotSync(
        config.matrix.base_url,
        bot,
        config.links,
        sessions,
        store.inbox,
        chat_api(config.matrix, sessions),
        on_accepted=on_accepted,
        clock=clock,
        request_timeout=config.matrix.timeout,
    )


def sync_check(
    config: PorchConfig, store: Store, clock: Callable[[], float] = time.time
) -> dict[str, Check]:
    """Bot mode's readiness check (none in appservice mode): porch's account has synced
    lately and has not given up (:mod:`bridges.matrix.bot_sync` records both in the store, so
    a worker's ``/readyz`` sees what the web process's loop does)."""
    bot = config.matrix.bot
    if config.matrix.mode != "bot" or bot is None:
        return {}
    sessions = SyncState(store.db)
    user_id = UserID(bot.user_id)
    stall = 2 * bot.sync_timeout + STALL_MARGIN

    def check() -> None:
        session = sessions.session(user_id)
        if session is not None and session.failure:
            raise NotReady(f"porch's account stopped syncing: {session.failure}")
        if session is None or session.synced_at is None:
            raise NotReady(f"{user_id} has not synced yet")
        age = clock() - session.synced_at
        if age > stall:
            raise NotReady(f"{user_id} has not synced for {age:.0f}s")

    return {"matrix_sync": check}


def no_registration(config: PorchConfig) -> list[str]:
    """What ``porch registration`` and ``porch setup matrix`` say in bot mode."""
    bot = config.matrix.bot
    user = bot.user_id if bot is not None else "porch's account"
    lines = [
        "matrix.mode is 'bot': porch logs in as the ordinary account "
        f"{user}, so the homeserver needs no registration file and no restart.",
        "homeserver: the account must exist (register it as any user); put its password or an "
        "access token in matrix.bot (use ${VAR} to keep it out of the file).",
        f"rooms: invite {user} to every linked room (it joins by itself once invited):",
    ]
    lines += [
        f"    {link.name}: {link.room} <-> forum category {link.forum.category}"
        for link in config.links
    ]
    lines.append("then: porch check --online -c <config> checks the login, porch serve runs it")
    return lines
