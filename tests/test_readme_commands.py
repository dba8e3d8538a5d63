"""The README's commands are the ones that exist: the demo comes first, CI runs the README's
test command, and the benchmark's reproduce command uses the flags ``bench/relay.py`` has."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


def _commands() -> list[str]:
    """Every command line of the README's ``sh`` blocks, in order."""
    blocks = re.findall(r"```sh\n(.*?)```", README, re.S)
    return [
        line.strip()
        for block in blocks
        for line in block.splitlines()
        if line.strip() and not line.startswith("#")
    ]


def test_the_demo_is_the_first_command_and_ci_runs_the_test_command() -> None:
    commands = _commands()
    assert commands[0].endswith(".venv/bin/porch demo")
    test_command = next(c for c in commands if c.endswith(".venv/bin/pytest"))
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    # CI may quieten pip; otherwise it is the same command.
    assert test_command in [line.replace(" -q ", " ") for line in ci.splitlines()]
    assert "pg_isready" in ci  # it starts PostgreSQL when it is not running


def test_the_benchmark_command_uses_flags_the_benchmark_has() -> None:
    bench = next(c for c in _commands() if "bench/relay.py" in c)
    flags = [word for word in shlex.split(bench.split("bench/relay.py", 1)[1]) if word[:2] == "--"]
    assert flags, bench
    usage = subprocess.run(
        [sys.executable, "bench/relay.py", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for flag in flags:
        assert flag in usage, f"{flag} is not an option of bench/relay.py:\n{usage}"
