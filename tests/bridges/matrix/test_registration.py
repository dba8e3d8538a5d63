"""The registration file porch prints for the homeserver, read back the way Synapse reads it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bridges.matrix.matrix_config import MatrixConfig
from bridges.matrix.registration import registration, registration_yaml


def _config(**appservice: Any) -> MatrixConfig:
    return MatrixConfig.model_validate(
        {
            "homeserver": "https://matrix.example.org",
            "server_name": "example.org",
            "appservice": {
                "id": "porch",
                "url": "http://porch.internal:8090/",
                "as_token": "a" * 32,
                "hs_token": "h" * 32,
                **appservice,
            },
        }
    )


def _user_regexes(data: dict[str, Any]) -> list[str]:
    return [entry["regex"] for entry in data["namespaces"]["users"]]


def _porch_user(data: dict[str, Any], user_id: str) -> bool:
    # Synapse matches with re.match (anchored at the start only); the $ must do the rest.
    return any(re.match(regex, user_id) for regex in _user_regexes(data))


def test_yaml_loads_and_carries_what_the_homeserver_needs() -> None:
    text = registration_yaml(_config())
    data = yaml.safe_load(text)
    assert data["id"] == "porch"
    assert data["as_token"] == "a" * 32 and data["hs_token"] == "h" * 32
    assert data["sender_localpart"] == "porch"
    assert data["rate_limited"] is False
    assert data["namespaces"]["rooms"] == []
    # Synapse appends /_matrix/app/v1/... to the url as is: a trailing slash would double it.
    assert data["url"] == "http://porch.internal:8090"
    assert "app_service_config_files" in text.split("\nid:")[0]


def test_every_namespace_is_exclusive_and_anchored_at_both_ends() -> None:
    data = registration(_config())
    entries = data["namespaces"]["users"] + data["namespaces"]["aliases"]
    assert entries
    for entry in entries:
        assert entry["exclusive"] is True
        assert entry["regex"].startswith("^") and entry["regex"].endswith("$")


@pytest.mark.parametrize(
    ("user_id", "ours"),
    [
        ("@forum_alice:example.org", True),
        ("@forum_j=c3=b6rg:example.org", True),
        ("@porch:example.org", True),
        ("@forum_alice:example.org.evil", False),
        ("@forum_alice:example.org:8448", False),
        ("@forum_alice:exampleXorg", False),
        ("@porch:example.org.evil", False),
        ("@porchx:example.org", False),
        ("@bob:example.org", False),
        ("@xforum_alice:example.org", False),
    ],
)
def test_user_namespace_matches_ghosts_and_the_bot_only(user_id: str, ours: bool) -> None:
    assert _porch_user(registration(_config()), user_id) is ours


def test_alias_namespace_uses_the_ghost_prefix() -> None:
    (alias,) = registration(_config())["namespaces"]["aliases"]
    assert re.match(alias["regex"], "#forum_town:example.org")
    assert not re.match(alias["regex"], "#town:example.org")
    assert not re.match(alias["regex"], "#forum_town:example.org.evil")


def test_regex_metacharacters_in_names_are_escaped() -> None:
    data = registration(_config(bot_localpart="porch.bot", ghost_prefix="f.x_"))
    assert _porch_user(data, "@porch.bot:example.org")
    assert not _porch_user(data, "@porchXbot:example.org")
    assert _porch_user(data, "@f.x_alice:example.org")
    assert not _porch_user(data, "@fyx_alice:example.org")


def test_synapse_loads_it_and_agrees_on_the_namespaces(tmp_path: Path) -> None:
    synapse_appservice = pytest.importorskip("synapse.config.appservice")
    path = tmp_path / "porch-registration.yaml"
    path.write_text(registration_yaml(_config()), encoding="utf-8")
    (service,) = synapse_appservice.load_appservices("example.org", [str(path)])
    assert service.id == "porch"
    assert service.url == "http://porch.internal:8090"
    assert service.sender.to_string() == "@porch:example.org"
    assert service.is_exclusive_user("@forum_alice:example.org")
    assert not service.is_exclusive_user("@forum_alice:example.org.evil")
    assert not service.is_exclusive_user("@bob:example.org")
    assert service.is_exclusive_alias("#forum_town:example.org")
    assert not service.is_rate_limited()
