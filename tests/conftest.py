"""Shared fixtures live in tests/rig/, one plugin per real part the tests talk to."""

pytest_plugins = [
    "tests.rig.store",
    "tests.rig.matrix",
    "tests.rig.forum",
    "tests.rig.porch",
    "tests.rig.clock",
]
