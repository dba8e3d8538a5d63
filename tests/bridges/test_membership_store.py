"""Membership state on SQLite and PostgreSQL: porch's invites, knocks for a facilitator."""

from __future__ import annotations

from bridges.membership.rooms import MembershipTicker
from bridges.model import EventID, RoomID, UserID
from bridges.store.membership_records import ACCEPTED, PENDING, Knock, MembershipRecords
from bridges.store.store import Store

ROOM, NOTICES = RoomID("!room:localhost"), RoomID("!mods:localhost")
ANA, MOD = UserID("@ana:localhost"), UserID("@mod:localhost")


def test_invites_are_remembered_until_porch_removes_the_member(store: Store) -> None:
    records = MembershipRecords(store.db)
    assert not records.invited(ROOM, ANA)
    records.record_invite(ROOM, ANA, 1.0)
    records.record_invite(ROOM, ANA, 2.0)  # a second invite replaces the first
    assert records.invited(ROOM, ANA)
    records.forget_invite(ROOM, ANA)
    assert not records.invited(ROOM, ANA)


def test_a_knock_is_queued_once_and_accepted_once(store: Store) -> None:
    records = MembershipRecords(store.db)
    knock = Knock(ROOM, ANA, EventID("$k1"), "I teach here", 5.0, NOTICES)
    assert records.queue_knock(knock)
    assert not records.queue_knock(Knock(ROOM, ANA, EventID("$k2"), None, 6.0, NOTICES))
    (pending,) = records.pending(NOTICES)
    assert (pending.event_id, pending.reason, pending.status) == ("$k1", "I teach here", PENDING)
    assert records.pending(ROOM) == []

    assert records.decide(ROOM, ANA, ACCEPTED, MOD, 7.0)
    assert not records.decide(ROOM, ANA, ACCEPTED, MOD, 8.0)
    decided = records.knock(ROOM, ANA)
    assert decided is not None
    assert (decided.status, decided.decided_by, decided.decided_at) == (ACCEPTED, MOD, 7.0)
    assert records.pending() == []
    # Knocking again after a decision is a new knock.
    assert records.queue_knock(Knock(ROOM, ANA, EventID("$k3"), None, 9.0, NOTICES))


def test_reconciliations_are_queued_once_per_interval(store: Store) -> None:
    now = [960.0]
    woken: list[bool] = []
    ticker = MembershipTicker(store.inbox, 60.0, lambda: now[0], lambda: woken.append(True))
    first = ticker.tick()
    now[0] = 1019.0
    assert first is not None
    assert ticker.tick() is None  # another process ticked this interval already
    now[0] = 1021.0
    assert ticker.tick() is not None
    assert woken == [True, True]
