"""What a watch shows a reader, for digests and the dashboard alike, filtered by their groups.

Everything here is re-checked against the readers of each category *now*: a category that
became restricted since a post was seen disappears from what its non-members are shown, and a
category whose readers are unknown shows nothing (fail closed). Crossing figures come from the
audit log, per link, for the links whose category the reader may read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from bridges.store.audit import AuditEntry
from bridges.store.watch_records import Activity, audit_between
from bridges.watching.access import Readers
from policies.watching import emerging, readable, readable_by_all

DAY = 86400.0
#: The audit outcomes shown per link, in this order.
OUTCOMES = ("carried", "transformed", "held", "refused", "retracted")


@dataclass
class ThreadSummary:
    """One thread as a watch saw it within a span."""

    thread: str
    title: str | None
    forum_url: str | None
    matrix_url: str | None
    posts: int = 0
    participants: set[str] = field(default_factory=set)
    first_at: float = 0.0
    last_at: float = 0.0
    terms: Counter[str] = field(default_factory=Counter)

    @property
    def label(self) -> str:
        return self.title or self.thread


def visible(
    readers: Readers, activity: Iterable[Activity], groups: Iterable[str]
) -> list[Activity]:
    """The activity one person in ``groups`` may read now (a dashboard viewer)."""
    groups = frozenset(groups)
    return visible_when(readers, activity, lambda r: readable(r, groups))


def visible_to_all(
    readers: Readers, activity: Iterable[Activity], groups: Iterable[str]
) -> list[Activity]:
    """The activity every member of every group in ``groups`` may read now (a watch)."""
    groups = frozenset(groups)
    return visible_when(readers, activity, lambda r: readable_by_all(r, groups))


def visible_when(
    readers: Readers,
    activity: Iterable[Activity],
    allowed: Callable[[frozenset[str] | None], bool],
) -> list[Activity]:
    """The activity whose reading groups now (:meth:`Readers.of`) pass ``allowed``."""
    decided: dict[tuple[int | None, str | None], bool] = {}
    out = []
    for item in activity:
        key = (item.category_id, item.room_id if item.from_chat else None)
        if key not in decided:
            decided[key] = allowed(readers.of(item))
        if decided[key]:
            out.append(item)
    return out


def threads(activity: Sequence[Activity]) -> list[ThreadSummary]:
    """Per-thread summaries, most active first."""
    found: dict[str, ThreadSummary] = {}
    for item in activity:
        summary = found.get(item.thread)
        if summary is None:
            summary = ThreadSummary(
                item.thread, item.title, item.forum_url, item.matrix_url, first_at=item.at
            )
            found[item.thread] = summary
        summary.posts += 1
        summary.participants.add(item.author)
        summary.last_at = max(summary.last_at, item.at)
        summary.terms.update(item.terms)
        summary.title = summary.title or item.title
        summary.forum_url = summary.forum_url or item.forum_url
        summary.matrix_url = summary.matrix_url or item.matrix_url
    return sorted(found.values(), key=lambda t: (-t.posts, -t.last_at))


def day_counts(times: Iterable[float], start: float, days: int, bucket: float = DAY) -> list[int]:
    """How many of ``times`` fall in each of ``days`` buckets from ``start``."""
    counts = [0] * days
    for at in times:
        index = int((at - start) // bucket)
        if 0 <= index < days:
            counts[index] += 1
    return counts


def term_days(
    activity: Sequence[Activity],
    start: float,
    days: int,
    bucket: float = DAY,
    *,
    words: bool = False,
) -> dict[str, list[int]]:
    """Each term's hits per bucket (term by day: the heat map, and emerging terms); with
    ``words``, each keyword's posts per bucket instead."""
    out: dict[str, list[int]] = {}
    for item in activity:
        index = int((item.at - start) // bucket)
        if not 0 <= index < days:
            continue
        for term in item.words if words else item.terms:
            out.setdefault(term, [0] * days)[index] += 1
    return out


def top_words(
    counts: dict[str, list[int]], limit: int = 12, skip: Iterable[str] = ()
) -> list[tuple[str, list[int]]]:
    """The words to show in a heat map: the emerging ones first, then the most frequent in the
    latest bucket, then overall; ``skip`` (the watch's own terms) left out."""
    skipped = {s.lower() for s in skip}
    rising = [e.term for e in emerging(counts)]
    rest = sorted(counts, key=lambda w: (-counts[w][-1], -sum(counts[w]), w))
    chosen: list[str] = []
    for word in [*rising, *rest]:
        if word not in chosen and word not in skipped and sum(counts[word]) > 1:
            chosen.append(word)
        if len(chosen) == limit:
            break
    return [(word, counts[word]) for word in chosen]


def crossings(
    readers: Readers, groups: Iterable[str], since: float, until: float
) -> tuple[dict[str, dict[str, int]], list[AuditEntry]]:
    """Per link the decisions of each outcome in ``[since, until)``, and the held and refused
    entries themselves; only links one person in ``groups`` may read (category and room)."""
    groups = frozenset(groups)
    return crossings_when(readers, lambda r: readable(r, groups), since, until)


def crossings_when(
    readers: Readers,
    allowed: Callable[[frozenset[str] | None], bool],
    since: float,
    until: float,
) -> tuple[dict[str, dict[str, int]], list[AuditEntry]]:
    """:func:`crossings` for the links whose reading groups (the more closed of category and
    room, :meth:`Readers.link`) pass ``allowed``."""
    figures: dict[str, dict[str, int]] = {}
    held: list[AuditEntry] = []
    decided: dict[str | None, bool] = {}
    for entry in audit_between(readers.store.db, since, until):
        if entry.link not in decided:
            decided[entry.link] = allowed(readers.link(entry.link))
        if not decided[entry.link] or entry.link is None:
            continue
        if entry.outcome not in OUTCOMES:
            continue
        per_link = figures.setdefault(entry.link, dict.fromkeys(OUTCOMES, 0))
        per_link[entry.outcome] += 1
        if entry.outcome in ("held", "refused"):
            held.append(entry)
    return figures, held
