"""A clock the tests move by hand: porch's parts read the time through a ``clock`` callable."""

from __future__ import annotations

import pytest


class Clock:
    """Says ``now`` until a test sets it to something else."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()
