"""Fuzz both doors: generated appservice transactions and signed forum webhooks, no 5xx.

Usage::

    python bench/fuzz.py                      # 10^5 requests, half to each door
    python bench/fuzz.py --examples 2000      # a quick look

Sends the generated input of ``bench/fuzz_payloads.py`` (well-formed, mutated, duplicated and
junk events, correctly authenticated) to porch's real Flask app on a real SQLite store, and
counts a failure for every 5xx, every other answer than 200/400, and every well-formed event
that was not recorded. Afterwards every recorded event must read back as the worker reads it,
and a plain message must still be recorded. Prints how many ran and how many failed; exits 1 on
any failure. The suite runs the same checks on 10^4 (``tests/webhooks/test_door_fuzz.py``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given, settings

from bench.fuzz_payloads import Transaction, Webhook, transactions, webhooks
from bridges import codec
from bridges.store.inbox import inbox_keys
from bridges.store.store import Store
from tests.webhooks.configs import HS_TOKEN, WEBHOOK_SECRET, make_config
from webhooks.app import create_app
from webhooks.discourse import signature

ROOM = "!fuzz:porch.test"
SENDER = "@carol:porch.test"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--examples", type=int, default=100_000, help="requests in all")
    args = parser.parse_args()
    ran: Counter[str] = Counter()
    failures: list[str] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as workdir:
        store = Store.open(f"sqlite:///{Path(workdir) / 'fuzz.db'}")
        try:
            config = make_config(discourse={"max_body_bytes": 64 * 1024})
            client = create_app(config, store, clock=time.time, on_accepted=lambda: None)
            http = client.test_client()

            def recorded(key: str) -> bool:
                with store.db.read() as conn:
                    query = sa.select(inbox_keys.c.key).where(inbox_keys.c.key == key)
                    return conn.execute(query).first() is not None

            def fail(what: str) -> None:
                failures.append(what[:300])

            each = settings(
                max_examples=max(args.examples // 2, 1),
                deadline=None,
                database=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )

            @each
            @given(transactions(ROOM, SENDER))
            def transaction(txn: Transaction) -> None:
                ran["transactions"] += 1
                answer = http.put(
                    f"/_matrix/app/v1/transactions/b{ran['transactions']}",
                    data=txn.encode(),
                    headers={"Authorization": f"Bearer {HS_TOKEN}"},
                    content_type="application/json",
                )
                if answer.status_code not in (200, 400):
                    fail(f"transaction answered {answer.status_code}: {txn.body!r}")
                for event_id in txn.expected:
                    if not recorded(f"matrix:event:{event_id}"):
                        fail(f"well-formed {event_id} not recorded: {txn.body!r}")

            @each
            @given(webhooks(topic_id=77))
            def webhook(hook: Webhook) -> None:
                ran["webhooks"] += 1
                body = hook.encode()
                answer = http.post(
                    "/discourse/webhook",
                    data=body,
                    headers={
                        "X-Discourse-Event": hook.event,
                        "X-Discourse-Event-Type": hook.root,
                        "X-Discourse-Event-Id": hook.delivery,
                        "X-Discourse-Event-Signature": signature(WEBHOOK_SECRET, body),
                    },
                    content_type="application/json",
                )
                if answer.status_code not in (200, 400):
                    fail(f"webhook answered {answer.status_code}: {hook.event} {hook.body!r}")
                elif hook.good and answer.status_code != 200:
                    fail(f"well-formed webhook refused: {hook.event} {hook.body!r}")

            transaction()
            webhook()
            for row in store.inbox.rows():
                try:
                    codec.decode(row.kind, row.payload)
                except ValueError as exc:
                    fail(f"inbox #{row.id} does not read back: {exc}")
            after = {
                "type": "m.room.message",
                "event_id": "$after-the-fuzz",
                "room_id": ROOM,
                "sender": SENDER,
                "origin_server_ts": 1,
                "content": {"msgtype": "m.text", "body": "still here"},
            }
            http.put(
                "/_matrix/app/v1/transactions/after",
                data=Transaction({"events": [after]}).encode(),
                headers={"Authorization": f"Bearer {HS_TOKEN}"},
                content_type="application/json",
            )
            if not recorded("matrix:event:$after-the-fuzz"):
                fail("a plain message after the fuzz was not recorded")
        finally:
            store.close()
    seconds = time.monotonic() - started
    total = ran["transactions"] + ran["webhooks"]
    print(
        f"ran {total} ({ran['transactions']} transactions, {ran['webhooks']} webhooks) "
        f"in {seconds:.0f}s; failed {len(failures)}"
    )
    for failure in failures[:20]:
        print(f"  {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
