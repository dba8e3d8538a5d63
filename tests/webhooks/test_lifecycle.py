"""The lifecycle's rules on real stores: what orphans mappings, how a reload swaps or refuses a
config, and how a stopping worker finishes the event in hand and gives back the rest."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from prometheus_client.parser import text_string_to_metric_families

from bridges.links import LinkConfig, RelayConfig
from bridges.matrix.matrix_errors import MatrixUnavailable
from bridges.metrics import CONFIG_RELOADS
from bridges.model import (
    EventID,
    EventKind,
    LinkName,
    Platform,
    PostID,
    RoomID,
    TopicID,
    UserID,
)
from bridges.orphans import orphan_problems, read_footprint
from bridges.store.inbox import DONE, PENDING, InboxRow, NewEvent, inbox
from bridges.store.mapping import Message, Thread
from bridges.store.store import Store
from bridges.worker import Worker
from tests.rig.wait import wait_until
from tests.webhooks.configs import config_data, make_config
from webhooks.config import ConfigError, parse_config
from webhooks.lifecycle import Lifecycle, orphans_in_store
from webhooks.service import Porch, Role, build

ROOM = RoomID("!town:x")


def link(name: str = "town", room: str = ROOM, category: str | int = "town-square") -> LinkConfig:
    return LinkConfig.model_validate({"name": name, "forum": {"category": category}, "room": room})


def map_thread(store: Store, name: str = "town", room: RoomID = ROOM, topic: int = 5) -> None:
    thread = Thread(
        LinkName(name), TopicID(topic), room, EventID("$root"), PostID(50), Platform.FORUM
    )
    root = Message(
        LinkName(name),
        PostID(50),
        TopicID(topic),
        1,
        room,
        EventID("$root"),
        UserID("@forum_alice:x"),
        Platform.FORUM,
        False,
    )
    store.mapping.record_root(thread, root, 1.0)


def queue(store: Store, conversation: str, key: str) -> None:
    event = NewEvent(Platform.FORUM, EventKind.POST_CREATED, conversation, key, (key,))
    store.inbox.append([event], 1.0)


# --- orphans -----------------------------------------------------------------------------------


def test_an_unchanged_config_orphans_nothing(store: Store) -> None:
    map_thread(store)
    assert orphan_problems(read_footprint(store.db), [link()]) == []
    assert orphan_problems(read_footprint(store.db), [link()], previous=[link()]) == []


def test_a_removed_link_is_named_with_what_it_would_orphan(store: Store) -> None:
    map_thread(store)
    queue(store, "discourse:topic:5", "a")
    queue(store, f"matrix:room:{ROOM}", "b")
    (problem,) = orphan_problems(read_footprint(store.db), [link("plaza")])
    assert problem.startswith("links: link 'town' is gone, but the store maps 1 thread(s) and")
    assert "1 message(s)" in problem
    assert "2 event(s) wait in the inbox for it" in problem
    assert "retired_links:" in problem and "--allow-orphans" in problem


def test_a_retired_link_orphans_nothing(store: Store) -> None:
    map_thread(store)
    assert orphan_problems(read_footprint(store.db), [link("plaza")], retired=["town"]) == []


def test_a_room_change_is_found_from_the_store_alone(store: Store) -> None:
    map_thread(store)
    (problem,) = orphan_problems(read_footprint(store.db), [link(room="!other:x")])
    assert problem.startswith(f"links[0].room: link 'town' changed room from {ROOM} to !other:x")


def test_an_alias_or_category_change_is_found_against_the_running_config(store: Store) -> None:
    map_thread(store)
    before = [link(room="#town:x")]
    footprint = read_footprint(store.db)
    assert orphan_problems(footprint, before, previous=before) == []
    (moved,) = orphan_problems(footprint, [link(room="#plaza:x")], previous=before)
    assert moved.startswith("links[0].room: link 'town' changed room from #town:x to #plaza:x")
    (recat,) = orphan_problems(footprint, [link(room="#town:x", category=7)], previous=before)
    assert recat.startswith(
        "links[0].forum.category: link 'town' changed category from 'town-square' to '7'"
    )


def test_a_removed_link_with_only_waiting_events_is_refused_on_reload(store: Store) -> None:
    queue(store, f"matrix:room:{ROOM}", "a")
    footprint = read_footprint(store.db)
    (problem,) = orphan_problems(footprint, [link("plaza", "!p:x")], previous=[link()])
    assert problem.startswith("links: link 'town' is gone, but 1 event(s) wait in the inbox")
    # A link that never carried anything may go.
    assert orphan_problems(footprint, [link("plaza", "!p:x")], previous=[link(room="!q:x")]) == []


def test_the_check_reads_a_store_without_creating_one(tmp_path: Path) -> None:
    config = parse_config(
        yaml.safe_dump(config_data(store={"url": f"sqlite:///{tmp_path / 'none.db'}"}))
    )
    assert orphans_in_store(config) == []
    assert not (tmp_path / "none.db").exists()


def test_retired_links_may_not_name_a_live_link() -> None:
    data = config_data(retired_links=["town-square"])
    with pytest.raises(ConfigError) as caught:
        parse_config(yaml.safe_dump(data))
    assert caught.value.errors == ("retired_links[0]: 'town-square' is still a link in links:",)


# --- reload ------------------------------------------------------------------------------------


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[Porch, Lifecycle, Path, dict[str, Any]]]:
    """A worker-role porch (not started: nothing reaches the platforms) and its lifecycle."""
    data = config_data(store={"url": f"sqlite:///{tmp_path / 'porch.db'}"})
    path = tmp_path / "porch.yaml"
    path.write_text(yaml.safe_dump(data))
    porch = build(parse_config(path.read_text()), Role.WORKER, ops_port=0)
    lifecycle = Lifecycle(porch, path)
    yield porch, lifecycle, path, data
    if porch.joins is not None:
        porch.joins.stop()
    if porch.ops is not None:
        porch.ops.close()
    porch.store.close()


def counted(outcome: str) -> float:
    return CONFIG_RELOADS.labels(outcome)._value.get()


def test_a_valid_reload_swaps_links_and_policies(
    running: tuple[Porch, Lifecycle, Path, dict[str, Any]],
) -> None:
    porch, lifecycle, path, data = running
    assert porch.ctx is not None
    data["links"].append({"name": "market", "forum": {"category": 3}, "room": "!m:x"})
    data["links"][0]["policy"] = "open"
    data["policies"] = {"open": {"forum-to-chat": {"action": "allow"}}}
    data["relay"] = {"max_attempts": 2}
    path.write_text(yaml.safe_dump(data))
    before = counted("applied")
    assert lifecycle.reload()
    assert [lk.name for lk in porch.ctx.links] == ["town-square", "market"]
    assert set(porch.ctx.policies) == {"open"}
    assert counted("applied") == before + 1
    # Not reloadable: the running relay section stays until a restart.
    assert porch.config.relay.max_attempts == RelayConfig().max_attempts


def test_an_invalid_reload_keeps_the_running_config(
    running: tuple[Porch, Lifecycle, Path, dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    porch, lifecycle, path, data = running
    assert porch.ctx is not None
    data["links"][0]["direction"] = "sideways"
    path.write_text(yaml.safe_dump(data))
    before = counted("invalid")
    assert not lifecycle.reload()
    assert counted("invalid") == before + 1
    assert "links[0].direction: must be one of" in caplog.text
    assert porch.ctx.links[0].direction.value == "both"


def test_a_reload_that_would_orphan_is_refused(
    running: tuple[Porch, Lifecycle, Path, dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    porch, lifecycle, path, data = running
    assert porch.ctx is not None
    map_thread(porch.store, "town-square", RoomID("!town:x"))
    data["links"][0]["room"] = "!elsewhere:x"
    path.write_text(yaml.safe_dump(data))
    before = counted("refused")
    assert not lifecycle.reload()
    assert counted("refused") == before + 1
    assert "links[0].room: link 'town-square' changed room" in caplog.text
    assert porch.ctx.links[0].room == "!town:x"
    allowing = Lifecycle(porch, path, allow_orphans=True)
    assert allowing.reload()
    assert porch.ctx.links[0].room == "!elsewhere:x"


def test_a_reload_waits_for_the_event_in_hand(
    running: tuple[Porch, Lifecycle, Path, dict[str, Any]],
) -> None:
    porch, lifecycle, path, data = running
    assert porch.worker is not None and porch.ctx is not None
    data["links"][0]["forum"]["category"] = 12
    path.write_text(yaml.safe_dump(data))
    swapped = threading.Event()
    with porch.worker.between_events:  # as the worker holds it while it handles an event
        reloader = threading.Thread(target=lambda: lifecycle.reload() and swapped.set())
        reloader.start()
        assert not swapped.wait(0.3)
        assert porch.ctx.links[0].forum.category == "town-square"
    reloader.join(10)
    assert swapped.is_set()
    assert porch.ctx.links[0].forum.category == 12


# --- the drain ---------------------------------------------------------------------------------


class Blocking:
    """Handles events; holds the first one until released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.handled: list[str] = []

    def handle(self, row: InboxRow) -> None:
        if not self.handled:
            self.entered.set()
            assert self.release.wait(10)
        self.handled.append(row.payload)


