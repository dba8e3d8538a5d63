"""The ``policies:`` config section: named crossing policies referenced by links.

A policy says, per direction, what happens to content that crosses a link using it::

    policies:
      publish-tagged:
        forum-to-chat:
          action: allow          # allow | deny | hold
          when: {tags: [publish]}
          otherwise: deny        # what happens when a condition does not hold
          transforms:
            anonymise: [{groups: [staff], as: Policy team}]
            remove_personal_data: true

The names under ``when:`` and ``transforms:`` are rules (see :mod:`policies.rules`); the schema
is built from the installed rules, so a plugin's rule is validated like a built-in one and every
mistake is reported with its path (``policies.publish-tagged.forum-to-chat.action: ...``).
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Final

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, create_model, model_validator

from policies.rules import Condition, Rules, Transform, default_rules

#: The two ways content flows, as policy keys (the values of a link's ``direction``).
FORUM_TO_CHAT: Final = "forum-to-chat"
CHAT_TO_FORUM: Final = "chat-to-forum"


class Action(StrEnum):
    """What a policy does with content its rule covers."""

    ALLOW = "allow"
    DENY = "deny"
    HOLD = "hold"


class _Block(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ConditionSet(_Block):
    """The ``when:`` block: every named condition must hold (a list inside one means any of)."""

    rules: ClassVar[dict[str, Condition[Any]]] = {}

    def named(self) -> list[tuple[Condition[Any], Any]]:
        """The conditions the file sets, with their options."""
        return _named(self, self.rules)


class TransformSet(_Block):
    """The ``transforms:`` block: the named transforms, applied in the rules' order."""

    rules: ClassVar[dict[str, Transform[Any]]] = {}

    @model_validator(mode="before")
    @classmethod
    def _switches(cls, data: Any) -> Any:
        # ``remove_personal_data: true`` switches a transform on with its default options.
        if not isinstance(data, dict):
            return data
        out: dict[Any, Any] = {}
        for key, value in data.items():
            rule = cls.rules.get(key)
            options = rule.options if rule is not None else None
            is_model = isinstance(options, type) and issubclass(options, BaseModel)
            if value is True and is_model:
                out[key] = {}
            elif value is False:
                continue
            else:
                out[key] = value
        return out

    def named(self) -> list[tuple[Transform[Any], Any]]:
        """The transforms the file sets, with their options, in application order."""
        return _named(self, self.rules)


def _named(block: BaseModel, rules: dict[str, Any]) -> list[tuple[Any, Any]]:
    out = []
    for field, info in type(block).model_fields.items():
        value = getattr(block, field)
        if value is not None and info.alias is not None:
            out.append((rules[info.alias], value))
    return out


class DirectionPolicy(_Block):
    """What a policy does with content flowing one way."""

    #: What happens when every condition holds (or there are none).
    action: Action
    #: What happens when a condition does not hold.
    otherwise: Action = Action.DENY
    when: ConditionSet = ConditionSet()
    transforms: TransformSet = TransformSet()

    @model_validator(mode="after")
    def _transforms_need_allow(self) -> DirectionPolicy:
        if self.transforms.named() and Action.ALLOW not in (self.action, self.otherwise):
            raise ValueError("transforms apply to allowed content; neither action allows")
        return self


class Policy(_Block):
    """A named crossing policy: a rule per direction; a direction it leaves out is denied."""

    description: str = ""
    forum_to_chat: DirectionPolicy | None = Field(default=None, alias=FORUM_TO_CHAT)
    chat_to_forum: DirectionPolicy | None = Field(default=None, alias=CHAT_TO_FORUM)

    def direction(self, direction: str) -> DirectionPolicy | None:
        """The rule for content flowing ``direction`` (``forum-to-chat`` / ``chat-to-forum``)."""
        if direction == FORUM_TO_CHAT:
            return self.forum_to_chat
        if direction == CHAT_TO_FORUM:
            return self.chat_to_forum
        raise ValueError(f"unknown direction {direction!r}")

    @cached_property
    def version(self) -> str:
        """A hash of the policy's text, recorded with each decision it makes.

        Canonical JSON of the parsed policy, so that reformatting the file keeps the version
        while any change of meaning changes it.
        """
        data = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def policy_schema(rules: Rules) -> type[Policy]:
    """The :class:`Policy` model that accepts the conditions and transforms of ``rules``."""

    def fields(named: dict[str, Any]) -> dict[str, Any]:
        # Rule names need not be identifiers (``acme.profanity``): they are aliases.
        return {
            f"rule_{i}": (rule.options | None, Field(default=None, alias=name))
            for i, (name, rule) in enumerate(named.items())
        }

    conditions = create_model("ConditionSet", __base__=ConditionSet, **fields(rules.conditions))
    conditions.rules = rules.conditions
    transforms = create_model("TransformSet", __base__=TransformSet, **fields(rules.transforms))
    transforms.rules = rules.transforms
    direction = create_model(
        "DirectionPolicy",
        __base__=DirectionPolicy,
        when=(conditions, conditions()),
        transforms=(transforms, transforms()),
    )
    directions: dict[str, Any] = {
        "forum_to_chat": (direction | None, Field(default=None, alias=FORUM_TO_CHAT)),
        "chat_to_forum": (direction | None, Field(default=None, alias=CHAT_TO_FORUM)),
    }
    schema: type[Policy] = create_model("Policy", __base__=Policy, **directions)
    return schema


PolicyName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$")]

if TYPE_CHECKING:
    PoliciesConfig = dict[str, Policy]
else:
    #: Named policies, validated against the rules installed when porch starts.
    PoliciesConfig = dict[PolicyName, policy_schema(default_rules())]
