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

from tests.rig.wait import wait_until


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
