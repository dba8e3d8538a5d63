"""Watching: which posts a watch sees, which terms they hit, which thresholds a thread crosses.

Pure functions on plain data (no I/O): :mod:`bridges.watching` gathers the observations and the
activity counters from the store and acts on what these functions return (alerts, digests,
the dashboard).

Access comes first: :func:`readable` says whether a watch (or a dashboard viewer) may see a
post at all, from the forum groups entitled to read its category; a category whose readers are
unknown is never readable (fail closed).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, tzinfo
from enum import StrEnum

from policies.linear import Linear, compile_linear, escape
from policies.tiers import Tier

#: The group every forum user is in; an unrestricted category is read by ``everyone``.
EVERYONE = "everyone"


class AlertKind(StrEnum):
    """Why an alert was raised. Stored (one alert per thread, watch and kind): never rename."""

    MATCH = "match"
    BURST = "burst"
    PARTICIPANTS = "participants"
    TRENDING = "trending"


@dataclass(frozen=True, slots=True)
class Terms:
    """What a watch listens for: whole words, phrases (case-insensitive, whitespace-tolerant)
    and regular expressions (Python syntax, searched case-insensitively)."""

    words: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.words or self.phrases or self.patterns)


@dataclass(frozen=True, slots=True)
class Scope:
    """Where a watch looks; an empty filter lets everything through.

    ``categories`` are slugs or ids (as text); ``rooms`` room ids or aliases as configured.
    """

    categories: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()
    rooms: frozenset[str] = frozenset()
    author_groups: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When a thread's activity is worth an alert of its own.

    - ``posts`` new posts within ``within`` seconds (a burst);
    - ``participants`` distinct authors in the thread;
    - ``trending_factor``: the posts of the last ``trending_window`` seconds are at least this
      many times the thread's own baseline (its earlier posts per window, at least
      ``baseline_floor``) and at least ``trending_min_posts``.
    """

    posts: int | None = None
    within: float = 3600.0
    participants: int | None = None
    trending_factor: float | None = None
    trending_window: float = 3600.0
    trending_min_posts: int = 3
    baseline_floor: float = 1.0


@dataclass(frozen=True, slots=True)
class Rule:
    """One watch, as the pure functions need it."""

    name: str
    terms: Terms = Terms()
    scope: Scope = Scope()
    thresholds: Thresholds = Thresholds()


@dataclass(frozen=True, slots=True)
class Observation:
    """One post or chat message as a watch sees it.

    ``author_groups`` is ``None`` when unknown: a watch filtering on author groups then does not
    see it (fail closed). ``room_refs`` are the room id and any alias of the link's room.
    """

    text: str
    title: str | None = None
    category_id: int | None = None
    category_slug: str | None = None
    tags: frozenset[str] = frozenset()
    room_refs: frozenset[str] = frozenset()
    author: str = ""
    author_groups: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class Crossed:
    """A threshold a thread crossed, and the figures that crossed it (for the alert text)."""

    kind: AlertKind
    detail: str


