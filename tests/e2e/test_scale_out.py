"""Scaling out: one ``--role web`` and two ``--role worker`` processes on one PostgreSQL.

A burst of replies across several topics is delivered while both workers run. Each topic's
thread must show its replies in the order they were written, each exactly once: the workers
claim the head event of a conversation with a row lock, so no conversation is ever worked on
by two workers at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families

from bridges.model import EventKind, Platform
from bridges.store.inbox import DONE, NewEvent
from bridges.store.store import Store
from sandbox.forum import SandboxForum
from sandbox.synapse import free_port
from tests.e2e.conftest import Linked, is_text
from tests.rig.wait import wait_until

TOPICS = 3
REPLIES = 15


def completed(ops_port: int) -> float:
    """Forum events a worker completed, from its own /metrics (the room's own events, such as
    its join rule, which porch reads for the room's tier, are not posts)."""
    text = requests.get(f"http://127.0.0.1:{ops_port}/metrics", timeout=5).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "porch_worker_events_total"
        and sample.labels["outcome"] == "completed"
        and sample.labels["direction"] == "forum-to-chat"
    )


def test_two_workers_keep_each_thread_in_order_and_deliver_each_post_once(
    pg_url: str, linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    town = linked(start=False, store_url=pg_url)
    town.porch.start("--role", "web")
    ports = [free_port(), free_port()]
    workers = [town.porch.sibling(f"worker-{n}") for n in (1, 2)]
    for worker, port in zip(workers, ports, strict=True):
        worker.start("--role", "worker", "--ops-port", str(port))

    topics = [
        forum.create_topic(
            "alice", "town-square", f"Scale-out topic number {t}", f"The first post of topic {t}."
        )
        for t in range(TOPICS)
    ]
    # Interleaved, as a busy forum would send them: every topic has work at every moment.
    for n in range(REPLIES):
        for t, first in enumerate(topics):
            forum.reply("bob", first["topic_id"], f"Topic {t} reply {n:02d}, in its turn.")

    def carried() -> list[dict[str, Any]]:
        return [
            e
            for e in town.dana.room_messages(town.room, limit=300)
            if is_text("Scale-out topic number")(e) or is_text(" reply ")(e)
        ]

    total = TOPICS * (REPLIES + 1)
    wait_until(lambda: len(carried()) >= total, 120, f"all {total} posts in the room")
    forum.flush_webhooks()
    events = carried()
    assert len(events) == total, "more messages than posts: something was delivered twice"

    for t in range(TOPICS):
        (root,) = [e for e in events if is_text(f"Scale-out topic number {t}")(e)]
        thread = [
            e
            for e in events
            if e["content"].get("m.relates_to", {}).get("event_id") == root["event_id"]
        ]
        bodies = [e["content"]["body"] for e in thread]
        assert bodies == [f"Topic {t} reply {n:02d}, in its turn." for n in range(REPLIES)], (
            f"topic {t}'s thread is out of order or incomplete: {bodies}"
        )

    # Both workers did part of the work (else this proved nothing about two workers).
    shares = [completed(port) for port in ports]
    assert all(share > 0 for share in shares), shares
    assert sum(shares) == total

    store = Store.open(pg_url)
    try:
        rows = store.inbox.rows()
    finally:
        store.close()
    assert rows and all(r.status == DONE for r in rows)
    # Two workers meeting the same new forum user at once both save its ghost and avatar
    # (insert-or-ignore, bridges/store/profiles.py): nothing had to be retried.
    retried = [r.last_error for r in rows if r.attempts]
    assert not retried, retried


def test_concurrent_claims_never_share_a_conversation(pg_url: str) -> None:
    """The claim itself under contention, without the platforms: several claimers race on one
    PostgreSQL inbox; none may hold an event of a conversation another one holds, and each
    conversation's events complete once each, in order."""
    claimers = 4
    store = Store.open(pg_url, pool_size=claimers + 1)
    conversations = [f"discourse:topic:{c}" for c in range(8)]
    events = [
        NewEvent(Platform.FORUM, EventKind.POST_CREATED, conv, f"{conv}#{n}", (f"{conv}#{n}",))
        for n in range(12)
        for conv in conversations
    ]
    store.inbox.append(events, now=time.time())
    lock = threading.Lock()
    holding: dict[str, str] = {}
    done: dict[str, list[str]] = {conv: [] for conv in conversations}
    clashes: list[str] = []

    def claimer(name: str) -> None:
        idle_since = time.monotonic()
        while time.monotonic() - idle_since < 1.0:
            rows = store.inbox.claim(name, time.time(), lease=60)
            if rows:
                idle_since = time.monotonic()
            for row in rows:
                with lock:
                    if row.conversation in holding:
                        clashes.append(f"{name} and {holding[row.conversation]}: {row.payload}")
                    holding[row.conversation] = name
                time.sleep(0.002)  # the "delivery"
                with lock:
                    del holding[row.conversation]
                    done[row.conversation].append(row.payload)
                store.inbox.complete(row.id, time.time())

    try:
        threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(claimers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not clashes, clashes
        for conv in conversations:
            assert done[conv] == [f"{conv}#{n}" for n in range(12)], done[conv]
        assert all(r.status == DONE for r in store.inbox.rows())
    finally:
        store.close()
