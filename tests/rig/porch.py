"""Porch itself, run as its users run it: ``porch serve -c porch.yaml`` in a child process.

The homeserver reaches it on the session's appservice port; the forum double posts its webhooks
to it. Tests can SIGKILL it and start it again on the same store.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from bridges.discourse.discourse_config import DiscourseConfig
from bridges.matrix.matrix_config import MatrixConfig
from sandbox.synapse import free_port
from tests.rig.wait import wait_until
from webhooks.config import PorchConfig, parse_config


class PorchProcess:
    """One porch service process and the config it runs with."""

    def __init__(
        self,
        workdir: Path,
        data: dict[str, Any],
        name: str = "porch",
        appservice_up: Callable[[str], bool] | None = None,
    ) -> None:
        self.workdir = workdir
        self.data = data
        self.name = name
        #: Whether the homeserver pushes the appservice's transactions as they come (the
        #: session's Synapse, :meth:`sandbox.synapse.SandboxSynapse.appservice_up`).
        self.appservice_up = appservice_up
        self.config_path = workdir / "porch.yaml"
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.siblings: list[PorchProcess] = []
        if name == "porch":
            self.write()

    def sibling(self, name: str) -> PorchProcess:
        """Another process on the same config and store (e.g. a separate worker)."""
        other = PorchProcess(self.workdir, self.data, name, self.appservice_up)
        self.siblings.append(other)
        return other

    @property
    def config(self) -> PorchConfig:
        return parse_config(self.config_path.read_text(), source=str(self.config_path))

    @property
    def url(self) -> str:
        """The public listener: the doors and the web pages."""
        return f"http://127.0.0.1:{self.data['listen']['port']}"

    @property
    def ops_url(self) -> str:
        """The ops listener (/healthz, /readyz, /metrics) of the process started without
        ``--ops-port``."""
        return f"http://127.0.0.1:{self.data['listen']['ops']['port']}"

    def write(self) -> None:
        self.config_path.write_text(yaml.safe_dump(self.data, sort_keys=False))

    def start(self, *args: str, timeout: float = 30.0) -> None:
        assert self.proc is None or self.proc.poll() is not None, "porch is already running"
        if self.name != "porch" and "--ops-port" not in args:
            # A sibling shares the config file: its ops listener needs a port of its own.
            args = (*args, "--ops-port", str(free_port()))
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "webhooks.cli",
                "--log-level",
                "debug",
                "serve",
                "-c",
                str(self.config_path),
                *args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        log.close()
        if "worker" in args:
            wait_until(
                lambda: "worker running" in self.log_tail(), timeout, "the porch worker to start"
            )
            return

        def healthy() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"porch exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            try:
                return requests.get(f"{self.url}/healthz", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_until(healthy, timeout, "porch to answer /healthz")
        matrix, up = self.data["matrix"], self.appservice_up
        if up is not None and matrix.get("mode", "appservice") == "appservice":
            # Porch's start pings the homeserver, which then sends what it queued while nothing
            # listened; what a test causes before that recovery ends could be left unsent.
            appservice_id = matrix["appservice"]["id"]
            wait_until(
                lambda: up(appservice_id),
                timeout,
                "the homeserver to push porch's transactions as they come",
            )

    def kill(self) -> None:
        """SIGKILL: no chance to finish anything, as in a crash or an OOM kill."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run another porch command against the same config."""
        return subprocess.run(
            [sys.executable, "-m", "webhooks.cli", *args, "-c", str(self.config_path)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=self.workdir,
        )


def porch_config_data(
    *,
    discourse: DiscourseConfig,
    matrix: MatrixConfig,
    port: int,
    store_url: str,
    links: Sequence[dict[str, Any]],
) -> dict[str, Any]:
    """The YAML mapping of a test porch config."""
    assert matrix.appservice is not None
    return {
        "discourse": {
            "url": discourse.base_url,
            "api_key": discourse.api_key.get_secret_value(),
            "api_username": discourse.api_username,
            "relay_username": discourse.relay_username,
            "webhook_secret": discourse.webhook_secret.get_secret_value(),
            "timeout": 5,
        },
        "matrix": {
            "homeserver": matrix.base_url,
            "server_name": matrix.server_name,
            "appservice": {
                "id": matrix.appservice.id,
                "url": str(matrix.appservice.url),
                "as_token": matrix.appservice.as_token.get_secret_value(),
                "hs_token": matrix.appservice.hs_token.get_secret_value(),
                "bot_localpart": matrix.appservice.bot_localpart,
                "ghost_prefix": matrix.appservice.ghost_prefix,
            },
            "timeout": 5,
        },
        "listen": {"host": "127.0.0.1", "port": port, "ops": {"port": free_port()}},
        "store": {"url": store_url},
        "relay": {"backoff_initial": 0.2, "backoff_max": 2.0, "poll_interval": 0.1},
        "links": list(links),
        # Protections (flood limit, a new sender's first link held) are on by default; the
        # tests that exercise them switch them on (tests/e2e/test_watched_words.py), the others
        # must not find their first link or their burst of messages held.
        "moderation": {"protections": {"enabled": False}},
    }


@pytest.fixture
def porch_factory(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    matrix_config: MatrixConfig,
    appservice_port: int,
    discourse_config: DiscourseConfig,
    forum: Any,
) -> Iterator[Any]:
    """Make a porch for this test: ``porch_factory(links=[...], store_url=None)``.

    The forum double is pointed at the porch's webhook door. Porch processes are stopped at the
    end of the test.
    """
    made: list[PorchProcess] = []
    appservice_up = None
    if "synapse" in request.fixturenames:
        homeserver = request.getfixturevalue("synapse")
        appservice_up = homeserver.appservice_up

    def make(links: Sequence[dict[str, Any]], store_url: str | None = None) -> PorchProcess:
        data = porch_config_data(
            discourse=discourse_config,
            matrix=matrix_config,
            port=appservice_port,
            store_url=store_url or f"sqlite:///{tmp_path / 'porch.db'}",
            links=links,
        )
        process = PorchProcess(tmp_path, data, appservice_up=appservice_up)
        forum.set_webhook(
            f"{process.url}/discourse/webhook", discourse_config.webhook_secret.get_secret_value()
        )
        made.append(process)
        return process

    yield make
    for process in made:
        process.stop()
        for sibling in process.siblings:
            sibling.stop()
