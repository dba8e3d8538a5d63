"""Protections for chat -> forum: flood limit, a new sender's first link, mention spam.

Pure: the relay counts what the decision needs (:class:`Activity`, :class:`Traits`) and this
module answers. Defaults (``moderation.protections``) are documented in ``docs/moderation.md``:

- flood: more than 10 messages from one sender within 60 seconds; the excess is held for
  review (or, configured so, refused);
- a sender's first message to be carried, when it holds a link or media, is held;
- a message mentioning more than 10 distinct people (or the whole room) is held
  (Discourse's ``max_mentions_per_post`` defaults to 10).

Holding needs someone to review: with no moderators to show a held message to
(:attr:`Limits.hold` false), the protections that hold do not apply, and a flood configured to
refuse still refuses. A held message nobody can see waits forever, which loses it as surely as
dropping it and without telling anyone; a member expects their message to arrive, and a
moderator who set up no review expects porch not to queue messages for them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from policies.decision import Decision, Outcome
from policies.linear import Linear

NAME = "protections"
VERSION = "protections-1"

# RE2 patterns (policies.linear): linear time on whatever a member sends.
_LINK = Linear(r"(?:https?://|www\.)\S+", ignore_case=True)
_MXC = Linear(r"mxc://\S+", ignore_case=True, not_after=r"\w")
_HREF = Linear(r"""href\s*=\s*["']([^"']+)""", ignore_case=True)
_IMG = Linear(r"<img\s", ignore_case=True)
_ROOM = Linear(r"@room", not_after=r"\w", not_before=r"\w")
#: What ``@room`` counts as: everyone, more than any limit.
_EVERYONE = 10**6
_PILL = Linear(r"https://matrix\.to/#/(@[^\"'<>\s?/]+)")
_USER_ID = Linear(r"@[a-z0-9._=/+-]+:[a-zA-Z0-9.-]+(?::\d+)?", not_after=r"\w@")


@dataclass(frozen=True, slots=True)
class Limits:
    """The protections in force (``moderation.protections``)."""

    flood_messages: int = 10
    flood_seconds: float = 60.0
    flood_refuses: bool = False
    new_user_links: bool = True
    #: 0: no limit.
    max_mentions: int = 10
    #: Whether a protection may hold a message: false when nobody reviews held messages.
    hold: bool = True


@dataclass(frozen=True, slots=True)
class Activity:
    """What the relay knows of the sender: messages sent within the flood window before this
    one, and whether any of theirs was carried before."""

    recent: int
    carried_before: bool


@dataclass(frozen=True, slots=True)
class Traits:
    """What the message holds."""

    has_link: bool = False
    has_media: bool = False
    #: Distinct people mentioned; ``@room`` counts as more than any limit.
    mentions: int = 0


def traits(body: str, formatted_body: str | None, media: bool) -> Traits:
    """Links and mentions found in a Matrix message body (and its HTML), and whether it is a
    media message. A mention is a pill (``matrix.to`` link) or a written user id; ``@room``
    notifies everyone and counts as too many."""
    html = formatted_body or ""
    people = {m.lower() for m in _PILL.findall(html)} | {m.lower() for m in _USER_ID.findall(body)}
    # A pill is a link only in form: it names a person, it leads nowhere else.
    hrefs = [h for h in _HREF.findall(html) if not _PILL.match(h)]
    unpilled = _PILL.sub("", body)
    has_link = bool(_LINK.search(unpilled) or _MXC.search(unpilled) or hrefs or _IMG.search(html))
    room = _ROOM.search(body) is not None
    return Traits(has_link, media, len(people) + (_EVERYONE if room else 0))


def protect(
    decision: Decision, limits: Limits | None, activity: Activity, found: Traits
) -> Decision:
    """``decision`` after the protections: unchanged unless it crosses (or is held) and a
    protection applies; then held (rule ``protections:<which>``) or, for a flood configured to
    refuse, refused."""
    if limits is None or not (decision.crosses or decision.outcome is Outcome.HELD):
        return decision
    if not limits.hold and not limits.flood_refuses:
        return decision  # nothing left that may apply without a reviewer
    if activity.recent >= limits.flood_messages:
        why = (
            f"more than {limits.flood_messages} messages from the sender within "
            f"{limits.flood_seconds:g} seconds"
        )
        if limits.flood_refuses:
            return Decision(Outcome.REFUSED, f"{NAME}:flood", VERSION, why, facts=decision.facts)
        if decision.outcome is Outcome.HELD or not limits.hold:
            return decision
        return _hold(decision, "flood", why)
    if decision.outcome is Outcome.HELD or not limits.hold:
        return decision  # held already, for another reason that the review will show
    if (
        limits.new_user_links
        and not activity.carried_before
        and (found.has_link or found.has_media)
    ):
        what = "media" if found.has_media else "a link"
        return _hold(decision, "new-user", f"the sender's first message holds {what}")
    if limits.max_mentions and found.mentions > limits.max_mentions:
        return _hold(decision, "mentions", f"mentions more than {limits.max_mentions} people")
    return decision


def _hold(decision: Decision, which: str, why: str) -> Decision:
    return replace(
        decision, outcome=Outcome.HELD, rule=f"{NAME}:{which}", policy_version=VERSION, reason=why
    )
