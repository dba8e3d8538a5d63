"""Watched-word matching on the cases Discourse documents
(``spec/services/word_watcher_spec.rb``): wildcards, whole words, case, regex mode, and what
censor, replace and link write."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies import engine
from policies.decision import Decision, Outcome
from policies.facts import BodyFormat, Content, Facts
from policies.watched_words import (
    CENSOR_CHAR,
    NAME,
    WatchedWord,
    WordAction,
    WordList,
    merged,
    normalize_word,
    rewrite_html,
    rewrite_markdown,
    screen,
)

A = WordAction
RAW = (
    "Do you like liquorice?\n\n\nI really like them. One could even say that I am *addicted* "
    "to liquorice. And if\nyou can mix it up with some anise, then I'm in heaven ;)"
)


def words(*entries: WatchedWord, regex: bool = False) -> WordList:
    return WordList(tuple(entries), regex)


def w(word: str, action: WordAction = A.BLOCK, **kw: object) -> WatchedWord:
    return WatchedWord(word, action, **kw)  # type: ignore[arg-type]


# --- matching ------------------------------------------------------------------------------


def test_block_collects_every_match_sorted_and_once() -> None:
    found = words(w("liquorice"), w("anise"), w("aniseed")).matches(A.BLOCK, RAW)
    assert found == ("anise", "liquorice")


def test_no_words_no_matches() -> None:
    assert words().matches(A.BLOCK, RAW) == ()
    assert words(w("candy")).matches(A.BLOCK, RAW) == ()


@pytest.mark.parametrize(
    ("word", "text", "found"),
    [
        # Whole words only: a word inside a longer one does not count.
        ("ass", "a classic assessment", ()),
        ("ass", "what an ass!", ("ass",)),
        ("ass", "(ass)", ("ass",)),
        ("ass", "ass", ("ass",)),
        ("ass", "line one\nass\nline three", ("ass",)),
        ("ass", "ass_hat", ()),  # the underscore is a word character
        ("ass", "ass2", ()),  # so are digits (Ruby's [[:word:]])
        # Letters beyond ASCII are letters: no boundary inside "über" or "café".
        ("ber", "über alles", ()),
        ("caf", "un café noir", ()),
        ("café", "un café noir", ("café",)),
        ("кот", "мой кот спит", ("кот",)),
        ("кот", "мой котик спит", ()),
        ("北京", "我爱北京天安门", ()),  # CJK runs are words too
        # Special characters are literal in plain mode.
        ("c++", "I write c++ daily", ("c++",)),
        ("a.b", "axb and a.b", ("a.b",)),
        ("(hi)", "say (hi) now", ("(hi)",)),
        # A phrase matches with its spaces.
        ("pyramid scheme", "a Pyramid Scheme here", ("Pyramid Scheme",)),
    ],
)
def test_whole_word_boundaries(word: str, text: str, found: tuple[str, ...]) -> None:
    assert words(w(word)).matches(A.BLOCK, text) == found


@pytest.mark.parametrize(
    ("word", "text", "found"),
    [
        ("bad*", "badly done, bad", ("bad", "badly")),
        ("bad*", "bad-tempered", ("bad-tempered",)),  # \S*: any run of non-space
        ("*ing", "nothing, something and ing", ("ing", "nothing", "something")),
        ("b*d", "bed bird bread bd", ("bd", "bed", "bird", "bread")),
        ("b**d", "bead", ("bead",)),  # repeated stars are one wildcard
        ("bad*", "abad", ()),  # the wildcard does not lift the boundary before it
    ],
)
def test_wildcards(word: str, text: str, found: tuple[str, ...]) -> None:
    assert words(w(normalize_word(word))).matches(A.BLOCK, text) == found


def test_case_insensitive_unless_the_word_says_otherwise() -> None:
    listed = words(
        w("coupon", A.REQUIRE_APPROVAL), w("NASA", A.REQUIRE_APPROVAL, case_sensitive=True)
    )
    assert listed.matches(A.REQUIRE_APPROVAL, "COUPON codes") == ("COUPON",)
    assert listed.matches(A.REQUIRE_APPROVAL, "nasa launch") == ()
    assert listed.matches(A.REQUIRE_APPROVAL, "NASA launch") == ("NASA",)
    assert words(w("Straße")).matches(A.BLOCK, "STRASSE straße") == ("straße",)


def test_regular_expression_mode_uses_words_as_expressions_without_boundaries() -> None:
    listed = words(w("colou?r"), w("cat"), w("^spam"), regex=True)
    assert listed.matches(A.BLOCK, "Color and colour") == ("Color", "colour")
    assert listed.matches(A.BLOCK, "concatenate") == ("cat",)
    # ^ and $ are line anchors, as in Ruby.
    assert listed.matches(A.BLOCK, "hello\nspam here") == ("spam",)
    assert listed.matches(A.BLOCK, "no spam here") == ()
    # The same word in plain mode is literal.
    assert words(w("colou?r")).matches(A.BLOCK, "colour color colou?r") == ("colou?r",)


def test_an_invalid_expression_is_skipped_and_reported() -> None:
    listed = words(w("[unclosed"), w("fine"), regex=True)
    assert listed.invalid == ("[unclosed",)
    assert listed.matches(A.BLOCK, "fine [unclosed") == ("fine",)


def test_normalize_word() -> None:
    assert normalize_word("  bad**word* ") == "bad*word*"
    assert normalize_word("(?-mix:foo|bar)") == "foo|bar"


def test_tags_of_tag_words() -> None:
    listed = words(
        w("bench*", A.TAG, replacement="parks, benches"), w("bus", A.TAG, replacement="transport")
    )
    assert listed.tags("Where should the new benches go?") == ("parks", "benches")
    assert listed.tags("nothing relevant") == ()


# --- rewriting -----------------------------------------------------------------------------


def test_censor_writes_one_square_per_character() -> None:
    listed = words(w("broccoli", A.CENSOR), w("kale*", A.CENSOR))
    text, count = listed.censor("I hate Broccoli and kales. Really.")
    # The wildcard takes the full stop too: \S* is any run of non-space, as in Discourse.
    assert text == f"I hate {CENSOR_CHAR * 8} and {CENSOR_CHAR * 6} Really."
    assert count == 2


def test_censor_in_html_touches_text_only() -> None:
    listed = words(w("secret", A.CENSOR))
    out = rewrite_html(listed, '<p title="secret">a secret <a href="/t/secret/1">secret</a></p>')
    assert out.text == (
        f'<p title="secret">a {CENSOR_CHAR * 6} <a href="/t/secret/1">{CENSOR_CHAR * 6}</a></p>'
    )
    assert out.censored == 2


def test_replace_writes_the_replacement_literally() -> None:
    listed = words(
        w("hi", A.REPLACE, replacement="hello"), w("usd", A.REPLACE, replacement=r"\1$")
    )
    out = rewrite_markdown(listed, "hi there, this ship costs 5 USD")
    assert out.text == r"hello there, this ship costs 5 \1$"
    assert out.replaced == 2


def test_link_in_markdown_and_html() -> None:
    listed = words(
        w("discourse", A.LINK, replacement="https://discourse.org"),
        w("faq", A.LINK, replacement="/faq"),
    )
    md = rewrite_markdown(listed, "Discourse has a FAQ", "https://forum.example")
    assert md.text == "[Discourse](https://discourse.org) has a [FAQ](https://forum.example/faq)"
    html = rewrite_html(listed, "<p>see discourse, <a href='/x'>discourse</a></p>")
    assert html.text == (
        '<p>see <a href="https://discourse.org">discourse</a>, <a href="/x">discourse</a></p>'
    )
    assert html.linked == 1


def test_replace_and_link_leave_code_links_and_urls_alone_in_markdown() -> None:
    listed = words(
        w("faq", A.LINK, replacement="https://example.org/faq"),
        w("hi", A.REPLACE, replacement="hello"),
        w("secret", A.CENSOR),
    )
    text = "hi, see [the faq](https://x.org/faq) or https://x.org/hi/faq, `faq hi`; faq secret"
    out = rewrite_markdown(listed, text)
    assert out.text == (
        "hello, see [the faq](https://x.org/faq) or https://x.org/hi/faq, `faq hi`; "
        f"[faq](https://example.org/faq) {CENSOR_CHAR * 6}"
    )
    assert (out.censored, out.replaced, out.linked) == (1, 1, 1)
    # A censored word is hidden even in a URL: it must not show.
    assert (
        rewrite_markdown(listed, "https://x.org/secret").text == f"https://x.org/{CENSOR_CHAR * 6}"
    )


def test_replace_leaves_code_and_link_text_alone_in_html() -> None:
    listed = words(w("hi", A.REPLACE, replacement="hello"), w("darn", A.CENSOR))
    out = rewrite_html(listed, "<p>hi <code>hi darn</code> <a href='/hi'>hi</a></p>")
    assert out.text == (f'<p>hello <code>hi {CENSOR_CHAR * 4}</code> <a href="/hi">hi</a></p>')


def test_censor_runs_before_replace_and_link() -> None:
    listed = words(w("darn", A.CENSOR), w("darn", A.REPLACE, replacement="gosh"))
    assert rewrite_markdown(listed, "darn it").text == f"{CENSOR_CHAR * 4} it"


# --- the decision --------------------------------------------------------------------------

CARRIED = Decision(Outcome.CARRIED, "tier", "builtin-1", "open to open", facts=Facts(None, None))


def test_a_blocked_word_refuses_and_names_the_word() -> None:
    screened = screen(CARRIED, words(w("liquorice"), w("anise")), RAW)
    assert screened.decision.outcome is Outcome.REFUSED
    assert screened.decision.rule == "watched_words:block"
    assert "'anise', 'liquorice'" in screened.decision.reason
    assert screened.decision.policy_version.startswith("words-")


def test_a_silencing_word_refuses() -> None:
    screened = screen(CARRIED, words(w("buy now", A.SILENCE)), "Buy now!")
    assert (screened.decision.outcome, screened.decision.rule) == (
        Outcome.REFUSED,
        "watched_words:silence",
    )


def test_a_word_requiring_approval_holds() -> None:
    screened = screen(
        CARRIED, words(w("coupon", A.REQUIRE_APPROVAL), w("x", A.CENSOR)), "a coupon, x"
    )
    assert screened.decision.outcome is Outcome.HELD
    assert screened.decision.rule == "watched_words:require_approval"
    assert "'coupon'" in screened.decision.reason
    assert screened.decision.transform_names == (NAME,)


def test_an_unread_list_makes_the_decision_wait() -> None:
    screened = screen(CARRIED, None, "anything")
    assert screened.decision.outcome is Outcome.WAITING
    assert screened.decision.waiting_for == ("watched_words",)


def test_a_decision_that_does_not_cross_is_left_alone() -> None:
    refused = Decision(Outcome.REFUSED, "boundary", "builtin-1", "no")
    assert screen(refused, None, "liquorice").decision is refused


def test_censoring_transforms_the_content() -> None:
    screened = screen(
        CARRIED, words(w("broccoli", A.CENSOR), w("pyramid", A.FLAG)), "broccoli pyramid"
    )
    decision = screened.decision
    assert decision.outcome is Outcome.TRANSFORMED
    assert screened.flagged == ("pyramid",)
    out = engine.apply(
        decision, Content("<p>broccoli pyramid</p>", BodyFormat.HTML, title="broccoli")
    )
    assert out.content.body == f"<p>{CENSOR_CHAR * 8} pyramid</p>"
    assert out.content.title == CENSOR_CHAR * 8
    assert out.detail == "watched_words: censored watched word x2"


def test_clean_text_keeps_the_decision() -> None:
    screened = screen(CARRIED, words(w("broccoli", A.CENSOR)), "carrots")
    assert screened.decision is CARRIED


def test_config_words_add_to_the_forum_list() -> None:
    forum = words(w("liquorice"))
    both = merged(forum, [w("anise"), w("LIQUORICE")], None)
    assert both is not None
    assert [x.word for x in both.words] == ["liquorice", "anise"]
    assert merged(None, [w("anise")], None) is None
    assert merged(forum, [], True) == WordList(forum.words, True)


# --- properties ----------------------------------------------------------------------------

_word = (
    st.text(
        st.characters(blacklist_categories=("Cs", "Zs", "Cc"), blacklist_characters="*"),
        min_size=1,
        max_size=12,
    )
    .map(str.strip)
    .filter(bool)
)


@given(_word, st.text(max_size=40), st.text(max_size=40))
def test_a_literal_word_between_spaces_is_always_found(word: str, left: str, right: str) -> None:
    found = words(w(word)).matches(A.BLOCK, f"{left} {word} {right}")
    assert any(f.lower() == word.lower() or f == word for f in found)


_letters = st.from_regex(r"\w{1,8}", fullmatch=True)


@given(st.text(max_size=80), st.lists(_letters, min_size=1, max_size=4))
def test_censoring_keeps_the_length_and_removes_every_match(text: str, listed: list[str]) -> None:
    censor = words(*(w(x, A.CENSOR) for x in listed))
    out, _ = censor.censor(text)
    assert len(out) == len(text)
    # A whole-word match is a whole run of word characters: once blotted out, nothing new
    # can match beside it.
    assert censor.matches(A.CENSOR, out) == ()


@given(
    st.from_regex(r"[a-zA-Zé]{1,5}", fullmatch=True), st.from_regex(r"[a-zé]{1,3}", fullmatch=True)
)
def test_a_word_never_matches_inside_a_longer_word(word: str, extra: str) -> None:
    listed = words(w(word))
    assert listed.matches(A.BLOCK, f"{extra}{word}") == ()
    assert listed.matches(A.BLOCK, f"{word}{extra}") == ()
