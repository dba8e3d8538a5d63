"""``porch audit``: query the audit log and export it as a table, CSV or JSON.

Every decision porch made (carried, transformed, held, approved, rejected, refused, retracted,
waiting, ignored) is one entry with its time, inbox event, link, rule, policy version, actor
and detail. Filters combine (all must hold)::

    porch audit -c porch.yaml --since 2026-03-01 --outcome held,approved,rejected
    porch audit -c porch.yaml --rule 'policy:publish/*' --format csv --output decisions.csv

``--since`` / ``--until`` take an ISO 8601 date or time (UTC unless it names a zone) or an age
(``90m``, ``12h``, ``7d``: that long ago). Times in CSV and JSON are ISO 8601 UTC.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import IO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from bridges.store.audit import AuditEntry
from bridges.store.audit_query import AuditFilter, search

FIELDS = ("at", "inbox_id", "link", "outcome", "rule", "policy_version", "actor", "detail")
_AGE = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_when(text: str, now: float) -> float:
    """Seconds since the epoch for ``--since`` / ``--until``: an ISO 8601 date or time (UTC
    when it names no zone), or an age (``12h``) before ``now``.

    Raises:
        ValueError: neither.
    """
    age = _AGE.match(text.strip())
    if age is not None:
        return now - float(age.group(1)) * _UNIT[age.group(2)]
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO 8601 date or time, nor an age like 90m, 12h or 7d"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``porch audit`` (``-c`` is added by the caller)."""
    parser.add_argument("--since", help="from this time on (ISO 8601, or an age: 12h, 7d)")
    parser.add_argument("--until", help="before this time (ISO 8601, or an age: 12h, 7d)")
    parser.add_argument("--link", help="only this link")
    parser.add_argument(
        "--outcome",
        action="append",
        default=[],
        help="only these outcomes (comma-separated or repeated): carried, transformed, held, "
        "approved, rejected, refused, retracted, waiting, ignored",
    )
    parser.add_argument("--rule", help="only this rule; 'policy:publish/*' for a prefix")
    parser.add_argument("--actor", help="only this actor (a forum user, a Matrix id, porch)")
    parser.add_argument("--limit", type=int, help="at most this many entries (oldest first)")
    parser.add_argument(
        "--format", choices=["table", "csv", "json"], default="table", help="default: table"
    )
    parser.add_argument("--output", "-o", help="write to this file instead of standard output")


def audit_filter(args: argparse.Namespace, now: float) -> AuditFilter:
    """The filter the options ask for.

    Raises:
        ValueError: a time that cannot be read, or a limit below 1.
    """
    outcomes = tuple(o.strip() for value in args.outcome for o in value.split(",") if o.strip())
    if args.limit is not None and args.limit < 1:
        raise ValueError("--limit must be at least 1")
    return AuditFilter(
        since=None if args.since is None else parse_when(args.since, now),
        until=None if args.until is None else parse_when(args.until, now),
        link=args.link,
        outcomes=outcomes,
        rule=args.rule,
        actor=args.actor,
        limit=args.limit,
    )


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")


def _row(entry: AuditEntry) -> dict[str, object]:
    return {
        "at": iso(entry.at),
        "inbox_id": entry.inbox_id,
        "link": entry.link,
        "outcome": entry.outcome,
        "rule": entry.rule,
        "policy_version": entry.policy_version,
        "actor": entry.actor,
        "detail": entry.detail,
    }


def write_csv(entries: Iterable[AuditEntry], out: IO[str]) -> int:
    """One header line, then one line per entry (empty cells for none); returns the count."""
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    count = 0
    for entry in entries:
        writer.writerow({k: "" if v is None else v for k, v in _row(entry).items()})
        count += 1
    return count


def write_json(entries: Iterable[AuditEntry], out: IO[str]) -> int:
    """A JSON array of objects (``null`` for none), written entry by entry."""
    count = 0
    out.write("[")
    for entry in entries:
        out.write(",\n " if count else "\n ")
        out.write(json.dumps(_row(entry), ensure_ascii=False, sort_keys=False))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


#: Control characters other than newline and tab: a terminal would act on them (ESC starts
#: colour, cursor and hyperlink sequences), so the table shows them as ``\xNN`` instead.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def literal(value: object) -> Text:
    """``value`` as table text shown exactly as written: a cell is never read as Rich markup
    (a user named ``[link=...]`` or writing ``[bold red]``), and control characters cannot
    reach the terminal."""
    text = "" if value is None else str(value)
    return Text(_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text))


def write_table(entries: Iterable[AuditEntry], out: IO[str]) -> int:
    """A Rich table (for a person at a terminal); returns the count.

    Actors and details hold user text (names, words that matched, reasons), so every cell is
    a :class:`rich.text.Text`, never markup.
    """
    table = Table(title="Audit log")
    for column in ("at", "link", "outcome", "rule", "actor", "detail"):
        table.add_column(column)
    count = 0
    for entry in entries:
        row = _row(entry)
        table.add_row(
            *(literal(row[c] or "") for c in ("at", "link", "outcome", "rule", "actor", "detail"))
        )
        count += 1
    Console(file=out, width=160 if not out.isatty() else None).print(table)
    return count


WRITERS: dict[str, Callable[[Iterable[AuditEntry], IO[str]], int]] = {
    "csv": write_csv,
    "json": write_json,
    "table": write_table,
}


def run(args: argparse.Namespace, entries: Callable[[AuditFilter], Iterator[AuditEntry]]) -> int:
    """Write the entries the options select; the exit code (2 for unusable options)."""
    try:
        wanted = audit_filter(args, time.time())
    except ValueError as exc:
        print(f"porch audit: {exc}", file=sys.stderr)
        return 2
    write = WRITERS[args.format]
    if args.output is None:
        count = write(entries(wanted), sys.stdout)
    else:
        # newline="" as the csv module asks; the JSON and table writers write "\n" themselves.
        with open(args.output, "w", encoding="utf-8", newline="") as out:
            count = write(entries(wanted), out)
        print(f"{count} entr{'y' if count == 1 else 'ies'} written to {args.output}")
    return 0


def main(args: argparse.Namespace, store_url: str) -> int:
    """``porch audit`` against the store at ``store_url``."""
    from bridges.store.store import Store

    store = Store.open(store_url)
    try:
        return run(args, lambda wanted: search(store.db, wanted))
    finally:
        store.close()
