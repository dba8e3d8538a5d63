"""Bounded waiting: tests wait for a condition, never for a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T | None], timeout: float = 10.0, what: str = "condition"
) -> T:
    """Poll ``predicate`` until it returns something truthy and return that, or fail."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what} (last: {last!r})")
