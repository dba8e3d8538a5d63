"""porch's own conditions: what a policy may test under ``when:``.

Each returns ``None`` when the fact it reads is unknown, so that the decision waits.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from policies.facts import Facts
from policies.rules import Condition

#: A non-empty list of names; YAML ``tags: publish`` (one name) is accepted as a list of one.
Names = Annotated[
    tuple[str, ...],
    BeforeValidator(lambda v: (v,) if isinstance(v, str) else v),
    Field(min_length=1),
]


def _tags(wanted: tuple[str, ...], facts: Facts) -> bool | None:
    # Tags are part of the topic the relay already holds, so they are never unknown.
    return not facts.tags.isdisjoint(wanted)


def _groups(wanted: tuple[str, ...], facts: Facts) -> bool | None:
    if facts.author_groups is None:
        return None
    return not facts.author_groups.isdisjoint(wanted)


def _trust_level(minimum: int, facts: Facts) -> bool | None:
    if facts.trust_level is None:
        return None
    return facts.trust_level >= minimum


def _category(wanted: tuple[str, ...], facts: Facts) -> bool | None:
    if facts.category_slug is None and facts.category_name is None:
        return None
    return facts.category_slug in wanted or facts.category_name in wanted


def _staff(wanted: bool, facts: Facts) -> bool | None:
    if facts.staff is None:
        return None
    return facts.staff is wanted


CONDITIONS: tuple[Condition[Any], ...] = (
    Condition("tags", Names, _tags, "the topic carries any of these tags"),
    Condition("groups", Names, _groups, "the author is in any of these forum groups"),
    Condition(
        "trust_level",
        Annotated[int, Field(ge=0, le=4)],
        _trust_level,
        "the author's forum trust level is at least this",
    ),
    Condition(
        "category",
        Names,
        _category,
        "the forum category (slug or name) is one of these",
    ),
    Condition("staff", bool, _staff, "the author is (true) or is not (false) forum staff"),
)
