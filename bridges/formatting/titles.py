"""Short plain texts cut from longer ones: topic titles from chat messages, excerpts."""

from __future__ import annotations

import re

#: Markdown that means something only at the start of a line: headings, quotes, list markers.
_LINE_MARKERS = re.compile(r"^\s*(?:#{1,6}\s+|>\s*|[-*+]\s+|\d{1,9}[.)]\s+)+")
#: ``![alt](url)`` and ``[text](url)`` keep their words.
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
#: Emphasis and code markers around words, and BBCode tags Discourse understands.
_EMPHASIS = re.compile(r"(\*{1,3}|~~|`+)(?=\S)(.+?)(?<=\S)\1")
_UNDERSCORES = re.compile(r"(?<!\w)(_{1,3})(?=\S)(.+?)(?<=\S)\1(?!\w)")  # not snake_case
_BBCODE = re.compile(r"\[/?(?:spoiler|u|b|i|s|details[^\]]*)\]", re.IGNORECASE)
_ESCAPE = re.compile(r"\\([\\`*_\[\]{}()#+\-.!|~<>])")

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

    The first non-empty line, markdown markers stripped, whitespace collapsed, cut at a word
    boundary to at most ``max_length`` (ending with "…"), and padded with
    " (message from chat)" when shorter than ``min_length``.
    """
    if max_length < max(min_length, 1):
        raise ValueError(
            f"title length bounds are unusable: min_length={min_length}, max_length={max_length}"
        )
    line = next((ln for ln in text.splitlines() if _strip_markdown(ln)), "")
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
    line = _IMAGE.sub(r"\1", line)
    line = _LINK.sub(r"\1", line)
    line = _BBCODE.sub("", line)
    for _ in range(3):  # nested emphasis: ***x***, **_x_**
        line = _UNDERSCORES.sub(r"\2", _EMPHASIS.sub(r"\2", line))
    line = _ESCAPE.sub(r"\1", line)
    return " ".join(line.split())
