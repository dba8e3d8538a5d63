"""Secrets stay out of logs, stored error texts and reprs.

An alert webhook's URL is often its own credential (a chat service's incoming hook carries its
key in the path), so a failed delivery names only the URL's origin: in the exception, in the
log line the dispatcher writes, and in what it stores for the retry.
"""

from __future__ import annotations

import logging
import socket

import pytest
import sqlalchemy as sa

from bridges.store.store import Store
from bridges.store.watch_records import WatchRecords
from bridges.watching.alerts import Dispatcher, WebhookFailed, post_webhook, raise_alert
from bridges.watching.watching_config import WatchingConfig, WebhookConfig
from policies.watching import AlertKind
from tests.webhooks.configs import AS_TOKEN, HS_TOKEN, WEBHOOK_SECRET, make_config

PATH_KEY = "T0KEN-in-the-path-5f2b"
QUERY_KEY = "query-key-91c3"
HOOK_SECRET = "hook-secret-0123456789"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _hook_url(port: int) -> str:
    return f"http://user:pw-{QUERY_KEY}@127.0.0.1:{port}/hooks/{PATH_KEY}?key={QUERY_KEY}"


def _assert_no_secret(text: str) -> None:
    for secret in (PATH_KEY, QUERY_KEY, HOOK_SECRET):
        assert secret not in text, text


def test_a_failed_webhook_names_only_its_origin() -> None:
    port = _closed_port()
    config = WebhookConfig.model_validate(
        {"url": _hook_url(port), "secret": HOOK_SECRET, "timeout": 2}
    )
    with pytest.raises(WebhookFailed) as caught:
        post_webhook(config, {"text": "x"})
    _assert_no_secret(str(caught.value))
    assert f"http://127.0.0.1:{port}" in str(caught.value)
    # Nothing chained either: a traceback of it must not show requests' message.
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_the_dispatcher_logs_and_stores_no_hook_credential(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    config = WatchingConfig.model_validate(
        {
            "watches": [
                {
                    "name": "housing",
                    "alerts": {"webhook": {"url": _hook_url(_closed_port()), "timeout": 2}},
                }
            ]
        }
    )
    records = WatchRecords(store.db)
    raise_alert(records, config, "housing", "topic:1", AlertKind.MATCH, {"title": "t"}, 1000.0)
    with caplog.at_level(logging.DEBUG):
        assert Dispatcher(config, records, None, lambda r: r, clock=lambda: 1000.0).send_due() == 0
    assert "webhook" in caplog.text
    _assert_no_secret(caplog.text)
    with store.db.read() as conn:
        rows = conn.execute(sa.text("SELECT * FROM watch_alerts")).mappings().all()
    assert rows
    _assert_no_secret(repr([dict(r) for r in rows]))


def test_no_secret_of_the_config_shows_in_its_repr_or_dump() -> None:
    """Every credential of every section is a SecretStr: printing or dumping the config
    (an error message, a debug log, ``porch config --show``) never shows one."""
    secrets = {
        "connect": "connect-secret-value-77",
        "bot": "bot-password-value-77",
        "smtp": "smtp-password-value-77",
        "hook": "hook-secret-value-77",
        "moderator": "moderator-token-value-77" + "x" * 16,
    }
    config = make_config(
        discourse={"connect_secret": secrets["connect"]},
        matrix={"bot": {"user_id": "@bot:porch.test", "password": secrets["bot"]}},
        watching={
            "smtp": {
                "host": "127.0.0.1",
                "port": 25,
                "sender": "porch@example.org",
                "username": "porch",
                "password": secrets["smtp"],
            },
            "watches": [
                {
                    "name": "w",
                    "alerts": {
                        "webhook": {
                            "url": "https://hooks.example.org/x",
                            "secret": secrets["hook"],
                        }
                    },
                }
            ],
        },
        moderation={"review": {"moderators": {"mod": secrets["moderator"]}}},
    )
    shown = repr(config) + str(config) + config.model_dump_json() + repr(config.model_dump())
    for value in (*secrets.values(), WEBHOOK_SECRET, AS_TOKEN, HS_TOKEN, "forum-api-key"):
        assert value not in shown
    assert config.discourse.connect_secret is not None
    assert config.discourse.connect_secret.get_secret_value() == secrets["connect"]
