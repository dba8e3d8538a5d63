"""/metrics, /readyz and JSON logs: the numbers move as events flow, readiness tells the truth.

The in-process tests drive porch's app with Flask's test client on a real store; the others run
``porch serve`` as a child process against the session's Synapse and the forum double. Counters
are process-wide, so every assertion compares a scrape before with a scrape after.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from bridges.discourse.forum_errors import ForumRateLimited, ForumUnavailable
from bridges.links import RelayConfig
from bridges.model import EventKind, Platform
from bridges.store.audit import AuditEntry
from bridges.store.db import Database
from bridges.store.inbox import InboxRow, NewEvent
from bridges.store.store import Store
from bridges.worker import RetryLater, Worker
from sandbox.forum import SandboxForum
from sandbox.synapse import free_port
from tests.rig.forum import FORUM_API_KEY
from tests.rig.matrix import ChatUser
from tests.rig.porch import PorchProcess
from tests.rig.store import sqlite_url
from tests.rig.wait import wait_until
from tests.webhooks.configs import HS_TOKEN, WEBHOOK_SECRET, config_data, make_config
from tests.webhooks.test_discourse_door import Forum, post_body
from webhooks.app import create_app, create_ops_app
from webhooks.cli import JsonFormatter, _redact_tokens

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    """Every sample of a scrape, keyed by name and sorted labels."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when the series does not exist (yet)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = Store.open(sqlite_url(tmp_path))
    yield store
    store.close()


