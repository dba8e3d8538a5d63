"""The watched-word and protection keys of ``moderation:``: defaults, and errors by path."""

from __future__ import annotations

import pytest
import yaml

from policies.protections import Limits
from policies.watched_words import WatchedWord, WordAction
from tests.webhooks.configs import config_data, make_config
from webhooks.config import ConfigError, parse_config


def test_without_a_moderation_section_the_defaults_apply() -> None:
    moderation = make_config().moderation
    assert moderation.words_from_forum and moderation.words_enabled
    assert moderation.words_refresh == 600
    assert moderation.protections.limits() == Limits(10, 60.0, False, True, 10)


def test_config_words_and_protections() -> None:
    moderation = make_config(
        moderation={
            "words_from_forum": False,
            "words": [{"word": " bad** ", "action": "replace", "replacement": "good"}],
            "protections": {"flood": {"messages": 3, "seconds": 10, "action": "refuse"}},
        }
    ).moderation
    assert [w.watched() for w in moderation.words] == [
        WatchedWord("bad*", WordAction.REPLACE, "good")
    ]
    assert moderation.words_enabled
    limits = moderation.protections.limits()
    assert limits is not None and limits.flood_refuses and limits.flood_messages == 3
    off = make_config(moderation={"protections": {"enabled": False}}).moderation
    assert off.protections.limits() is None


def test_without_a_review_destination_the_protections_do_not_hold_and_check_warns() -> None:
    from bridges.moderation.moderation_config import protection_warnings

    bare = make_config().moderation
    assert bare.protection_limits() == Limits(10, 60.0, False, True, 10, hold=False)
    (warning,) = protection_warnings(bare)
    assert warning.startswith("moderation.protections: no review destination")
    assert "flood, new_user_links, max_mentions are off" in warning
    refusing = make_config(moderation={"protections": {"flood": {"action": "refuse"}}})
    assert "a flood is still refused" in protection_warnings(refusing.moderation)[0]
    for review in ({"room": "#mods:localhost"}, {"moderators": {"mona": "m0n4" * 10}}):
        reviewed = make_config(moderation={"review": review}).moderation
        assert reviewed.protection_limits() == Limits(10, 60.0, False, True, 10)
        assert protection_warnings(reviewed) == []
    off = make_config(moderation={"protections": {"enabled": False}}).moderation
    assert off.protection_limits() is None and protection_warnings(off) == []


@pytest.mark.parametrize(
    ("moderation", "error"),
    [
        (
            {"words": [{"word": "x", "action": "replace"}]},
            "moderation.words[0]: a replace word needs a replacement",
        ),
        (
            {"words": [{"word": "x", "action": "shout"}]},
            "moderation.words[0].action: must be one of",
        ),
        ({"words_refresh": 0}, "moderation.words_refresh:"),
        ({"protections": {"flood": {"messages": 0}}}, "moderation.protections.flood.messages:"),
    ],
)
def test_mistakes_are_reported_with_their_path(moderation: dict[str, object], error: str) -> None:
    text = yaml.safe_dump(config_data(moderation=moderation))
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert any(e.startswith(error) for e in caught.value.errors), caught.value.errors
