"""A rule package as a third party writes one: a condition and a transform for porch policies.

``sample.title_mentions``: the topic title mentions any of the given words.
``sample.redact_words``: the given words are replaced in the body, and counted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from policies.facts import Content, Facts
from policies.rules import Change, Condition, Rewrite, RuleOptions, Transform, hookimpl


def _title_mentions(words: tuple[str, ...], facts: Facts) -> bool | None:
    if facts.title is None:
        return None
    title = facts.title.lower()
    return any(word.lower() in title for word in words)


class RedactOptions(RuleOptions):
    words: tuple[str, ...]
    placeholder: str = "[redacted]"


def _redact(options: RedactOptions, facts: Facts, content: Content) -> Rewrite:
    pattern = re.compile("|".join(re.escape(w) for w in options.words), re.IGNORECASE)
    body, count = pattern.subn(options.placeholder, content.body)
    changes = (Change("sample.redact_words", "word", count),) if count else ()
    return Rewrite(replace(content, body=body), changes)


@hookimpl
def porch_conditions() -> Sequence[Condition[Any]]:
    return (Condition("sample.title_mentions", tuple[str, ...], _title_mentions),)


@hookimpl
def porch_transforms() -> Sequence[Transform[Any]]:
    return (Transform("sample.redact_words", RedactOptions, _redact, order=60),)