class App:
    """Porch's app in-process, on a real store."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.client = create_app(make_config(), store, clock=clock).test_client()
        # /metrics is on the ops listener's app; the doors' counts are process-wide.
        self.ops = create_ops_app(make_config(), store).test_client()
        self.forum = Forum(self.client)

    def scrape(self) -> Samples:
        response = self.ops.get("/metrics")
        assert response.status_code == 200
        assert response.content_type.startswith("text/plain")
        return parse(response.get_data(as_text=True))

    def transaction(self, txn_id: str, events: list[dict[str, Any]], token: str = HS_TOKEN) -> int:
        response = self.client.put(
            f"/_matrix/app/v1/transactions/{txn_id}",
            json={"events": events},
            headers={"Authorization": f"Bearer {token}"},
        )
        return response.status_code


def chat_message(event_id: str, sender: str, room: str = "!town:x") -> dict[str, Any]:
    return {
        "type": "m.room.message",
        "event_id": event_id,
        "room_id": room,
        "sender": sender,
        "origin_server_ts": 1,
        "content": {"msgtype": "m.text", "body": "Kerbs, not paint."},
    }


def test_each_door_counts_what_it_accepted_and_why_it_refused(sqlite_store: Store) -> None:
    app = App(sqlite_store)
    before = app.scrape()

    assert app.forum.deliver("post_created", post_body(), delivery="11").status_code == 200
    assert app.forum.deliver("post_created", post_body(), delivery="11").status_code == 200
    assert app.forum.deliver("ping", {"ping": "OK"}, event_type="ping").status_code == 200
    bad = Forum(app.client, secret="not-the-webhook-secret")
    assert bad.deliver("post_created", post_body(), delivery="12").status_code == 403
    assert app.forum.deliver("post_created", b"{not json", delivery="13").status_code == 400

    carol = chat_message("$carol1", "@carol:porch.test")
    ghost = chat_message("$ghost1", "@forum_alice:porch.test")
    assert app.transaction("t1", [carol, ghost]) == 200
    assert app.transaction("t1", [carol, ghost]) == 200
    assert app.transaction("t2", [carol], token="not-the-hs-token-at-all") == 403

    after = app.scrape()

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("porch_events_received_total", door="discourse") == 5
    assert moved("porch_events_accepted_total", door="discourse") == 1
    rejected = "porch_events_rejected_total"
    assert moved(rejected, door="discourse", reason="duplicate") == 1
    assert moved(rejected, door="discourse", reason="ignored") == 1
    assert moved(rejected, door="discourse", reason="signature") == 1
    assert moved(rejected, door="discourse", reason="malformed") == 1
    # Two events in t1, one in t1 again, and the refused t2 counted as one.
    assert moved("porch_events_received_total", door="matrix") == 5
    assert moved("porch_events_accepted_total", door="matrix") == 1
    # Counted per event: porch's own ghost is ignored each time, carol's is a duplicate in
    # the retried t1 (duplicates are known by event id, not by transaction id).
    assert moved(rejected, door="matrix", reason="ignored") == 2
    assert moved(rejected, door="matrix", reason="duplicate") == 1
    assert moved(rejected, door="matrix", reason="token") == 1
    assert len(sqlite_store.inbox.rows()) == 2


def test_inbox_load_and_decisions_show_per_link(sqlite_store: Store) -> None:
    # The door stamps the event 30 s in the past, as if it had waited that long.
    app = App(sqlite_store, clock=lambda: time.time() - 30)
    before = app.scrape()
    assert value(before, "porch_inbox_pending", link="town-square") == 0
    assert value(before, "porch_store_up") == 1

    # The post is in town-square (the link's category) but has not crossed yet: its link is
    # known from the event itself.
    assert app.forum.deliver("post_created", post_body(), delivery="21").status_code == 200
    sqlite_store.audit.record(
        AuditEntry(time.time(), 1, "town-square", "carried", "direction", "builtin-1", "alice")
    )
    after = app.scrape()
    assert value(after, "porch_inbox_pending", link="town-square") == 1
    assert value(after, "porch_inbox_oldest_pending_age_seconds", link="town-square") >= 29
    assert value(after, "porch_inbox_dead", link="town-square") == 0
    decisions = value(
        after, "porch_decisions_total", link="town-square", outcome="carried", rule="direction"
    )
    assert decisions == 1


def test_metrics_still_answer_when_the_store_does_not(tmp_path: Path) -> None:
    broken = Store(Database(f"sqlite:///{tmp_path / 'missing' / 'porch.db'}"))
    try:
        samples = App(broken).scrape()
    finally:
        broken.close()
    assert value(samples, "porch_store_up") == 0
    assert ("porch_inbox_pending", (("link", "town-square"),)) not in samples


class Scripted:
    def __init__(self, outcomes: list[Exception | None]) -> None:
        self.outcomes = outcomes

    def handle(self, row: InboxRow) -> None:
        outcome = self.outcomes.pop(0)
        if outcome is not None:
            raise outcome


def wrapped(cause: Exception, **kw: Any) -> RetryLater:
    try:
        raise RetryLater(str(cause), **kw) from cause
    except RetryLater as exc:
        return exc


def test_worker_outcomes_latency_and_failures_are_counted(sqlite_store: Store) -> None:
    app = App(sqlite_store)
    sqlite_store.inbox.append(
        [NewEvent(Platform.FORUM, EventKind.POST_CREATED, "discourse:topic:1", "{}", ("k1",))],
        now=time.time() - 2,
    )
    outage = wrapped(ForumUnavailable("GET /t/1.json -> 502"))
    limited = wrapped(ForumRateLimited(5.0), delay=0.0, counts=False)
    worker = Worker(
        sqlite_store.inbox,
        Scripted([outage, limited, None]),
        RelayConfig(backoff_initial=0.001, backoff_max=0.001),
        "test:1",
    )
    before = app.scrape()
    for _ in range(3):
        wait_until(worker.run_once, 5, "the event to be due again")
    after = app.scrape()

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    flow = "forum-to-chat"
    assert moved("porch_worker_events_total", direction=flow, outcome="retried") == 1
    assert moved("porch_worker_events_total", direction=flow, outcome="paced") == 1
    assert moved("porch_worker_events_total", direction=flow, outcome="completed") == 1
    failures = "porch_delivery_failures_total"
    assert moved(failures, platform="discourse", error="ForumUnavailable") == 1
    assert moved(failures, platform="discourse", error="ForumRateLimited") == 0
    assert moved("porch_delivery_latency_seconds_count", direction=flow) == 1
    # Recorded two seconds before the worker completed it: not in the 1 s bucket.
    assert moved("porch_delivery_latency_seconds_bucket", direction=flow, le="1.0") == 0
    assert moved("porch_delivery_latency_seconds_bucket", direction=flow, le="2.5") == 1
    assert moved("porch_worker_claimed_events_total") == 3


# --- a running porch -------------------------------------------------------------------------


def scrape(url: str) -> Samples:
    response = requests.get(f"{url}/metrics", timeout=5)
    assert response.status_code == 200
    return parse(response.text)


@pytest.fixture
def town(
    porch_factory: Callable[..., PorchProcess], matrix_user_factory: Callable[..., ChatUser]
) -> tuple[PorchProcess, ChatUser, str]:
    dana = matrix_user_factory()
    room = dana.create_room(name="Town square", preset="public_chat")
    dana.invite(room, "@porch:localhost")
    porch = porch_factory(
        links=[{"name": "town", "forum": {"category": "town-square"}, "room": room}]
    )
    return porch, dana, room


def test_metrics_of_a_running_porch_move_as_a_post_crosses(
    town: tuple[PorchProcess, ChatUser, str], forum: SandboxForum, unused_port: int
) -> None:
    porch, dana, room = town
    porch.start("--role", "web")

    # The bot's invite reaches the door once the homeserver sees porch up, and waits in the
    # inbox for a worker like any event: it is the baseline.
    def invited() -> Samples | None:
        samples = scrape(porch.ops_url)
        return samples if value(samples, "porch_inbox_pending", link="town") == 1 else None

    wait_until(invited, 20, "the bot's invite to reach the inbox")

    forum.create_topic(
        "alice", "town-square", "Metrics for the bench", "How many people sat on it today?"
    )
    forum.flush_webhooks()
    waiting = scrape(porch.ops_url)
    assert value(waiting, "porch_events_accepted_total", door="discourse") == 1
    assert value(waiting, "porch_events_rejected_total", door="discourse", reason="ignored") == 1
    assert value(waiting, "porch_inbox_pending", link="town") == 2

    worker = porch.sibling("worker")
    worker.start("--role", "worker", "--ops-port", str(unused_port))
    dana.wait_for_text(room, "Metrics for the bench", timeout=20)
    ops = f"http://127.0.0.1:{unused_port}"

    def delivered() -> Samples | None:
        samples = scrape(ops)
        flow = {"direction": "forum-to-chat"}
        return samples if value(samples, "porch_delivery_latency_seconds_count", **flow) else None

    worked = wait_until(delivered, 10, "the worker's latency histogram to count the delivery")
    flow = {"direction": "forum-to-chat"}
    assert value(worked, "porch_worker_events_total", outcome="completed", **flow) == 1

    def drained() -> Samples | None:
        samples = scrape(porch.ops_url)
        return samples if value(samples, "porch_inbox_pending", link="town") == 0 else None

    done = wait_until(drained, 10, "the inbox to drain")
    carried = [
        v
        for (name, labels), v in done.items()
        if name == "porch_decisions_total"
        and ("link", "town") in labels
        and ("outcome", "carried") in labels
    ]
    assert sum(carried) >= 1
    assert requests.get(f"{ops}/healthz", timeout=5).status_code == 200


@pytest.fixture
def unused_port() -> int:
    return free_port()


def test_ready_when_store_homeserver_and_forum_answer(
    town: tuple[PorchProcess, ChatUser, str],
) -> None:
    porch, _, _ = town
    porch.start()
    response = requests.get(f"{porch.ops_url}/readyz", timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {"store": "ok", "homeserver": "ok", "forum": "ok"}


def test_not_ready_while_the_homeserver_is_down(
    town: tuple[PorchProcess, ChatUser, str], unused_port: int
) -> None:
    porch, _, _ = town
    # Nothing listens on this loopback port: the homeserver is "down".
    porch.data["matrix"]["homeserver"] = f"http://127.0.0.1:{unused_port}"
    porch.write()
    porch.start()
    response = requests.get(f"{porch.ops_url}/readyz", timeout=10)
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["homeserver"]
    assert "cannot reach the homeserver" in body["checks"]["homeserver"]
    assert body["checks"]["store"] == body["checks"]["forum"] == "ok"
    # Liveness is about porch itself: it stays alive and keeps recording.
    assert requests.get(f"{porch.url}/healthz", timeout=5).status_code == 200


def test_not_ready_names_every_part_that_does_not_answer(sqlite_store: Store) -> None:
    # make_config points the forum and the homeserver at port 9, where nothing listens.
    client = create_ops_app(make_config(), sqlite_store).test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json is not None
    assert response.json["failed"] == ["forum", "homeserver"]
    assert response.json["checks"]["store"] == "ok"


# --- JSON logs -------------------------------------------------------------------------------


def test_json_logs_are_one_object_per_line_without_secrets(tmp_path: Path) -> None:
    config = tmp_path / "porch.yaml"
    data = config_data(store={"url": sqlite_url(tmp_path)})
    config.write_text(yaml.safe_dump(data))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "webhooks.cli",
            "--log-format",
            "json",
            "status",
            "-c",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines, "porch logged nothing"
    entries = [json.loads(line) for line in lines]
    assert all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    assert any(
        e["logger"] == "bridges.store.db" and "applied migration 1" in e["message"]
        for e in entries
    )
    for secret in (WEBHOOK_SECRET, HS_TOKEN, FORUM_API_KEY, "forum-api-key"):
        assert secret not in result.stderr


def test_tokens_in_request_lines_never_reach_the_log() -> None:
    """Werkzeug logs each request line; a homeserver's legacy ``?access_token=`` is blanked."""
    record = logging.LogRecord(
        "werkzeug",
        logging.INFO,
        __file__,
        1,
        '%s - - "%s" %s',
        ("127.0.0.1", f"PUT /_matrix/app/v1/transactions/7?access_token={HS_TOKEN} HTTP/1.1", 200),
        None,
    )
    assert _redact_tokens(record)
    line = json.loads(JsonFormatter().format(record))
    assert HS_TOKEN not in json.dumps(line)
    assert "access_token=<redacted> HTTP/1.1" in line["message"]
    assert (line["level"], line["logger"]) == ("info", "werkzeug")
