"""The operator's commands against a running porch, the real homeserver and the forum double."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

from tests.e2e.conftest import Linked
from tests.rig.wait import wait_until


def test_check_online_passes_when_everything_is_reachable(linked: Callable[..., Linked]) -> None:
    town = linked()
    result = town.porch.cli("check", "--online")
    assert result.returncode == 0, result.stderr
    assert "ok (1 link(s))" in result.stdout


def test_check_online_names_each_problem_with_its_config_path(
    linked: Callable[..., Linked],
) -> None:
    town = linked(start=False)
    town.porch.data["links"][0]["forum"]["category"] = "no-such-category"
    town.porch.write()
    # porch is not running: the homeserver cannot ping it.
    result = town.porch.cli("check", "--online")
    assert result.returncode == 1
    assert "links[0].forum.category: no category 'no-such-category'" in result.stderr
    assert "matrix.appservice.url: the homeserver cannot reach porch" in result.stderr

    town.porch.data["discourse"]["api_key"] = "wrong-key-0123456789"
    town.porch.write()
    result = town.porch.cli("check", "--online")
    assert result.returncode == 1
    assert "discourse.api_key: the forum refused the key" in result.stderr
    assert "wrong-key-0123456789" not in result.stderr + result.stdout


def test_registration_is_what_the_homeserver_loads(linked: Callable[..., Linked]) -> None:
    town = linked(start=False)
    result = town.porch.cli("registration")
    assert result.returncode == 0, result.stderr
    registration = yaml.safe_load(result.stdout)
    assert registration["rate_limited"] is False
    users = registration["namespaces"]["users"]
    assert any(ns["regex"].startswith("^@forum_") and ns["regex"].endswith("$") for ns in users)
    assert all(ns["exclusive"] for ns in users)


def test_status_shows_dead_letters_and_retry_puts_them_back(
    linked: Callable[..., Linked], forum: Any
) -> None:
    town = linked(start=False)
    town.porch.data["relay"]["max_attempts"] = 1
    town.porch.write()
    # A topic from before porch was deployed: its thread is started with the first reply.
    first = forum.create_topic(
        "alice", "town-square", "Recycling bins on Elm Road", "They overflow every Monday."
    )
    town.porch.start()
    # Starting that thread needs the topic from the forum API, which fails once.
    forum.fail_next(1, status=500, path_prefix=f"/t/{first['topic_id']}")
    forum.reply(
        "bob", first["topic_id"], "Ask the council for a second bin, it worked on Oak Road."
    )

    def dead_letter_listed() -> bool:
        status = town.porch.cli("status")
        return "Dead letters" in status.stdout and "forum.post_created" in status.stdout

    wait_until(dead_letter_listed, 20, "a dead letter in porch status")
    assert town.dana.room_messages(town.room)[-1]["type"] != "m.room.message"
    retried = town.porch.cli("retry")
    assert retried.returncode == 0, retried.stderr
    assert "1 dead letter(s) back in the queue" in retried.stdout
    root = town.dana.wait_for_text(town.room, "Recycling bins on Elm Road", timeout=20)
    answer = town.dana.wait_for_text(town.room, "second bin", timeout=20)
    assert root["sender"] == "@forum_alice:localhost"
    assert answer["sender"] == "@forum_bob:localhost"
    assert answer["content"]["m.relates_to"]["event_id"] == root["event_id"]
