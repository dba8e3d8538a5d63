from __future__ import annotations

from typing import Any

import pytest
import yaml

from policies.policy_config import Action
from tests.docs_pages import section
from tests.policies.policyfiles import EXAMPLE, policies, policy
from tests.webhooks.configs import config_data
from webhooks.config import ConfigError, parse_config


def config_with(policies_data: Any, **link: Any) -> str:
    data = config_data(policies=policies_data)
    data["links"][0].update(link)
    return yaml.safe_dump(data)


def errors_of(text: str) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    return caught.value.errors


def test_the_example_policies_load_through_the_porch_config() -> None:
    config = parse_config(config_with(yaml.safe_load(EXAMPLE), policy="publish-tagged"))
    publish = config.policies["publish-tagged"]
    rule = publish.direction("forum-to-chat")
    assert rule is not None and rule.action is Action.ALLOW
    assert [c.name for c, _ in rule.when.named()] == ["tags", "trust_level"]
    assert [t.name for t, _ in rule.transforms.named()] == [
        "remove_personal_data",
        "hide_metadata",
        "anonymise",
    ]
    assert publish.direction("chat-to-forum") is not None
    assert config.policies["listen-in"].direction("forum-to-chat") is not None


def test_mistakes_in_a_policy_are_reported_with_their_paths() -> None:
    bad = {
        "publish-tagged": {
            "forum-to-chat": {
                "action": "publish",
                "when": {"tagz": ["x"], "trust_level": 7},
                "transforms": {"anonymise": [{"groups": [], "as": "Team"}]},
            },
            "sideways": {"action": "allow"},
        }
    }
    errors = errors_of(config_with(bad, policy="publish-tagged"))
    assert "policies.publish-tagged.forum-to-chat.action: must be one of allow, deny, hold" in (
        errors
    )
    assert "policies.publish-tagged.forum-to-chat.when.tagz: is not a known setting" in errors
    assert any(
        e.startswith("policies.publish-tagged.forum-to-chat.when.trust_level:") for e in errors
    )
    assert any(
        e.startswith("policies.publish-tagged.forum-to-chat.transforms.anonymise[0].groups:")
        for e in errors
    )
    assert "policies.publish-tagged.sideways: is not a known setting" in errors


def test_a_link_naming_an_unknown_policy_is_refused_with_its_path() -> None:
    errors = errors_of(config_with(yaml.safe_load(EXAMPLE), policy="publish-everything"))
    assert any(
        e.startswith("links[0].policy: no policy named 'publish-everything'") for e in errors
    )


def test_transforms_without_any_allowing_action_are_refused() -> None:
    bad = {"p": {"forum-to-chat": {"action": "deny", "transforms": {"hide_metadata": True}}}}
    errors = errors_of(config_with(bad))
    assert any(e.startswith("policies.p.forum-to-chat:") and "transforms" in e for e in errors)


def test_the_version_is_a_hash_of_the_meaning_not_the_layout() -> None:
    one = policies()["publish-tagged"]
    reformatted = policies(EXAMPLE.replace("tags: [publish]", "tags:\n        - publish"))
    assert reformatted["publish-tagged"].version == one.version
    assert len(one.version) == 12 and int(one.version, 16) >= 0
    changed = policies(EXAMPLE.replace("trust_level: 1", "trust_level: 2"))
    assert changed["publish-tagged"].version != one.version


def test_a_switch_turns_a_transform_on_with_its_defaults_and_off() -> None:
    on = policy({"forum-to-chat": {"action": "allow", "transforms": {"hide_metadata": True}}})
    off = policy({"forum-to-chat": {"action": "allow", "transforms": {"hide_metadata": False}}})
    rule_on, rule_off = on.direction("forum-to-chat"), off.direction("forum-to-chat")
    assert rule_on is not None and rule_off is not None
    assert [t.name for t, _ in rule_on.transforms.named()] == ["hide_metadata"]
    assert rule_off.transforms.named() == []


def test_the_readme_example_is_a_valid_config() -> None:
    """The example of the manual's Policies page (once the README's Policies section)."""
    example = yaml.safe_load(section("Policies").split("```yaml\n", 1)[1].split("```", 1)[0])
    data = config_data(policies=example["policies"])
    data["links"] = example["links"]
    config = parse_config(yaml.safe_dump(data))
    rule = config.policies["publish-tagged"].direction("forum-to-chat")
    assert rule is not None
    assert [t.name for t, _ in rule.transforms.named()] == [
        "remove_personal_data",
        "hide_metadata",
        "anonymise",
    ]
