"""Whole-word, case-insensitive replacement of names in text (shared by the transforms)."""

from __future__ import annotations

from collections.abc import Iterable

from policies.linear import Linear, escape


def pattern(names: Iterable[str]) -> Linear | None:
    """One pattern matching any of ``names`` as a whole word, longest first; ``None``: none.
    An RE2 pattern: linear time in the text it rewrites."""
    unique = sorted({n.strip() for n in names if n and n.strip()}, key=len, reverse=True)
    if not unique:
        return None
    alternatives = "|".join(escape(n) for n in unique)
    return Linear(alternatives, ignore_case=True, not_after=r"\w", not_before=r"\w")


def name_parts(display_name: str) -> list[str]:
    """A display name and its words of two letters or more ("Alice B. Smith" -> Alice, Smith)."""
    words = [w.strip(".,;:()'\"") for w in display_name.split()]
    return [display_name, *(w for w in words if len(w) >= 2)]
