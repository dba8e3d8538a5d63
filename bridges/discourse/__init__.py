"""Discourse: the API client and webhook payload parsing."""
