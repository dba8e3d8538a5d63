"""Generated input at both doors: authenticated junk never gets a 5xx, and never costs a
well-formed event its place.

Thousands of generated appservice transactions and signed forum webhooks (``bench.fuzz_payloads``:
well-formed, mutated, duplicated and junk events) go to the real Flask app on a real SQLite
store. Every answer is 200 or 400; every well-formed message of a transaction is recorded even
when its neighbours are junk; whatever was recorded can be read back by the worker; and a plain
message after the fuzz is recorded like any other. ``tests/e2e/test_door_fuzz.py`` sends the
same input to a running porch and checks both directions still deliver. ``bench/fuzz.py`` runs
ten times as many.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from hypothesis import HealthCheck, Phase, given, settings

from bench.fuzz_payloads import Transaction, Webhook, transactions, webhooks
from bridges import codec
from bridges.store.inbox import inbox_keys
from bridges.store.store import Store
from tests.rig.store import sqlite_url
from tests.webhooks.configs import HS_TOKEN, WEBHOOK_SECRET, make_config
from webhooks.app import create_app
from webhooks.discourse import signature

#: Examples per door: 4000 + 6000 = the 10^4 the suite promises (transactions carry up to five
#: events and cost more than a webhook).
TRANSACTIONS = 4000
WEBHOOKS = 6000
ROOM = "!fuzz:porch.test"
SENDER = "@carol:porch.test"
AUTH = {"Authorization": f"Bearer {HS_TOKEN}"}


def _fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        # Generation only: a failure prints its example as it is; shrinking would multiply the
        # run time of a suite that must stay near a minute.
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


#: Both together took 145 s of CPU on a busy shared machine (4000 transactions are three
#: quarters of it); the wall-clock bound leaves room for a machine shared with other jobs.
_SLOW = pytest.mark.timeout(900)


def _client(store: Store) -> FlaskClient:
    config = make_config(discourse={"max_body_bytes": 64 * 1024})
    return create_app(config, store, clock=lambda: 5.0, on_accepted=lambda: None).test_client()


def _recorded(store: Store, key: str) -> bool:
    with store.db.read() as conn:
        found = conn.execute(sa.select(inbox_keys.c.key).where(inbox_keys.c.key == key)).first()
    return found is not None


def _every_row_reads_back(store: Store) -> None:
    for row in store.inbox.rows():
        codec.decode(row.kind, row.payload)  # the worker's first step; raises if unreadable


def send_transaction(client: FlaskClient, txn: str, transaction: Transaction) -> int:
    response = client.put(
        f"/_matrix/app/v1/transactions/{txn}",
        data=transaction.encode(),
        headers=AUTH,
        content_type="application/json",
    )
    return response.status_code


def deliver(client: FlaskClient, hook: Webhook) -> int:
    body = hook.encode()
    headers = {
        "X-Discourse-Event": hook.event,
        "X-Discourse-Event-Type": hook.root,
        "X-Discourse-Event-Id": hook.delivery,
        "X-Discourse-Event-Signature": signature(WEBHOOK_SECRET, body),
    }
    response = client.post(
        "/discourse/webhook", data=body, headers=headers, content_type="application/json"
    )
    return response.status_code


@_SLOW
def test_generated_transactions_never_get_a_5xx_nor_lose_a_good_event(tmp_path: Path) -> None:
    store = Store.open(sqlite_url(tmp_path))
    client = _client(store)
    counter = iter(range(10**9))

    @_fuzz(TRANSACTIONS)
    @given(transactions(ROOM, SENDER))
    def fuzz(transaction: Transaction) -> None:
        status = send_transaction(client, f"t{next(counter)}", transaction)
        is_transaction = isinstance(transaction.body, dict) and isinstance(
            transaction.body.get("events"), list
        )
        assert status == (200 if is_transaction else 400), transaction.body
        for event_id in transaction.expected:
            assert _recorded(store, f"matrix:event:{event_id}"), (event_id, transaction.body)

    try:
        fuzz()
        _every_row_reads_back(store)
        refused = [e for e in store.audit.entries(limit=10**6) if e.rule == "malformed-event"]
        assert refused and {e.outcome for e in refused} == {"refused"}
        # The room still takes a plain message after all that.
        after = {
            "type": "m.room.message",
            "event_id": "$after-the-fuzz",
            "room_id": ROOM,
            "sender": SENDER,
            "origin_server_ts": 1,
            "content": {"msgtype": "m.text", "body": "still here"},
        }
        assert send_transaction(client, "after", Transaction({"events": [after]})) == 200
        assert _recorded(store, "matrix:event:$after-the-fuzz")
    finally:
        store.close()


@_SLOW
def test_generated_webhooks_never_get_a_5xx_nor_lose_a_good_one(tmp_path: Path) -> None:
    store = Store.open(sqlite_url(tmp_path))
    client = _client(store)

    @_fuzz(WEBHOOKS)
    @given(webhooks(topic_id=77))
    def fuzz(hook: Webhook) -> None:
        status = deliver(client, hook)
        assert status in (200, 400), (status, hook.event, hook.body, hook.raw)
        if hook.good:
            assert status == 200, (hook.event, hook.body)
            if hook.root == "post":  # a topic event may repeat an earlier one's content
                assert _recorded(store, f"discourse:delivery:{hook.delivery}")

    try:
        fuzz()
        _every_row_reads_back(store)
    finally:
        store.close()
