"""A real Synapse homeserver on loopback, for the test suite and for ``porch demo``.

Everything lives in one work directory: the config, the signing key, the SQLite database, the
media store and the log. Stopping and starting again on the same directory keeps all data, so
tests can take the homeserver down in the middle of a burst and bring it back.

Synapse is AGPL and large, so it is an optional dependency (``pip install 'porch[demo]'``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import importlib.util
import os
import random
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import requests
import yaml

from bridges.model import UserID

#: Every rate limit the sandbox raises out of the way (Synapse's own Complement config does
#: the same); the relay's own rate-limit handling is tested against a stub instead.
_UNLIMITED = {"per_second": 10000, "burst_count": 10000}
_RATE_LIMITS: dict[str, Any] = {
    "rc_message": _UNLIMITED,
    "rc_registration": _UNLIMITED,
    "rc_login": {"address": _UNLIMITED, "account": _UNLIMITED, "failed_attempts": _UNLIMITED},
    "rc_admin_redaction": _UNLIMITED,
    "rc_joins": {"local": _UNLIMITED, "remote": _UNLIMITED},
    "rc_joins_per_room": _UNLIMITED,
    "rc_invites": {"per_room": _UNLIMITED, "per_user": _UNLIMITED, "per_issuer": _UNLIMITED},
    "rc_3pid_validation": _UNLIMITED,
    "rc_presence": {"per_user": _UNLIMITED},
    "rc_delayed_event_mgmt": _UNLIMITED,
    "rc_room_creation": _UNLIMITED,
    "rc_user_directory": _UNLIMITED,
    "rc_media_create": _UNLIMITED,
    "rc_profile": _UNLIMITED,
    "rc_reports": _UNLIMITED,
}

_CONFIG = "homeserver.yaml"
_LOG = "homeserver.log"
_OUTPUT = "synapse.out"
_POLL = 0.05


#: Where :func:`free_port` looks: below the kernel's ephemeral range (32768 and up on Linux),
#: from which every outgoing connection takes its local port. A port handed out from inside
#: that range can be taken by some client's connection before the server meant for it binds.
_LISTEN_PORTS = range(20000, 32768)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, outside the range outgoing
    connections draw from."""
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.choice(_LISTEN_PORTS)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise SandboxError("no free port to listen on below the ephemeral range")


class SandboxError(RuntimeError):
    """The sandbox homeserver did not start, or refused an admin request."""