@dataclass(frozen=True, slots=True)
class Emerging:
    """A term whose count in the latest period stands out against its own earlier periods."""

    term: str
    count: int
    baseline: float


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily span (local ``start`` to ``end``; it may wrap past midnight) without alerts."""

    start: time
    end: time
    zone: tzinfo = field(default=UTC)


# --- access ---------------------------------------------------------------------------------


def readable(readers: frozenset[str] | None, groups: Iterable[str]) -> bool:
    """Whether someone in ``groups`` may read a category whose reading groups are ``readers``.

    ``readers`` ``None`` means unknown (never read, or the forum would not show it): nothing
    is readable then. Discourse's ``everyone`` group reads unrestricted categories.
    """
    if readers is None:
        return False
    if EVERYONE in readers:
        return True
    return bool(readers.intersection(groups))


def chat_readers(
    category_readers: frozenset[str] | None,
    category_tier: Tier | None,
    room_tier: Tier | None,
) -> frozenset[str] | None:
    """The forum groups entitled to read a chat message of a linked room: the more closed of
    the room and its link's category.

    A chat message is first read by the room's members, whoever the category lets in. When the
    room is no more closed than the category (an open room, or a room of the same tier as its
    category), the category's reading groups are the audience porch can name. When the room is
    more closed (an invite-only room linked to an open category), its members are not a forum
    group porch knows: nobody's watch may read it (``None``). Any unknown part is ``None``
    too (fail closed).
    """
    if category_readers is None or category_tier is None or room_tier is None:
        return None
    if room_tier.rank < category_tier.rank:
        return None
    return category_readers


def readable_by_all(readers: frozenset[str] | None, groups: Iterable[str]) -> bool:
    """Whether every member of every group in ``groups`` may read content whose reading groups
    are ``readers``: the test for a watch, whose alerts and digests reach all of its groups at
    once (a person needs only one reading group; an audience needs each of its groups to be
    one). No groups at all reads nothing."""
    if readers is None:
        return False
    if EVERYONE in readers:
        return True
    wanted = frozenset(groups)
    return bool(wanted) and wanted <= readers


def audience_may_read(
    readers: frozenset[str] | None, audience: Iterable[frozenset[str]] | None
) -> bool:
    """Whether every person of a sink's ``audience`` (each person's forum groups) may read
    content whose reading groups are ``readers``. ``None`` is an audience porch cannot name
    (a public room, an email address, a webhook): only content everyone reads goes there."""
    if readers is None:
        return False
    if EVERYONE in readers:
        return True
    if audience is None:
        return False
    return all(readable(readers, person) for person in audience)


# --- matching -------------------------------------------------------------------------------


def in_scope(scope: Scope, obs: Observation) -> bool:
    """Whether ``obs`` falls inside every filter the scope sets."""
    if scope.categories:
        refs = {str(obs.category_id)} if obs.category_id is not None else set()
        if obs.category_slug:
            refs.add(obs.category_slug)
        if not refs & scope.categories:
            return False
    if scope.tags and not scope.tags & obs.tags:
        return False
    if scope.rooms and not scope.rooms & obs.room_refs:
        return False
    return not scope.author_groups or (
        obs.author_groups is not None and bool(scope.author_groups & obs.author_groups)
    )


def _whole(pattern: str) -> Linear:
    return Linear(pattern, ignore_case=True, not_after=r"\w", not_before=r"\w")


def compile_terms(terms: Terms) -> list[tuple[str, Linear]]:
    """Each term with the expression that finds it (RE2: linear time in the text).

    Raises:
        ValueError: a pattern is not an expression RE2 can run (config validation calls this).
    """
    found: list[tuple[str, Linear]] = []
    for word in terms.words:
        found.append((word, _whole(escape(word))))
    for phrase in terms.phrases:
        spaced = r"\s+".join(escape(p) for p in phrase.split())
        found.append((phrase, _whole(spaced)))
    for pattern in terms.patterns:
        compiled = compile_linear(pattern, ignore_case=True)
        if compiled is None:
            raise ValueError(f"{pattern!r} is not a regular expression RE2 can run")
        found.append((pattern, compiled))
    for _, expr in found:
        expr.check()
    return found


def matched_terms(terms: Terms, obs: Observation) -> tuple[str, ...]:
    """The terms (as configured) found in the observation's title or text, in config order."""
    haystack = f"{obs.title or ''}\n{obs.text}"
    return tuple(term for term, expr in compile_terms(terms) if expr.search(haystack))


#: Words too common to say anything about a discussion (English; a watch's own terms are
#: matched regardless).
_STOP = """about above after again against also because been before being below between both
could does doing down during each from further have having here hers herself himself into itself
just more most must myself only other ought ours ourselves over same should some such than that
their theirs them themselves then there these they this those through under until very were what
when where which while will with would your yours yourself yourselves really think thing things
like want going please thanks thank know don't can't won't isn't aren't didn't doesn't you're
we're they're"""
STOPWORDS = frozenset(_STOP.split())
_URL = Linear(r"\w+://\S+")
#: Runs of four or more word characters, apostrophes and hyphens. A word is such a run from
#: its first letter (a word character but no digit or underscore) on, when that leaves four
#: characters or more: what ``[^\W\d_][\w'-]{3,}`` finds, found run by run. That pattern cost
#: a call into the engine per word; this one is a single character set, which Python's ``re``
#: runs in linear time (see ``Linear``), at a fraction of that cost per match.
_RUN = Linear(r"[\w'-]{4,}")


def _words(text: str) -> Iterator[str]:
    """What ``[^\\W\\d_][\\w'-]{3,}`` matches in ``text``, left to right."""
    for run in _RUN.finditer(text):
        letters = run.group(0)
        # ``re``'s \w is ``str.isalnum`` and "_", its \d ``str.isdecimal``
        first = next((i for i, c in enumerate(letters) if c.isalnum() and not c.isdecimal()), -1)
        if first >= 0 and len(letters) - first >= 4:
            yield letters[first:]


def keywords(text: str, limit: int = 8) -> tuple[str, ...]:
    """The words of ``text`` that may tell what it is about: lower-cased, at least four
    letters, no stop words, most frequent first (ties in order of appearance), at most
    ``limit``. Emerging words are counted from these."""
    counts: dict[str, int] = {}
    for found in _words(_URL.sub(" ", text)):
        word = found.lower().strip("'-").removesuffix("'s")
        if len(word) >= 4 and word not in STOPWORDS:
            counts[word] = counts.get(word, 0) + 1
    ranked = sorted(counts, key=lambda w: -counts[w])
    return tuple(ranked[:limit])


