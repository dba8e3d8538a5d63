"""Whole-word, case-insensitive replacement of names in text (shared by the transforms)."""

from __future__ import annotations

import re
from collections.abc import Iterable


def pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    """One pattern matching any of ``names`` as a whole word, longest first; ``None``: none."""
    unique = sorted({n.strip() for n in names if n and n.strip()}, key=len, reverse=True)
    if not unique:
        return None
    alternatives = "|".join(re.escape(n) for n in unique)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def name_parts(display_name: str) -> list[str]:
    """A display name and its words of two letters or more ("Alice B. Smith" -> Alice, Smith)."""
    words = [w.strip(".,;:()'\"") for w in display_name.split()]
    return [display_name, *(w for w in words if len(w) >= 2)]
