"""Discourse's watched words, applied to what crosses: matching, rewriting, and the decision.

Semantics follow Discourse's ``WordWatcher`` (``app/services/word_watcher.rb``;
``shared/reference/discourse.md`` §4 "Watched words"):

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
from policies.markup import soup
from policies.rules import Change, Rewrite, Transform

#: What Discourse writes for each censored character (``WordWatcher::REPLACEMENT_LETTER``).
CENSOR_CHAR = "\u25a0"
#: The transform name in the audit detail and in a decision's steps.
NAME = "watched_words"
#: What a decision waits for while the list has never been read.
WAITING_FOR = "watched_words"

# Characters Discourse escapes in a plain word (``word.gsub(/([.*+?^${}()|\[\]\\])/, ...)``).
_SPECIAL = re.compile(r"([.*+?^${}()|\[\]\\])")
# Word boundaries of plain mode: Ruby ``(?:[^[:word:]]|^)(…)(?=[^[:word:]]|$)`` as look-arounds
# so that the match is the word itself (Ruby's ``^``/``$`` are line anchors; a newline is not a
# word character, so the look-arounds cover them).
_BEFORE, _AFTER = r"(?<!\w)", r"(?!\w)"


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
    word = re.sub(r"\*+", "*", word)
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
    mode; escaped, ``*`` as ``\\S*`` and bounded to whole words in plain mode."""
    if regular_expressions:
        return f"(?:{word})"
    escaped = _SPECIAL.sub(r"\\\1", word).replace(r"\*", r"\S*")
    return f"{_BEFORE}(?:{escaped}){_AFTER}"


def _compile(pattern: str, case_sensitive: bool) -> re.Pattern[str] | None:
    # MULTILINE: Ruby's ^ and $ always match at line ends (regex mode words use them).
    flags = re.MULTILINE | (0 if case_sensitive else re.IGNORECASE)
    try:
        return re.compile(pattern, flags)
    except re.error:
        return None


@dataclass(frozen=True)
class WordList:
    """The watched words in force, and whether they are regular expressions.

    ``invalid`` names the words that are not valid expressions: like Discourse, porch skips
    them (the forum's admin dashboard warns about them).
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
    def _by_word(self) -> dict[WatchedWord, re.Pattern[str] | None]:
        return {
            w: _compile(word_pattern(w.word, self.regular_expressions), w.case_sensitive)
            for w in self.words
        }

    @cached_property
    def _combined(self) -> dict[WordAction, tuple[re.Pattern[str], ...]]:
        # One alternation per action and case sensitivity, as Discourse compiles them.
        out: dict[WordAction, list[re.Pattern[str]]] = {}
        for action in WordAction:
            for sensitive in (False, True):
                parts = [
                    word_pattern(w.word, self.regular_expressions)
                    for w, compiled in self._by_word.items()
                    if w.action is action and w.case_sensitive is sensitive and compiled
                ]
                if parts:
                    compiled = _compile("|".join(parts), sensitive)
                    if compiled is not None:
                        out.setdefault(action, []).append(compiled)
        return {action: tuple(patterns) for action, patterns in out.items()}

    @property
    def invalid(self) -> tuple[str, ...]:
        return tuple(w.word for w, compiled in self._by_word.items() if compiled is None)

    def of(self, action: WordAction) -> tuple[WatchedWord, ...]:
        return tuple(w for w in self.words if w.action is action)

    def matches(self, action: WordAction, text: str) -> tuple[str, ...]:
        """What in ``text`` the ``action`` words match: sorted, each once
        (``word_matches_for_action?(all_matches: true)``)."""
        found = {
            m.group(0)
            for pattern in self._combined.get(action, ())
            for m in pattern.finditer(text)
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

        def blot(match: re.Match[str]) -> str:
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


def _literal(text: str) -> Callable[[re.Match[str]], str]:
    return lambda _match: text


def link_url(url: str, forum_url: str | None) -> str:
    """A ``link`` word's target: Discourse prepends the forum's base URL to a relative one."""
    if re.match(r"^https?://", url, re.IGNORECASE) or forum_url is None:
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
#: code, links and images, autolinks, bare URLs.
_MD_KEEP = re.compile(
    r"`[^`\n]*`|!?\[[^\]\n]*\]\([^)\n]*\)|<[a-z][a-z0-9+.-]*:[^>\s]*>"
    r"|(?:https?://|www\.)[^\s<>()\[\]]+",
    re.IGNORECASE,
)


def rewrite_markdown(words: WordList, text: str, forum_url: str | None = None) -> Rewritten:
    """Censor, replace and link in source text (a chat message as forum markdown); a linked
    word becomes ``[word](url)``. Censoring applies everywhere (the word must not show, even
    in a URL); replacing and linking leave code, links and URLs intact."""
    text, censored = words.censor(text)
    out: list[str] = []
    replaced = linked = at = 0
    for kept in [*_MD_KEEP.finditer(text), None]:
        end = len(text) if kept is None else kept.start()
        piece, count = words.replace(text[at:end])
        replaced += count
        spans = words.link_spans(piece)
        linked += len(spans)
        for start, stop, url in reversed(spans):
            label = re.sub(r"([\[\]\\])", r"\\\1", piece[start:stop])
            piece = f"{piece[:start]}[{label}]({link_url(url, forum_url)}){piece[stop:]}"
        out.append(piece)
        if kept is not None:
            out.append(kept.group(0))
            at = kept.end()
    return Rewritten("".join(out), censored, replaced, linked)


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


def _quoted(found: Iterable[str]) -> str:
    return ", ".join(f"'{w}'" for w in found)


def screen(decision: Decision, words: WordList | None, text: str) -> Screened:
    """``decision`` with the watched words applied to ``text`` (the source text a reader of
    the other side would see: raw post and title, or a chat body).

    - a decision that does not cross (and is not held) stays as it is;
    - ``words`` ``None`` means the list was never read: the decision waits (fail closed);
    - a ``block`` word refuses (rule ``watched_words:block``, the words in the reason), as
      does a ``silence`` word (``watched_words:silence``; porch does not silence anyone);
    - a ``require_approval`` word holds (``watched_words:require_approval``);
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
