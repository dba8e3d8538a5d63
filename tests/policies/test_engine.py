from __future__ import annotations

from dataclasses import replace

import pytest

from policies.crossing import BUILTIN_VERSION, Crossing
from policies.decision import Decision, Outcome
from policies.engine import apply, decide
from policies.facts import Content, Facts
from policies.tiers import Tier
from tests.policies.policyfiles import policies

POST = Crossing("discourse", "both", "council", post_type=1, archetype="regular")
CHAT = Crossing("matrix", "both", "council")
PUBLISH = policies()["publish-tagged"]
LISTEN = policies()["listen-in"]

TAGGED = Facts(
    Tier.RESTRICTED,
    Tier.OPEN,
    category_slug="council",
    category_name="Council officers",
    tags=frozenset({"publish"}),
    title="Road closures",
    topic_id=10,
    author_username="alice",
    author_groups=frozenset({"staff"}),
    trust_level=2,
    staff=True,
    forum_url="https://forum.example.org",
)


def test_the_built_in_floor_decides_first() -> None:
    decision = decide(replace(POST, archetype="private_message"), TAGGED, PUBLISH, name="p")
    assert decision.outcome is Outcome.REFUSED
    assert decision.rule == "private-message"


@pytest.mark.parametrize(
    ("source", "target", "missing"),
    [(None, Tier.OPEN, ("source_tier",)), (Tier.PRIVATE, None, ("target_tier",))],
)
def test_an_unknown_tier_waits(
    source: Tier | None, target: Tier | None, missing: tuple[str]
) -> None:
    decision = decide(POST, replace(TAGGED, source_tier=source, target_tier=target), PUBLISH)
    assert decision.outcome is Outcome.WAITING
    assert decision.outcome.value == "waiting"
    assert decision.waiting_for == missing
    assert not decision.crosses


def test_without_a_policy_nothing_goes_into_a_more_open_space() -> None:
    decision = decide(POST, TAGGED)
    assert decision.outcome is Outcome.REFUSED
    assert decision.rule == "boundary"
    assert "restricted" in decision.reason and "open" in decision.reason
    assert decision.policy_version == BUILTIN_VERSION


def test_without_a_policy_content_goes_into_an_equally_or_more_closed_space() -> None:
    inward = replace(TAGGED, source_tier=Tier.OPEN, target_tier=Tier.PRIVATE)
    assert decide(POST, inward).outcome is Outcome.CARRIED
    same = replace(TAGGED, target_tier=Tier.RESTRICTED)
    assert decide(POST, same).outcome is Outcome.CARRIED


def test_an_unlisted_topic_in_an_open_category_counts_as_restricted() -> None:
    unlisted = replace(TAGGED, source_tier=Tier.OPEN, unlisted=True)
    assert decide(POST, unlisted).outcome is Outcome.REFUSED
    assert decide(POST, replace(unlisted, unlisted=False)).outcome is Outcome.CARRIED


def test_a_policy_publishes_tagged_content_with_its_transforms_and_its_version() -> None:
    decision = decide(POST, TAGGED, PUBLISH, name="publish-tagged")
    assert decision.outcome is Outcome.TRANSFORMED
    assert decision.rule == "policy:publish-tagged/forum-to-chat"
    assert decision.policy_version == PUBLISH.version
    # The boundary transforms come with every outward crossing; the rest from the policy.
    assert decision.transform_names == (
        "drop_restricted_quotes",
        "neutralise_restricted_links",
        "remove_personal_data",
        "hide_metadata",
        "anonymise",
    )


def test_content_the_conditions_do_not_cover_gets_the_otherwise_action() -> None:
    decision = decide(POST, replace(TAGGED, tags=frozenset()), PUBLISH, name="publish-tagged")
    assert decision.outcome is Outcome.REFUSED
    assert decision.rule == "policy:publish-tagged/forum-to-chat/otherwise"


def test_a_condition_on_an_unknown_fact_waits_unless_another_condition_already_fails() -> None:
    unknown_trust = replace(TAGGED, trust_level=None)
    decision = decide(POST, unknown_trust, PUBLISH)
    assert decision.outcome is Outcome.WAITING
    assert decision.waiting_for == ("trust_level",)
    # Untagged: it is denied whatever the trust level turns out to be.
    untagged = replace(unknown_trust, tags=frozenset())
    assert decide(POST, untagged, PUBLISH).outcome is Outcome.REFUSED


def test_anonymising_waits_for_the_authors_groups() -> None:
    decision = decide(POST, replace(TAGGED, author_groups=None), PUBLISH)
    assert decision.outcome is Outcome.WAITING
    assert decision.waiting_for == ("author_groups",)


def test_hold_and_deny_per_direction() -> None:
    held = decide(
        CHAT, replace(TAGGED, source_tier=Tier.OPEN, target_tier=Tier.RESTRICTED), PUBLISH
    )
    assert held.outcome is Outcome.HELD
    assert held.rule.endswith("/chat-to-forum")
    denied = decide(POST, replace(TAGGED, target_tier=Tier.RESTRICTED), LISTEN, name="listen-in")
    assert denied.outcome is Outcome.REFUSED
    listened = decide(CHAT, replace(TAGGED, source_tier=Tier.OPEN), LISTEN, name="listen-in")
    assert listened.outcome is Outcome.CARRIED


def test_a_policy_without_a_rule_for_the_direction_keeps_the_boundary() -> None:
    only_chat = policies("p: {chat-to-forum: {action: allow}}")["p"]
    decision = decide(POST, TAGGED, only_chat, name="p")
    assert decision.outcome is Outcome.REFUSED
    assert decision.rule == "boundary"
    assert decision.policy_version == only_chat.version


def test_apply_rewrites_the_content_and_says_what_it_removed() -> None:
    decision = decide(POST, TAGGED, PUBLISH, name="publish-tagged")
    content = Content(
        "<p>I'm Alice Smith, write to alice@example.org or call +44 20 7946 0958.</p>",
        title="Road closures",
        author_display_name="Alice Smith",
        author_username="alice",
        tags=("publish",),
        category_name="Council officers",
    )
    out = apply(decision, content)
    assert out.content.author_display_name == "Policy team"
    assert out.content.author_username is None
    assert out.content.title == "A thread from the members' forum"
    assert out.content.tags == () and out.content.category_name is None
    for secret in ("Alice", "alice@example.org", "7946", "Road closures"):
        assert secret not in out.content.body
    assert "remove_personal_data: email address x1" in out.detail
    assert "remove_personal_data: phone number x1" in out.detail
    assert "alice@example.org" not in out.detail


def test_apply_refuses_a_decision_that_sends_nothing() -> None:
    with pytest.raises(ValueError, match="refused"):
        apply(decide(POST, TAGGED), Content("x"))


def test_existing_callers_keep_building_decisions_positionally() -> None:
    decision = Decision(Outcome.REFUSED, "forum-rejected", "forum", "why")
    assert decision.transforms == () and decision.facts is None and not decision.crosses


def test_may_publish_tells_check_whether_a_policy_can_publish_at_all() -> None:
    from policies.engine import may_publish

    assert may_publish(PUBLISH, "forum-to-chat")
    assert not may_publish(PUBLISH, "chat-to-forum")
    assert not may_publish(LISTEN, "forum-to-chat")
    assert not may_publish(None, "forum-to-chat")
