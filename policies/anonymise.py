"""``anonymise``: authors in some groups appear under a collective name ("Policy team").

The real name must not reach the other side anywhere: the author shown, the copy's username,
and mentions of the name or username in the body and title are all replaced.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from pydantic import BeforeValidator, Field

from policies.conditions import Names
from policies.facts import Content, Facts
from policies.markup import rewrite_text
from policies.names import name_parts, pattern
from policies.rules import Change, Rewrite, RuleOptions, Transform

NAME = "anonymise"


class Alias(RuleOptions):
    """Authors in any of ``groups`` are shown as ``as``."""

    groups: Names
    as_: str = Field(alias="as", min_length=1)


Aliases = Annotated[
    tuple[Alias, ...],
    BeforeValidator(lambda v: (v,) if isinstance(v, dict) else v),
    Field(min_length=1),
]


def alias_for(options: tuple[Alias, ...], facts: Facts) -> str | None:
    """The collective name for the author, or ``None`` when no alias covers their groups."""
    groups = facts.author_groups or frozenset()
    return next((a.as_ for a in options if not groups.isdisjoint(a.groups)), None)


def _needs(options: tuple[Alias, ...], facts: Facts) -> tuple[str, ...]:
    return ("author_groups",) if facts.author_groups is None else ()


def anonymise(options: tuple[Alias, ...], facts: Facts, content: Content) -> Rewrite:
    """Show the author under the first alias whose groups they are in."""
    alias = alias_for(options, facts)
    if alias is None:
        return Rewrite(content)
    names: list[str] = []
    for name in (content.author_display_name, content.author_username, facts.author_username):
        if name:
            names += name_parts(name)
    found = pattern(names)
    replaced = 0

    def edit(text: str) -> str:
        nonlocal replaced
        if found is None:
            return text
        text, n = found.subn(alias, text)
        replaced += n
        return text

    # rewrite_text hands HTML text unescaped and escapes it again, so the alias goes in as text.
    body = rewrite_text(content, edit)
    title = None if content.title is None else edit(content.title)
    changes = [Change(NAME, f"author shown as {alias}")]
    if replaced:
        changes.append(Change(NAME, "mention of the author's name", replaced))
    anonymous = replace(
        content, body=body, title=title, author_display_name=alias, author_username=None
    )
    return Rewrite(anonymous, tuple(changes))


TRANSFORM: Transform[tuple[Alias, ...]] = Transform(
    NAME,
    Aliases,
    anonymise,
    needs=_needs,
    order=40,
    doc="show authors of the named groups under a collective name",
)
