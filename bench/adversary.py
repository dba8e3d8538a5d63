"""The adversary over every sink, at scale: 10^4 generated histories by default (issue 12,
item 6).

The suite runs the same property (``tests/e2e/test_adversary_sinks.py``) on 200 examples; this
runs as many as asked on sandboxes of its own (a Synapse homeserver, the Discourse double and
porch built in process, see ``tests/e2e/adversary.py``), a fresh one every ``--per-sandbox``
histories and ``--jobs`` of them at a time, and prints how many ran and how many found a leak,
each leak with its sink, the field it came from and the history that put it there. Exit 1 on
any leak.

    python bench/adversary.py                  # 10^4 examples
    python bench/adversary.py --examples 200   # a quick look
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypothesis import HealthCheck, Phase, given, settings

from tests.e2e.adversary import HISTORIES, Finding, Rig, sandbox

#: Errors (not leaks) after which the run stops.
MAX_ERRORS = 10
#: Histories played on one sandbox. Each sink is read whole after every example, and the
#: dashboard's pages and the rooms grow with every one, so an example on a sandbox that has
#: seen thousands takes several times as long as on a fresh one; a fresh sandbox every few
#: hundred keeps 10^4 examples to hours instead of a day.
ROUND = 250

Seen = dict[str, Counter[str]]


def run(rig: Rig, examples: int) -> tuple[int, int, list[Finding]]:
    """Run up to ``examples`` generated histories on ``rig``; (how many ran, how many found a
    leak, the leaks)."""
    ran = failed = 0
    findings: list[Finding] = []

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(history=HISTORIES)
    def one(history: list[tuple[Any, ...]]) -> None:
        nonlocal ran, failed
        ran += 1
        try:
            found = rig.run(history)
        except Exception as error:
            # An error is a failure to report; past a few, the rig itself is likely stuck.
            found = [Finding("error", set(), f"{history}: {type(error).__name__}: {error}")]
            if sum(f.sink == "error" for f in findings) >= MAX_ERRORS:
                raise
        failed += bool(found)
        findings.extend(found)

    one()
    return ran, failed, findings


def play_round(workdir: Path, examples: int) -> tuple[int, int, list[Finding], Seen]:
    """Up to ``examples`` histories on a fresh sandbox in ``workdir``; (ran, failed, leaks,
    what each sink was seen to hold)."""
    logging.basicConfig(level=logging.ERROR)
    with sandbox(workdir) as rig:
        ran, failed, findings = run(rig, examples)
        return ran, failed, findings, dict(rig.seen)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=10_000, help="histories to generate")
    parser.add_argument(
        "--per-sandbox",
        type=int,
        default=ROUND,
        help="histories played on one sandbox before a fresh one starts",
    )
    parser.add_argument("--jobs", type=int, default=1, help="sandboxes played at the same time")
    parser.add_argument("--workdir", type=Path, help="keep the sandboxes' files here")
    args = parser.parse_args(argv)
    # Porch's warnings (a held message pointed to the review page, ...) are its normal work
    # here: only errors are worth a line among 10^4 examples.
    logging.basicConfig(level=logging.ERROR)
    sizes = [args.per_sandbox] * (args.examples // args.per_sandbox)
    if args.examples % args.per_sandbox:
        sizes.append(args.examples % args.per_sandbox)
    ran = failed = 0
    findings: list[Finding] = []
    seen: Seen = {}
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="porch-adversary-") as scratch,
        ProcessPoolExecutor(max_workers=args.jobs) as pool,
    ):
        workdir = args.workdir or Path(scratch)
        rounds = [
            pool.submit(play_round, workdir / f"sandbox-{i}", size) for i, size in enumerate(sizes)
        ]
        for done in as_completed(rounds):
            r, f, found, fields = done.result()
            ran, failed = ran + r, failed + f
            findings += found
            for sink, held in fields.items():
                seen.setdefault(sink, Counter()).update(held)
            if sum(x.sink == "error" for x in findings) >= MAX_ERRORS:
                for pending in rounds:
                    pending.cancel()
                break
    took = time.monotonic() - started
    # What each sink was seen to hold (allowed or not): that the sinks were read at all.
    for sink, held in sorted(seen.items()):
        print(f"seen {sink}: " + ", ".join(f"{k} x{n}" for k, n in sorted(held.items())))
    for finding in findings:
        print(f"LEAK {finding}")
    print(f"ran {ran} examples in {took:.0f}s; failed {failed} ({len(findings)} leaks)")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
