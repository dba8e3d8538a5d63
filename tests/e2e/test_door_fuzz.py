"""After generated junk at both doors of a running porch, the room and the topic still flow.

The same generators as ``tests/webhooks/test_door_fuzz.py`` (which sends 10^4 to the Flask
app), here over real HTTP to ``porch serve`` with the real Synapse and the forum double, aimed
at the linked room and the carried topic. Whatever porch accepted goes through the real worker
and relay; then a chat message and a forum reply must cross as usual.
"""

from __future__ import annotations

from collections.abc import Callable

import requests
from hypothesis import HealthCheck, Phase, given, settings

from bench.fuzz_payloads import Transaction, Webhook, transactions, webhooks
from sandbox.forum import SandboxForum
from tests.e2e.chat_side import open_thread, wait_for_post
from tests.e2e.conftest import Linked
from webhooks.discourse import signature

EXAMPLES = 150
_FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def test_after_generated_junk_both_directions_still_deliver(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    town = linked()
    first, root = open_thread(
        town, forum, "Plans for the spring fair", "What should the spring fair have this year?"
    )
    config = town.porch.config
    assert config.matrix.appservice is not None
    hs_token = config.matrix.appservice.hs_token.get_secret_value()
    secret = config.discourse.webhook_secret.get_secret_value()
    http = requests.Session()
    statuses: list[int] = []
    counter = iter(range(10**6))

    @_FUZZ
    @given(transactions(town.room, town.dana.user_id))
    def fuzz_chat(txn: Transaction) -> None:
        answer = http.put(
            f"{town.porch.url}/_matrix/app/v1/transactions/fuzz{next(counter)}",
            data=txn.encode(),
            headers={"Authorization": f"Bearer {hs_token}", "Content-Type": "application/json"},
            timeout=10,
        )
        statuses.append(answer.status_code)

    @_FUZZ
    @given(webhooks(topic_id=first["topic_id"]))
    def fuzz_forum(hook: Webhook) -> None:
        body = hook.encode()
        answer = http.post(
            f"{town.porch.url}/discourse/webhook",
            data=body,
            headers={
                "Content-Type": "application/json",
                "X-Discourse-Event": hook.event,
                "X-Discourse-Event-Type": hook.root,
                "X-Discourse-Event-Id": hook.delivery,
                "X-Discourse-Event-Signature": signature(secret, body),
            },
            timeout=10,
        )
        statuses.append(answer.status_code)

    fuzz_chat()
    fuzz_forum()
    assert len(statuses) == 2 * EXAMPLES
    assert {s for s in statuses if s >= 500} == set(), town.porch.log_tail()

    town.dana.send_text(
        town.room, "Chat still reaches the forum after the junk.", root["event_id"]
    )
    wait_for_post(forum, first["topic_id"], "Chat still reaches the forum", timeout=60)
    forum.reply("alice", first["topic_id"], "And the forum still reaches the chat room.")
    town.dana.wait_for_text(town.room, "the forum still reaches the chat room", timeout=60)
