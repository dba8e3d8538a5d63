"""The relay's context on real parts, for tests that drive the relay's pieces directly."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bridges.context import RelayContext
from bridges.discourse.client import ForumClient
from bridges.discourse.discourse_config import DiscourseConfig
from bridges.links import LinkConfig, RelayConfig
from bridges.matrix.api import AppserviceAPI
from bridges.matrix.matrix_config import MatrixConfig
from bridges.relay.components import RelayComponents
from bridges.store.store import Store


def _no_avatar(url: str) -> tuple[bytes, str]:
    return b"", "image/png"


def relay_components(
    store: Store,
    discourse: DiscourseConfig,
    matrix: MatrixConfig,
    chat: AppserviceAPI,
    links: Sequence[LinkConfig],
    **more: Any,
) -> RelayComponents:
    """The relay's parts for ``links``, built by the composition root as porch builds them: the
    double as the forum, ``chat`` on the homeserver, ghosts whose avatars are never fetched,
    behind the relay's ghost gate; ``more`` sets other config (``policies``...)."""
    return RelayComponents(
        discourse=discourse,
        matrix=matrix,
        relay=RelayConfig(),
        links=list(links),
        store=store,
        forum=ForumClient(discourse),
        chat=chat,
        avatars=_no_avatar,
        **more,
    )


def relay_context(
    store: Store,
    discourse: DiscourseConfig,
    matrix: MatrixConfig,
    chat: AppserviceAPI,
    links: Sequence[LinkConfig],
    **more: Any,
) -> RelayContext:
    """The context of :func:`relay_components`."""
    return relay_components(store, discourse, matrix, chat, links, **more).ctx
