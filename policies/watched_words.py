"""Discourse's watched words, applied to what crosses: matching, rewriting, and the decision.

Semantics follow Discourse's ``WordWatcher`` (``app/services/word_watcher.rb``;
``docs/moderation.md``, "Watched words"):

- plain mode (site setting ``watched_words_regular_expressions`` off, the default): the word is
  taken literally except that ``*`` is a wildcard for any run of non-space characters, and it
  matches whole words only: the characters either side must not be word characters (Ruby's
  ``[[:word:]]``; here Python's Unicode ``\\w``, so ``café`` and ``naïve`` are one word each);
- regular-expression mode: the word is a regular expression used as it is, without boundaries;
- every word is case-insensitive unless it is marked ``case_sensitive``;
- ``censor`` writes one ``■`` per character of each match, ``replace`` writes the replacement
  text, ``link`` turns the match into a link to the replacement URL; they run in that order
  (``WordWatcher.apply_to_text``);
- ``block``, ``silence`` and ``require_approval`` stop or hold the content; ``flag`` lets it
  cross and records it; ``tag`` adds tags to a topic porch creates on the forum.

Everything here is pure: the relay hands in the list (:class:`WordList`) and the text.

Every word is matched by RE2 (:mod:`policies.linear`), in time linear in the text whatever the
word and the text (a backtracking engine takes seconds on ``*x`` against a long run of ``!``).
A regular-expression word that RE2 cannot run (a look-around or a backreference; Discourse's own
client-side matcher avoids look-behinds for the same engines' sake) is skipped like an invalid
one, and while such a word would block, silence or require approval, what it would judge is
held for review (fail closed). Text longer than :data:`policies.linear.MAX_SCANNED` is refused
rather than checked in part.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import cached_property

from bs4 import Tag
from bs4.element import NavigableString

from policies.decision import Decision, Outcome, Step
from policies.facts import BodyFormat, Content, Facts
from policies.linear import MAX_SCANNED, Found, Linear, compile_linear, leftmost
from policies.markup import soup
from policies.rules import Change, Rewrite, Transform

#: What Discourse writes for each censored character (``WordWatcher::REPLACEMENT_LETTER``).
CENSOR_CHAR = "\u25a0"
#: The transform name in the audit detail and in a decision's steps.
NAME = "watched_words"
#: What a decision waits for while the list has never been read.
WAITING_FOR = "watched_words"

# Characters Discourse escapes in a plain word (``word.gsub(/([.*+?^${}()|\[\]\\])/, ...)``).
# (A translation table, not a pattern: one pass, no engine call per escaped character.)
_SPECIAL = str.maketrans({c: "\\" + c for c in ".*+?^${}()|[]\\"})
# Word boundaries of plain mode: Ruby ``(?:[^[:word:]]|^)(…)(?=[^[:word:]]|$)``, given to the
# matcher as "not after / not before a word character" so that the match is the word itself
# (Ruby's ``^``/``$`` are line anchors; a newline is not a word character, so this covers them).
_WORD = r"\w"
_SQUEEZE = Linear(r"\*+")
_ABSOLUTE = Linear(r"^https?://", ignore_case=True)


class WordAction(StrEnum):
    """Discourse's watched-word actions (``WatchedWord.actions``), by their API names."""

    BLOCK = "block"
    CENSOR = "censor"
    REQUIRE_APPROVAL = "require_approval"
    FLAG = "flag"
    REPLACE = "replace"
    TAG = "tag"
    SILENCE = "silence"
    LINK = "link"


#: Actions whose words need a ``replacement`` (a text, a URL, or comma-separated tags).
NEEDS_REPLACEMENT = frozenset({WordAction.REPLACE, WordAction.LINK, WordAction.TAG})


def normalize_word(word: str) -> str:
    """Discourse's ``WatchedWord.normalize_word``: trimmed, repeated ``*`` squeezed, a Ruby
    ``(?-mix:…)`` wrapper removed."""
    word = word.strip()
    word = _SQUEEZE.sub("*", word)
    if word.startswith("(?-mix:") and word.endswith(")"):
        word = word[len("(?-mix:") : -1]
    return word


@dataclass(frozen=True, slots=True)
class WatchedWord:
    """One watched word as the forum lists it (or as ``moderation.words`` adds it)."""

    word: str
    action: WordAction
    replacement: str | None = None
    case_sensitive: bool = False


