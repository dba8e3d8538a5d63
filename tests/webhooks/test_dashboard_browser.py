"""The watching dashboard in a real browser: Debian's headless Chromium driven by playwright.

Sign-in through the forum double (its login cookie, its DiscourseConnect redirects), the thread
list, the emerging-terms heat map and a CSV export. Screenshots are kept under
``artifacts/dashboard/`` (``PORCH_ARTIFACTS`` to put them elsewhere); with
``PORCH_UPDATE_DOCS=1`` the run also refreshes the screenshots of ``docs/watching.md``.

Chromium must be installed (``apt-get install chromium``): the test fails, it does not skip,
when it is missing, so that CI cannot pass without having run it.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright
from werkzeug.serving import make_server

from bridges.store.store import Store
from sandbox.forum import SandboxForum
from tests.webhooks.test_dashboard import OPEN_TITLE, SECRET, SECRET_TITLE, dashboard_config, seed
from webhooks.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def artifacts() -> Path:
    where = Path(os.environ.get("PORCH_ARTIFACTS", ROOT / "artifacts")) / "dashboard"
    where.mkdir(parents=True, exist_ok=True)
    return where


@pytest.fixture
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), (
        f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium) to run "
        "the dashboard's browser test"
    )
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def porch_url(forum: SandboxForum, tmp_path: Path) -> Iterator[str]:
    """Porch's web face on a free loopback port, its store seeded with two weeks of watching."""
    forum.sso.set_secret("127.0.0.1", SECRET)
    forum.add_user("carol", name="Carol Clark", groups=["policy-team"])
    store = Store.open(f"sqlite:///{tmp_path / 'porch.db'}")
    seed(store, time.time())
    server = make_server("127.0.0.1", 0, None, threaded=True)  # type: ignore[arg-type]
    url = f"http://127.0.0.1:{server.server_port}"
    server.app = create_app(dashboard_config(forum.base_url, url), store)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield url
    finally:
        server.shutdown()
        store.close()


def test_sign_in_threads_heat_map_and_export(
    browser: Browser, porch_url: str, forum: SandboxForum, artifacts: Path
) -> None:
    context = browser.new_context(viewport={"width": 1100, "height": 760}, accept_downloads=True)
    page = context.new_page()
    # Logging in is the forum's business; the double's test login sets its session cookie.
    context.request.post(f"{forum.base_url}/sandbox/login", form={"username": "carol"})

    page.goto(f"{porch_url}/watching/")
    assert page.locator("#signin").is_visible()
    page.screenshot(path=str(artifacts / "1-sign-in.png"))
    page.click("#signin")
    page.wait_for_url(f"{porch_url}/watching/")
    assert page.locator("#viewer").inner_text() == "carol"

    threads = page.locator("#watch-housing tr.thread")
    assert threads.count() == 2
    assert threads.first.locator("td.title").inner_text() == OPEN_TITLE
    assert threads.first.locator("svg.spark polyline").count() == 1
    assert SECRET_TITLE not in page.content()
    page.screenshot(path=str(artifacts / "2-threads.png"), full_page=True)

    page.click("#watch-housing a.heatmap-link")
    page.wait_for_selector("svg.heatmap")
    counts = [
        int(c)
        for c in page.locator(".chart:not(.words) svg.heatmap rect.cell").evaluate_all(
            "cells => cells.map(c => c.getAttribute('data-count'))"
        )
    ]
    assert sum(counts) >= 25 and max(counts) == 6, counts
    assert page.locator(".chart.words svg.heatmap rect.cell[data-count='12']").count() == 2
    assert page.locator("ul.rising li").count() >= 1
    page.screenshot(path=str(artifacts / "3-heat-map.png"), full_page=True)

    page.go_back()
    with page.expect_download() as download:
        page.click("#watch-housing a.export-csv")
    saved = artifacts / "watch-housing.csv"
    download.value.save_as(str(saved))
    rows = list(csv.DictReader(io.StringIO(saved.read_text())))
    assert rows[0]["title"] == OPEN_TITLE
    assert all(r["title"] != SECRET_TITLE for r in rows)

    if os.environ.get("PORCH_UPDATE_DOCS") == "1":
        shutil.copy(artifacts / "2-threads.png", ROOT / "docs" / "dashboard.png")
        shutil.copy(artifacts / "3-heat-map.png", ROOT / "docs" / "heatmap.png")
    context.close()
