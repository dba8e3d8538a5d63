"""What a reload (SIGHUP) rebuilds besides the relay's links and policies: the parts porch
built once at start from them.

- the web face's (or ops listener's) per-link inbox metrics name the new links;
- watching (the ``watching:`` section) is built again on the new links and watches, and the
  relay's observer points at it (:class:`bridges.reload.WatchingSlot`); its sender thread
  is replaced;
- the membership ticker starts when a link now asks porch to manage its room, and the rooms
  of links newly managed (or changed) are reconciled at once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bridges.links import LinkConfig
from bridges.membership.rooms import MembershipTicker
from bridges.reload import link_changes
from bridges.watching.runner import build_watching
from webhooks.config import PorchConfig
from webhooks.metrics_endpoint import StoreCollector

if TYPE_CHECKING:
    from webhooks.service import Porch

log = logging.getLogger(__name__)

#: Where :func:`webhooks.app.create_app` keeps the collector of per-link inbox metrics.
STORE_COLLECTOR = "porch.store_collector"


def refresh_parts(porch: Porch, before: PorchConfig, after: PorchConfig) -> None:
    """Bring what was built from ``before`` in line with ``after`` (already swapped into the
    relay's context)."""
    use_metric_links(porch, after.links)
    _watching(porch, before, after)
    _membership(porch, before, after)


def use_metric_links(porch: Porch, links: Sequence[LinkConfig]) -> None:
    """Make ``/metrics`` count the inbox per link of ``links``."""
    for app in porch.apps:
        collector = app.extensions.get(STORE_COLLECTOR)
        if isinstance(collector, StoreCollector):
            collector.links = tuple(links)


def _watching(porch: Porch, before: PorchConfig, after: PorchConfig) -> None:
    ctx, slot = porch.ctx, porch.watching_slot
    if ctx is None or slot is None:
        return
    if after.watching == before.watching and after.links == before.links:
        return
    old = porch.watching
    fresh = build_watching(ctx, after.watching)
    slot.watching = fresh
    porch.watching = fresh
    if old is not None:
        old.stop()
    if fresh is not None:
        porch.run_part(fresh.run, "porch-watching")
    log.info(
        "porch: reload: watching rebuilt with %d watch(es)",
        len(after.watching.watches),
    )


def _membership(porch: Porch, before: PorchConfig, after: PorchConfig) -> None:
    if porch.worker is None or porch.ctx is None:
        return
    if not any(link.membership.manage for link in after.links):
        return  # a running ticker finds no managed room and moves nobody
    if porch.membership is None:
        porch.membership = MembershipTicker(
            porch.store.inbox,
            after.relay.membership_refresh,
            porch.ctx.clock,
            porch.worker.wake.set,
        )
        # Its first tick, at once, reconciles every managed room.
        porch.run_part(porch.membership.run, "porch-membership")
        return
    added, _, changed = link_changes(before.links, after.links)
    moved = {*added, *changed}
    porch.membership.reconcile_now(
        [link.name for link in after.links if link.membership.manage and link.name in moved]
    )
