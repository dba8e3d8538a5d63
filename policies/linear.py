"""Patterns over user text that run in time linear in the text, whatever the text.

Python's ``re`` backtracks: a pattern such as ``\\[[^\\]]*\\]`` costs quadratic time on a long
run of ``[``, and ``re`` holds the GIL meanwhile, so one hostile message stops every thread.
Every pattern porch runs over what a member wrote is a :class:`Linear`: an RE2 automaton
(``google-re2``; https://github.com/google/re2/wiki/Syntax), which matches in one pass over the
text whatever the pattern and the text, and picks the same match as a backtracking engine
would (leftmost-first, greedy as written).

RE2 has no look-arounds and no backreferences, and its ``\\w``, ``\\s`` and ``\\d`` are ASCII. So:

- ``\\w \\W \\s \\S \\d \\D`` in a pattern are rewritten to the exact sets Python's ``re`` uses
  for ``str`` (Unicode word characters, white space and decimal digits of this Python), so a
  pattern matches what it matched under ``re``; ``\\b`` stays RE2's ASCII word boundary;
- the one look-around porch needs, "not preceded / not followed by one of these characters"
  (``(?<![...])`` and ``(?![...])``), is the ``not_after`` / ``not_before`` argument: the
  boundary characters are matched as ordinary characters around a group that holds the match,
  and the search resumes one character before the end of the previous match, so the results
  are those of the look-around form, match for match.

Text is matched as UTF-8 (encoded once per call, lone surrogates as ``?``, which is neither a
word character nor a space, like a lone surrogate), offsets are given back in characters.
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final, cast

import re2

# The engine under the bindings (untyped): its Match gives spans without building objects.
_re2: Any = importlib.import_module("re2._re2")

_ANCHOR_START: Final[Any] = _re2.RE2.Anchor.ANCHOR_START
_UNANCHORED: Final[Any] = _re2.RE2.Anchor.UNANCHORED
_NO_MATCH: Final = [(-1, -1)]
# A pattern that is one character or one set (no nested set), optionally with +, * or {n,}.
_ONE_SET: Final = re.compile(
    r"(?:\[\^?\]?(?:\\.|[^\\\]\[])*\]|\\[^\dxpPuUNQEkg]|[^\\\[\](){}|*+?.^$])"
    r"(?:[+*]|\{[0-9]{1,2},\})?"
)

#: The most characters porch checks in one text (256 KiB of characters). Matching is linear,
#: so this bounds the time one message can cost; a caller that must not let unchecked text
#: through (watched words) refuses longer text instead of checking a part of it. A Matrix event
#: is at most 64 KiB and a Discourse post 32,000 characters by default, so nothing real is near.
MAX_SCANNED: Final = 256 * 1024

# RE2 may build automata of this many bytes per pattern (its default is 8 MiB); large word
# lists are alternations of hundreds of words, each with Unicode classes.
_MAX_MEM: Final = 64 << 20


@functools.cache
def _python_class(escape: str) -> str:
    """The body of a character class holding exactly what Python's ``re`` matches with
    ``escape`` (``\\w``, ``\\s``, ``\\d`` or a class) in a ``str``, as RE2 ranges."""
    # A constant text, not user text: one linear pass of ``re`` over every code point.
    everything = "".join(map(chr, range(0x110000)))
    ranges = [(m.start(), m.end() - 1) for m in re.finditer(f"(?:{escape})+", everything)]
    return "".join(f"\\x{{{a:x}}}" if a == b else f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in ranges)


def python_set(expression: str) -> str:
    """The body of an RE2 character class holding what the Python class ``expression``
    (e.g. ``[^\\W\\d_]``, letters) matches in a ``str``. It takes a fraction of a second: call
    it from a callable pattern (``Linear(lambda: ...)``), which runs on first use."""
    return _python_class(expression)


_CLASSES: Final = {"w": r"\w", "s": r"\s", "d": r"\d"}


def translate(pattern: str) -> str:
    """``pattern`` with ``\\w \\W \\s \\S \\d \\D`` written as Python's Unicode sets, for RE2.

    Raises ``ValueError`` for a negated set inside a character class (``[\\W...]``), which a
    class body cannot express.
    """
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            e = pattern[i + 1]
            if e.lower() in _CLASSES:
                body = _python_class(_CLASSES[e.lower()])
                if in_class and e.isupper():
                    raise ValueError(f"\\{e} inside a character class")
                if in_class:
                    out.append(body)
                else:
                    out.append(f"[{body}]" if e.islower() else f"[^{body}]")
            else:
                out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if c == "[" and pattern.startswith("[:", i):
                close = pattern.find(":]", i + 2)
                if close != -1:
                    out.append(pattern[i : close + 2])
                    i = close + 2
                    continue
            if c == "]":
                in_class = False
        elif c == "[":
            in_class = True
            out.append(c)
            i += 1
            # a ']' first in a class (after an optional '^') is a literal
            if pattern.startswith("^", i):
                out.append("^")
                i += 1
            if pattern.startswith("]", i):
                out.append("\\]")
                i += 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _body(chars: str) -> str:
    """A character class body in Python syntax, for RE2."""
    return translate(f"[{chars}]")[1:-1]


class Found:
    """One match: its groups' text and spans in characters (like ``re.Match``)."""

    __slots__ = ("_spans", "string")

    def __init__(self, string: str, spans: tuple[tuple[int, int], ...]) -> None:
        self.string = string
        self._spans = spans

    def span(self, group: int = 0) -> tuple[int, int]:
        return self._spans[group]

    def start(self, group: int = 0) -> int:
        return self._spans[group][0]

    def end(self, group: int = 0) -> int:
        return self._spans[group][1]

    def group(self, group: int = 0) -> str:
        """The text of ``group``; ``""`` when the group took no part in the match (where
        ``re`` gives ``None``: test with :meth:`matched` when the difference matters)."""
        start, end = self._spans[group]
        return "" if start < 0 else self.string[start:end]

    def matched(self, group: int) -> bool:
        return self._spans[group][0] >= 0

    def __getitem__(self, group: int) -> str:
        return self.group(group)

    def groups(self) -> tuple[str, ...]:
        return tuple(self.group(i) for i in range(1, len(self._spans)))


