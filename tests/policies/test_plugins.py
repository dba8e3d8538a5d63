"""Rules are plugins: a separately installed package adds a condition and a transform."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from policies.crossing import Crossing
from policies.decision import Outcome
from policies.engine import apply, decide
from policies.facts import Content, Facts
from policies.rules import RuleError, Rules
from policies.tiers import Tier
from tests.policies.policyfiles import policy

PACKAGE = Path(__file__).parent.parent / "data" / "sample_rule_package"
POLICY = {
    "forum-to-chat": {
        "action": "allow",
        "when": {"sample.title_mentions": ["budget"], "tags": ["publish"]},
        "transforms": {"sample.redact_words": {"words": ["codename"]}},
    }
}
POST = Crossing("discourse", "both", "l", post_type=1, archetype="regular")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample package installed into a directory of its own, as pip installs any package."""
    target = tmp_path_factory.mktemp("site")
    # Build from a copy: setuptools leaves build/ and *.egg-info next to the sources.
    source = shutil.copytree(PACKAGE, tmp_path_factory.mktemp("src") / PACKAGE.name)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        timeout=240,
    )
    return target


@pytest.fixture
def with_plugin(installed: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rules]:
    monkeypatch.syspath_prepend(str(installed))
    yield Rules.load()
    sys.modules.pop("porch_sample_rules", None)


def test_the_built_in_rules_come_through_the_entry_point() -> None:
    from importlib.metadata import entry_points

    names = {ep.value for ep in entry_points(group="porch.rules")}
    assert "policies.builtin" in names
    rules = Rules.load()
    assert {"tags", "groups", "trust_level", "category", "staff"} <= set(rules.conditions)
    assert "remove_personal_data" in rules.transforms


def test_without_the_package_its_rules_are_unknown_names() -> None:
    with pytest.raises(ValidationError) as caught:
        policy(POLICY, Rules.load())
    locations = {tuple(e["loc"]) for e in caught.value.errors()}
    assert ("forum-to-chat", "when", "sample.title_mentions") in locations
    assert ("forum-to-chat", "transforms", "sample.redact_words") in locations


def test_an_installed_rule_package_is_used_by_a_policy_that_names_it(with_plugin: Rules) -> None:
    assert "sample.title_mentions" in with_plugin.conditions
    published = policy(POLICY, with_plugin)
    facts = Facts(Tier.RESTRICTED, Tier.OPEN, tags=frozenset({"publish"}), title="Budget 2027")
    decision = decide(POST, facts, published, name="sample", rules=with_plugin)
    assert decision.outcome is Outcome.TRANSFORMED
    assert "sample.redact_words" in decision.transform_names
    out = apply(decision, Content("<p>Codename Heron starts soon</p>"))
    assert out.content.body == "<p>[redacted] Heron starts soon</p>"
    assert "sample.redact_words: word x1" in out.detail
    # The plugin's condition decides too: a title without the word is not published.
    other = decide(
        POST,
        Facts(Tier.RESTRICTED, Tier.OPEN, tags=frozenset({"publish"}), title="Parks"),
        published,
        name="sample",
        rules=with_plugin,
    )
    assert other.outcome is Outcome.REFUSED
    # And its options are validated like a built-in rule's.
    with pytest.raises(ValidationError, match="words"):
        policy(
            {"forum-to-chat": {"action": "allow", "transforms": {"sample.redact_words": {}}}},
            with_plugin,
        )


def test_two_packages_cannot_claim_one_rule_name() -> None:
    from policies import builtin

    class Impostor:
        porch_conditions = staticmethod(builtin.porch_conditions)

    with pytest.raises(RuleError, match="two rule packages provide a condition named"):
        Rules.from_plugins([builtin, Impostor()])