def test_a_stopping_worker_finishes_the_event_in_hand_and_gives_back_the_rest(
    store: Store,
) -> None:
    for conversation in ("a", "b", "c"):
        queue(store, conversation, f"{conversation}1")
    handler = Blocking()
    worker = Worker(store.inbox, handler, RelayConfig(poll_interval=0.05), "host:1")
    thread = threading.Thread(target=worker.run)
    thread.start()
    assert handler.entered.wait(10)
    assert worker.current is not None
    worker.stop()
    handler.release.set()
    thread.join(10)
    assert not thread.is_alive()
    assert handler.handled == ["a1"]
    rows = {r.payload: r.status for r in store.inbox.rows()}
    assert rows == {"a1": DONE, "b1": PENDING, "c1": PENDING}
    with store.db.read() as conn:
        claims = conn.execute(sa.select(inbox.c.claimed_by).where(inbox.c.status == PENDING))
        assert [c for (c,) in claims] == [None, None]
    # Another worker takes them at once, without waiting for a lease to lapse.
    other = Worker(store.inbox, handler, RelayConfig(), "host:2")
    wait_until(lambda: other.run_once() == 2, 5, "the other worker to take b1 and c1")


def test_a_stop_past_its_grace_gives_back_all_but_the_event_in_hand(store: Store) -> None:
    for conversation in ("a", "b"):
        queue(store, conversation, f"{conversation}1")
    handler = Blocking()
    worker = Worker(store.inbox, handler, RelayConfig(poll_interval=0.05), "host:1")
    porch = Porch(make_config(), store, Role.WORKER, worker=worker)
    porch.start()
    try:
        assert handler.entered.wait(10)
        started = time.monotonic()
        assert not porch.stop(0.3)
        assert time.monotonic() - started < 5
        with store.db.read() as conn:
            query = sa.select(inbox.c.payload, inbox.c.claimed_by).order_by(inbox.c.id)
            claims = {payload: claimed_by for payload, claimed_by in conn.execute(query)}
        assert claims == {"a1": "host:1", "b1": None}
    finally:
        handler.release.set()
    # The event in hand still ends as it would have (a restart would find it done).
    wait_until(lambda: store.inbox.rows()[0].status == DONE, 10, "a1 to be settled")