class _Offsets:
    """Byte offsets in the UTF-8 text to character offsets, walking from the last one asked
    (matches come in order, so the walk over a whole search is linear)."""

    __slots__ = ("_byte", "_char", "_data")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._byte = self._char = 0

    def char(self, byte: int) -> int:
        if byte >= self._byte:
            self._char += len(self._data[self._byte : byte].decode())
        else:
            self._char -= len(self._data[byte : self._byte].decode())
        self._byte = byte
        return self._char


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "replace")


class Linear:
    """A pattern matched by RE2 (linear time), with ``re``'s methods over ``str``.

    ``pattern`` uses RE2 syntax (https://github.com/google/re2/wiki/Syntax), ``\\w``-style
    classes in Python's Unicode sense (see :func:`translate`). ``not_after`` and
    ``not_before`` are bodies of character classes (Python syntax): a match may not follow /
    be followed by one of those characters, as ``(?<![...])`` / ``(?![...])`` around the
    pattern would say. ``at_most`` bounds the text the pattern may be given, for a pattern
    whose callers cut what they scan (a title's first line): longer text raises
    ``ValueError`` rather than costing more than that bound. The pattern is compiled on first
    use; :meth:`check` compiles it now.
    """

    def __init__(
        self,
        pattern: str | Callable[[], str],
        *,
        ignore_case: bool = False,
        multiline: bool = False,
        dotall: bool = False,
        not_after: str = "",
        not_before: str = "",
        at_most: int | None = None,
    ) -> None:
        self.pattern = pattern
        self.at_most = at_most
        self.ignore_case = ignore_case
        self.multiline = multiline
        self.dotall = dotall
        self.not_after = not_after
        self.not_before = not_before

    def __repr__(self) -> str:
        return f"Linear({self.source!r})"

    @property
    def source(self) -> str:
        """The pattern as written (a callable pattern is called: see :func:`python_set`)."""
        return self.pattern() if callable(self.pattern) else self.pattern

    @functools.cached_property
    def _one_set(self) -> re.Pattern[str] | None:
        # A single character (set), optionally repeated, without boundaries: Python's ``re``
        # runs it in linear time too (a failed attempt costs one character, or fewer than n
        # for ``{n,}`` with n under 100; a match consumes what it matched, nothing follows to
        # backtrack for) and without RE2's cost per call, which dominates when nearly every
        # character is a match.
        if self.not_after or self.not_before or not _ONE_SET.fullmatch(self.source):
            return None
        flags = (re.IGNORECASE if self.ignore_case else 0) | (
            re.MULTILINE if self.multiline else 0
        )
        return re.compile(self.source, flags | (re.DOTALL if self.dotall else 0))

    @functools.cached_property
    def _compiled(self) -> tuple[re2._Regexp[bytes] | None, re2._Regexp[bytes], int]:
        flags = "".join(
            f
            for f, on in (("i", self.ignore_case), ("m", self.multiline), ("s", self.dotall))
            if on
        )
        prefix = f"(?{flags})" if flags else ""
        # The match's own span is a group only when boundary characters are matched around
        # it: a capturing group makes RE2 find spans with a slower engine than its DFA, which
        # costs far more than the search on a long match (a 64 KiB URL).
        core = (
            f"({translate(self.source)})"
            if self.not_after or self.not_before
            else f"(?:{translate(self.source)})"
        )
        tail = f"(?:[^{_body(self.not_before)}]|\\z)" if self.not_before else ""
        options = re2.Options()
        options.max_mem = _MAX_MEM
        options.log_errors = False
        at_start = None
        if self.not_after:
            at_start = re2.compile(_encode(prefix + core + tail), options)
            inside = re2.compile(
                _encode(f"{prefix}[^{_body(self.not_after)}]{core}{tail}"), options
            )
        else:
            inside = re2.compile(_encode(prefix + core + tail), options)
        return at_start, inside, inside.groups - (1 if self.not_after or self.not_before else 0)

    def check(self) -> None:
        """Compile now; raises ``re2.error`` or ``ValueError`` if RE2 cannot take it."""
        _ = self._compiled

    @property
    def groups(self) -> int:
        return self._compiled[2]

    def _bounded(self, text: str) -> None:
        if self.at_most is not None and len(text) > self.at_most:
            raise ValueError(
                f"{len(text)} characters given to a pattern of at most {self.at_most}"
            )

    def _spans(self, text: str, anchored: bool = False) -> Iterator[Found]:
        self._bounded(text)
        at_start, inside, _ = self._compiled
        one_set = self._one_set
        if one_set is not None:
            if anchored:
                first = one_set.match(text)
                if first is not None:
                    yield Found(text, (first.span(),))
                return
            for m in one_set.finditer(text):
                yield Found(text, (m.span(),))
            return
        # The bindings' own match objects cost more than the match: call the engine directly.
        start_match: Any = None if at_start is None else cast(Any, at_start)._regexp.Match
        inside_match: Any = cast(Any, inside)._regexp.Match
        # With boundary characters and no groups of its own, the match's span follows from the
        # whole match (one boundary character less at either end), which RE2 finds without
        # groups, with its DFA only: far less per match than asking for the group.
        bare = self.groups == 0 and (start_match is not None or bool(self.not_before))
        first_start, first_inside = self._bare if bare else (start_match, inside_match)
        data = _encode(text)
        size = len(data)
        ascii_only = size == len(text)
        offsets = _Offsets(data)
        # ``nxt``: where (in bytes) the next match may begin at the earliest.
        nxt = 0
        while nxt <= size:
            found = _NO_MATCH
            at_text_start = start_match is not None and nxt == 0
            if at_text_start:
                call = (_ANCHOR_START, data, 0, size)
                found = first_start(*call)
            if found[0][0] < 0 and (not anchored or start_match is None):
                at_text_start = False
                # with a boundary before the match, start on the character before ``nxt``
                pos = nxt
                if start_match is not None and nxt > 0:
                    pos = nxt - 1
                    while pos > 0 and 0x80 <= data[pos] < 0xC0:
                        pos -= 1
                call = (_ANCHOR_START if anchored else _UNANCHORED, data, pos, size)
                found = first_inside(*call)
            if found[0][0] < 0:
                return
            if not bare:
                spans = found[1:] if start_match is not None or self.not_before else found
            elif self.not_before and found[0][1] == size:
                # at the end of the text the tail took the last character or none: ask
                spans = (start_match if at_text_start else inside_match)(*call)[1:]
            else:
                start, end = found[0]
                if start_match is not None and not at_text_start:
                    lead = data[start]
                    start += 1 if lead < 0x80 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
                if self.not_before:
                    end -= 1
                    while 0x80 <= data[end] < 0xC0:
                        end -= 1
                spans = [(start, end)]
            start, end = spans[0]
            if ascii_only:
                yield Found(text, tuple(spans))
            else:
                yield Found(
                    text,
                    tuple(
                        (-1, -1) if s < 0 else (offsets.char(s), offsets.char(e)) for s, e in spans
                    ),
                )
                offsets.char(start)  # later matches start at or after this one
            if anchored:
                return
            if end == start:
                # an empty match: move on one character
                end += 1
                while end < size and 0x80 <= data[end] < 0xC0:
                    end += 1
            nxt = end

    @functools.cached_property
    def _bare(self) -> tuple[Any, Any]:
        # The patterns (at the start of the text, inside it) without capturing groups, for
        # spans alone: RE2 then finds a match with its DFA only, where groups take a slower
        # engine on each match.
        options = re2.Options()
        options.max_mem = _MAX_MEM
        options.log_errors = False
        options.never_capture = True
        at_start, inside, _ = self._compiled
        start = None if at_start is None else re2.compile(at_start.pattern, options)
        return (
            None if start is None else cast(Any, start)._regexp.Match,
            cast(Any, re2.compile(inside.pattern, options))._regexp.Match,
        )

    def spans(self, text: str) -> Iterator[tuple[int, int]]:
        """The span of every match, left to right (``m.span()`` for ``m`` in
        :meth:`finditer`), at less cost per match."""
        if self.not_after or self.not_before or self._one_set is not None:
            for found in self._spans(text):
                yield found.span()
            return
        self._bounded(text)
        match = self._bare[1]
        data = _encode(text)
        size = len(data)
        ascii_only = size == len(text)
        offsets = _Offsets(data)
        nxt = 0
        while nxt <= size:
            start, end = match(_UNANCHORED, data, nxt, size)[0]
            if start < 0:
                return
            yield (start, end) if ascii_only else (offsets.char(start), offsets.char(end))
            if end == start:
                end += 1
                while end < size and 0x80 <= data[end] < 0xC0:
                    end += 1
            nxt = end

    def finditer(self, text: str) -> Iterator[Found]:
        """Every match, left to right, not overlapping (``re.finditer``)."""
        return self._spans(text)

    def search(self, text: str) -> Found | None:
        """The first match (``re.search``)."""
        return next(self._spans(text), None)

    def match(self, text: str) -> Found | None:
        """A match at the start of ``text`` (``re.match``)."""
        return next(self._spans(text, anchored=True), None)

    def fullmatch(self, text: str) -> Found | None:
        """A match of the whole of ``text``; the pattern should end in ``\\z`` or ``$`` for
        the engine to prefer it, as ``re.fullmatch`` would."""
        found = self.match(text)
        return found if found is not None and found.end() == len(text) else None

    def findall(self, text: str) -> list[str]:
        """The text of each match, or of its one group when the pattern has one."""
        group = 1 if self.groups == 1 else 0
        return [m.group(group) for m in self._spans(text)]

    def subn(self, repl: str | Callable[[Found], str], text: str) -> tuple[str, int]:
        """``text`` with every match replaced by ``repl`` (literal text, or what ``repl``
        makes of the match), and how many there were."""
        out: list[str] = []
        at = count = 0
        for found in self._spans(text):
            start, end = found.span()
            out.append(text[at:start])
            out.append(repl(found) if callable(repl) else repl)
            at = end
            count += 1
        out.append(text[at:])
        return "".join(out), count

    def sub(self, repl: str | Callable[[Found], str], text: str) -> str:
        """:meth:`subn` without the count."""
        return self.subn(repl, text)[0]


