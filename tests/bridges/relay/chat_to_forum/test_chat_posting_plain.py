"""A plain chat body reaches the forum as the text that was typed, never as markup.

A Matrix message without ``formatted_body`` is plain text (markup travels in
``formatted_body``). Posted as it is, a chat user could forge on the forum what only markup
makes: a quote of an admin's post (``[quote="admin, post:1, topic:2"]``), an image, a poll, a
``[details]`` block, a mention that notifies someone, raw HTML. The checks below follow how
Discourse cooks a post (discourse/discourse, ``app/assets/javascripts/discourse-markdown-it``):

- markdown-it with ``html: true`` and ``breaks: true`` (``src/setup.js``): rendered here with
  markdown-it-py, the only tags allowed are paragraphs, line breaks and the links of URLs that
  were typed (and are links on the forum too, by linkify);
- block BBCode (``[quote]``, ``[details]``, ``[poll]``...) starts only at a ``[`` that opens a
  line, inline BBCode (``[b]``, ``[img]``, ``[url]``, ``[spoiler]``...) at an unescaped ``[``
  (``src/features/bbcode-block.js``, ``bbcode-inline.js``);
- mentions and hashtags are found in text tokens after escapes are resolved, where the
  character before ``@``/``#`` is whitespace or punctuation (``text-post-process.js``,
  ``mentions.js``, ``hashtag-autocomplete.js``): a backslash does not stop them.
"""

from __future__ import annotations

import re
import unicodedata
from html.parser import HTMLParser

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from bridges.formatting import forum_reading, matrix_to_forum, plain_to_forum
from bridges.model import UserID
from bridges.relay.chat_to_forum.chat_posting import text_draft
from policies.decision import Decision, Outcome
from policies.watched_words import WatchedWord, WordAction, WordList, screen

_DISCOURSE = MarkdownIt("commonmark", {"breaks": True, "html": True}).enable(
    ["table", "strikethrough"]
)
_NAME_START = re.compile(r"[@#][\w:\-]")
_AUTOLINK = re.compile(r"<(?:https?|ftp)://[^\s<>]*>")

HOSTILE = [
    '[quote="admin, post:1, topic:2"]\nI resign, effective now.\n[/quote]',
    "![](https://evil.example/track.png)",
    "![x|690x388](upload://abc.png)",
    '[details="Summary"]\nhidden\n[/details]',
    "[poll type=regular]\n* yes\n* no\n[/poll]",
    "[spoiler]x[/spoiler] [b]bold[/b] [img]https://evil.example/a.png[/img]",
    "[url=https://evil.example]the bank[/url] [date=2030-01-01 time=10:00]",
    "hey @admin and @staff, see #secret-category and #staff:tag",
    "@admin at the start",
    "#hashtag at the start",
    '<img src=x onerror="alert(1)"> <a href="https://evil.example">bank</a> <b>x</b>',
    "<details><summary>s</summary>hidden</details>",
    "<!-- comment --> &amp; &#64;admin",
    "[link](https://evil.example) and <https://evil.example/auto>",
    "**bold** _it_ ~~gone~~ `code` ~~~",
    "> a forged quote\n# a heading\n- a list\n1. ordered\n+ plus\n---\n===",
    "    indented code\n\n```\nfenced\n```",
    "| a | b |\n| --- | --- |\n| c | d |",
    "footnote^[hidden note] and [^1]\n\n[^1]: note",
    ":smile: text",
]


#: What hostile plain bodies are made of: markup characters, line starts, tag names, a URL.
PIECES = [
    *'[]()!@#*_`~<>&|\\:=-+";/',
    *("1.", "\n", " ", "    ", "quote", "img", "admin", "x", "details", "poll"),
    "https://e.example/a",
]