class _AwayHomeserver:
    """A homeserver porch cannot reach: every call fails as a connection error would."""

    def __init__(self) -> None:
        self.calls = 0

    def ensure_registered(self, localpart: str) -> None:
        self.calls += 1
        raise MatrixUnavailable("POST /_matrix/client/v3/register", None, None, "no answer")


def test_a_stopped_porch_stops_announcing_itself_to_an_unreachable_homeserver(
    store: Store,
) -> None:
    away = _AwayHomeserver()
    porch = Porch(make_config(), store, Role.WEB, chat=away)  # type: ignore[arg-type]
    porch.start()
    wait_until(lambda: away.calls >= 1, 10, "the first announcement")
    (announcing,) = [t for t in threading.enumerate() if t.name == "porch-announce"]
    porch.stop(5)
    # It would otherwise go on calling the homeserver for minutes (retries up to 30 s apart),
    # long after the process meant to stop.
    announcing.join(5)
    assert not announcing.is_alive()


# --- what a reload rebuilds --------------------------------------------------------------------


@pytest.fixture
def ops_porch(tmp_path: Path) -> Iterator[tuple[Porch, Lifecycle, Path, dict[str, Any]]]:
    """A worker-role porch with its ops listener (not started) and its lifecycle."""
    data = config_data(store={"url": f"sqlite:///{tmp_path / 'porch.db'}"})
    path = tmp_path / "porch.yaml"
    path.write_text(yaml.safe_dump(data))
    porch = build(parse_config(path.read_text()), Role.WORKER, ops_port=0)
    lifecycle = Lifecycle(porch, path)
    yield porch, lifecycle, path, data
    for part in (porch.joins, porch.watching, porch.membership):
        if part is not None:
            part.stop()
    if porch.ops is not None:
        porch.ops.close()
    porch.store.close()


