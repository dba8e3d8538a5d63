"""No log line of the HTTP server or of porch shows the hs_token.

A homeserver that authenticates the legacy way sends ``?access_token=<hs_token>`` on every
request (https://spec.matrix.org/v1.13/application-service-api/#legacy-routes). ``porch serve``
runs on waitress (:class:`webhooks.http_server.HttpServer`), which writes no access log; the
first test serves porch's app on it, as ``porch serve`` does, and reads every log record of
every logger at DEBUG. Werkzeug's development server (which ``flask run`` and a developer's
debugging session still use) logs each request line as it came: the second test shows porch's
filter takes the token out of that log too.
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
from webhooks.http_server import HttpServer


def test_no_log_record_of_porchs_server_shows_a_legacy_access_token(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    server = HttpServer(
        create_app(make_config(), store),
        host="127.0.0.1",
        port=0,
        threads=2,
        connection_limit=10,
        read_timeout=10,
        max_body_bytes=1 << 20,
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        with caplog.at_level(logging.DEBUG):
            for path in ("/_matrix/app/v1/transactions/t1", "/transactions/t2"):
                answer = requests.put(
                    f"{base}{path}?access_token={HS_TOKEN}&x=1", json={"events": []}, timeout=10
                )
                assert answer.status_code == 200, answer.text
            wrong = requests.put(
                f"{base}/transactions/t3?access_token=not-{HS_TOKEN}", json={}, timeout=10
            )
            assert wrong.status_code == 403
            # A request the server itself refuses (a body over its limit) is logged, if at
            # all, without its query either.
            huge = requests.put(
                f"{base}/transactions/t4?access_token={HS_TOKEN}",
                data=b"x" * ((1 << 20) + 10),
                timeout=10,
            )
            assert huge.status_code == 413
    finally:
        server.close()
        thread.join(timeout=10)
    # The test's own HTTP client (urllib3) logs its requests whole; it is not porch.
    served = [r.getMessage() for r in caplog.records if not r.name.startswith("urllib3")]
    assert any("transaction t1" in line for line in served), served
    assert not [line for line in served if HS_TOKEN in line]


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