# --- thresholds -----------------------------------------------------------------------------


def crossed(
    thresholds: Thresholds, times: Sequence[float], participants: int, now: float
) -> list[Crossed]:
    """The thresholds a thread crosses now, from the times of its posts (any order) and its
    number of distinct authors."""
    out: list[Crossed] = []
    ordered = sorted(times)
    if thresholds.posts is not None:
        recent = sum(1 for t in ordered if now - thresholds.within < t <= now)
        if recent >= thresholds.posts:
            out.append(
                Crossed(
                    AlertKind.BURST,
                    f"{recent} posts within {_duration(thresholds.within)}",
                )
            )
    if thresholds.participants is not None and participants >= thresholds.participants:
        out.append(Crossed(AlertKind.PARTICIPANTS, f"{participants} participants"))
    if thresholds.trending_factor is not None:
        recent, baseline = velocity(
            ordered, now, thresholds.trending_window, thresholds.baseline_floor
        )
        if (
            recent >= thresholds.trending_min_posts
            and recent >= thresholds.trending_factor * baseline
        ):
            out.append(
                Crossed(
                    AlertKind.TRENDING,
                    f"{recent} posts in the last {_duration(thresholds.trending_window)}, "
                    f"against a baseline of {baseline:.1f}",
                )
            )
    return out


def velocity(
    ordered: Sequence[float], now: float, window: float, floor: float = 1.0
) -> tuple[int, float]:
    """Posts in the last ``window`` seconds, and the thread's baseline: its posts before that
    window per window of its earlier life (at least ``floor``, so that a new thread's first
    handful is not infinitely many times its nothing)."""
    start = now - window
    recent = sum(1 for t in ordered if start < t <= now)
    earlier = [t for t in ordered if t <= start]
    if not earlier:
        return recent, floor
    span = max(start - earlier[0], window)
    return recent, max(len(earlier) / (span / window), floor)


def emerging(
    daily: Mapping[str, Sequence[int]], factor: float = 2.0, min_count: int = 2
) -> list[Emerging]:
    """Terms whose latest count (the last of each sequence, oldest first) is at least
    ``min_count`` and ``factor`` times their mean over the earlier ones (at least 1);
    strongest first."""
    out = []
    for term, counts in daily.items():
        if not counts:
            continue
        latest, earlier = counts[-1], counts[:-1]
        baseline = max(sum(earlier) / len(earlier), 1.0) if earlier else 1.0
        if latest >= min_count and latest >= factor * baseline:
            out.append(Emerging(term, latest, baseline))
    out.sort(key=lambda e: (-e.count / e.baseline, e.term))
    return out


# --- time -----------------------------------------------------------------------------------


def quiet_until(quiet: QuietHours | None, now: float) -> float | None:
    """When the quiet hours ``now`` falls in end (epoch seconds), or ``None`` outside them."""
    if quiet is None or quiet.start == quiet.end:
        return None
    local = datetime.fromtimestamp(now, quiet.zone)
    clock = local.time()
    if quiet.start < quiet.end:
        inside = quiet.start <= clock < quiet.end
    else:
        inside = clock >= quiet.start or clock < quiet.end
    if not inside:
        return None
    end = datetime.combine(local.date(), quiet.end, quiet.zone)
    if end <= local:
        end += timedelta(days=1)
    return end.timestamp()


def period(every: str, now: float, hour: int = 7) -> tuple[str, float, float]:
    """The last complete digest period before ``now`` (UTC): its key, start and end.

    ``daily`` periods run from ``hour``:00 to ``hour``:00 the next day; ``weekly`` ones from
    Monday ``hour``:00 to the next Monday.
    """
    at = datetime.fromtimestamp(now, UTC)
    end = at.replace(hour=hour, minute=0, second=0, microsecond=0)
    if end > at:
        end -= timedelta(days=1)
    if every == "weekly":
        end -= timedelta(days=end.weekday())
        start = end - timedelta(days=7)
        key = f"{start.isocalendar().year}-W{start.isocalendar().week:02d}"
    else:
        start = end - timedelta(days=1)
        key = start.date().isoformat()
    return key, start.timestamp(), end.timestamp()


def _duration(seconds: float) -> str:
    if seconds % 3600 == 0:
        hours = int(seconds // 3600)
        return f"{hours} hour{'s' if hours != 1 else ''}"
    if seconds % 60 == 0:
        minutes = int(seconds // 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds:g} seconds"