def pending_links(porch: Porch) -> set[str]:
    """The ``link`` labels of ``porch_inbox_pending`` on the ops listener's ``/metrics``."""
    (app,) = porch.apps
    text = app.test_client().get("/metrics").get_data(as_text=True)
    return {
        sample.labels["link"]
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "porch_inbox_pending"
    }


def test_a_reload_names_the_new_links_in_the_inbox_metrics(
    ops_porch: tuple[Porch, Lifecycle, Path, dict[str, Any]],
) -> None:
    porch, lifecycle, path, data = ops_porch
    assert pending_links(porch) == {"town-square"}
    data["links"].append({"name": "market", "forum": {"category": 3}, "room": "!m:x"})
    path.write_text(yaml.safe_dump(data))
    assert lifecycle.reload()
    assert pending_links(porch) == {"town-square", "market"}


def test_a_reload_rebuilds_watching_on_the_new_watches_and_links(
    ops_porch: tuple[Porch, Lifecycle, Path, dict[str, Any]],
) -> None:
    porch, lifecycle, path, data = ops_porch
    assert porch.watching is None and porch.watching_slot is not None
    data["links"].append({"name": "market", "forum": {"category": 3}, "room": "!m:x"})
    data["watching"] = {"watches": [{"name": "housing", "terms": {"words": ["rent"]}}]}
    path.write_text(yaml.safe_dump(data))
    assert lifecycle.reload()
    first = porch.watching
    assert first is not None
    # The relay's observer now hands events to it, and it reads the new links.
    assert porch.watching_slot.watching is first
    assert [w.name for w in first.watcher.config.watches] == ["housing"]
    assert set(first.digests.readers.links) == {"town-square", "market"}
    assert any(t.name == "porch-watching" and t.is_alive() for t in threading.enumerate())

    data["watching"]["watches"].append({"name": "parks", "terms": {"words": ["bench"]}})
    path.write_text(yaml.safe_dump(data))
    assert lifecycle.reload()
    second = porch.watching
    assert second is not None and second is not first
    assert porch.watching_slot.watching is second
    assert [w.name for w in second.config.watches] == ["housing", "parks"]
    assert first._stop.is_set()  # the old sender thread ends

    del data["watching"]
    path.write_text(yaml.safe_dump(data))
    assert lifecycle.reload()
    assert porch.watching is None and porch.watching_slot.watching is None
    assert second._stop.is_set()


def test_a_reload_that_manages_a_room_starts_the_membership_ticker(
    ops_porch: tuple[Porch, Lifecycle, Path, dict[str, Any]],
) -> None:
    porch, lifecycle, path, data = ops_porch
    assert porch.membership is None
    data["links"][0]["membership"] = {"manage": True}
    path.write_text(yaml.safe_dump(data))
    assert lifecycle.reload()
    assert porch.membership is not None

    def refreshes() -> list[InboxRow]:
        return [r for r in porch.store.inbox.rows() if r.kind is EventKind.MEMBERSHIP_REFRESH]

    wait_until(refreshes, 10, "the ticker's first reconciliation")
    # A link changed while the ticker runs is reconciled at once, not at the next interval.
    data["links"][0]["membership"]["groups"] = ["teachers"]
    path.write_text(yaml.safe_dump(data))
    assert lifecycle.reload()
    assert len(refreshes()) == 2
