"""Every pattern over user text runs in linear time (RE2), and still finds what it should.

Structural: every module-level pattern of the policy modules that read member text is a
:class:`policies.linear.Linear` backed by an RE2 automaton (no backtracking engine), so its
time grows linearly with the text; ``bench/patterns.py`` measures it. Behavioural: on 64 KiB
adversarial inputs (the shapes that made the old patterns quadratic) each gives the right
answer, and on short inputs it agrees with Python's ``re`` form of the same pattern.
"""

from __future__ import annotations

import importlib
import itertools
import random
import re
import unicodedata

import pytest
import re2

from bench.patterns import MODULES, SHAPES, shapes
from policies.boundary import LinkOptions, neutralise_restricted_links
from policies.decision import Decision, Outcome
from policies.facts import BodyFormat, Content, Facts
from policies.linear import MAX_SCANNED, Linear
from policies.pii import PersonalDataOptions, scrub
from policies.tiers import Tier
from policies.watched_words import (
    Rewritten,
    WatchedWord,
    WordAction,
    WordList,
    link_url,
    rewrite_markdown,
    screen,
)

SIZE = 64 * 1024
A = WordAction


def all_patterns() -> list[tuple[str, object]]:
    out = []
    for name in MODULES:
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if isinstance(value, Linear | re.Pattern):
                out.append((f"{name}.{attr}", value))
            elif isinstance(value, tuple) and value and all(isinstance(v, Linear) for v in value):
                out.extend((f"{name}.{attr}[{i}]", v) for i, v in enumerate(value))
    return out


def test_every_module_pattern_over_user_text_is_an_re2_automaton() -> None:
    patterns = all_patterns()
    assert len(patterns) >= 20
    for name, pattern in patterns:
        assert isinstance(pattern, Linear), f"{name} is a backtracking pattern"
        pattern.check()
        _, inside, _ = pattern._compiled
        assert isinstance(inside, re2._Regexp), name


def test_watched_words_compile_to_re2_automata() -> None:
    listed = WordList((WatchedWord("*x", A.BLOCK), WatchedWord("bad", A.CENSOR)))
    combined = listed._combined
    assert combined and all(isinstance(p, Linear) for ps in combined.values() for p in ps)
    assert all(isinstance(p, Linear) for p in listed._by_word.values())


@pytest.mark.parametrize(("name", "pattern"), all_patterns(), ids=lambda v: str(v)[:40])
def test_every_pattern_scans_every_adversarial_shape(name: str, pattern: Linear) -> None:
    for shape, whole in shapes(SIZE):
        # a pattern whose callers cut what they scan is given at most its bound
        text = whole if pattern.at_most is None else whole[: pattern.at_most]
        found = list(pattern.finditer(text))
        # matches are in order, disjoint and inside the text
        ends = [m.span() for m in found]
        assert all(0 <= s <= e <= len(text) for s, e in ends), (name, shape)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(ends)), (name, shape)


def test_a_bounded_pattern_refuses_longer_text() -> None:
    bounded = Linear("`", at_most=4)
    assert [m.span() for m in bounded.finditer("`x``")] == [(0, 1), (2, 3), (3, 4)]
    with pytest.raises(ValueError):
        list(bounded.finditer("`````"))


def test_a_wildcard_word_on_a_long_run_of_punctuation() -> None:
    listed = WordList((WatchedWord("*x", A.BLOCK), WatchedWord("a*b", A.BLOCK)))
    text = "!" * SIZE
    assert listed.matches(A.BLOCK, text) == ()
    assert listed.matches(A.BLOCK, text + " !!x") == ("!!x",)
    assert listed.matches(A.BLOCK, "a" + text + "b") == ("a" + text + "b",)
    # a word character after the match: not a whole word
    assert listed.matches(A.BLOCK, text + "xy") == ()


