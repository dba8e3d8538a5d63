"""The ``watching:`` section: optional, and every mistake named by its path."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.webhooks.configs import config_data
from webhooks.config import ConfigError, parse_config


def errors(watching: dict[str, Any]) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as caught:
        parse_config(yaml.safe_dump(config_data(watching=watching)))
    return caught.value.errors


def test_the_section_is_optional() -> None:
    config = parse_config(yaml.safe_dump(config_data()))
    assert config.watching.watches == ()


def test_a_full_watch_parses() -> None:
    text = yaml.safe_dump(
        config_data(
            watching={
                "smtp": {"sender": "porch@example.org"},
                "quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Europe/Berlin"},
                "watches": [
                    {
                        "name": "housing",
                        "groups": ["policy-team"],
                        "terms": {"words": ["rent"], "patterns": [r"evict\w*"]},
                        "categories": ["town-square", 7],
                        "thresholds": {"posts": 5, "within": 600, "trending": {"factor": 4}},
                        "alerts": {"room": "!watch:x", "emails": ["team@example.org"]},
                        "digest": {"every": "weekly", "emails": ["team@example.org"]},
                    }
                ],
            }
        )
    )
    watch = parse_config(text).watching.watch("housing")
    rule = watch.rule()
    assert rule.scope.categories == frozenset({"town-square", "7"})
    assert rule.thresholds.trending_factor == 4


def test_mistakes_name_their_path() -> None:
    found = errors({"watches": [{"name": "a", "terms": {"patterns": ["(unclosed"]}}]})
    assert any(e.startswith("watching.watches[0].terms.patterns") for e in found), found
    found = errors({"watches": [{"name": "a", "alerts": {"emails": ["x@example.org"]}}]})
    assert any("watches[0]: emails need a watching.smtp section" in e for e in found), found
    found = errors({"watches": [{"name": "a"}, {"name": "a"}]})
    assert any("watches[1].name" in e for e in found), found
    found = errors({"quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Mars/Base"}})
    assert any(e.startswith("watching.quiet_hours.timezone") for e in found), found
    found = errors({"watches": [{"name": "a", "colour": "red"}]})
    assert any(e == "watching.watches[0].colour: is not a known setting" for e in found), found


def test_check_warns_where_a_restricted_watch_sends_links_only() -> None:
    from bridges.watching.watching_config import sink_warnings

    config = parse_config(
        yaml.safe_dump(
            config_data(
                watching={
                    "smtp": {"sender": "porch@example.org"},
                    "watches": [
                        {
                            "name": "council",
                            "groups": ["council"],
                            "alerts": {
                                "room": "!watch:x",
                                "emails": ["c@example.org"],
                                "webhook": {"url": "https://hooks.example.org/x"},
                            },
                            "digest": {"emails": ["c@example.org"]},
                        },
                        {"name": "street", "alerts": {"emails": ["s@example.org"]}},
                    ],
                }
            )
        )
    )
    found = sink_warnings(config.watching)
    assert [w.split(":")[0] for w in found] == [
        "watching.watches[0].alerts.emails",
        "watching.watches[0].alerts.webhook",
        "watching.watches[0].digest.emails",
        "watching.watches[0].alerts.room",
    ]
    assert all("council" in w for w in found)


def test_porch_check_prints_the_watching_warnings(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from webhooks.cli import main

    path = tmp_path / "porch.yaml"
    path.write_text(
        yaml.safe_dump(
            config_data(
                store={"url": f"sqlite:///{tmp_path / 'porch.db'}"},
                discourse={"api_key": "a-forum-api-key-long-enough-for-check"},
                watching={
                    "smtp": {"sender": "porch@example.org"},
                    "watches": [
                        {
                            "name": "council",
                            "groups": ["council"],
                            "alerts": {"emails": ["c@x.org"]},
                        }
                    ],
                },
            )
        )
    )
    assert main(["check", "-c", str(path)]) == 0
    assert "warning: watching.watches[0].alerts.emails" in capsys.readouterr().err
