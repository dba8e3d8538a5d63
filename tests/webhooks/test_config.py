"""The config file: every mistake named with its path, all at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from webhooks.config import ConfigError, load_config, parse_config

EXAMPLE = Path(__file__).parents[2] / "deploy" / "porch.example.yaml"


def example() -> dict:  # type: ignore[type-arg]
    data: dict = yaml.safe_load(EXAMPLE.read_text())  # type: ignore[type-arg]
    return data


def errors_of(data: dict, environ: dict[str, str] | None = None) -> tuple[str, ...]:  # type: ignore[type-arg]
    with pytest.raises(ConfigError) as caught:
        parse_config(yaml.safe_dump(data), environ=environ or {})
    return caught.value.errors


def test_the_example_is_valid() -> None:
    config = load_config(EXAMPLE, environ={})
    assert config.links[0].name == "town-square"
    assert config.discourse.base_url == "https://forum.example.org"


def test_variables_come_from_the_environment() -> None:
    config = load_config(EXAMPLE, environ={"DISCOURSE_API_KEY": "k" * 20})
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


def porch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "webhooks.cli", *args], capture_output=True, text=True, timeout=60
    )


def test_porch_check_exits_0_on_the_example() -> None:
    result = porch("check", "-c", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    assert "ok (1 link(s))" in result.stdout


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
