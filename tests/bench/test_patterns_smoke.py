"""``bench/patterns.py`` runs from the repository, in its quick mode, and lists every pattern.

Its timings are not asserted here (they belong to the benchmark and depend on the machine);
the smoke run checks that every pattern ran on every adversarial shape.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.patterns import MODULES, module_patterns

REPO = Path(__file__).resolve().parents[2]


def test_the_pattern_benchmark_runs_every_pattern() -> None:
    done = subprocess.run(
        [sys.executable, "bench/patterns.py", "--smoke"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    out = done.stdout
    for name, _ in module_patterns(MODULES):
        row = next((line for line in out.splitlines() if line.startswith(name + " ")), None)
        assert row is not None and " re2 " in row, f"no re2 row for {name} in:\n{out}"
    assert "watched words: block (plain)" in out
    assert "patterns, budget 50 ms each" in out
