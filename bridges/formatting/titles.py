"""Short plain texts cut from longer ones: topic titles from chat messages, excerpts."""

from __future__ import annotations

import itertools

from policies.linear import Found, Linear

# RE2 patterns (linear time: the backreference form of the emphasis pattern took minutes on a
# line of 8,000 backticks, holding the GIL).
#: The most characters of a line read for a title (a title is at most 255): every pattern
#: below runs on such a cut line only, and refuses longer text, which bounds what one costs
#: (a line where nearly every character starts a match, such as backticks, costs a call into
#: the engine per match).
_LINE_CHARS = 4096
#: Markdown that means something only at the start of a line: headings, quotes, list markers.
_LINE_MARKERS = Linear(r"^\s*(?:#{1,6}\s+|>\s*|[-*+]\s+|\d{1,9}[.)]\s+)+", at_most=_LINE_CHARS)
#: ``![alt](url)`` and ``[text](url)`` keep their words.
_IMAGE = Linear(r"!\[([^\]]*)\]\([^)]*\)", at_most=_LINE_CHARS)
_LINK = Linear(r"\[([^\]]*)\]\([^)]*\)", at_most=_LINE_CHARS)


def _around(delimiters: list[str]) -> str:
    # Words (starting and ending with a non-space, as short as possible) between the same
    # delimiter on both sides: one alternative per delimiter, longest first, as a greedy
    # backreference would try them.
    words = r"(\S(?:.*?\S)??)"
    return "|".join(f"{d}{words}{d}" for d in delimiters)


#: Emphasis and code markers around words (code spans of up to 8 backticks), and BBCode tags
#: Discourse understands.
_EMPHASIS = Linear(
    _around([r"\*\*\*", r"\*\*", r"\*", "~~", *(f"`{{{n}}}" for n in range(8, 0, -1))]),
    at_most=_LINE_CHARS,
)
_UNDERSCORES = Linear(
    _around(["___", "__", "_"]), not_after=r"\w", not_before=r"\w", at_most=_LINE_CHARS
)  # not snake_case
_BBCODE = Linear(r"\[/?(?:spoiler|u|b|i|s|details[^\]]*)\]", ignore_case=True, at_most=_LINE_CHARS)
_ESCAPE = Linear(r"\\([\\`*_\[\]{}()#+\-.!|~<>])", at_most=_LINE_CHARS)


def _words(match: Found) -> str:
    """The first group that took part in the match (its words)."""
    return next(
        (match.group(i) for i in range(1, len(match.groups()) + 1) if match.matched(i)), ""
    )


#: The most non-blank lines read for a title's first line of words.
_LINES = 50
#: Added to a title that is too short for the forum (Discourse's default minimum is 15).
_PADDING = " (message from chat)"


def excerpt(text: str, length: int = 200) -> str:
    """``text`` with whitespace collapsed, cut at a word boundary to at most ``length``
    characters, ending with "…" when cut."""
    if length < 1:
        raise ValueError(f"excerpt length must be at least 1, got {length}")
    flat = " ".join(text.split())
    if len(flat) <= length:
        return flat
    cut = flat[: length - 1]
    space = cut.rfind(" ")
    if flat[length - 1] != " " and space > 0:  # the cut fell inside a word
        cut = cut[:space]
    return cut.rstrip(" ,;:.-–—") + "…"


def title_from_text(text: str, *, min_length: int = 15, max_length: int = 255) -> str:
    """A topic title for a chat message that starts a topic.

    The first non-empty line (among the first 50 that are not blank; its first 4,096
    characters), markdown markers stripped, whitespace collapsed, cut at a word boundary to at
    most ``max_length`` (ending with "…"), and padded with " (message from chat)" when shorter
    than ``min_length``.
    """
    if max_length < max(min_length, 1):
        raise ValueError(
            f"title length bounds are unusable: min_length={min_length}, max_length={max_length}"
        )
    # Blank lines are skipped unread, and at most _LINES lines are read: each costs a few
    # pattern calls, and a message of thousands of marker-only lines must not cost seconds.
    # A title is at most 255 characters: the first _LINE_CHARS of a line are plenty to find
    # its words, and bound the cost of a line of 64 KiB of markers.
    lines = itertools.islice((ln[:_LINE_CHARS] for ln in text.splitlines() if ln.strip()), _LINES)
    line = next((ln for ln in lines if _strip_markdown(ln)), "")
    title = excerpt(_strip_markdown(line), max_length)
    if len(title) < min_length:
        title = title + _PADDING if title else _PADDING.strip(" ()").capitalize()
        while len(title) < min_length:
            title += " (from chat)"
        if len(title) > max_length:  # only with bounds too close for the padding to fit
            title = title[:max_length]
            if title.endswith(" "):
                title = title[:-1] + "…"
    return title


def _strip_markdown(line: str) -> str:
    line = _LINE_MARKERS.sub("", line)
    line = _IMAGE.sub(_words, line)
    line = _LINK.sub(_words, line)
    line = _BBCODE.sub("", line)
    for _ in range(3):  # nested emphasis: ***x***, **_x_**
        line = _UNDERSCORES.sub(_words, _EMPHASIS.sub(_words, line))
    line = _ESCAPE.sub(_words, line)
    return " ".join(line.split())
