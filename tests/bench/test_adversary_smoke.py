"""``bench/adversary.py`` runs from a clean clone with a few examples and says how many ran.

Whether it finds leaks is the property test's business (``tests/e2e/test_adversary_sinks.py``);
here only that the run starts its own sandbox, runs what was asked, prints the count, and exits
1 exactly when it reports a leak.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.bench.test_bench_smoke import clean_clone


def test_the_adversary_benchmark_runs_and_counts_its_examples(tmp_path: Path) -> None:
    clone = clean_clone(tmp_path / "clone")
    done = subprocess.run(
        [sys.executable, "bench/adversary.py", "--examples", "3"],
        cwd=clone,
        env={**os.environ, "PYTHONPATH": str(clone)},
        capture_output=True,
        text=True,
        timeout=180,
    )
    summary = re.search(r"^ran (\d+) examples in \d+s; failed (\d+) ", done.stdout, re.M)
    assert summary is not None, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    ran, failed = int(summary[1]), int(summary[2])
    assert ran == 3
    assert done.returncode == (1 if failed else 0), done.stdout
    assert ("LEAK " in done.stdout) == bool(failed), done.stdout