def word_pattern(word: str, regular_expressions: bool) -> str:
    """The expression that matches ``word`` (``WordWatcher.word_to_regexp``): raw in regex
    mode; escaped and ``*`` as ``\\S*`` in plain mode (where the matcher also requires whole
    words: see :func:`_compile`)."""
    if regular_expressions:
        return f"(?:{word})"
    escaped = word.translate(_SPECIAL).replace(r"\*", r"\S*")
    return f"(?:{escaped})"


def _compile(pattern: str, case_sensitive: bool, whole_words: bool) -> Linear | None:
    # MULTILINE: Ruby's ^ and $ always match at line ends (regex mode words use them).
    boundary = _WORD if whole_words else ""
    return compile_linear(
        pattern,
        multiline=True,
        ignore_case=not case_sensitive,
        not_after=boundary,
        not_before=boundary,
    )


def _python_valid(pattern: str) -> bool:
    # Only compiled, never run on text: tells a word RE2 cannot run from one that is invalid.
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


@dataclass(frozen=True)
class WordList:
    """The watched words in force, and whether they are regular expressions.

    ``invalid`` names the words that are not valid expressions: like Discourse, porch skips
    them (the forum's admin dashboard warns about them). ``unsupported`` names the valid ones
    that RE2 cannot run (look-arounds, backreferences); they are skipped too, and listed in
    ``invalid`` as well.
    """

    words: tuple[WatchedWord, ...] = ()
    regular_expressions: bool = False

    @cached_property
    def version(self) -> str:
        """A hash of the list, recorded with the decisions it makes (``words-<hash>``)."""
        data = [
            [w.word, w.action.value, w.replacement, w.case_sensitive]
            for w in sorted(self.words, key=lambda w: (w.action.value, w.word))
        ]
        text = json.dumps([self.regular_expressions, data], ensure_ascii=False)
        return "words-" + hashlib.sha256(text.encode()).hexdigest()[:12]

    @cached_property
    def _by_word(self) -> dict[WatchedWord, Linear | None]:
        plain = not self.regular_expressions
        return {
            w: _compile(word_pattern(w.word, self.regular_expressions), w.case_sensitive, plain)
            for w in self.words
        }

    @cached_property
    def _combined(self) -> dict[WordAction, tuple[Linear, ...]]:
        # One alternation per action and case sensitivity, as Discourse compiles them.
        out: dict[WordAction, list[Linear]] = {}
        for action in WordAction:
            for sensitive in (False, True):
                parts = [
                    word_pattern(w.word, self.regular_expressions)
                    for w, compiled in self._by_word.items()
                    if w.action is action and w.case_sensitive is sensitive and compiled
                ]
                if parts:
                    compiled = _compile("|".join(parts), sensitive, not self.regular_expressions)
                    if compiled is not None:
                        out.setdefault(action, []).append(compiled)
        return {action: tuple(patterns) for action, patterns in out.items()}

    @property
    def invalid(self) -> tuple[str, ...]:
        return tuple(w.word for w, compiled in self._by_word.items() if compiled is None)

    @cached_property
    def unsupported(self) -> tuple[WatchedWord, ...]:
        """Valid expressions that RE2 cannot run, so porch cannot check them."""
        return tuple(
            w
            for w, compiled in self._by_word.items()
            if compiled is None and _python_valid(word_pattern(w.word, self.regular_expressions))
        )

    def of(self, action: WordAction) -> tuple[WatchedWord, ...]:
        return tuple(w for w in self.words if w.action is action)

    def matches(self, action: WordAction, text: str) -> tuple[str, ...]:
        """What in ``text`` the ``action`` words match: sorted, each once
        (``word_matches_for_action?(all_matches: true)``)."""
        found = {
            text[start:end]
            for pattern in self._combined.get(action, ())
            for start, end in pattern.spans(text)
        }
        return tuple(sorted(found - {""}))

    def tags(self, text: str) -> tuple[str, ...]:
        """The tags of every ``tag`` word ``text`` contains (``TopicCreator#setup_tags``)."""
        out: dict[str, None] = {}
        for word in self.of(WordAction.TAG):
            pattern = self._by_word.get(word)
            if pattern is not None and pattern.search(text) and word.replacement:
                for tag in word.replacement.split(","):
                    if tag.strip():
                        out.setdefault(tag.strip(), None)
        return tuple(out)

    def rewrites(self, text: str) -> bool:
        """Whether censoring, replacing or linking would change anything in ``text``."""
        return any(
            self.matches(action, text)
            for action in (WordAction.CENSOR, WordAction.REPLACE, WordAction.LINK)
        )

    # --- rewriting text -------------------------------------------------------------------

    def censor(self, text: str) -> tuple[str, int]:
        """``text`` with each censored match written as ``■`` characters of the same length,
        and how many matches there were."""
        count = 0

        def blot(match: Found) -> str:
            nonlocal count
            count += 1
            return CENSOR_CHAR * len(match.group(0))

        for pattern in self._combined.get(WordAction.CENSOR, ()):
            text = pattern.sub(blot, text)
        return text, count

    def replace(self, text: str) -> tuple[str, int]:
        """``text`` with each ``replace`` word's matches written as its replacement text."""
        count = 0
        for word in self.of(WordAction.REPLACE):
            pattern = self._by_word.get(word)
            if pattern is None:
                continue
            # A function, not a template: the replacement is literal text (Ruby's gsub block).
            text, n = pattern.subn(_literal(word.replacement or ""), text)
            count += n
        return text, count

    def link_spans(self, text: str) -> list[tuple[int, int, str]]:
        """Where ``link`` words match in ``text``: ``(start, end, url)``, in order, disjoint."""
        spans: list[tuple[int, int, str]] = []
        for word in self.of(WordAction.LINK):
            pattern = self._by_word.get(word)
            if pattern is None or not word.replacement:
                continue
            for m in pattern.finditer(text):
                if m.end() > m.start() and not any(
                    s < m.end() and m.start() < e for s, e, _ in spans
                ):
                    spans.append((m.start(), m.end(), word.replacement))
        return sorted(spans)


