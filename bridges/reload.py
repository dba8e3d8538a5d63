"""Swapping a running worker's links and policies for new ones (a config reload, SIGHUP).

The swap waits for the event in hand to be settled and happens before the next one starts, so
no event is ever handled half under the old config and half under the new. Events keep being
accepted meanwhile: the doors only append to the inbox, which the reload never touches.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext

from bridges.context import RelayContext
from bridges.links import LinkConfig
from bridges.model import InboxPayload
from bridges.moderation.moderation_config import ModerationConfig
from bridges.moderation.words import use_words
from bridges.store.inbox import InboxRow
from bridges.watching.runner import Watching
from bridges.worker import Worker
from policies.policy_config import Policy

log = logging.getLogger(__name__)


def swap_links(
    ctx: RelayContext,
    worker: Worker | None,
    links: Sequence[LinkConfig],
    policies: Mapping[str, Policy],
    moderation: ModerationConfig | None = None,
) -> None:
    """Make the relay use ``links`` and ``policies`` (and ``moderation``'s watched words and
    protections, :func:`bridges.moderation.words.use_words`), between two events of ``worker``."""
    between: AbstractContextManager[object] = (
        nullcontext() if worker is None else worker.between_events
    )
    with between:
        ctx.use_links(links, policies)
        if moderation is not None:
            use_words(ctx, moderation)


def link_changes(
    before: Sequence[LinkConfig], after: Sequence[LinkConfig]
) -> tuple[list[str], list[str], list[str]]:
    """The names of the links added, removed and changed from ``before`` to ``after``."""
    old: dict[str, LinkConfig] = {link.name: link for link in before}
    new: dict[str, LinkConfig] = {link.name: link for link in after}
    added = [name for name in new if name not in old]
    removed = [name for name in old if name not in new]
    changed = [name for name in new if name in old and old[name] != new[name]]
    return added, removed, changed


class WatchingSlot:
    """The relay's watching observer, whose watching a reload can replace: the relay is built
    once, while the ``watching:`` section and the links a watch reads may change under it."""

    def __init__(self, watching: Watching | None) -> None:
        self.watching = watching

    def __call__(self, row: InboxRow, event: InboxPayload) -> None:
        watching = self.watching
        if watching is not None:
            watching.watcher(row, event)
