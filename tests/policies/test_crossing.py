from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies.crossing import Crossing, decide, retract
from policies.decision import Outcome

DIRECTIONS = ["forum-to-chat", "chat-to-forum", "both"]


def forum_post(
    direction: str = "both", post_type: int = 1, archetype: str = "regular"
) -> Crossing:
    return Crossing("discourse", direction, "town", post_type=post_type, archetype=archetype)


def test_a_regular_post_crosses_a_link_that_carries_forum_posts() -> None:
    decision = decide(forum_post("forum-to-chat"))
    assert decision.outcome is Outcome.CARRIED
    assert decision.policy_version == "builtin-1"


@pytest.mark.parametrize(
    ("crossing", "rule"),
    [
        (forum_post("chat-to-forum"), "direction"),
        (Crossing("matrix", "forum-to-chat", "town"), "direction"),
        (forum_post(archetype="private_message"), "private-message"),
        (forum_post(post_type=4), "post-type"),
        (forum_post(post_type=3), "post-type"),
        (Crossing("matrix", "both", "town", is_notice=True), "notice"),
    ],
)
def test_refusals_name_their_rule(crossing: Crossing, rule: str) -> None:
    decision = decide(crossing)
    assert decision.outcome is Outcome.REFUSED
    assert decision.rule == rule
    assert decision.reason


@given(
    source=st.sampled_from(["discourse", "matrix"]),
    direction=st.sampled_from(DIRECTIONS),
    post_type=st.integers(min_value=0, max_value=6),
    archetype=st.sampled_from(["regular", "private_message", "banner", ""]),
    is_notice=st.booleans(),
)
def test_nothing_crosses_against_direction_and_no_private_message_ever_crosses(
    source: str, direction: str, post_type: int, archetype: str, is_notice: bool
) -> None:
    decision = decide(Crossing(source, direction, "l", post_type, archetype, is_notice))
    wanted = "forum-to-chat" if source == "discourse" else "chat-to-forum"
    if direction not in (wanted, "both"):
        assert not decision.crosses
    if source == "discourse" and (archetype != "regular" or post_type != 1):
        assert not decision.crosses


def test_retraction_names_its_cause() -> None:
    decision = retract("deleted-by-author")
    assert decision.outcome is Outcome.RETRACTED
    assert decision.rule == "retract-deleted-by-author"
    with pytest.raises(ValueError, match="unknown retraction cause"):
        retract("whim")
