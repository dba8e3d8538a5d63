"""The adversary over every sink, at scale: 10^4 generated histories by default (issue 12,
item 6).

The suite runs the same property (``tests/e2e/test_adversary_sinks.py``) on 200 examples; this
runs as many as asked on a sandbox of its own (a Synapse homeserver, the Discourse double and
porch built in process, see ``tests/e2e/adversary.py``) and prints how many ran and how many
found a leak, each leak with its sink, the field it came from and the history that put it there.
Exit 1 on any leak.

    python bench/adversary.py                  # 10^4 examples
    python bench/adversary.py --examples 200   # a quick look
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypothesis import HealthCheck, Phase, given, settings

from tests.e2e.adversary import HISTORIES, Finding, Rig, sandbox

#: Errors (not leaks) after which the run stops.
MAX_ERRORS = 10


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=10_000, help="histories to generate")
    parser.add_argument("--workdir", type=Path, help="keep the sandbox's files here")
    args = parser.parse_args(argv)
    # Porch's warnings (a held message pointed to the review page, ...) are its normal work
    # here: only errors are worth a line among 10^4 examples.
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="porch-adversary-") as scratch:
        workdir = args.workdir or Path(scratch)
        started = time.monotonic()
        with sandbox(workdir) as rig:
            ran, failed, findings = run(rig, args.examples)
            seen = rig.seen
        took = time.monotonic() - started
    # What each sink was seen to hold (allowed or not): that the sinks were read at all.
    for sink, fields in sorted(seen.items()):
        print(f"seen {sink}: " + ", ".join(f"{k} x{n}" for k, n in sorted(fields.items())))
    for finding in findings:
        print(f"LEAK {finding}")
    print(f"ran {ran} examples in {took:.0f}s; failed {failed} ({len(findings)} leaks)")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
