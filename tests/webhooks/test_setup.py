"""``porch setup discourse`` and ``porch setup matrix``, against the forum double's admin API
and the session's Synapse.

The webhook URL is ``http://localhost:<port>/...`` while the forum is ``127.0.0.1``: a private
address that is not the forum's own host, so the forum's ``allowed_internal_hosts`` matters, as
it does for a real forum calling porch on a private network.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from bridges.discourse.client import ForumClient
from bridges.discourse.discourse_config import DiscourseConfig
from bridges.matrix.matrix_config import MatrixConfig
from bridges.matrix.registration import registration
from bridges.moderation.moderation_config import ModerationConfig
from bridges.review.review_config import ReviewConfig
from sandbox.forum import SandboxForum
from tests.rig.forum import FORUM_API_KEY, WebhookSink
from tests.rig.porch import porch_config_data
from webhooks.config import PorchConfig, parse_config
from webhooks.setup import setup_discourse, setup_matrix

Setup = Callable[..., tuple[int, list[str]]]


def local_url(sink: WebhookSink) -> str:
    return sink.url.replace("127.0.0.1", "localhost")


@pytest.fixture
def config_for(
    tmp_path: Path, discourse_config: DiscourseConfig, matrix_config: MatrixConfig
) -> Callable[..., PorchConfig]:
    """``config_for(webhook_url, links=..., **discourse)``: a porch config for the double."""

    def make(
        webhook_url: str, links: list[dict[str, Any]] | None = None, **discourse: Any
    ) -> PorchConfig:
        data = porch_config_data(
            discourse=discourse_config,
            matrix=matrix_config,
            port=8090,
            store_url=f"sqlite:///{tmp_path / 'porch.db'}",
            links=links
            or [{"name": "town", "forum": {"category": "town-square"}, "room": "!a:b"}],
        )
        data["discourse"].update(webhook_url=webhook_url, **discourse)
        path = tmp_path / "porch.yaml"
        path.write_text(yaml.safe_dump(data))
        return parse_config(path.read_text(), source=str(path))

    return make


@pytest.fixture
def setup() -> Setup:
    def run(config: PorchConfig, **kw: Any) -> tuple[int, list[str]]:
        lines: list[str] = []
        code = setup_discourse(config, ForumClient(config.discourse), lines.append, **kw)
        return code, lines

    return run


def changes(forum: SandboxForum) -> list[str]:
    """The admin API calls that changed something."""
    return [
        f"{c.method} {c.path}"
        for c in forum.requests_log()
        if c.method in ("POST", "PUT", "DELETE") and c.path.startswith("/admin/")
    ]


def test_first_run_creates_the_webhook_porch_needs(
    forum: SandboxForum, webhook_sink: WebhookSink, config_for: Any, setup: Setup
) -> None:
    forum.change_settings(allowed_internal_hosts="forum.internal|localhost")
    forum.add_category("staff-room", "Staff room")
    config = config_for(local_url(webhook_sink))
    code, lines = setup(config)
    assert code == 0, lines
    (hook,) = forum.web_hooks()
    assert lines[-1] == (
        f"webhook: created (id {hook.id}) for {local_url(webhook_sink)} with events "
        "post_created, post_edited, post_destroyed, post_recovered, topic_edited, "
        "topic_destroyed, topic_recovered, category_created, category_updated, "
        "category_destroyed, user_updated, user_suspended, user_unsuspended "
        f"on categories {forum.category_id('town-square')}"
    )
    assert "forum setting allowed_internal_hosts: includes localhost" in "\n".join(lines)
    assert hook.url == local_url(webhook_sink)
    assert hook.secret == config.discourse.webhook_secret.get_secret_value()
    assert hook.active and hook.content_type == 1
    assert hook.category_ids == {forum.category_id("town-square")}
    assert config.discourse.webhook_secret.get_secret_value() not in "\n".join(lines)

    # The forum now sends porch what it needs, from the linked category only, signed.
    first = forum.create_topic(
        "alice", "town-square", "A bench by the pond", "Is it too near the water?"
    )
    forum.create_topic(
        "alice", "staff-room", "Budget for the benches", "Not public yet, not at all."
    )
    forum.reply("bob", first["topic_id"], "A metre further back would do nicely.")
    forum.flush_webhooks()
    names = [r.headers["X-Discourse-Event"] for r in webhook_sink.received]
    assert names == ["post_created", "post_created"]
    assert all("X-Discourse-Event-Signature" in r.headers for r in webhook_sink.received)


def test_second_run_changes_nothing_and_says_so(
    forum: SandboxForum, webhook_sink: WebhookSink, config_for: Any, setup: Setup
) -> None:
    forum.change_settings(allowed_internal_hosts="localhost")
    config = config_for(local_url(webhook_sink))
    assert setup(config)[0] == 0
    made = changes(forum)
    code, lines = setup(config)
    assert code == 0
    assert lines[-1].startswith(f"webhook: unchanged (id {forum.web_hooks()[0].id}) for ")
    assert lines[-1].endswith("; nothing to do")
    assert changes(forum) == made == ["POST /admin/api/web_hooks.json"]


def test_a_changed_secret_or_event_list_updates_the_webhook(
    forum: SandboxForum, webhook_sink: WebhookSink, config_for: Any, setup: Setup
) -> None:
    forum.change_settings(allowed_internal_hosts="localhost")
    assert setup(config_for(local_url(webhook_sink)))[0] == 0
    (hook,) = forum.web_hooks()

    new_secret = "a-new-webhook-secret-for-porch"
    code, lines = setup(config_for(local_url(webhook_sink), webhook_secret=new_secret))
    assert code == 0
    assert lines[-1].startswith(f"webhook: updated (id {hook.id}): secret -> for ")
    assert new_secret not in "\n".join(lines)
    assert forum.web_hooks()[0].secret == new_secret

    reactions = [
        {"name": "town", "forum": {"category": "town-square"}, "room": "!a:b", "reactions": True}
    ]
    config = config_for(local_url(webhook_sink), links=reactions, webhook_secret=new_secret)
    code, lines = setup(config)
    assert code == 0
    assert lines[-1].startswith(f"webhook: updated (id {hook.id}): events (has category_created")
    assert "like_created" in forum.web_hooks()[0].event_types
    assert [h.id for h in forum.web_hooks()] == [hook.id]


def test_a_webhook_made_by_hand_is_brought_in_line(
    forum: SandboxForum, webhook_sink: WebhookSink, config_for: Any, setup: Setup
) -> None:
    """An admin followed the connecting guide by hand: topic and post events, every category."""
    forum.change_settings(allowed_internal_hosts="localhost")
    forum.set_webhook(local_url(webhook_sink), "an-old-secret-by-hand")
    code, lines = setup(config_for(local_url(webhook_sink)))
    assert code == 0
    assert "secret; events (has post, topic); categories (has none)" in lines[-1]
    (hook,) = forum.web_hooks()
    assert hook.event_types >= {"post_created", "topic_destroyed"}


def test_a_private_host_missing_from_the_allow_list_stops_setup(
    forum: SandboxForum, webhook_sink: WebhookSink, config_for: Any, setup: Setup
) -> None:
    forum.change_settings(allowed_internal_hosts="forum.internal")
    code, lines = setup(config_for(local_url(webhook_sink)))
    assert code == 1
    text = "\n".join(lines)
    assert "forum setting allowed_internal_hosts does not include localhost" in text
    assert "resolves to 127.0.0.1" in text or "resolves to ::1" in text
    assert "set it to: forum.internal|localhost" in text
    assert lines[-1] == (
        "nothing was changed on the forum; fix the above and run porch setup again"
    )
    assert forum.web_hooks() == []
    assert changes(forum) == []


def test_the_forum_refuses_such_a_webhook_itself(forum: SandboxForum) -> None:
    """What setup's check spares the admin: the forum's own 422 on save (reference §1.1)."""
    response = requests.post(
        f"{forum.base_url}/admin/api/web_hooks.json",
        headers={"Api-Key": FORUM_API_KEY, "Api-Username": "porch"},
        json={
            "web_hook": {
                "payload_url": "http://localhost:9/discourse/webhook",
                "content_type": 1,
                "secret": "short",
                "web_hook_event_type_ids": [201],
            }
        },
        timeout=5,
    )
    assert response.status_code == 422
    assert response.json() == {
        "errors": [
            "Payload URL cannot be used because it resolves to a blocked or internal IP address",
            "Secret is too short (minimum is 12 characters)",
        ]
    }


def test_admin_routes_are_for_admins_only(forum: SandboxForum) -> None:
    for path in ("/admin/api/web_hooks.json", "/admin/site_settings.json"):
        response = requests.get(
            f"{forum.base_url}{path}",
            headers={"Api-Key": FORUM_API_KEY, "Api-Username": "alice"},
            timeout=5,
        )
        assert response.status_code == 404, path


def test_setup_needs_an_admin_and_existing_categories(
    forum: SandboxForum, webhook_sink: WebhookSink, config_for: Any, setup: Setup
) -> None:
    code, lines = setup(config_for(local_url(webhook_sink), api_username="alice"))
    assert code == 1
    assert "discourse.api_username: 'alice' is not an admin" in lines[0]

    forum.change_settings(allowed_internal_hosts="localhost")
    missing = [{"name": "town", "forum": {"category": "no-such-place"}, "room": "!a:b"}]
    code, lines = setup(config_for(local_url(webhook_sink), links=missing))
    assert code == 1
    assert any(
        "links[0].forum.category: the forum has no category 'no-such-place'" in line
        for line in lines
    )
    assert forum.web_hooks() == []


def test_the_command_prints_its_steps_and_exits_by_the_outcome(
    forum: SandboxForum, webhook_sink: WebhookSink, config_for: Any, tmp_path: Path
) -> None:
    config_for(local_url(webhook_sink))  # writes tmp_path/porch.yaml

    def porch_setup() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "webhooks.cli", "setup", "discourse", "-c", "porch.yaml"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )

    refused = porch_setup()
    assert refused.returncode == 1
    assert "allowed_internal_hosts" in refused.stdout
    forum.change_settings(allowed_internal_hosts="localhost")
    created = porch_setup()
    assert created.returncode == 0, created.stdout + created.stderr
    assert "webhook: created" in created.stdout
    again = porch_setup()
    assert again.returncode == 0
    assert "webhook: unchanged" in again.stdout


# --- setup matrix ----------------------------------------------------------------------------


def test_setup_matrix_writes_the_registration_and_says_how_to_install_it(
    tmp_path: Path, config_for: Any, synapse: Any
) -> None:
    config = config_for("http://localhost:9/discourse/webhook")
    target = tmp_path / "synapse" / "porch-registration.yaml"
    accepted: list[bool] = []

    def token_accepted() -> str | None:
        accepted.append(True)
        return None

    lines: list[str] = []
    assert setup_matrix(config, target, lines.append, token_accepted=token_accepted) == 0
    assert yaml.safe_load(target.read_text()) == registration(config.matrix)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert lines[0].startswith(f"registration: written {target} (id porch-test")
    text = "\n".join(lines)
    assert f"    app_service_config_files:\n      - {target}" in text
    assert "invite @porch:localhost to every linked room" in text
    assert "    town: !a:b <-> forum category town-square" in text
    assert config.matrix.appservice is not None
    assert config.matrix.appservice.as_token.get_secret_value() not in text

    again: list[str] = []
    assert setup_matrix(config, target, again.append) == 0
    assert again[0].startswith(f"registration: unchanged {target}")


def test_setup_matrix_command_asks_the_homeserver_whether_it_knows_porch(
    tmp_path: Path, config_for: Any, synapse: Any
) -> None:
    config_for("http://localhost:9/discourse/webhook")  # the session's tokens: loaded already
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "webhooks.cli",
            "setup",
            "matrix",
            "-c",
            "porch.yaml",
            "-o",
            "r.yaml",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "homeserver: it accepts porch's as_token already" in result.stdout
    assert (tmp_path / "r.yaml").is_file()


def test_managed_membership_subscribes_to_group_membership_events(
    forum: SandboxForum, webhook_sink: WebhookSink, config_for: Any, setup: Setup
) -> None:
    forum.change_settings(allowed_internal_hosts="localhost")
    managed = [
        {
            "name": "town",
            "forum": {"category": "town-square"},
            "room": "!a:b",
            "membership": {"manage": True},
        }
    ]
    config = config_for(local_url(webhook_sink), links=managed)
    assert setup(config, category_filter=False)[0] == 0
    (hook,) = forum.web_hooks()
    assert {"group_user_added", "group_user_removed"} <= hook.event_types
    forum.add_to_group("alice", "teachers")
    forum.remove_from_group("alice", "teachers")
    forum.flush_webhooks()
    names = [r.headers["X-Discourse-Event"] for r in webhook_sink.received]
    assert names == ["user_added_to_group", "user_removed_from_group"]


def test_a_configured_review_queue_subscribes_to_reviewable_events(
    forum: SandboxForum, webhook_sink: WebhookSink, config_for: Any, setup: Setup
) -> None:
    forum.change_settings(allowed_internal_hosts="localhost")
    plain = config_for(local_url(webhook_sink))
    assert setup(plain)[0] == 0
    (hook,) = forum.web_hooks()
    assert not {"reviewable_created", "reviewable_updated"} & hook.event_types

    reviewed = plain.model_copy(
        update={"moderation": ModerationConfig(review=ReviewConfig(room="!mods:localhost"))}
    )
    code, lines = setup(reviewed)
    assert code == 0, lines
    (hook,) = forum.web_hooks()
    assert {"reviewable_created", "reviewable_updated"} <= hook.event_types
    assert "reviewable_created, reviewable_updated" in lines[-1]
    # A post the forum queues in a linked category reaches porch, and so does its decision.
    first = forum.create_topic(
        "alice", "town-square", "Queue me please", "A first post here, long enough."
    )
    forum.require_approval("bob")
    forum.reply("bob", first["topic_id"], "This reply waits for a moderator.")
    (pending,) = forum.pending_posts()
    forum.reject(pending.id)
    forum.flush_webhooks()
    names = [r.headers["X-Discourse-Event"] for r in webhook_sink.received]
    assert names == ["post_created", "reviewable_created", "reviewable_transitioned_to"]
