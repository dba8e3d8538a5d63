"""The config file: every mistake named with its path, all at once."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from webhooks.config import ConfigError, load_config, parse_config

EXAMPLE = Path(__file__).parents[2] / "deploy" / "porch.example.yaml"
#: The variables the example names, with fresh random secrets (it ships none of its own).
ENV = {
    name: secrets.token_hex(32)
    for name in (
        "DISCOURSE_API_KEY",
        "DISCOURSE_WEBHOOK_SECRET",
        "PORCH_AS_TOKEN",
        "PORCH_HS_TOKEN",
    )
}


def example() -> dict:  # type: ignore[type-arg]
    data: dict = yaml.safe_load(EXAMPLE.read_text())  # type: ignore[type-arg]
    return data


def errors_of(data: dict, environ: dict[str, str] | None = None) -> tuple[str, ...]:  # type: ignore[type-arg]
    with pytest.raises(ConfigError) as caught:
        parse_config(yaml.safe_dump(data), environ=ENV if environ is None else environ)
    return caught.value.errors


def test_the_example_is_valid() -> None:
    config = load_config(EXAMPLE, environ=ENV)
    assert config.links[0].name == "town-square"
    assert config.discourse.base_url == "https://forum.example.org"


def test_variables_come_from_the_environment() -> None:
    config = load_config(EXAMPLE, environ={**ENV, "DISCOURSE_API_KEY": "k" * 20})
    assert config.discourse.api_key.get_secret_value() == "k" * 20


def test_an_unset_variable_without_default_is_named_with_its_path() -> None:
    data = example()
    data["discourse"]["api_key"] = "${NOT_SET_ANYWHERE}"
    assert errors_of(data) == (
        "discourse.api_key: environment variable NOT_SET_ANYWHERE is not set",
    )


def test_all_mistakes_are_reported_at_once_with_their_paths() -> None:
    data = example()
    data["links"].append(dict(data["links"][0], name="second", room="#lobby:example.org"))
    data["links"][1]["direction"] = "sideways"
    data["matrix"]["appservice"]["hs_token"] = "short"
    data["store"]["ulr"] = "sqlite:///x.db"
    errors = errors_of(data)
    assert "links[1].direction: must be one of forum-to-chat, chat-to-forum, both" in errors
    assert "matrix.appservice.hs_token: must have at least 16 characters" in errors
    assert "store.ulr: is not a known setting" in errors
    assert len(errors) == 3


def test_links_must_not_share_a_name_or_a_room_or_name_an_unknown_policy() -> None:
    data = example()
    data["links"].append(dict(data["links"][0], policy="publish-tagged"))
    errors = errors_of(data)
    assert "links[1].name: 'town-square' is used by another link" in errors
    assert any(e.startswith("links[1].room: already linked by 'town-square'") for e in errors)
    assert "links[1].policy: no policy named 'publish-tagged' (none are defined)" in errors


def test_yaml_syntax_errors_give_line_and_column() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("discourse: [unclosed\n", environ={})
    assert caught.value.errors[0].startswith("line 2, column 1: not valid YAML")


def porch(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "webhooks.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **ENV, **(env or {})},
    )


def own_hosts(data: dict) -> dict:  # type: ignore[type-arg]
    """The example with hosts of one's own instead of its example ones."""
    data["discourse"]["url"] = "https://forum.town.test"
    data["matrix"]["homeserver"] = "https://matrix.town.test"
    data["matrix"]["server_name"] = "town.test"
    data["matrix"]["appservice"]["url"] = "http://porch.internal:8090"
    return data


def test_porch_check_exits_0_on_the_example_with_own_hosts_and_secrets(tmp_path: Path) -> None:
    mine = tmp_path / "porch.yaml"
    mine.write_text(yaml.safe_dump(own_hosts(example())))
    result = porch("check", "-c", str(mine))
    assert result.returncode == 0, result.stderr
    assert "ok (1 link(s))" in result.stdout


def test_porch_check_and_serve_refuse_the_example_as_shipped_naming_each_path() -> None:
    """Copied as it is, the example still names example.org: check and serve say so."""
    for command in ("check", "serve"):
        result = porch(command, "-c", str(EXAMPLE))
        assert result.returncode == 1, result.stderr
        assert "discourse.url: forum.example.org is an example host" in result.stderr
        assert "matrix.server_name: example.org is an example host" in result.stderr


def test_porch_check_and_serve_refuse_placeholder_secrets_naming_each_path(
    tmp_path: Path,
) -> None:
    """A quick start that kept a template's secrets must not run with a guessable hs_token;
    the message names the path, never the secret."""
    data = own_hosts(example())
    data["store"]["url"] = "postgresql://porch:password@db.town.test:5432/porch"
    mine = tmp_path / "porch.yaml"
    mine.write_text(yaml.safe_dump(data))
    weak = {
        "PORCH_HS_TOKEN": "replace-with-a-random-hs-token",
        "PORCH_AS_TOKEN": "changeme-changeme",
        "DISCOURSE_WEBHOOK_SECRET": "aaaaaaaaaaaaaaaaaaaaaaaa",
        "DISCOURSE_API_KEY": "0123456789abc",
    }
    for command in ("check", "serve"):
        result = porch(command, "-c", str(mine), env=weak)
        assert result.returncode == 1, result.stderr
        err = result.stderr
        assert "matrix.appservice.hs_token: looks like a placeholder" in err
        assert "matrix.appservice.as_token: looks like a placeholder" in err
        assert "discourse.webhook_secret: too few different characters" in err
        assert "discourse.api_key: too short for a secret" in err
        assert "store.url: the database password looks like a placeholder" in err
        assert not any(secret in err for secret in weak.values())


def test_porch_check_exits_1_naming_both_mistakes(tmp_path: Path) -> None:
    data = example()
    data["links"][0]["direction"] = "sideways"
    data["listen"]["port"] = 70000
    bad = tmp_path / "porch.yaml"
    bad.write_text(yaml.safe_dump(data))
    result = porch("check", "-c", str(bad))
    assert result.returncode == 1
    assert "2 error(s)" in result.stderr
    assert "links[0].direction: must be one of forum-to-chat, chat-to-forum, both" in result.stderr
    assert "listen.port: input should be less than or equal to 65535" in result.stderr
