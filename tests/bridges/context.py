"""The relay's context on real parts, for tests that drive the relay's pieces directly."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bridges.context import RelayContext
from bridges.discourse.client import ForumClient
from bridges.discourse.discourse_config import DiscourseConfig
from bridges.links import LinkConfig, RelayConfig
from bridges.matrix.api import AppserviceAPI
from bridges.matrix.ghosts import Ghosts
from bridges.matrix.matrix_config import MatrixConfig
from bridges.model import RoomID, UserID
from bridges.relay.components import RelayComponents
from bridges.store.store import Store


def _no_avatar(url: str) -> tuple[bytes, str]:
    return b"", "image/png"


def relay_context(
    store: Store,
    discourse: DiscourseConfig,
    matrix: MatrixConfig,
    chat: AppserviceAPI,
    links: Sequence[LinkConfig],
    admits: Callable[[UserID, RoomID], None] | None = None,
    **more: Any,
) -> RelayContext:
    """The context for ``links``: the double as the forum, ``chat`` on the homeserver, ghosts
    whose avatars are never fetched (behind ``admits``, the ghost gate, when given); ``more``
    sets other fields (``policies``...)."""
    return RelayContext(
        discourse=discourse,
        matrix=matrix,
        relay=RelayConfig(),
        links=list(links),
        store=store,
        forum=ForumClient(discourse),
        chat=chat,
        ghosts=Ghosts(chat, store.profiles, matrix, _no_avatar, admits=admits),
        **more,
    )


def relay_components(
    store: Store,
    discourse: DiscourseConfig,
    matrix: MatrixConfig,
    chat: AppserviceAPI,
    links: Sequence[LinkConfig],
    **more: Any,
) -> RelayComponents:
    """The relay's parts over :func:`relay_context`, its ghosts behind the relay's ghost gate
    as porch wires them."""
    built: list[RelayComponents] = []

    def admit_ghost(ghost: UserID, room: RoomID) -> None:
        if built:
            built[0].admit_ghost(ghost, room)

    parts = RelayComponents(
        relay_context(store, discourse, matrix, chat, links, admit_ghost, **more)
    )
    built.append(parts)
    return parts
