"""The README's commands are the ones that exist: the demo comes first, CI runs the README's
test command, the getting-started page shows the same two, and the benchmark's reproduce
command (on its page of the manual) uses the flags ``bench/relay.py`` has."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

from tests.docs_pages import REPO, fenced_blocks, page


def _commands(text: str) -> list[str]:
    """Every command line of the ``sh`` blocks of ``text``, in order."""
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    return [
        line.strip()
        for block in blocks
        for line in block.splitlines()
        if line.strip() and not line.startswith("#")
    ]


def test_the_demo_is_the_first_command_and_ci_runs_the_test_command() -> None:
    commands = _commands(page("README.md").text)
    assert commands[0].endswith(".venv/bin/porch demo")
    test_command = next(c for c in commands if c.endswith(".venv/bin/pytest"))
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    # CI may quieten pip; otherwise it is the same command.
    assert test_command in [line.replace(" -q ", " ") for line in ci.splitlines()]
    assert "pg_isready" in ci  # it starts PostgreSQL when it is not running


def test_the_getting_started_page_shows_the_readmes_two_commands() -> None:
    readme = _commands(page("README.md").text)[:2]
    assert _commands(page("docs/getting-started.md").text)[:2] == readme


def test_ci_builds_the_manual_strictly_outside_the_repository() -> None:
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    build = next(line for line in ci.splitlines() if line.startswith(".venv/bin/mkdocs build"))
    assert "--strict" in build and "mktemp -d" in build, build


def test_the_benchmark_command_uses_flags_the_benchmark_has() -> None:
    bench = next(
        line.strip()
        for block in fenced_blocks("sh")
        for line in block.splitlines()
        if "bench/relay.py" in line and not line.startswith("#")
    )
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
