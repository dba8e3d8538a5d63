"""Protections for chat -> forum: flood limit, a new sender's first link or media, mentions."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from policies.decision import Decision, Outcome
from policies.protections import Activity, Limits, Traits, protect, traits

CARRIED = Decision(Outcome.CARRIED, "tier", "builtin-1", "open to open")
KNOWN = Activity(recent=0, carried_before=True)
NEW = Activity(recent=0, carried_before=False)


def test_a_plain_message_from_a_known_sender_crosses() -> None:
    assert protect(CARRIED, Limits(), KNOWN, Traits()) is CARRIED


def test_no_limits_no_protection() -> None:
    assert protect(CARRIED, None, Activity(100, False), Traits(True, True, 99)) is CARRIED


def test_the_flood_limit_holds_or_refuses_the_excess() -> None:
    limits = Limits(flood_messages=3, flood_seconds=30)
    assert protect(CARRIED, limits, Activity(2, True), Traits()) is CARRIED
    held = protect(CARRIED, limits, Activity(3, True), Traits())
    assert (held.outcome, held.rule) == (Outcome.HELD, "protections:flood")
    assert held.reason == "more than 3 messages from the sender within 30 seconds"
    refusing = Limits(flood_messages=3, flood_refuses=True)
    refused = protect(CARRIED, refusing, Activity(3, True), Traits())
    assert (refused.outcome, refused.rule) == (Outcome.REFUSED, "protections:flood")


def test_a_new_senders_first_link_or_media_is_held() -> None:
    for found in (Traits(has_link=True), Traits(has_media=True)):
        held = protect(CARRIED, Limits(), NEW, found)
        assert (held.outcome, held.rule) == (Outcome.HELD, "protections:new-user")
    assert protect(CARRIED, Limits(), NEW, Traits()) is CARRIED
    assert protect(CARRIED, Limits(), KNOWN, Traits(has_link=True)) is CARRIED
    assert protect(CARRIED, Limits(new_user_links=False), NEW, Traits(has_link=True)) is CARRIED


def test_mention_spam_is_held() -> None:
    held = protect(CARRIED, Limits(max_mentions=3), KNOWN, Traits(mentions=4))
    assert (held.outcome, held.rule) == (Outcome.HELD, "protections:mentions")
    assert protect(CARRIED, Limits(max_mentions=3), KNOWN, Traits(mentions=3)) is CARRIED
    assert protect(CARRIED, Limits(max_mentions=0), KNOWN, Traits(mentions=50)) is CARRIED


def test_without_a_reviewer_nothing_is_held_and_a_refusing_flood_still_refuses() -> None:
    unreviewed = Limits(flood_messages=3, max_mentions=3, hold=False)
    for activity, found in ((Activity(9, False), Traits(True, True, 99)), (NEW, Traits(True))):
        assert protect(CARRIED, unreviewed, activity, found) is CARRIED
    refusing = Limits(flood_messages=3, flood_refuses=True, hold=False)
    refused = protect(CARRIED, refusing, Activity(3, True), Traits())
    assert (refused.outcome, refused.rule) == (Outcome.REFUSED, "protections:flood")
    assert protect(CARRIED, refusing, NEW, Traits(has_link=True)) is CARRIED


def test_what_does_not_cross_stays_as_it_is() -> None:
    refused = Decision(Outcome.REFUSED, "boundary", "builtin-1", "no")
    assert protect(refused, Limits(), Activity(99, False), Traits(True, True, 99)) is refused
    held = Decision(Outcome.HELD, "watched_words:require_approval", "words-x", "coupon")
    assert protect(held, Limits(), NEW, Traits(has_link=True)) is held


def test_traits_of_a_message() -> None:
    assert traits("see https://example.org", None, False) == Traits(True, False, 0)
    assert traits("see www.example.org", None, False).has_link
    assert not traits("plain words only", None, False).has_link
    assert traits("a cat", None, True).has_media
    # A pill is a mention, not a link.
    pills = (
        '<a href="https://matrix.to/#/@a:x">A</a> <a href="https://matrix.to/#/@b:x">B</a> '
        '<a href="https://matrix.to/#/@a:x">A again</a>'
    )
    assert traits("A B A again", pills, False) == Traits(False, False, 2)
    assert traits("hi @c:x and @d:x.org", None, False).mentions == 2
    assert traits("hey @room", None, False).mentions > 1000
    assert traits("x", '<a href="https://example.org">x</a>', False).has_link
    assert traits("x", '<img src="mxc://x/y">', False).has_link


@given(st.integers(0, 50), st.integers(1, 20), st.booleans())
def test_flood_holds_exactly_beyond_the_limit(recent: int, limit: int, before: bool) -> None:
    decision = protect(CARRIED, Limits(flood_messages=limit), Activity(recent, before), Traits())
    assert (decision.outcome is Outcome.HELD) == (recent >= limit)
