"""Moderation across the boundary: word lists, review queue, policy lists, sanctions."""
