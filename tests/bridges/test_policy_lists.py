"""Policy-list rules (MSC2313): glob matching and the stored rules."""

from __future__ import annotations

import pytest

from bridges.model import RoomID, UserID
from bridges.moderation.policy_lists import (
    first_match,
    glob_pattern,
    rule_matches,
)
from bridges.store.policy_rules import PolicyRule
from bridges.store.store import Store

LIST = RoomID("!list")


def _rule(kind: str, entity: str, recommendation: str = "m.ban") -> PolicyRule:
    return PolicyRule(LIST, kind, f"rule:{entity}", entity, recommendation, "spam")


@pytest.mark.parametrize(
    ("glob", "text", "matches"),
    [
        ("@alice*:example.org", "@alice:example.org", True),
        ("@alice*:example.org", "@alice2:example.org", True),
        ("@alice*:example.org", "@bob:example.org", False),
        ("@al?ce:hs", "@alice:hs", True),
        ("@al?ce:hs", "@allice:hs", False),
        ("@a.b:hs", "@axb:hs", False),  # a dot is a dot
        ("@[ab]:hs", "@a:hs", False),  # brackets are not special
        ("*", "@anyone:anywhere", True),
    ],
)
def test_globs_follow_the_spec(glob: str, text: str, matches: bool) -> None:
    assert (glob_pattern(glob).match(text) is not None) is matches


def test_user_and_server_rules_match_as_mjolnir_does() -> None:
    assert rule_matches(_rule("m.policy.rule.user", "@spam*:hs"), "@spammer:hs")
    assert rule_matches(_rule("m.policy.rule.server", "*.evil.org"), "@x:chat.EVIL.org")
    assert not rule_matches(_rule("m.policy.rule.server", "evil.org"), "@evil.org:good.org")
    assert rule_matches(_rule("org.matrix.mjolnir.rule.user", "@a:hs"), "@a:hs")
    # Only bans count: an opinion or an allow rule bans nobody.
    allow = _rule("m.policy.rule.user", "@a:hs", "org.matrix.mjolnir.allow")
    assert not rule_matches(allow, "@a:hs")
    rules = [_rule("m.policy.rule.user", "@b:hs"), _rule("m.policy.rule.user", "@*:hs")]
    found = first_match(rules, "@b:hs")
    assert found is not None and found.entity == "@b:hs"
    assert first_match(rules, "@b:other") is None


def test_rules_are_kept_replaced_and_removed(store: Store) -> None:
    rules = store.policy_rules
    rules.put(_rule("m.policy.rule.user", "@a:hs"), 1.0)
    rules.put(PolicyRule(LIST, "m.policy.rule.user", "rule:@a:hs", "@a*:hs", "m.ban", "more"), 2.0)
    assert [(r.entity, r.reason) for r in rules.all()] == [("@a*:hs", "more")]
    assert rules.remove(LIST, "m.policy.rule.user", "rule:@a:hs")
    assert not rules.remove(LIST, "m.policy.rule.user", "rule:@a:hs")
    rules.put(_rule("m.policy.rule.user", "@x:hs"), 3.0)
    other = RoomID("!other")
    rules.put(PolicyRule(other, "m.policy.rule.server", "s", "evil.org", "m.ban", "r"), 3.0)
    rules.replace_room(LIST, [_rule("m.policy.rule.user", "@y:hs")], 4.0)
    assert sorted(r.entity for r in rules.all()) == ["@y:hs", "evil.org"]
    assert UserID("@y:hs") in {r.entity for r in rules.all()}