class SandboxSynapse:
    """One Synapse process on 127.0.0.1, configured for tests and demos.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        port: int | None = None,
        server_name: str = "localhost",
        registrations: Sequence[Path] = (),
    ) -> None:
        self.workdir = Path(workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.server_name = server_name
        self.registrations = [Path(p).resolve() for p in registrations]
        # A work directory used before keeps its port and secrets, so that a restart (or a
        # second run of the demo on the same directory) finds the same homeserver.
        previous = self._previous_config()
        self.port: int = port or int(previous.get("_sandbox_port") or 0) or free_port()
        self.registration_shared_secret: str = str(
            previous.get("registration_shared_secret") or secrets.token_hex(24)
        )
        self._macaroon_secret = str(previous.get("macaroon_secret_key") or secrets.token_hex(24))
        self._form_secret = str(previous.get("form_secret") or secrets.token_hex(24))
        self._proc: subprocess.Popen[bytes] | None = None

    # --- where things are ---------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.workdir / _CONFIG

    @property
    def log_path(self) -> Path:
        return self.workdir / _LOG

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def appservice_up(self, appservice_id: str) -> bool:
        """Whether the homeserver sends an application service's transactions as they come.

        After a failed push Synapse marks the service down and leaves new transactions to a
        recoverer, which a ping wakes. A transaction created in the instant that recoverer
        finishes stays unsent until some later push fails, so a test waits for this before it
        causes the events it expects porch to receive.
        """
        database = self.workdir / "data" / "homeserver.db"
        if not database.exists():
            return True
        with contextlib.closing(
            sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)
        ) as conn:
            row = conn.execute(
                "SELECT state FROM application_services_state WHERE as_id = ?", (appservice_id,)
            ).fetchone()
        return row is None or row[0] in (None, "up")

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self, timeout: float = 120.0) -> None:
        """Write the config and start Synapse; returns once it answers client requests.

        Raises :class:`SandboxError` with the tail of Synapse's log if it exits or does not
        answer within ``timeout`` seconds (a fresh database takes a few seconds to migrate).
        """
        if self.running:
            raise SandboxError(f"Synapse is already running (pid {self.pid})")
        if importlib.util.find_spec("synapse") is None:
            raise SandboxError(
                "the sandbox needs Synapse installed in porch's environment: "
                "pip install 'porch[demo]'"
            )
        self._write_files()
        with (self.workdir / _OUTPUT).open("ab") as output:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "synapse.app.homeserver", "-c", str(self.config_path)],
                cwd=self.workdir,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                start_new_session=True,
            )
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.kill()
            raise

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM, then SIGKILL if Synapse has not exited after ``grace`` seconds."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def kill(self) -> None:
        """SIGKILL: the homeserver dies as in a crash (data written so far stays)."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.kill()
        proc.wait(10)

    def restart(self, timeout: float = 120.0) -> None:
        """Stop (if running) and start again on the same directory and port."""
        self.stop()
        self.start(timeout)

    def __enter__(self) -> SandboxSynapse:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- users ----------------------------------------------------------------------------------

    def register_user(self, localpart: str, password: str, admin: bool = False) -> UserID:
        """Create a user through the shared-secret admin API; an existing user is fine.

        See https://element-hq.github.io/synapse/latest/admin_api/register_api.html
        """
        url = f"{self.base_url}/_synapse/admin/v1/register"
        nonce_answer = requests.get(url, timeout=10)
        if nonce_answer.status_code != 200:
            raise SandboxError(f"GET {url}: {nonce_answer.status_code} {nonce_answer.text[:200]}")
        nonce = str(nonce_answer.json()["nonce"])
        signed = b"\x00".join(
            part.encode("utf-8")
            for part in (nonce, localpart, password, "admin" if admin else "notadmin")
        )
        mac = hmac.new(self.registration_shared_secret.encode(), signed, hashlib.sha1)
        answer = requests.post(
            url,
            json={
                "nonce": nonce,
                "username": localpart,
                "password": password,
                "admin": admin,
                "mac": mac.hexdigest(),
            },
            timeout=10,
        )
        try:
            body = answer.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if answer.status_code == 200:
            return UserID(str(body["user_id"]))
        if body.get("errcode") == "M_USER_IN_USE":
            return UserID(f"@{localpart}:{self.server_name}")
        raise SandboxError(f"registering {localpart!r}: {answer.status_code} {answer.text[:200]}")

    # --- internals ------------------------------------------------------------------------------

    def _previous_config(self) -> dict[str, Any]:
        if not self.config_path.exists():
            return {}
        data = yaml.safe_load(self.config_path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            return {}
        listeners = data.get("listeners") or [{}]
        return {**data, "_sandbox_port": listeners[0].get("port")}

    def _write_files(self) -> None:
        data_dir = self.workdir / "data"
        (data_dir / "media_store").mkdir(parents=True, exist_ok=True)
        key_path = self.workdir / f"{self.server_name}.signing.key"
        if not key_path.exists():
            # The key file format is "<algorithm> <version> <unpadded base64 seed>"; writing it
            # here saves the seconds a `--generate-keys` run of Synapse would cost.
            seed = base64.b64encode(os.urandom(32)).decode("ascii").rstrip("=")
            key_path.write_text(f"ed25519 a_{secrets.token_hex(2)} {seed}\n", encoding="ascii")
            key_path.chmod(0o600)
        log_config = self.workdir / "log.config"
        log_config.write_text(yaml.safe_dump(self._log_config(), sort_keys=False), "utf-8")
        config: dict[str, Any] = {
            "server_name": self.server_name,
            "public_baseurl": f"{self.base_url}/",
            "pid_file": str(self.workdir / "homeserver.pid"),
            "listeners": [
                {
                    "port": self.port,
                    "bind_addresses": ["127.0.0.1"],
                    "type": "http",
                    "tls": False,
                    "x_forwarded": False,
                    "resources": [{"names": ["client"], "compress": False}],
                }
            ],
            "database": {
                "name": "sqlite3",
                "args": {"database": str(data_dir / "homeserver.db")},
            },
            "log_config": str(log_config),
            "media_store_path": str(data_dir / "media_store"),
            "max_upload_size": "20M",
            "signing_key_path": str(key_path),
            "registration_shared_secret": self.registration_shared_secret,
            "macaroon_secret_key": self._macaroon_secret,
            "form_secret": self._form_secret,
            "report_stats": False,
            "enable_metrics": False,
            "enable_registration": False,
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "federation_domain_whitelist": [],
            "presence": {"enabled": False},
            "url_preview_enabled": False,
            "bcrypt_rounds": 4,
            "caches": {"sync_response_cache_duration": 0},
            "app_service_config_files": [str(p) for p in self.registrations],
            **_RATE_LIMITS,
        }
        self.config_path.write_text(
            "# Written by porch's sandbox (sandbox/synapse.py); rewritten on start.\n"
            + yaml.safe_dump(config, sort_keys=False),
            encoding="utf-8",
        )
        self.config_path.chmod(0o600)

    def _log_config(self) -> dict[str, Any]:
        # WARNING keeps the log short; the few INFO loggers say which appservices were loaded
        # and how transactions to them fare, which is what a failing test needs to see.
        return {
            "version": 1,
            "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
            "handlers": {
                "file": {
                    "class": "logging.FileHandler",
                    "formatter": "plain",
                    "filename": str(self.log_path),
                    "encoding": "utf8",
                }
            },
            "loggers": {
                "synapse.app": {"level": "INFO"},
                "synapse.config.appservice": {"level": "INFO"},
                "synapse.appservice": {"level": "INFO"},
            },
            "root": {"level": "WARNING", "handlers": ["file"]},
            "disable_existing_loggers": False,
        }

    def _wait_ready(self, timeout: float) -> None:
        """Poll ``/health`` then ``/_matrix/client/versions`` until both answer 200."""
        deadline = time.monotonic() + timeout
        paths = ["/health", "/_matrix/client/versions"]
        while paths:
            proc = self._proc
            assert proc is not None
            if proc.poll() is not None:
                raise SandboxError(
                    f"Synapse exited with status {proc.returncode} while starting:\n"
                    + self.log_tail()
                )
            if time.monotonic() > deadline:
                raise SandboxError(
                    f"Synapse did not answer on {self.base_url} within {timeout:.0f}s:\n"
                    + self.log_tail()
                )
            try:
                if requests.get(self.base_url + paths[0], timeout=2).status_code == 200:
                    paths.pop(0)
                    continue
            except requests.RequestException:
                pass
            time.sleep(_POLL)

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of Synapse's log and of its console output, for error messages."""
        parts = []
        for path in (self.log_path, self.workdir / _OUTPUT):
            if path.exists():
                text = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
                parts.append(f"--- {path.name} ---\n" + "\n".join(text))
        return "\n".join(parts) or "(Synapse wrote no log)"
