"""The HTTP server's access log never shows the hs_token.

A homeserver that authenticates the legacy way sends ``?access_token=<hs_token>`` on every
request (https://spec.matrix.org/v1.13/application-service-api/#legacy-routes); werkzeug logs
each request line as it came. The test serves porch's app with werkzeug's own server, as
``porch serve`` does, and reads the log it writes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest
import requests
from werkzeug.serving import BaseWSGIServer, make_server

from bridges.store.store import Store
from tests.webhooks.configs import HS_TOKEN, make_config
from webhooks.app import create_app


@pytest.fixture
def served(store: Store) -> Iterator[str]:
    server: BaseWSGIServer = make_server(
        "127.0.0.1", 0, create_app(make_config(), store), threaded=True
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_a_legacy_access_token_is_not_in_the_access_log(
    served: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        for path in ("/_matrix/app/v1/transactions/t1", "/transactions/t2"):
            answer = requests.put(
                f"{served}{path}?access_token={HS_TOKEN}&x=1", json={"events": []}, timeout=10
            )
            assert answer.status_code == 200, answer.text
        wrong = requests.put(
            f"{served}/transactions/t3?access_token=not-{HS_TOKEN}", json={}, timeout=10
        )
        assert wrong.status_code == 403
    lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert len([line for line in lines if "/transactions/" in line]) == 3, lines
    assert HS_TOKEN not in caplog.text
    assert "access_token=[redacted]&x=1" in caplog.text
