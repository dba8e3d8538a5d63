"""Watching for policy teams: watch rules, alerts, digests (see :mod:`policies.watching`)."""
