"""Power levels are read as the auth rules read them, wherever porch checks one.

Rooms before version 10 may hold a level as a string of an integer ("50"); the homeserver
treats that member as a moderator, so porch must too: otherwise membership sync could remove a
room's moderator, who is meant to be left alone, and a moderator's ``!approve`` would be refused.
https://spec.matrix.org/v1.13/rooms/v10/#values-in-mroompower_levels-events-must-be-integers
"""

from __future__ import annotations

import pytest

from bridges.model import UserID
from policies.membership import moderates, power_level

MOD, OTHER = UserID("@mod:hs"), UserID("@other:hs")


@pytest.mark.parametrize(
    ("levels", "expected"),
    [
        ({"users": {MOD: 50}}, 50),
        ({"users": {MOD: "50"}}, 50),
        ({"users": {MOD: " 100 "}}, 100),
        ({"users": {MOD: "-1"}}, -1),
        ({"users": {}, "users_default": "10"}, 10),
        ({"users": {MOD: "fifty"}, "users_default": 0}, 0),
        ({"users": {MOD: True}}, 0),
        ({"users": {MOD: "--5"}}, 0),
        (None, 0),
    ],
)
def test_levels(levels: dict[str, object] | None, expected: int) -> None:
    assert power_level(levels, MOD) == expected


def test_a_moderator_with_a_string_level_moderates() -> None:
    levels = {"users": {MOD: "50", OTHER: "0"}}
    assert moderates(levels, frozenset(), MOD)
    assert not moderates(levels, frozenset(), OTHER)
