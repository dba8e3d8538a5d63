"""Exponential backoff, as porch's retries wait: doubling from a first wait, up to a cap."""

from __future__ import annotations


def backoff(first: float, failures: int, cap: float) -> float:
    """Seconds to wait after ``failures`` failures in a row: ``first`` after one, twice that
    after two and so on, never more than ``cap``."""
    doublings: int = 2 ** max(failures - 1, 0)
    return min(first * doublings, cap)
