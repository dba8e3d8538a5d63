"""Whether a moderators room may be shown a held message's text, or only told it is held.

A held message is quoted in the moderators room (``moderation.review.room``) for its
moderators to judge. The room is a space like any other: whoever reads it reads the quote. So it
is shown only what its own tier may read (the tiers of docs/policies.md: private, restricted,
open): a message written in a space more closed than the room gets a pointer to porch's
``/review`` page instead, where only the configured moderators sign in.
"""

from __future__ import annotations

from policies.tiers import Tier


def may_quote(room: Tier | None, source: Tier | None) -> bool:
    """Whether a moderators room of tier ``room`` may show content written in a space of tier
    ``source``: only when the room is no more open than the source.

    Fails closed: a room whose tier is unknown is shown nothing; a source whose tier is unknown
    counts as private.
    """
    if room is None:
        return False
    return not room.more_open_than(source or Tier.PRIVATE)
