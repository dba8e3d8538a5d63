"""Shared fixtures live in tests/rig/, one plugin per real part the tests talk to."""

from hypothesis import settings

# Property tests assert what holds, not how fast: a deadline fails an example that merely ran
# on a busy machine (two workers, two homeservers). Speed is the benchmarks' business.
settings.register_profile("porch", deadline=None)
settings.load_profile("porch")

pytest_plugins = [
    "tests.rig.store",
    "tests.rig.matrix",
    "tests.rig.forum",
    "tests.rig.porch",
    "tests.rig.clock",
]
