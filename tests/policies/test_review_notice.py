"""A moderators room is shown a held message only when it is no more open than its source."""

from __future__ import annotations

import pytest

from policies.review_notice import may_quote
from policies.tiers import Tier


@pytest.mark.parametrize(
    ("room", "source", "shown"),
    [
        (Tier.PRIVATE, Tier.PRIVATE, True),
        (Tier.PRIVATE, Tier.OPEN, True),
        (Tier.RESTRICTED, Tier.RESTRICTED, True),
        (Tier.RESTRICTED, Tier.PRIVATE, False),
        (Tier.OPEN, Tier.RESTRICTED, False),
        (Tier.OPEN, Tier.PRIVATE, False),
        (Tier.OPEN, Tier.OPEN, True),
    ],
)
def test_the_room_may_read_only_what_its_tier_may(room: Tier, source: Tier, shown: bool) -> None:
    assert may_quote(room, source) is shown


def test_unknown_tiers_fail_closed() -> None:
    assert not may_quote(None, Tier.OPEN), "a room whose tier is unknown is shown nothing"
    assert not may_quote(Tier.RESTRICTED, None), "an unknown source counts as private"
    assert may_quote(Tier.PRIVATE, None)
