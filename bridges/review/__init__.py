"""Porch's review queue: crossings held for a moderator, and posts the forum queued for its own.

- :mod:`bridges.review.review_config`: the ``review:`` config section;
- :mod:`bridges.review.desk`: what the relay does with a held decision, an approval or a
  rejection, and the moderators room (notices, reactions, ``!approve`` / ``!reject``);
- :mod:`bridges.review.forum_queue`: chat messages the forum answered ``enqueued``.
"""
