"""``porch demo``: the newcomer's first command runs the whole exchange and stops cleanly."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path


def test_demo_runs_the_scripted_exchange_and_exits(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "webhooks.cli",
            "demo",
            "--workdir",
            str(tmp_path),
            "--exit-after-script",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "it appears in the room as a thread root from @forum_alice:localhost" in out
    assert "it appears in the thread from @forum_bob:localhost" in out
    assert "by chat-relay" in out
    assert "**Carol Clark** (@carol:localhost) on Matrix:" in out
    assert "The sandbox is running." in out
    # Everything it started is gone: nothing answers on the homeserver's or porch's port.
    ports = [int(m) for m in re.findall(r"http://127\.0\.0\.1:(\d+)", out)]
    assert len(ports) >= 3
    for port in set(ports):
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still answers"