def leftmost(patterns: Sequence[Linear], text: str) -> Iterator[tuple[int, int]]:
    """The spans (in characters) that ``finditer`` of the alternation of ``patterns`` would
    give, for patterns that never match at the same position as one another (each starts with
    characters the others cannot start with) and have no ``not_after`` / ``not_before``.

    Each pattern is searched again only once a span has passed its next match, so a pattern
    that is still open far ahead (an unclosed ``[`` of a link while code spans keep matching)
    is not rescanned for every span of another, as a search of the alternation would be: that
    costs time growing with the square of the text.
    """
    if any(p.not_after or p.not_before for p in patterns):
        raise ValueError("leftmost() takes patterns without not_after / not_before")
    matchers: list[Any] = [cast(Any, p._compiled[1])._regexp.Match for p in patterns]
    data = _encode(text)
    size = len(data)
    ascii_only = size == len(text)
    offsets = _Offsets(data)
    found: list[tuple[int, int] | None] = [None] * len(matchers)
    searched = [False] * len(matchers)
    at = 0  # bytes
    while at <= size:
        for i, match in enumerate(matchers):
            current = found[i]
            if not searched[i] or (current is not None and current[0] < at):
                searched[i] = True
                span = match(_UNANCHORED, data, at, size)[0]
                found[i] = None if span[0] < 0 else (span[0], span[1])
        ahead = [span for span in found if span is not None]
        if not ahead:
            return
        start, end = min(ahead)
        if ascii_only:
            yield start, end
        else:
            yield offsets.char(start), offsets.char(end)
        if end == start:  # an empty match: move on one character
            end += 1
            while end < size and 0x80 <= data[end] < 0xC0:
                end += 1
        at = end


def escape(text: str) -> str:
    """``text`` as a pattern that matches it literally (ASCII punctuation escaped)."""
    return "".join(
        "\\" + c if c.isascii() and not c.isalnum() and not c.isspace() else c for c in text
    )


def compile_linear(
    pattern: str,
    *,
    ignore_case: bool = False,
    multiline: bool = False,
    not_after: str = "",
    not_before: str = "",
) -> Linear | None:
    """``pattern`` as a :class:`Linear` compiled now, or ``None`` when RE2 cannot take it
    (a look-around, a backreference, a syntax error)."""
    linear = Linear(
        pattern,
        ignore_case=ignore_case,
        multiline=multiline,
        not_after=not_after,
        not_before=not_before,
    )
    try:
        linear.check()
    except (re2.error, ValueError):
        return None
    return linear
