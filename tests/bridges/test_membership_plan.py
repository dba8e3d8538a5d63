"""Who belongs in a managed room: the pure decisions of :mod:`policies.membership`."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bridges.model import UserID
from policies.membership import entitled, plan_room, power_level

ANA, BEN, CAT, DAN = (UserID(f"@{n}:localhost") for n in ("ana", "ben", "cat", "dan"))


def test_entitlement_needs_both_facts() -> None:
    assert entitled({"teachers"}, {"teachers", "trust_level_0"}) is True
    assert entitled({"teachers"}, {"trust_level_0"}) is False
    assert entitled({"teachers"}, None) is None
    assert entitled(None, {"teachers"}) is None
    # A room for everyone entitles even someone whose groups are unknown.
    assert entitled({"everyone"}, None) is True


def test_members_are_invited_and_those_who_left_the_group_removed() -> None:
    plan = plan_room(
        {ANA: True, BEN: False, CAT: True, DAN: False},
        {BEN: "join", CAT: "join", DAN: "leave"},
        protected=(),
        invited_before=(),
    )
    assert plan.invite == (ANA,)
    assert plan.kick == (BEN,)


def test_unknown_groups_move_nobody() -> None:
    plan = plan_room({ANA: None, BEN: None}, {BEN: "join"}, protected=(), invited_before=())
    assert (plan.invite, plan.kick, plan.waiting) == ((), (), (ANA, BEN))


def test_moderators_are_never_removed() -> None:
    plan = plan_room({BEN: False}, {BEN: "join"}, protected={BEN}, invited_before=())
    assert (plan.kick, plan.kept) == ((), (BEN,))


def test_someone_who_left_a_room_porch_invited_them_to_is_not_invited_again() -> None:
    assert plan_room({ANA: True}, {ANA: "leave"}, (), invited_before={ANA}).invite == ()
    assert plan_room({ANA: True}, {ANA: "leave"}, (), invited_before=()).invite == (ANA,)
    assert plan_room({ANA: True}, {ANA: "ban"}, (), invited_before=()).invite == ()


def test_a_room_for_everyone_invites_only_those_who_knock() -> None:
    plan = plan_room({ANA: True, BEN: True}, {BEN: "knock"}, (), (), bulk_invite=False)
    assert plan.invite == (BEN,)


def test_power_levels_follow_the_spec_defaults() -> None:
    levels = {"users": {ANA: 100, BEN: 50}, "users_default": 10}
    assert power_level(levels, ANA) == 100
    assert power_level(levels, CAT) == 10
    assert power_level(None, ANA) == 0


memberships = st.sampled_from([None, "join", "invite", "knock", "leave", "ban"])


@given(
    st.dictionaries(
        st.sampled_from([ANA, BEN, CAT, DAN]),
        st.tuples(st.sampled_from([True, False, None]), memberships, st.booleans()),
    )
)
def test_nobody_is_removed_on_a_guess_or_invited_without_entitlement(
    people: dict[UserID, tuple[bool | None, str | None, bool]],
) -> None:
    entitlement = {u: p[0] for u, p in people.items()}
    rooms = {u: p[1] for u, p in people.items() if p[1] is not None}
    protected = {u for u, p in people.items() if p[2]}
    plan = plan_room(entitlement, rooms, protected, invited_before=())
    assert all(entitlement[u] is True for u in plan.invite)
    assert all(entitlement[u] is False and u not in protected for u in plan.kick)
    assert all(rooms.get(u) in ("join", "invite") for u in plan.kick)
    assert not any(rooms.get(u) in ("join", "invite", "ban") for u in plan.invite)
