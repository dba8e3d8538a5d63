"""``porch audit``: filters and both export formats, on SQLite and PostgreSQL stores."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import yaml

from bridges.store.audit import AuditEntry
from bridges.store.audit_query import AuditFilter, search
from bridges.store.store import Store
from tests.webhooks.configs import config_data
from webhooks.audit_cmd import parse_when
from webhooks.cli import main

#: 2026-03-01T00:00:00Z
MARCH = 1772323200.0
HELD = "policy:held/forum-to-chat"

ENTRIES = [
    AuditEntry(MARCH + 0, 1, "town", "carried", "tier", "builtin-1", "alice", None),
    AuditEntry(MARCH + 3600, 2, "town", "held", "policy:held/forum-to-chat", "v1", "bob", "why"),
    AuditEntry(
        MARCH + 7200, 2, "town", "approved", "policy:held/forum-to-chat", "v1", "@m:x", None
    ),
    AuditEntry(MARCH + 86400, 3, "staff", "refused", "boundary", "builtin-1", "sam", 'a "quote"'),
    AuditEntry(MARCH + 90000, 4, None, "ignored", "echo", "builtin-1", "porch", "line\nbreak"),
]


@pytest.fixture
def audited(store: Store, tmp_path: Path) -> Path:
    """A config file on the test's store, whose audit log holds :data:`ENTRIES`."""
    for entry in ENTRIES:
        store.audit.record(entry)
    path = tmp_path / "porch.yaml"
    path.write_text(yaml.safe_dump(config_data(store={"url": store.db.url})))
    return path


def run(config: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["audit", "-c", str(config), *args])
    return code, capsys.readouterr().out


def test_json_export_of_everything(audited: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(audited, "--format", "json", capsys=capsys)
    assert code == 0
    rows = json.loads(out)
    assert [r["outcome"] for r in rows] == [e.outcome for e in ENTRIES]
    assert rows[0] == {
        "at": "2026-03-01T00:00:00.000+00:00",
        "inbox_id": 1,
        "link": "town",
        "outcome": "carried",
        "rule": "tier",
        "policy_version": "builtin-1",
        "actor": "alice",
        "detail": None,
    }
    assert rows[4]["link"] is None and rows[4]["detail"] == "line\nbreak"


def test_csv_export_to_a_file_quotes_what_needs_it(
    audited: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "out.csv"
    code, out = run(audited, "--format", "csv", "--output", str(target), capsys=capsys)
    assert code == 0 and "5 entries written" in out
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"), newline="")))
    assert list(rows[0]) == [
        "at",
        "inbox_id",
        "link",
        "outcome",
        "rule",
        "policy_version",
        "actor",
        "detail",
    ]
    assert rows[3]["detail"] == 'a "quote"'
    assert rows[4]["detail"] == "line\nbreak" and rows[4]["link"] == ""


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--link", "town"], ["carried", "held", "approved"]),
        (["--outcome", "held,approved"], ["held", "approved"]),
        (["--outcome", "held", "--outcome", "refused"], ["held", "refused"]),
        (["--rule", "policy:held/*"], ["held", "approved"]),
        (["--rule", "policy:held"], []),
        (["--actor", "@m:x"], ["approved"]),
        (["--since", "2026-03-01T01:00:00"], ["held", "approved", "refused", "ignored"]),
        (["--until", "2026-03-01T02:00:00Z"], ["carried", "held"]),
        (["--since", "2026-03-01", "--until", "2026-03-02"], ["carried", "held", "approved"]),
        (["--limit", "2", "--link", "town"], ["carried", "held"]),
    ],
)
def test_filters(
    audited: Path, args: list[str], expected: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(audited, "--format", "json", *args, capsys=capsys)
    assert code == 0
    assert [r["outcome"] for r in json.loads(out)] == expected


def test_the_table_shows_the_entries(audited: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(audited, "--actor", "sam", capsys=capsys)
    assert code == 0
    assert "refused" in out and "boundary" in out and "carried" not in out


def test_the_table_prints_user_text_literally(
    store: Store, audited: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A name or a message holding Rich markup or terminal escapes shows as written."""
    store.audit.record(
        AuditEntry(
            MARCH + 99999,
            9,
            "town",
            "refused",
            "words",
            "v1",
            "[bold red]mallory[/]",
            "[link=https://evil.example]x[/link] \x1b[2Jwiped",
        )
    )
    code, out = run(audited, "--actor", "[bold red]mallory[/]", capsys=capsys)
    assert code == 0
    assert "[bold red]mallory[/]" in out
    assert "[link=https://evil.example]x[/link]" in out
    # The escape reaches the terminal as text, never as a command to it.
    assert "\x1b" not in out and "\\x1b[2Jwiped" in out


def test_a_time_that_cannot_be_read_is_an_error(
    audited: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "-c", str(audited), "--since", "last tuesday"]) == 2
    assert "not an ISO 8601 date" in capsys.readouterr().err


def test_ages_count_back_from_now() -> None:
    assert parse_when("12h", 100000.0) == 100000.0 - 12 * 3600
    assert parse_when("7d", 1e6) == 1e6 - 7 * 86400
    assert parse_when("2026-03-01T00:00:00+01:00", 0) == MARCH - 3600


def test_search_reads_in_batches(store: Store) -> None:
    for n in range(7):
        store.audit.record(AuditEntry(MARCH + n, n, "town", "carried", "tier", "v", "a"))
    found = list(search(store.db, AuditFilter(limit=5), batch=2))
    assert [e.inbox_id for e in found] == [0, 1, 2, 3, 4]
    assert len(list(search(store.db, AuditFilter(), batch=3))) == 7
