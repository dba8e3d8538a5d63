"""Watch rules as pure functions: access, scope, terms, thresholds, emerging terms, time."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies.tiers import Tier
from policies.watching import (
    EVERYONE,
    AlertKind,
    Observation,
    QuietHours,
    Scope,
    Terms,
    Thresholds,
    audience_may_read,
    chat_readers,
    crossed,
    emerging,
    in_scope,
    keywords,
    matched_terms,
    period,
    quiet_until,
    readable,
    readable_by_all,
    velocity,
)


def obs(text: str = "", **kw: object) -> Observation:
    return Observation(text=text, **kw)  # type: ignore[arg-type]


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


OPEN_READERS = frozenset({EVERYONE})
COUNCIL = frozenset({"council"})


@pytest.mark.parametrize(
    ("category", "category_tier", "room_tier", "expected"),
    [
        # An open room: the category decides.
        (OPEN_READERS, Tier.OPEN, Tier.OPEN, OPEN_READERS),
        (COUNCIL, Tier.PRIVATE, Tier.OPEN, COUNCIL),
        # The same tier on both sides: the category's groups are the members porch can name.
        (COUNCIL, Tier.PRIVATE, Tier.PRIVATE, COUNCIL),
        # A room more closed than its category: its members are no forum group; nobody.
        (OPEN_READERS, Tier.OPEN, Tier.PRIVATE, None),
        (OPEN_READERS, Tier.OPEN, Tier.RESTRICTED, None),
        (COUNCIL, Tier.RESTRICTED, Tier.PRIVATE, None),
        # Anything unknown: nobody.
        (OPEN_READERS, Tier.OPEN, None, None),
        (OPEN_READERS, None, Tier.OPEN, None),
        (None, Tier.OPEN, Tier.OPEN, None),
    ],
)
def test_a_chat_message_is_read_by_the_more_closed_of_room_and_category(
    category: frozenset[str] | None,
    category_tier: Tier | None,
    room_tier: Tier | None,
    expected: frozenset[str] | None,
) -> None:
    assert chat_readers(category, category_tier, room_tier) == expected


def test_an_invite_only_room_of_an_open_category_feeds_no_watch() -> None:
    readers = chat_readers(OPEN_READERS, Tier.OPEN, Tier.PRIVATE)
    for groups in ({EVERYONE}, {"policy-team"}, {"admins", "staff"}):
        assert not readable_by_all(readers, groups)
        assert not readable(readers, groups)


def test_a_watch_reads_only_what_every_one_of_its_groups_may() -> None:
    assert readable_by_all(OPEN_READERS, {"policy-team"})
    assert readable_by_all(COUNCIL, {"council"})
    # Its alerts reach the policy team too, who may not read the council's category.
    assert not readable_by_all(COUNCIL, {"council", "policy-team"})
    assert not readable_by_all(COUNCIL, {EVERYONE})
    assert not readable_by_all(COUNCIL, set())
    assert not readable_by_all(None, {"council"})


def test_a_destination_receives_only_what_each_of_its_readers_may_read() -> None:
    council_member = frozenset({"council", EVERYONE})
    unlinked = frozenset({EVERYONE})
    assert audience_may_read(COUNCIL, [council_member, council_member])
    assert not audience_may_read(COUNCIL, [council_member, unlinked])
    # An audience porch cannot name (public room, email, webhook) gets only open content.
    assert not audience_may_read(COUNCIL, None)
    assert audience_may_read(OPEN_READERS, None)
    assert not audience_may_read(None, [council_member])


@given(
    st.sampled_from([*Tier, None]),
    st.sampled_from([*Tier, None]),
    st.frozensets(st.sampled_from(["council", "staff", "policy-team", EVERYONE])),
)
def test_a_chat_message_is_never_more_readable_than_its_category(
    category_tier: Tier | None, room_tier: Tier | None, groups: frozenset[str]
) -> None:
    readers = chat_readers(COUNCIL, category_tier, room_tier)
    if readable_by_all(readers, groups):
        assert readable_by_all(COUNCIL, groups)
        assert category_tier is not None and room_tier is not None
        assert room_tier.rank >= category_tier.rank


def test_unknown_readers_are_never_readable() -> None:
    assert not readable(None, {"everyone", "admins"})
    assert readable(frozenset({"everyone"}), set())
    assert readable(frozenset({"teachers"}), {"teachers", "everyone"})
    assert not readable(frozenset({"teachers"}), {"everyone", "policy-team"})


def test_words_phrases_and_patterns() -> None:
    terms = Terms(words=("rent",), phrases=("social housing",), patterns=(r"evict\w*",))
    hit = matched_terms(terms, obs("More SOCIAL\n housing and evictions", title="Rent caps"))
    assert hit == ("rent", "social housing", r"evict\w*")
    # Whole words only: "rental" and "parent" are not "rent".
    assert matched_terms(terms, obs("A rental for my parent")) == ()


def test_scope_filters_and_unknown_author_groups_fail_closed() -> None:
    scope = Scope(categories=frozenset({"town-square"}), author_groups=frozenset({"staff"}))
    post = obs("x", category_id=5, category_slug="town-square", author_groups=frozenset({"staff"}))
    assert in_scope(scope, post)
    assert in_scope(Scope(categories=frozenset({"5"})), post)
    assert not in_scope(scope, obs("x", category_id=5, category_slug="town-square"))
    assert not in_scope(Scope(tags=frozenset({"budget"})), post)
    assert in_scope(Scope(rooms=frozenset({"!r"})), obs("x", room_refs=frozenset({"!r"})))


def test_a_burst_and_participants() -> None:
    th = Thresholds(posts=3, within=600, participants=3)
    now = 10_000.0
    kinds = [c.kind for c in crossed(th, [now - 500, now - 100, now], 2, now)]
    assert kinds == [AlertKind.BURST]
    assert crossed(th, [now - 700, now - 100, now], 2, now) == []
    kinds = [c.kind for c in crossed(th, [now], 3, now)]
    assert kinds == [AlertKind.PARTICIPANTS]


def test_trending_is_against_the_threads_own_baseline() -> None:
    th = Thresholds(trending_factor=3.0, trending_window=3600, trending_min_posts=3)
    now = 100 * 3600.0
    # A busy thread (about 4 posts an hour for two days) is not trending at 5 an hour ...
    busy = [now - 3600 - i * 900 for i in range(190)] + [now - i * 600 for i in range(5)]
    assert crossed(th, busy, 2, now) == []
    # ... a quiet one (one post a day) is, at 4 an hour.
    quiet = [now - 3600 - i * 86400 for i in range(3)] + [now - i * 600 for i in range(4)]
    assert [c.kind for c in crossed(th, quiet, 2, now)] == [AlertKind.TRENDING]
    # A new thread's baseline is the floor: three posts in its first hour trend.
    assert [c.kind for c in crossed(th, [now - 10, now - 5, now], 1, now)] == [AlertKind.TRENDING]


@given(st.lists(st.floats(min_value=0, max_value=1e6), max_size=50))
def test_velocity_baseline_never_below_its_floor(times: list[float]) -> None:
    recent, baseline = velocity(sorted(times), 1e6, 3600.0, 1.0)
    assert baseline >= 1.0
    assert 0 <= recent <= len(times)


def test_emerging_terms_stand_out_against_their_own_past() -> None:
    daily = {"rent": [1, 1, 1, 6], "bins": [5, 5, 5, 6], "new": [0, 0, 0, 2], "one": [0, 1]}
    found = emerging(daily)
    assert [e.term for e in found] == ["rent", "new"]


def test_quiet_hours_wrap_past_midnight() -> None:
    quiet = QuietHours(time(22, 0), time(7, 0))
    assert quiet_until(quiet, at("2026-03-01T23:30")) == at("2026-03-02T07:00")
    assert quiet_until(quiet, at("2026-03-02T06:59")) == at("2026-03-02T07:00")
    assert quiet_until(quiet, at("2026-03-02T07:00")) is None
    assert quiet_until(None, at("2026-03-02T03:00")) is None
    day = QuietHours(time(12, 0), time(13, 0))
    assert quiet_until(day, at("2026-03-02T12:10")) == at("2026-03-02T13:00")


@pytest.mark.parametrize(
    ("every", "now", "key", "start"),
    [
        ("daily", "2026-03-04T09:00", "2026-03-03", "2026-03-03T07:00"),
        ("daily", "2026-03-04T06:00", "2026-03-02", "2026-03-02T07:00"),
        ("weekly", "2026-03-04T09:00", "2026-W09", "2026-02-23T07:00"),
    ],
)
def test_digest_periods(every: str, now: str, key: str, start: str) -> None:
    got_key, got_start, got_end = period(every, at(now), 7)
    assert (got_key, got_start) == (key, at(start))
    assert got_end - got_start == (7 if every == "weekly" else 1) * 86400


def test_keywords_leave_out_stop_words_urls_and_short_words() -> None:
    text = "Rents, rent and RENT! The landlord's rent-hike: see https://example.org/rents 2026"
    assert keywords(text) == ("rent", "rents", "landlord", "rent-hike")
    assert keywords("alpha beta gamma delta epsilon", limit=2) == ("alpha", "beta")
