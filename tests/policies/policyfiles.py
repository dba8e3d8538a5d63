"""Policies for the tests, written as they are in a config file."""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import TypeAdapter

from policies.policy_config import PoliciesConfig, Policy, policy_schema
from policies.rules import Rules, default_rules

EXAMPLE = """
publish-tagged:
  description: members' threads tagged "publish" go out, staff anonymised, no personal data
  forum-to-chat:
    action: allow
    when:
      tags: [publish]
      trust_level: 1
    otherwise: deny
    transforms:
      anonymise:
        - {groups: [staff, policy-team], as: Policy team}
      remove_personal_data: {region: GB}
      hide_metadata: {title: A thread from the members' forum}
  chat-to-forum:
    action: hold
listen-in:
  forum-to-chat: {action: deny}
  chat-to-forum: {action: allow}
"""


def policies(text: str = EXAMPLE, rules: Rules | None = None) -> dict[str, Policy]:
    """The named policies of ``text`` (YAML), validated as porch validates its config."""
    data: Any = yaml.safe_load(text)
    if rules is None:
        return TypeAdapter(PoliciesConfig).validate_python(data)
    return TypeAdapter(dict[str, policy_schema(rules)]).validate_python(data)  # type: ignore[misc]


def policy(body: dict[str, Any], rules: Rules | None = None) -> Policy:
    """One policy from its YAML data."""
    schema = policy_schema(rules or default_rules())
    return schema.model_validate(body)