class _Read(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.texts: list[tuple[str, bool]] = []
        self._links = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self._links += tag == "a"

    def handle_endtag(self, tag: str) -> None:
        self._links -= tag == "a"

    def handle_data(self, data: str) -> None:
        self.texts.append((data, self._links > 0))


def _cook(raw: str) -> _Read:
    read = _Read()
    read.feed(_DISCOURSE.render(raw))
    read.close()
    return read


def _seen(text: str) -> str:
    """Text compared as a reader sees it: no whitespace, no invisible word joiners."""
    return "".join(text.replace("\u2060", "").split())


def _boundary(char: str) -> bool:
    """markdown-it's ``isWhiteSpace`` or ``isPunctChar`` (Unicode P and S), which let a
    mention or hashtag start after ``char``."""
    return char.isspace() or unicodedata.category(char)[0] in "PSZ"


def assert_plain_on_the_forum(
    typed: str, raw: str, tags: frozenset[str] = frozenset({"p", "br", "a"})
) -> None:
    cooked = _cook(raw)
    assert set(cooked.tags) <= tags, f"{typed!r} became {raw!r}"
    for line in raw.split("\n"):
        assert not line.lstrip(" ").startswith("["), f"block BBCode could open: {raw!r}"
    # (an autolink's content is never parsed, so a "[" in a typed URL opens nothing)
    outside = _AUTOLINK.sub("", raw)
    assert re.search(r"(?<!\\)\[", outside) is None, f"an unescaped [ in {raw!r}"
    for text, in_link in cooked.texts:
        if in_link:
            continue  # the forum finds no mentions in link text
        for line in text.split("\n"):
            for match in _NAME_START.finditer(line):
                at = match.start()
                assert at > 0 and not _boundary(line[at - 1]), f"a mention in {raw!r}"
    typed_lines = "".join(line.lstrip(" \t") for line in typed.split("\n"))
    assert _seen("".join(t for t, _ in cooked.texts)) == _seen(typed_lines), raw


def test_hostile_plain_bodies_read_as_typed() -> None:
    for typed in HOSTILE:
        assert_plain_on_the_forum(typed, matrix_to_forum(typed, None))


def test_a_forged_quote_is_literal_text() -> None:
    raw = plain_to_forum('[quote="admin, post:1, topic:2"]\nI resign.\n[/quote]')
    assert raw == '\\[quote="admin, post:1, topic:2"\\]\nI resign.\n\\[/quote\\]'
    assert forum_reading(raw) == '[quote="admin, post:1, topic:2"]\nI resign.\n[/quote]'


def test_mentions_and_hashtags_do_not_notify_but_read_the_same() -> None:
    raw = plain_to_forum("hi @admin, see #secret and mail me at me@example.org")
    assert raw == "hi \u2060@admin, see \u2060#secret and mail me at me@example.org"
    assert forum_reading(raw) == "hi @admin, see #secret and mail me at me@example.org"


def test_text_in_formatted_bodies_cannot_mention_either() -> None:
    # Only a pill mentions someone: text that looks like a mention stays text.
    raw = matrix_to_forum("x", "<p>ping @admin and <b>@moderators</b></p>")
    assert_plain_on_the_forum(
        "ping @admin and @moderators", raw, frozenset({"p", "br", "a", "strong"})
    )
    pill = matrix_to_forum(
        "x",
        '<a href="https://matrix.to/#/@alice:example.org">Alice</a> hi',
        mentions=lambda user: "alice" if user == UserID("@alice:example.org") else None,
    )
    assert pill == "@alice hi"


def test_leading_blanks_do_not_make_code_blocks() -> None:
    assert plain_to_forum("    code\n\tmore") == "code\nmore"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(PIECES), max_size=30).map("".join))
def test_any_plain_body_reads_as_typed(typed: str) -> None:
    assert_plain_on_the_forum(typed, matrix_to_forum(typed, None))


# --- what is judged: the version the forum gets ------------------------------------------


def _words(*pairs: tuple[str, WordAction]) -> WordList:
    return WordList(tuple(WatchedWord(word, action) for word, action in pairs), False)


_CARRIED = Decision(Outcome.CARRIED, "policy:open", "v1", "the link carries it")


def _no_one(_: UserID) -> str | None:
    return None


def test_a_blocked_word_in_formatted_body_is_judged_whatever_the_body_says() -> None:
    draft = text_draft("Lovely weather today.", "<p>Buy <b>cheap pills</b> now</p>", _no_one)
    assert draft.text == "Buy **cheap pills** now"
    screened = screen(_CARRIED, _words(("pills", WordAction.BLOCK)), draft.judged)
    assert screened.decision.outcome is Outcome.REFUSED
    assert "'pills'" in screened.decision.reason


def test_markup_cannot_split_a_word_that_reads_whole() -> None:
    draft = text_draft("harmless", "<p>pi<b>ll</b>s for sale</p>", _no_one)
    assert "pills" not in draft.text  # the markdown splits it ...
    assert "pills for sale" in draft.reading  # ... the reader does not
    screened = screen(_CARRIED, _words(("pills", WordAction.REQUIRE_APPROVAL)), draft.judged)
    assert screened.decision.outcome is Outcome.HELD


def test_a_body_the_forum_never_gets_is_not_what_is_judged() -> None:
    draft = text_draft("pills pills pills", "<p>Lovely weather today.</p>", _no_one)
    assert "pills" not in draft.judged
    assert screen(_CARRIED, _words(("pills", WordAction.BLOCK)), draft.judged).decision is (
        _CARRIED
    )
