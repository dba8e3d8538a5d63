"""``porch demo``: the newcomer's first command runs the whole exchange and stops cleanly."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.rig.wait import wait_until
from webhooks import cli


def test_demo_runs_the_scripted_exchange_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    demo = subprocess.Popen(
        [sys.executable, "-m", "webhooks.cli", "demo", "--workdir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    output = demo.stdout
    assert output is not None
    lines: list[str] = []

    def read() -> None:
        for line in output:
            lines.append(line)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        wait_until(
            lambda: any("Press Ctrl-C to stop everything." in line for line in lines),
            180,
            "the demo to finish its script",
        )
    finally:
        demo.send_signal(signal.SIGINT)
        demo.wait(60)
        reader.join(10)
    out = "".join(lines)
    assert demo.returncode == 0, out
    assert "Stopping ..." in out
    assert "it appears in the room as a thread root from @forum_alice:localhost" in out
    assert "it appears in the thread from @forum_bob:localhost" in out
    assert "by chat-relay" in out
    assert (
        "**Carol Clark** ([@carol:localhost](https://matrix.to/#/@carol:localhost)) on Matrix:"
        in out
    )
    assert "The sandbox is running." in out
    # Everything it started is gone: nothing answers on the homeserver's or porch's port.
    ports = [int(m) for m in re.findall(r"http://127\.0\.0\.1:(\d+)", out)]
    assert len(ports) >= 3
    for port in set(ports):
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still answers"


def test_porch_demo_finds_the_sandbox_beside_the_package_from_anywhere(tmp_path: Path) -> None:
    # As the console script runs: neither the working directory nor sys.path holds the checkout.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    found = subprocess.run(
        [
            sys.executable,
            "-c",
            "import importlib.util, sys, webhooks\n"
            "print(webhooks.__file__)\n"
            "print(importlib.util.find_spec('sandbox') is None)\n"
            "from webhooks.cli import load_demo\n"
            "run = load_demo()\n"
            "print(run.__module__, sys.modules[run.__module__].__file__)\n",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert found.returncode == 0, found.stderr
    package, hidden, loaded = found.stdout.splitlines()
    root = Path(__file__).resolve().parents[2]
    if not Path(package).is_relative_to(root):
        pytest.skip(f"porch is not installed from this checkout here ({package})")
    assert hidden == "True"
    module, path = loaded.split()
    assert module == "sandbox.demo"
    assert Path(path) == root / "sandbox" / "demo.py"


def test_porch_demo_without_a_checkout_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # An installed wheel: the package sits in site-packages, with no sandbox/ beside it.
    installed = tmp_path / "site-packages" / "webhooks"
    installed.mkdir(parents=True)
    with pytest.raises(cli.DemoUnavailable, match=r"^porch demo runs from a clone of the repo"):
        cli.load_demo(installed)
    monkeypatch.setattr(cli, "_PACKAGE_DIR", installed)
    assert cli.main(["demo", "--workdir", str(tmp_path / "demo")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("porch demo runs from a clone of the repository: ")
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    assert not (tmp_path / "demo").exists()
