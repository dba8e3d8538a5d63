"""``moderation.review.room`` must be a room of its own, not a linked one."""

from __future__ import annotations

import pytest
import yaml

from tests.webhooks.configs import config_data, make_config
from webhooks.config import ConfigError, parse_config


def test_a_linked_room_cannot_be_the_moderators_room() -> None:
    text = yaml.safe_dump(config_data(moderation={"review": {"room": "!town:x"}}))
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert [e for e in caught.value.errors if e.startswith("moderation.review.room: ")], (
        caught.value.errors
    )


def test_a_room_of_its_own_is_fine() -> None:
    config = make_config(moderation={"review": {"room": "!mods:x"}})
    assert config.moderation.review.room == "!mods:x"
