"""The sandbox homeserver the demo and the tests run on."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from sandbox.synapse import SandboxError, SandboxSynapse
from tests.rig.matrix import ChatUser


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_registering_a_user_twice_gives_the_same_user(synapse: SandboxSynapse) -> None:
    first = synapse.register_user("sandbox_twice", "pw-one")
    assert first == "@sandbox_twice:localhost"
    assert synapse.register_user("sandbox_twice", "pw-two") == first


def test_a_restart_keeps_rooms_users_and_messages(
    synapse: SandboxSynapse, matrix_user_factory: Callable[..., ChatUser]
) -> None:
    lena = matrix_user_factory()
    room = lena.create_room(name="before the restart")
    event_id = lena.send_text(room, "still here?")
    pid = synapse.pid
    assert pid is not None

    synapse.stop()
    assert not synapse.running and not _alive(pid)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{synapse.base_url}/health", timeout=2)

    synapse.start()
    # The same user, with the same access token, still reads the same message.
    seen = lena.wait_for_event(room, lambda e: e.get("event_id") == event_id)
    assert seen["content"]["body"] == "still here?"


def test_a_homeserver_that_cannot_start_says_why(tmp_path: Path) -> None:
    broken = tmp_path / "broken-registration.yaml"
    broken.write_text("id: broken\nurl: http://127.0.0.1:9\n", encoding="utf-8")
    homeserver = SandboxSynapse(tmp_path / "hs", registrations=[broken])
    with pytest.raises(SandboxError) as caught:
        homeserver.start(timeout=60)
    assert "exited" in str(caught.value)
    assert "as_token" in str(caught.value)  # Synapse's own complaint, from its log
    assert not homeserver.running
