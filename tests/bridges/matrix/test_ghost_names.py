"""Forum usernames become ghost localparts that are valid, distinct and reversible."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridges.matrix.ghosts import ghost_localpart, username_from_localpart
from bridges.model import ForumUsername

# The spec's historical user id grammar, which every server accepts.
_VALID_LOCALPART = re.compile(r"[a-z0-9._=/+-]+")


@pytest.mark.parametrize(
    ("username", "localpart"),
    [
        ("alice", "forum_alice"),
        ("Alice", "forum_alice"),
        ("dot.name_x-y", "forum_dot.name_x-y"),
        ("a=b", "forum_a=3db"),
        ("jörg", "forum_j=c3=b6rg"),
        ("李", "forum_=e6=9d=8e"),
        ("a b", "forum_a=20b"),
        ("x/y+z", "forum_x=2fy=2bz"),
    ],
)
def test_odd_usernames_are_escaped(username: str, localpart: str) -> None:
    assert ghost_localpart("forum_", ForumUsername(username)) == localpart
    assert username_from_localpart("forum_", localpart) == username.lower()


@given(st.text(min_size=1, max_size=40))
def test_any_username_round_trips_through_a_valid_localpart(username: str) -> None:
    localpart = ghost_localpart("forum_", ForumUsername(username))
    assert _VALID_LOCALPART.fullmatch(localpart)
    assert username_from_localpart("forum_", localpart) == username.lower()


@given(st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20))
def test_different_usernames_get_different_ghosts(a: str, b: str) -> None:
    if a.lower() != b.lower():
        assert ghost_localpart("forum_", ForumUsername(a)) != ghost_localpart(
            "forum_", ForumUsername(b)
        )


@pytest.mark.parametrize(
    "localpart",
    [
        "bob",  # not a ghost at all
        "forum_",  # the prefix alone
        "forum_=6",  # a cut-off escape
        "forum_=zz",  # not hex
        "forum_=ff",  # not UTF-8
        "forum_=61lice",  # "alice" spelled a second way: only the canonical spelling counts
        "forum_Alice",  # upper case never comes out of ghost_localpart
    ],
)
def test_localparts_that_are_no_ghost_give_none(localpart: str) -> None:
    assert username_from_localpart("forum_", localpart) is None
