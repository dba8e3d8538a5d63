"""``GET /metrics``: porch's numbers in the Prometheus text format.

Three sources end up on one page:

- the instruments of :mod:`bridges.metrics` (prometheus-client's default registry): events
  received, accepted and rejected at the doors, worker outcomes, delivery latency, failures,
  claims, and the process collectors (CPU, memory, open files);
- the doors' counts, taken here after each request from the answer the door gave (see
  :func:`count_door_outcomes`), so that the doors themselves stay free of bookkeeping;
- values read from the store at scrape time (:class:`StoreCollector`): inbox depth, oldest
  pending event and dead letters per link, and decisions by link, outcome and rule from the
  audit log. The store is shared by every porch process, so these are the same whichever
  process is scraped: aggregate them with ``max``, not ``sum``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from flask import Blueprint, Flask, Response, g, has_request_context, request
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from bridges import codec, metrics
from bridges.links import LinkConfig
from bridges.model import ForumLike, ForumPost, ForumTopic, TopicID
from bridges.store.audit import DecisionTally
from bridges.store.inbox import PENDING, ConversationStats, Inbox, NewEvent
from bridges.store.inbox import inbox as inbox_table
from bridges.store.store import Store

log = logging.getLogger(__name__)

#: The ``link`` label of conversations no configured link claims (yet): a topic whose first
#: event has not crossed, a room linked by alias.
UNKNOWN_LINK = "unknown"

#: Flask endpoints of the doors whose requests carry events, and the door each belongs to.
_DOOR_ENDPOINTS = {
    "discourse.webhook": "discourse",
    "appservice.transaction": "matrix",
    "appservice.legacy_transaction": "matrix",
}
#: Why a door refused a request, by its HTTP status, per door.
_REFUSALS = {
    "discourse": {401: "signature", 403: "signature", 413: "oversize", 415: "content_type"},
    "matrix": {401: "token", 403: "token", 413: "oversize"},
}


def links_by_conversation(
    store: Store, links: Sequence[LinkConfig], stats: Iterable[ConversationStats]
) -> dict[str, str]:
    """Name the link(s) of each conversation in ``stats`` where the store or the config tells.

    A forum topic belongs to the links it was carried into (the mapping) or, before its first
    event crossed, to the links of the category its oldest waiting event names; a Matrix room
    to the links whose ``room`` is that room id. Conversations none of these tell are left out.
    """
    names: dict[str, str] = {}
    for s in stats:
        kind, _, ident = s.conversation.partition(":")
        if kind == "discourse" and ident.startswith("topic:"):
            number = ident.removeprefix("topic:")
            if not number.isdigit():
                continue
            linked = [str(t.link) for t in store.mapping.threads_for_topic(TopicID(int(number)))]
            if not linked and s.pending:
                linked = _links_of_waiting_event(store, links, s.conversation)
        elif kind == "matrix" and ident.startswith("room:"):
            room = ident.removeprefix("room:")
            linked = [link.name for link in links if link.room == room]
        else:
            continue
        if linked:
            names[s.conversation] = ", ".join(sorted(set(linked)))
    return names


def _links_of_waiting_event(
    store: Store, links: Sequence[LinkConfig], conversation: str
) -> list[str]:
    """The links whose category the conversation's oldest waiting forum event is in."""
    query = (
        sa.select(inbox_table.c.kind, inbox_table.c.payload)
        .where(inbox_table.c.conversation == conversation, inbox_table.c.status == PENDING)
        .order_by(inbox_table.c.id)
        .limit(1)
    )
    with store.db.read() as conn:
        row = conn.execute(query).first()
    if row is None:
        return []
    try:
        event = codec.decode(row.kind, row.payload)
    except ValueError:
        return []
    if isinstance(event, ForumLike):
        event = event.post
    if isinstance(event, ForumPost):
        category, slug = event.category_id, event.category_slug
    elif isinstance(event, ForumTopic):
        category, slug = event.category_id, None
    else:
        return []
    return [link.name for link in links if link.forum.matches(category, slug)]


@dataclass
class _LinkLoad:
    pending: int = 0
    dead: int = 0
    oldest_age: float = 0.0


