"""``bench/relay.py`` runs as a newcomer runs it, from a clean clone, and prints its table.

The benchmark starts its own homeserver, forum double and ``porch serve``; tiny sizes keep this
to a few seconds. The figures themselves are not asserted (they depend on the machine), only
that every row is there with numbers in it and that nothing was lost on the way.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def clean_clone(dest: Path) -> Path:
    """What a clone of the repository holds: the files git tracks or would add (not ignored
    ones: no virtualenv, databases, caches or earlier benchmark files), as in the tree now."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


ROWS = [
    ("forum -> chat, burst", "porch: webhook accepted -> event in /sync"),
    ("forum -> chat, burst", "homeserver direct: PUT /send -> event in /sync"),
    ("forum -> chat, one at a time", "porch: webhook accepted -> event in /sync"),
    ("forum -> chat, one at a time", "homeserver direct: PUT /send -> event in /sync"),
    ("chat -> forum, burst", "porch: room_send returned -> post in forum"),
    ("chat -> forum, burst", "forum API direct: POST /posts.json -> post in forum"),
    ("chat -> forum, one at a time", "porch: room_send returned -> post in forum"),
    ("chat -> forum, one at a time", "forum API direct: POST /posts.json -> post in forum"),
]


def test_the_benchmark_runs_and_prints_every_row_of_its_table(tmp_path: Path) -> None:
    clone = clean_clone(tmp_path / "clone")
    # The clone's porch, not the installed one (the test extra's packages stay as installed).
    env = {**os.environ, "PYTHONPATH": str(clone)}
    where = subprocess.run(
        [sys.executable, "-c", "import bridges, webhooks; print(bridges.__file__)"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(clone), where.stdout
    workdir = tmp_path / "bench"
    done = subprocess.run(
        [
            sys.executable,
            "bench/relay.py",
            "--posts",
            "5",
            "--messages",
            "5",
            "--sequential",
            "3",
            "--workdir",
            str(workdir),
        ],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = done.stdout
    assert done.returncode == 0, f"exit {done.returncode}\n{out}\n{done.stderr}"
    assert "problem:" not in out, out
    lines = out.splitlines()
    for measure, path in ROWS:
        row = next((line for line in lines if measure in line and path in line), None)
        assert row is not None, f"no row {measure!r} / {path!r} in:\n{out}"
        # n, p50 and p99 are filled in (milliseconds with one decimal)
        assert len(re.findall(r"\d+\.\d", row)) >= 2, row
    ratios = [line for line in lines if "ratio porch / direct" in line]
    assert len(ratios) == 4, out
    assert all(re.search(r"x\d+\.\d\d", line) for line in ratios), ratios
    assert "reproduce: pip install -e '.[test]' && python bench/relay.py" in out
    # the files stay where they were asked to be, porch's log among them
    assert (workdir / "porch.log").exists()