def test_markdown_links_after_a_long_run_of_brackets() -> None:
    facts = Facts(Tier.RESTRICTED, Tier.OPEN, topic_id=10)
    opts = LinkOptions()
    for junk in ("[" * SIZE, "[](" * (SIZE // 3), "![](" * (SIZE // 4)):
        body = junk + " [secret](/t/hidden/42)"
        out = neutralise_restricted_links(opts, facts, Content(body, BodyFormat.MARKDOWN))
        # the label runs from the first "[" (as with Python's re): the whole link goes
        assert "/t/hidden/42" not in out.content.body
        assert [c.count for c in out.changes] == [1]


def test_email_and_phone_after_hostile_runs() -> None:
    options = PersonalDataOptions()
    for junk in ("a@" * (SIZE // 2), "a." * (SIZE // 2), "@" * SIZE, "1 " * (SIZE // 2)):
        text, emails, _ = scrub(junk[:SIZE] + " mail me: bob@example.org", options)
        assert "bob@example.org" not in text
        assert emails >= 1


def test_text_past_the_cap_is_refused_not_checked_in_part() -> None:
    listed = WordList((WatchedWord("secret", A.BLOCK),))
    carried = Decision(Outcome.CARRIED, "crossing", "p1", "linked")
    long = "!" * MAX_SCANNED + " secret"
    assert screen(carried, listed, long).decision.outcome is Outcome.REFUSED
    assert screen(carried, listed, long).decision.rule == "watched_words:too_long"
    assert screen(carried, listed, "!" * 100).decision.outcome is Outcome.CARRIED


def test_a_blocking_word_porch_cannot_run_holds_instead_of_passing() -> None:
    listed = WordList((WatchedWord(r"foo(?!bar)", A.BLOCK),), regular_expressions=True)
    assert listed.invalid == ("foo(?!bar)",)
    carried = Decision(Outcome.CARRIED, "crossing", "p1", "linked")
    held = screen(carried, listed, "foo").decision
    assert held.outcome is Outcome.HELD
    assert held.rule == "watched_words:unchecked"


#: Python forms of patterns written with RE2-only syntax.
_PYTHON_SOURCE = {
    "policies.membership._INTEGER": r"[+-]?[0-9]{1,16}\Z",
}


def _python(name: str, pattern: Linear) -> re.Pattern[str]:
    flags = (re.IGNORECASE if pattern.ignore_case else 0) | (
        re.MULTILINE if pattern.multiline else 0
    )
    before = f"(?<![{pattern.not_after}])" if pattern.not_after else ""
    after = f"(?![{pattern.not_before}])" if pattern.not_before else ""
    source = _PYTHON_SOURCE.get(name, pattern.source)
    return re.compile(f"{before}(?:{source}){after}", flags)


@pytest.mark.parametrize(("name", "pattern"), all_patterns(), ids=lambda v: str(v)[:40])
def test_each_pattern_finds_what_pythons_re_finds_on_short_text(
    name: str, pattern: Linear
) -> None:
    python = _python(name, pattern)
    rnd = random.Random(name)
    units = [*SHAPES, "x", "bob@example.org", "https://f.example/t/x/1", "+44 20 7946 0958"]
    for _ in range(200):
        text = "".join(rnd.choice(units) for _ in range(rnd.randint(0, 8)))
        got = [(m.span(), m.groups()) for m in pattern.finditer(text)]
        want = [(m.span(), tuple(g or "" for g in m.groups())) for m in python.finditer(text)]
        assert got == want, (name, text)


def test_markdown_kept_spans_are_those_of_the_single_alternation() -> None:
    # What rewrite_markdown leaves alone, as the one alternation (run by Python's re, fine on
    # short texts) found it before it was split into one pattern per kind.
    from policies.linear import leftmost
    from policies.watched_words import _MD_KEEP_KINDS

    single = re.compile(
        r"`[^`\n]*`|!?\[[^\]\n]*\]\([^)\n]*\)|<[a-z][a-z0-9+.-]*:[^>\s]*>"
        r"|(?:https?://|www\.)[^\s<>()\[\]]+",
        re.IGNORECASE,
    )

    def joined(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        for start, end in spans:
            if out and out[-1][1] == start:
                out[-1] = (out[-1][0], end)
            else:
                out.append((start, end))
        return out

    alphabet = [*"`![]()<>:/\n hwtps.aéx日", "http://", "www.", "<a:b>", "`c`", "[a](b)"]
    rng = random.Random(8)
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        expected = joined([m.span() for m in single.finditer(text)])
        assert joined(list(leftmost(_MD_KEEP_KINDS, text))) == expected, text


def test_markdown_rewrite_of_a_line_of_code_spans_after_an_open_link() -> None:
    # Each code span used to make the search rescan the rest of the line for the open link.
    words = WordList((WatchedWord("swap", A.REPLACE, replacement="done"),))
    text = "[b](" + "`swap` swap " * (SIZE // 12)
    out = rewrite_markdown(words, text)
    assert out.replaced == SIZE // 12
    assert out.text == "[b](" + "`swap` done " * (SIZE // 12)


def _rewrite_markdown_per_stretch(words: WordList, text: str, forum_url: str) -> Rewritten:
    # rewrite_markdown as it was: the kept spans by one alternation (Python's re: short texts
    # only), the words run on each stretch between them.
    single = re.compile(
        r"`[^`\n]*`|!?\[[^\]\n]*\]\([^)\n]*\)|<[a-z][a-z0-9+.-]*:[^>\s]*>"
        r"|(?:https?://|www\.)[^\s<>()\[\]]+",
        re.IGNORECASE,
    )
    text, censored = words.censor(text)
    out: list[str] = []
    replaced = linked = at = 0
    for kept in [*single.finditer(text), None]:
        end = len(text) if kept is None else kept.start()
        if at != end:
            piece, count = words.replace(text[at:end])
            replaced += count
            spans = words.link_spans(piece)
            linked += len(spans)
            for start, stop, url in reversed(spans):
                label = piece[start:stop].replace("\\", "\\\\").replace("[", "\\[")
                label = label.replace("]", "\\]")
                piece = f"{piece[:start]}[{label}]({link_url(url, forum_url)}){piece[stop:]}"
            out.append(piece)
        if kept is not None:
            out.append(kept.group(0))
            at = kept.end()
    return Rewritten("".join(out), censored, replaced, linked)


@pytest.mark.parametrize("star", [False, True])
def test_markdown_rewrite_at_once_is_the_rewrite_per_stretch(star: bool) -> None:
    words = WordList(
        (
            WatchedWord("swap", A.REPLACE, replacement="S w"),
            WatchedWord("a*b", A.REPLACE, replacement="[x]"),
            WatchedWord("link*", A.LINK, replacement="/t/1"),
            WatchedWord("Go", A.LINK, replacement="https://g.example"),
            WatchedWord("bad", A.CENSOR),
            *((WatchedWord("*", A.REPLACE, replacement="!"),) if star else ()),
        )
    )
    alphabet = [
        *"`![]()<>:/\n _-aébxé日\x1c",
        "swap", "SWAP", "link", "go", "a", "b", "bad", "http://", "www.", "<a:b>", "`c`",
        "[a](b)", "![i](j)",
    ]  # fmt: skip
    rng = random.Random(12)
    for _ in range(6_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        expected = _rewrite_markdown_per_stretch(words, text, "https://f")
        assert rewrite_markdown(words, text, "https://f") == expected, text


@pytest.mark.parametrize(
    "pattern",
    [
        Linear(r"\[[^\]]*\]|(a+)+b", ignore_case=True, multiline=True),
        Linear(r"x*"),
        Linear(r"é|日本|b"),
        Linear(r"(?:\S*é\S*)", not_after=r"\w", not_before=r"\w"),
        Linear(r"[^a-z]+"),
    ],
    ids=str,
)
def test_spans_are_the_spans_of_finditer(pattern: Linear) -> None:
    rng = random.Random(5)
    for _ in range(5_000):
        text = "".join(rng.choice("[]abxé日本 \n") for _ in range(rng.randint(0, 12)))
        assert list(pattern.spans(text)) == [m.span() for m in pattern.finditer(text)], text


def test_a_slug_by_a_table_as_by_the_pattern() -> None:
    from policies.metadata import _slug

    rng = random.Random(6)
    for _ in range(20_000):
        title = "".join(rng.choice("aZ09 -_.!é日\tß") for _ in range(rng.randint(0, 12)))
        flat = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
        assert _slug(title) == re.sub(r"[^a-z0-9]+", "-", flat).strip("-"), title


@pytest.mark.parametrize(
    ("source", "boundary_after", "boundary_before"),
    [
        (r"(?:bad)|(?:\S*é\S*)", r"\w", r"\w"),
        (r"\S*", r"\w", r"\w"),
        (r"a|é日", r"\w", ""),
        (r"b\S*|日", "", r"\w"),
        (r"x*", "", r"\w"),
    ],
)
def test_boundaries_without_groups_are_the_look_arounds(
    source: str, boundary_after: str, boundary_before: str
) -> None:
    # Such a pattern's span is worked out from the whole match (no group asked of RE2).
    pattern = Linear(source, not_after=boundary_after, not_before=boundary_before)
    before = f"(?<![{boundary_after}])" if boundary_after else ""
    after = f"(?![{boundary_before}])" if boundary_before else ""
    python = re.compile(f"{before}(?:{source}){after}")
    rng = random.Random(source)
    for _ in range(5_000):
        text = "".join(rng.choice(["a", "b", "x", "é", "日", " ", "!", "bad"]) for _ in range(9))
        text = text[: rng.randint(0, 9)]
        want = [m.span() for m in python.finditer(text)]
        assert [m.span() for m in pattern.finditer(text)] == want, text
        assert list(pattern.spans(text)) == want, text


def test_keyword_candidates_run_by_run_are_what_the_word_pattern_found() -> None:
    from policies.watching import _words

    word = re.compile(r"[^\W\d_][\w'-]{3,}")
    rng = random.Random(9)
    for _ in range(20_000):
        text = "".join(rng.choice("ab1_'- .é²½Ⅻ日x") for _ in range(rng.randint(0, 14)))
        assert list(_words(text)) == word.findall(text), text