def _literal(text: str) -> Callable[[Found], str]:
    return lambda _match: text


def link_url(url: str, forum_url: str | None) -> str:
    """A ``link`` word's target: Discourse prepends the forum's base URL to a relative one."""
    if _ABSOLUTE.match(url) or forum_url is None:
        return url
    return forum_url.rstrip("/") + "/" + url.lstrip("/")


# --- applying the list to content ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rewritten:
    """Text after censor, replace and link, with the counts for the audit."""

    text: str
    censored: int = 0
    replaced: int = 0
    linked: int = 0


#: Markdown that replace and link leave alone, as cooking leaves hrefs and code alone: inline
#: code, links and images, autolinks, bare URLs. One pattern per kind, each matching a run of
#: adjacent spans of its kind at once: a single alternation searched again after each match
#: costs a call into the engine per span (a line of backticks is 32,768 code spans) and, worse,
#: each search scans on to the end of the line while an earlier-starting alternative is still
#: open (an unclosed ``[b](`` before every code span), so its time grew with the square of the
#: line. A kind starts with characters no other kind starts with, so at most one can match at
#: a position, and :func:`~policies.linear.leftmost` gives the alternation's matches.
_MD_KEEP_KINDS = (
    Linear(r"(?:`[^`\n]*`)+", ignore_case=True),
    Linear(r"(?:!?\[[^\]\n]*\]\([^)\n]*\))+", ignore_case=True),
    Linear(r"(?:<[a-z][a-z0-9+.-]*:[^>\s]*>)+", ignore_case=True),
    Linear(r"(?:(?:https?://|www\.)[^\s<>()\[\]]+)+", ignore_case=True),
)
_LABEL_SPECIAL = str.maketrans({c: "\\" + c for c in "[]\\"})


#: Stands in for each kept span while plain-mode words run over all the rest of a text at
#: once: white space and not a word character, like the edge of a text to the whole-word
#: boundaries and to ``*`` (``\\S*``), so no match reaches across it.
_GAP = "\x1c"


def rewrite_markdown(words: WordList, text: str, forum_url: str | None = None) -> Rewritten:
    """Censor, replace and link in source text (a chat message as forum markdown); a linked
    word becomes ``[word](url)``. Censoring applies everywhere (the word must not show, even
    in a URL); replacing and linking leave code, links and URLs intact."""
    text, censored = words.censor(text)
    kept = list(leftmost(_MD_KEEP_KINDS, text))
    if _at_once(words, text, forum_url):
        # One pass of each word over the text with the kept spans masked, rather than one per
        # stretch between kept spans: a line of short code spans has thousands of stretches.
        gaps: list[str] = []
        at = 0
        for start, end in kept:
            gaps.append(text[at:start])
            at = end
        gaps.append(text[at:])
        masked, replaced = words.replace(_GAP.join(gaps))
        spans = words.link_spans(masked)
        pieces = _linked(masked, spans, forum_url).split(_GAP)
        out = [pieces[0]]
        for (start, end), piece in zip(kept, pieces[1:], strict=True):
            out += [text[start:end], piece]
        return Rewritten("".join(out), censored, replaced, len(spans))
    out = []
    replaced = linked = at = 0
    for span in [*kept, None]:
        end = len(text) if span is None else span[0]
        if at != end:  # nothing between two kept spans (costs a call per span otherwise)
            piece, count = words.replace(text[at:end])
            replaced += count
            spans = words.link_spans(piece)
            linked += len(spans)
            out.append(_linked(piece, spans, forum_url))
        if span is not None:
            out.append(text[span[0] : span[1]])
            at = span[1]
    return Rewritten("".join(out), censored, replaced, linked)


