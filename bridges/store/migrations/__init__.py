"""Numbered, append-only schema migrations. Never edit a released one; add the next."""
