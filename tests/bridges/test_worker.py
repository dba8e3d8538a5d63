"""The worker's settling rules, on a real store, with a handler that scripts outcomes."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from bridges.discourse.forum_errors import ForumRejected, ForumUnavailable
from bridges.links import RelayConfig
from bridges.matrix.matrix_errors import MatrixError, MatrixUnavailable
from bridges.model import EventKind, Platform
from bridges.store.inbox import DEAD, DONE, PENDING, InboxRow, NewEvent
from bridges.store.store import Store
from bridges.worker import RetryLater, Unfixable, Worker, unfixable
from tests.rig.clock import Clock


class Scripted:
    """Handles events by running the next scripted outcome for them."""

    def __init__(self, script: dict[str, list[Callable[[], None]]]) -> None:
        self.script = script
        self.seen: list[str] = []

    def handle(self, row: InboxRow) -> None:
        self.seen.append(row.payload)
        steps = self.script.get(row.payload, [])
        if steps:
            steps.pop(0)()


def fail(exc: Exception) -> Callable[[], None]:
    def raise_it() -> None:
        raise exc

    return raise_it


def add(store: Store, conversation: str, payload: str) -> None:
    store.inbox.append(
        [NewEvent(Platform.FORUM, EventKind.POST_CREATED, conversation, payload, (payload,))], 0.0
    )


def make(store: Store, handler: Scripted, clock: Clock, **config: float) -> Worker:
    relay = RelayConfig(max_attempts=3, backoff_initial=1.0, backoff_max=10.0, **config)
    return Worker(store.inbox, handler, relay, "test:1", clock=clock)


def test_conversation_order_holds_while_its_head_is_retried(store: Store) -> None:
    clock = Clock()
    handler = Scripted({"a1": [fail(RuntimeError("outage"))]})
    worker = make(store, handler, clock)
    add(store, "a", "a1")
    add(store, "a", "a2")
    add(store, "b", "b1")
    worker.run_once()
    # a1 failed and waits; a2 must not overtake it; b is independent.
    assert handler.seen == ["a1", "b1"]
    worker.run_once()
    assert handler.seen == ["a1", "b1"]
    clock.now += 1.0
    worker.run_once()
    worker.run_once()
    assert handler.seen == ["a1", "b1", "a1", "a2"]
    assert {r.payload: r.status for r in store.inbox.rows()} == {
        "a1": DONE,
        "a2": DONE,
        "b1": DONE,
    }


def test_backoff_doubles_and_event_is_parked_after_max_attempts(store: Store) -> None:
    clock = Clock()
    handler = Scripted({"x": [fail(RuntimeError(f"boom {i}")) for i in range(5)]})
    worker = make(store, handler, clock)
    add(store, "c", "x")
    worker.run_once()
    [row] = store.inbox.rows()
    assert (row.status, row.attempts, row.next_attempt_at) == (PENDING, 1, clock.now + 1.0)
    clock.now = row.next_attempt_at
    worker.run_once()
    [row] = store.inbox.rows()
    assert (row.attempts, row.next_attempt_at) == (2, clock.now + 2.0)
    clock.now = row.next_attempt_at
    worker.run_once()
    [row] = store.inbox.rows()
    assert row.status == DEAD
    assert row.last_error == "RuntimeError: boom 2"


def test_rate_limit_waits_as_asked_and_never_parks(store: Store) -> None:
    clock = Clock()
    limited = [fail(RetryLater("429", 30.0, counts=False)) for _ in range(6)]
    handler = Scripted({"x": limited})
    worker = make(store, handler, clock)
    add(store, "c", "x")
    for _ in range(6):
        worker.run_once()
        [row] = store.inbox.rows()
        assert row.status == PENDING
        assert row.attempts == 0
        assert row.next_attempt_at == clock.now + 30.0
        clock.now = row.next_attempt_at
    worker.run_once()
    assert store.inbox.rows()[0].status == DONE


def test_a_batch_outliving_its_lease_never_delivers_an_event_twice(store_url: str) -> None:
    """Two workers on one store: the first is slow on its first event, its lease on the rest of
    its batch lapses and the second worker takes one of them up; the first must skip it."""
    clock = Clock()
    one, two = Store.open(store_url), Store.open(store_url)
    try:
        delivered: list[tuple[str, str]] = []

        class Recording(Scripted):
            def __init__(self, name: str, script: dict[str, list[Callable[[], None]]]) -> None:
                super().__init__(script)
                self.name = name

            def handle(self, row: InboxRow) -> None:
                delivered.append((self.name, row.payload))
                super().handle(row)

        relay = RelayConfig(max_attempts=3, backoff_initial=1.0, backoff_max=10.0)
        second = Worker(two.inbox, Recording("second", {}), relay, "test:2", clock=clock)

        def slow() -> None:
            clock.now += 70.0  # each within the lease, the two together longer

        def slow_while_the_second_looks() -> None:
            slow()
            assert second.run_once() == 1

        first = Worker(
            one.inbox,
            Recording("first", {"a1": [slow], "b1": [slow_while_the_second_looks]}),
            relay,
            "test:1",
            clock=clock,
        )
        for conversation in "abc":
            add(one, conversation, f"{conversation}1")
        assert first.run_once() == 2
        assert delivered == [("first", "a1"), ("first", "b1"), ("second", "c1")]
        assert {r.status for r in one.inbox.rows()} == {DONE}
    finally:
        one.close()
        two.close()


def _store_value_error() -> sa.exc.DataError:
    return sa.exc.DataError("INSERT INTO messages ...", {}, Exception("integer out of range"))


def test_an_error_no_retry_can_fix_parks_at_once_and_frees_its_conversation(
    store: Store,
) -> None:
    """A value the store refuses (or a mapping that collides, a payload that cannot be read)
    fails the same way every time: the event becomes a dead letter on its first failure, and the
    next message of its room goes out in the same pass instead of minutes later."""
    clock = Clock()
    collision = sa.exc.IntegrityError("INSERT INTO messages ...", {}, Exception("unique"))
    handler = Scripted(
        {
            "a1": [fail(_store_value_error())],
            "b1": [fail(collision)],
            "c1": [fail(Unfixable("the recorded event cannot be read"))],
        }
    )
    worker = make(store, handler, clock)
    for conversation in "abc":
        add(store, conversation, f"{conversation}1")
        add(store, conversation, f"{conversation}2")
    worker.run_once()
    worker.run_once()  # no time passes: nothing waits on a backoff
    assert sorted(handler.seen) == ["a1", "a2", "b1", "b2", "c1", "c2"]
    rows = {r.payload: r for r in store.inbox.rows()}
    assert {p: r.status for p, r in rows.items()} == {
        "a1": DEAD,
        "a2": DONE,
        "b1": DEAD,
        "b2": DONE,
        "c1": DEAD,
        "c2": DONE,
    }
    assert rows["a1"].attempts == 0
    assert "a retry cannot fix this" in (rows["a1"].last_error or "")
    # ``porch status`` counts them per conversation.
    assert {s.conversation: s.dead for s in store.inbox.stats()} == {"a": 1, "b": 1, "c": 1}


def test_passing_errors_keep_their_retries() -> None:
    """A network error, a platform's 5xx or 429, the store being down: worth retrying."""
    down = sa.exc.OperationalError("SELECT 1", {}, Exception("connection refused"))
    passing: list[BaseException] = [
        RuntimeError("outage"),
        ConnectionError("reset"),
        down,
        MatrixUnavailable("PUT /send", 502, None, "bad gateway"),
        MatrixError("PUT /send", 429, "M_LIMIT_EXCEEDED", "slow down"),
        ForumUnavailable("503", status=503),
        ForumRejected("forbidden", status=403),
    ]
    wrapped = RetryLater("forum said no")
    wrapped.__cause__ = _store_value_error()
    passing.append(wrapped)  # whoever raised RetryLater decided it is worth a retry
    assert [unfixable(e) for e in passing] == [False] * len(passing)
    fixed_never: list[BaseException] = [
        _store_value_error(),
        OverflowError("Python int too large to convert to SQLite INTEGER"),
        MatrixError("PUT /send", 400, "M_BAD_JSON", "bad content"),
        ForumRejected("bad request", status=400),
    ]
    assert [unfixable(e) for e in fixed_never] == [True] * len(fixed_never)