def _at_once(words: WordList, text: str, forum_url: str | None) -> bool:
    """Whether the replace and link words may run over ``text`` with the kept spans masked by
    :data:`_GAP` and give what they give on each stretch between kept spans."""
    if words.regular_expressions or _GAP in text or _GAP in (forum_url or ""):
        return False  # an expression may match the mask (``\\s``, ``.``, ``[^x]``)
    for word in (*words.of(WordAction.REPLACE), *words.of(WordAction.LINK)):
        pattern = words._by_word.get(word)
        if _GAP in word.word or _GAP in (word.replacement or ""):
            return False
        if pattern is not None and pattern.search("") is not None:
            return False  # only ``*``: it would match at each mask, even between two kept spans
    return True


def _linked(piece: str, spans: list[tuple[int, int, str]], forum_url: str | None) -> str:
    """``piece`` with each of ``spans`` (in order, disjoint) written as a markdown link."""
    out: list[str] = []
    at = 0
    for start, stop, url in spans:
        label = piece[start:stop].translate(_LABEL_SPECIAL)
        out += [piece[at:start], f"[{label}]({link_url(url, forum_url)})"]
        at = stop
    out.append(piece[at:])
    return "".join(out)


def rewrite_plain(words: WordList, text: str) -> Rewritten:
    """Censor and replace in text that cannot hold a link (a title)."""
    text, censored = words.censor(text)
    text, replaced = words.replace(text)
    return Rewritten(text, censored, replaced)


#: Elements whose text replace and link leave alone.
_HTML_KEEP = frozenset({"a", "code", "pre"})


def rewrite_html(words: WordList, body: str, forum_url: str | None = None) -> Rewritten:
    """Censor, replace and link in the text nodes of HTML (as Discourse does when cooking):
    markup and attributes are left alone; censoring applies to all text, replacing and linking
    not to the text of links and code."""
    document = soup(body)
    counts = [0, 0, 0]
    for node in list(document.find_all(string=True)):
        if type(node) is not NavigableString:  # comments, CDATA, doctype
            continue
        text, censored = words.censor(str(node))
        counts[0] += censored
        kept = any(parent.name in _HTML_KEEP for parent in node.parents)
        spans: list[tuple[int, int, str]] = []
        if not kept:
            text, replaced = words.replace(text)
            counts[1] += replaced
            spans = words.link_spans(text)
        counts[2] += len(spans)
        if not spans:
            if text != node:
                node.replace_with(NavigableString(text))
            continue
        pieces: list[NavigableString | Tag] = []
        at = 0
        for start, end, url in spans:
            pieces.append(NavigableString(text[at:start]))
            anchor = document.new_tag("a", href=link_url(url, forum_url))
            anchor.string = text[start:end]
            pieces.append(anchor)
            at = end
        pieces.append(NavigableString(text[at:]))
        first = pieces[0]
        node.replace_with(first)
        for piece in pieces[1:]:
            first.insert_after(piece)
            first = piece
    return Rewritten(str(document), *counts)


def apply_words(words: WordList, facts: Facts, content: Content) -> Rewrite:
    """The ``watched_words`` transform: censor, replace and link in the body (in its format)
    and censor and replace in the title."""
    if content.format is BodyFormat.HTML:
        body = rewrite_html(words, content.body, facts.forum_url)
    else:
        body = rewrite_markdown(words, content.body, facts.forum_url)
    title = None if content.title is None else rewrite_plain(words, content.title)
    changes = []
    for what, count in (
        ("censored", body.censored + (title.censored if title else 0)),
        ("replaced", body.replaced + (title.replaced if title else 0)),
        ("linked", body.linked),
    ):
        if count:
            changes.append(Change(NAME, f"{what} watched word", count))
    new = replace(content, body=body.text, title=content.title if title is None else title.text)
    return Rewrite(new, tuple(changes))


#: The transform a decision carries when watched words rewrite what crosses. It is not a rule
#: a policy file can name: the list comes from the forum, not from the policy.
TRANSFORM: Transform[WordList] = Transform(
    name=NAME,
    options=WordList,
    apply=apply_words,
    # After quote/link removal and personal data, before names are inserted.
    order=45,
    doc="Censor, replace and link the forum's watched words.",
)


