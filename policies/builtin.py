"""porch's own rules, registered through the ``porch.rules`` entry point like any plugin."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from policies import anonymise, boundary, metadata, pii
from policies.conditions import CONDITIONS
from policies.rules import Condition, Transform, hookimpl


@hookimpl
def porch_conditions() -> Sequence[Condition[Any]]:
    """``tags``, ``groups``, ``trust_level``, ``category``, ``staff``."""
    return CONDITIONS


@hookimpl
def porch_transforms() -> Sequence[Transform[Any]]:
    """The quote, link, metadata, anonymising and personal-data transforms."""
    return (
        boundary.QUOTE_TRANSFORM,
        boundary.LINK_TRANSFORM,
        metadata.TRANSFORM,
        anonymise.TRANSFORM,
        pii.TRANSFORM,
    )
