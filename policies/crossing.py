"""The built-in crossing rules every link applies before any named policy.

They are the floor of the boundary: content never meant for another audience (private messages,
whispers, the forum's own small-action notices) does not cross, and nothing crosses against a
link's direction. The input is plain data, so every rule is testable without a platform.
"""

from __future__ import annotations

from dataclasses import dataclass

from policies.decision import Decision, Outcome

#: Version of the built-in rules, recorded with every decision they make.
BUILTIN_VERSION = "builtin-1"

# Discourse post types (Post.types in core): regular=1, moderator_action=2, small_action=3,
# whisper=4. Only regular posts are conversation.
_REGULAR_POST = 1
_POST_TYPE_NAMES = {2: "moderator action", 3: "small action", 4: "whisper"}


@dataclass(frozen=True, slots=True)
class Crossing:
    """One event asking to cross one link.

    Attributes:
        source: ``"discourse"`` or ``"matrix"``: where the event was written.
        direction: the link's direction (``forum-to-chat``, ``chat-to-forum``, ``both``).
        link: the link's name, for the record.
        post_type: for forum posts, Discourse's post type.
        archetype: for forum posts, ``regular`` or ``private_message``.
        is_notice: for Matrix messages, whether it is an ``m.notice`` (bots never cross).
    """

    source: str
    direction: str
    link: str
    post_type: int | None = None
    archetype: str | None = None
    is_notice: bool = False


def decide(crossing: Crossing) -> Decision:
    """Decide whether ``crossing`` may go ahead under the built-in rules."""

    def refuse(rule: str, reason: str) -> Decision:
        return Decision(Outcome.REFUSED, rule, BUILTIN_VERSION, reason)

    if not _direction_allows(crossing.direction, crossing.source):
        return refuse(
            "direction",
            f"link {crossing.link} carries {crossing.direction}, not from {crossing.source}",
        )
    if crossing.source == "discourse":
        if crossing.archetype != "regular":
            # A private message is never content for a room, whatever the link says.
            return refuse("private-message", "private messages never leave the forum")
        if crossing.post_type != _REGULAR_POST:
            kind = _POST_TYPE_NAMES.get(crossing.post_type or 0, f"type {crossing.post_type}")
            return refuse("post-type", f"{kind} posts are not conversation")
    elif crossing.is_notice:
        # m.notice "must never be automatically responded to": bots talk to bots in loops.
        return refuse("notice", "m.notice messages come from bots and do not cross")
    return Decision(Outcome.CARRIED, "direction", BUILTIN_VERSION, "the link carries it")


def _direction_allows(direction: str, source: str) -> bool:
    if direction == "both":
        return True
    if source == "discourse":
        return direction == "forum-to-chat"
    return direction == "chat-to-forum"


#: Why a carried copy is withdrawn, in the words the audit log uses.
RETRACTION_CAUSES = {
    "deleted": "the source was deleted",
    "deleted-by-author": "the author deleted the source",
    "topic-deleted": "the source topic was deleted",
    "redacted": "the sender redacted the source message",
    # The source still exists but may no longer be shown where it was carried
    # (bridges/relay/forum_to_chat/forum_retraction.py): publication is reversible.
    "moved": "the topic moved into a category the room may not read",
    "unlisted": "the topic was unlisted",
    "hidden": "the post was hidden (flagged)",
    "withdrawn": "the policy no longer lets it cross",
}


def retract(cause: str) -> Decision:
    """The decision to withdraw every carried copy of a source that is gone.

    A copy must never outlive its source: once the original is deleted there is no policy
    under which its copy may stay.
    """
    reason = RETRACTION_CAUSES.get(cause)
    if reason is None:
        raise ValueError(f"unknown retraction cause {cause!r}; known: {sorted(RETRACTION_CAUSES)}")
    return Decision(Outcome.RETRACTED, f"retract-{cause}", BUILTIN_VERSION, reason)


def ignore(rule: str, reason: str) -> Decision:
    """The record of an event that is not a crossing (an echo, an unlinked room)."""
    return Decision(Outcome.IGNORED, rule, BUILTIN_VERSION, reason)