class StoreCollector(Collector):
    """Reads the store at each scrape: inbox load per link, and the audit log's decisions."""

    def __init__(
        self,
        store: Store,
        links: Sequence[LinkConfig],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.links = tuple(links)
        self.clock = clock
        #: The decisions, counted without reading the whole audit log at each scrape.
        self.decisions = DecisionTally(store.db)

    def describe(self) -> Iterable[Metric]:
        return self._families()

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "porch_store_up", "1 when the store answered this scrape's queries, else 0."
        )
        try:
            families = self._families()
            self._fill(*families)
        except sa.exc.SQLAlchemyError as exc:
            # The exception text may hold the database URL and its password: only its type.
            log.warning("metrics: the store does not answer (%s)", type(exc).__name__)
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        return [*families, up]

    def _families(self) -> list[Metric]:
        return [
            GaugeMetricFamily(
                "porch_inbox_pending",
                "Events waiting in the inbox, per link.",
                labels=["link"],
            ),
            GaugeMetricFamily(
                "porch_inbox_oldest_pending_age_seconds",
                "Age of the oldest event waiting in the inbox, per link (0 when none waits).",
                labels=["link"],
            ),
            GaugeMetricFamily(
                "porch_inbox_dead",
                "Dead letters (events porch gave up on; porch retry puts them back), per link.",
                labels=["link"],
            ),
            CounterMetricFamily(
                "porch_decisions",
                "Crossing decisions in the audit log, by link, outcome and rule.",
                labels=["link", "outcome", "rule"],
            ),
        ]

    def _fill(self, pending: Metric, oldest: Metric, dead: Metric, decisions: Metric) -> None:
        assert isinstance(pending, GaugeMetricFamily)
        assert isinstance(oldest, GaugeMetricFamily)
        assert isinstance(dead, GaugeMetricFamily)
        assert isinstance(decisions, CounterMetricFamily)
        stats = self.store.inbox.stats()
        names = links_by_conversation(self.store, self.links, stats)
        now = self.clock()
        load: dict[str, _LinkLoad] = {str(link.name): _LinkLoad() for link in self.links}
        for s in stats:
            for name in names.get(s.conversation, UNKNOWN_LINK).split(", "):
                entry = load.setdefault(name, _LinkLoad())
                entry.pending += s.pending
                entry.dead += s.dead
                if s.oldest_pending_at is not None:
                    entry.oldest_age = max(entry.oldest_age, now - s.oldest_pending_at)
        for name, entry in sorted(load.items()):
            pending.add_metric([name], entry.pending)
            oldest.add_metric([name], max(entry.oldest_age, 0.0))
            dead.add_metric([name], entry.dead)
        for link, outcome, rule, count in self.decisions.counts(now):
            decisions.add_metric([link, outcome, rule], count)


class _Process(Collector):
    """Everything in prometheus-client's default registry: :mod:`bridges.metrics`' instruments
    and the process collectors."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def metrics_registry(
    store: Store, links: Sequence[LinkConfig], collector: StoreCollector | None = None
) -> CollectorRegistry:
    """A registry for one app: this process's instruments plus the store's values (read by
    ``collector``, whose links a reload replaces, when given)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Process())
    registry.register(collector or StoreCollector(store, links))
    return registry


def metrics_blueprint(registry: CollectorRegistry) -> Blueprint:
    """``GET /metrics`` serving ``registry``."""
    door = Blueprint("metrics", __name__)

    @door.get("/metrics")
    def scrape() -> Response:
        return Response(generate_latest(registry), 200, content_type=CONTENT_TYPE_LATEST)

    return door


# --- the doors' counts ---------------------------------------------------------------------


class CountingInbox(Inbox):
    """The inbox as the doors see it: it notes, per request, what the append recorded.

    The notes (``g.porch_recorded``, ``g.porch_duplicates``) are read by
    :func:`count_door_outcomes` once the door answered.
    """

    def append(self, events: Sequence[NewEvent], now: float) -> list[int | None]:
        ids = super().append(events, now)
        recorded = sum(1 for i in ids if i is not None)
        _note(recorded, len(ids) - recorded)
        return ids

    def append_transaction(self, txn_id: str, events: Sequence[NewEvent], now: float) -> int:
        recorded = super().append_transaction(txn_id, events, now)
        _note(recorded, len(events) - recorded)
        return recorded


def _note(recorded: int, duplicates: int) -> None:
    if has_request_context():
        g.porch_recorded = getattr(g, "porch_recorded", 0) + recorded
        g.porch_duplicates = getattr(g, "porch_duplicates", 0) + duplicates


def door_store(store: Store) -> Store:
    """The store the doors append through: the same database, a :class:`CountingInbox`."""
    counted = Store(store.db)
    counted.inbox = CountingInbox(store.db)
    return counted


def count_door_outcomes(app: Flask) -> None:
    """Count every request to a door as received, then accepted or rejected with a reason."""

    @app.after_request
    def count(response: Response) -> Response:
        door = _DOOR_ENDPOINTS.get(request.endpoint or "")
        if door is not None:
            try:
                _count(door, response.status_code)
            except Exception:  # counting must never turn an answer into an error
                log.exception("metrics: could not count a %s door request", door)
        return response


def _count(door: str, status: int) -> None:
    received = 1
    recorded = int(getattr(g, "porch_recorded", 0))
    duplicates = int(getattr(g, "porch_duplicates", 0))
    if door == "matrix" and status == 200:
        received = _transaction_size()
    metrics.EVENTS_RECEIVED.labels(door).inc(received)
    if status == 200:
        if recorded:
            metrics.EVENTS_ACCEPTED.labels(door).inc(recorded)
        if duplicates:
            metrics.EVENTS_REJECTED.labels(door, "duplicate").inc(duplicates)
        ignored = received - recorded - duplicates
        if ignored > 0:
            metrics.EVENTS_REJECTED.labels(door, "ignored").inc(ignored)
        return
    reason = "unavailable" if status >= 500 else _REFUSALS[door].get(status, "malformed")
    metrics.EVENTS_REJECTED.labels(door, reason).inc(received)


def _transaction_size() -> int:
    """How many events the transaction the door just accepted held (it read the body)."""
    try:
        body = json.loads(request.get_data(cache=True))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return 1
    events = body.get("events") if isinstance(body, dict) else None
    return len(events) if isinstance(events, list) else 1