# --- the decision -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Screened:
    """A decision after the watched words, and what else they ask of the relay.

    ``flagged``: ``flag`` words found (the content crosses; the relay records them and flags
    the forum post); ``tags``: tags for a topic porch creates on the forum.
    """

    decision: Decision
    flagged: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


#: Actions whose words, when porch cannot run them, hold what they would judge.
_STOPPING = frozenset({WordAction.BLOCK, WordAction.SILENCE, WordAction.REQUIRE_APPROVAL})


def _quoted(found: Iterable[str]) -> str:
    return ", ".join(f"'{w}'" for w in found)


def screen(decision: Decision, words: WordList | None, text: str) -> Screened:
    """``decision`` with the watched words applied to ``text`` (the source text a reader of
    the other side would see: raw post and title, or a chat body).

    - a decision that does not cross (and is not held) stays as it is;
    - ``words`` ``None`` means the list was never read: the decision waits (fail closed);
    - text longer than :data:`~policies.linear.MAX_SCANNED` is refused (rule
      ``watched_words:too_long``) rather than checked in part;
    - a ``block`` word refuses (rule ``watched_words:block``, the words in the reason), as
      does a ``silence`` word (``watched_words:silence``; porch does not silence anyone);
    - a ``require_approval`` word holds (``watched_words:require_approval``), and so does a
      blocking, silencing or approval word that porch cannot run (``watched_words:unchecked``:
      see :attr:`WordList.unsupported`);
    - ``censor``, ``replace`` and ``link`` words add the :data:`TRANSFORM` step;
    - ``flag`` and ``tag`` words are returned for the relay to act on.
    """
    if not (decision.crosses or decision.outcome is Outcome.HELD):
        return Screened(decision)
    if words is None:
        return Screened(
            Decision(
                Outcome.WAITING,
                NAME,
                decision.policy_version,
                "the forum's watched words have not been read yet",
                facts=decision.facts,
                waiting_for=(WAITING_FOR,),
            )
        )
    if words.words and len(text) > MAX_SCANNED:
        return Screened(
            Decision(
                Outcome.REFUSED,
                f"{NAME}:too_long",
                words.version,
                f"longer than the {MAX_SCANNED} characters checked against the watched words",
                facts=decision.facts,
            )
        )
    for action in (WordAction.BLOCK, WordAction.SILENCE):
        found = words.matches(action, text)
        if found:
            what = "a blocked word" if action is WordAction.BLOCK else "a silencing word"
            return Screened(
                Decision(
                    Outcome.REFUSED,
                    f"{NAME}:{action.value}",
                    words.version,
                    f"contains {what}: {_quoted(found)}",
                    facts=decision.facts,
                )
            )
    steps = decision.transforms
    if words.rewrites(text) and NAME not in decision.transform_names:
        steps = tuple(sorted((*steps, Step(TRANSFORM, words)), key=lambda s: s.transform.order))
    flagged = words.matches(WordAction.FLAG, text)
    tags = words.tags(text)
    held = words.matches(WordAction.REQUIRE_APPROVAL, text)
    unchecked = [w.word for w in words.unsupported if w.action in _STOPPING]
    if unchecked and not held:
        return Screened(
            Decision(
                Outcome.HELD,
                f"{NAME}:unchecked",
                words.version,
                "watched words porch cannot check (look-arounds or backreferences): "
                + _quoted(unchecked),
                steps,
                decision.facts,
            ),
            flagged,
            tags,
        )
    if held:
        return Screened(
            Decision(
                Outcome.HELD,
                f"{NAME}:{WordAction.REQUIRE_APPROVAL.value}",
                words.version,
                f"contains a word that requires approval: {_quoted(held)}",
                steps,
                decision.facts,
            ),
            flagged,
            tags,
        )
    if steps == decision.transforms:
        return Screened(decision, flagged, tags)
    outcome = Outcome.TRANSFORMED if decision.outcome is Outcome.CARRIED else decision.outcome
    reason = decision.reason + "; watched words rewrite it"
    return Screened(
        replace(decision, outcome=outcome, transforms=steps, reason=reason), flagged, tags
    )


def merged(
    forum: WordList | None, extra: Iterable[WatchedWord], regex: bool | None
) -> WordList | None:
    """The forum's list plus the config's words (``None`` while the forum's is unknown);
    ``regex`` overrides the forum's regular-expression mode when set."""
    if forum is None:
        return None
    mode = forum.regular_expressions if regex is None else regex
    seen = {(w.word.lower(), w.action) for w in forum.words}
    added = tuple(w for w in extra if (w.word.lower(), w.action) not in seen)
    return WordList(forum.words + added, mode)
