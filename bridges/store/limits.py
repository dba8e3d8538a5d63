"""What the store's columns can hold, so a door can refuse a value before the store fails on it.

A value that does not fit (an id longer than its ``String(255)`` column, a number beyond a
``BigInteger``, text PostgreSQL cannot store) makes the insert fail as if the store were down:
the door would answer 5xx and the platform would resend the same body forever. The doors check
with these functions first and refuse the one event instead.
"""

from __future__ import annotations

from bridges.store.inbox import NewEvent

#: Length (in characters) of the ``String(255)`` columns an inbox event writes:
#: ``inbox.conversation``, ``inbox_keys.key`` and ``as_transactions.txn_id``.
TEXT_MAX = 255
#: A ``BigInteger`` column (PostgreSQL ``bigint``): signed 64 bits. Forum ids end up in these.
BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1
#: An ``Integer`` column (PostgreSQL ``integer``): signed 32 bits (``messages.post_number``).
INT_MIN, INT_MAX = -(2**31), 2**31 - 1


def text_problem(value: str, limit: int = TEXT_MAX) -> str | None:
    """Why ``value`` cannot be stored in a ``String(limit)`` column, or None if it can.

    PostgreSQL text holds no NUL character, and no database driver encodes a lone surrogate
    (which JSON's ``\\ud800`` escapes can produce) as UTF-8.
    """
    if len(value) > limit:
        return f"longer than {limit} characters"
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (a lone surrogate)"
    return None


def unstorable(event: NewEvent) -> str | None:
    """Why the inbox could not record ``event`` (its conversation or a key does not fit),
    or None when it can. The payload is JSON with non-ASCII escaped, so it always fits."""
    problem = text_problem(event.conversation)
    if problem is not None:
        return f"its conversation key {problem}"
    for key in event.keys:
        problem = text_problem(key)
        if problem is not None:
            return f"its id {problem}"
    return None
