"""The watched words in force: the forum's own list, read through its admin API and kept in the
store, plus the words the config adds (``moderation.words``).

- The forum's list is read again once it is older than ``moderation.words_refresh``, on the
  next decision that needs it; a change on the forum is picked up without a restart.
- The last list read stays in force while the forum cannot be reached, across restarts too
  (it is kept in the store); only a list that was never read makes decisions wait.
- ``GET /admin/customize/watched_words.json`` (``Admin::WatchedWordsController#index``) answers
  ``{"actions": [...], "words": [{id, word, regexp, replacement?, action, case_sensitive}]}``;
  the mode comes from the site setting ``watched_words_regular_expressions``
  (``docs/moderation.md``, "Watched words").
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bridges.discourse.client import ForumClient
from bridges.discourse.forum_errors import ForumError
from bridges.moderation.moderation_config import ModerationConfig, WordsSettings
from bridges.store.moderation_words import ModerationRecords
from policies.watched_words import WatchedWord, WordAction, WordList, merged, normalize_word

if TYPE_CHECKING:
    from bridges.context import RelayContext

log = logging.getLogger(__name__)

#: The site setting that makes watched words regular expressions.
REGEX_SETTING = "watched_words_regular_expressions"
#: Seconds to leave the forum alone after a failed read before trying again (at most the
#: refresh interval), so that an outage does not cost a call per message.
RETRY_AFTER_FAILURE = 5.0


def words_from_api(body: Any) -> tuple[WatchedWord, ...]:
    """The words of the admin API's answer; entries of an action porch does not know (a newer
    forum's) are skipped."""
    out: list[WatchedWord] = []
    entries = body.get("words") if isinstance(body, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("word"), str):
            continue
        try:
            action = WordAction(str(entry.get("action")))
        except ValueError:
            continue
        replacement = entry.get("replacement")
        word = normalize_word(entry["word"])
        if word:
            out.append(
                WatchedWord(
                    word,
                    action,
                    replacement if isinstance(replacement, str) else None,
                    bool(entry.get("case_sensitive")),
                )
            )
    return tuple(out)


class WordBook:
    """The list in force for decisions, read from the forum now and then."""

    def __init__(
        self,
        records: ModerationRecords,
        forum: ForumClient,
        config: ModerationConfig,
        clock: Callable[[], float],
    ) -> None:
        self.records = records
        self.forum = forum
        self.config = config
        self.clock = clock
        #: Why the last read failed, for the audit of a decision that waits.
        self.error: str | None = None
        self._failed_at: float | None = None
        self._lock = threading.Lock()
        self._memo: tuple[float | None, WordList, WordList] | None = None

    def use(self, config: ModerationConfig) -> None:
        """Decide with ``config``'s words from now on (a reload); the forum's list stays."""
        with self._lock:
            self.config = config
            self._memo = None

    @property
    def enabled(self) -> bool:
        return self.config.words_enabled

    def current(self) -> WordList | None:
        """The words in force; ``None`` while the forum's list has never been read."""
        if not self.config.words_from_forum:
            return self._merged(WordList(), None)
        stored = self.records.word_list()
        now = self.clock()
        if stored is None or now - stored.fetched_at >= self.config.words_refresh:
            fresh = self._read(now)
            if fresh is not None:
                return self._merged(fresh, now)
        return None if stored is None else self._merged(stored.words, stored.fetched_at)

    def _merged(self, forum: WordList, read_at: float | None) -> WordList:
        # Compiling a long list costs more than a message: the list of one read is reused
        # until the next read.
        memo = self._memo
        if memo is not None and memo[0] == read_at and memo[1] == forum:
            return memo[2]
        extra = [w.watched() for w in self.config.words]
        result = merged(forum, extra, self.config.words_regular_expressions)
        assert result is not None
        self._memo = (read_at, forum, result)
        return result

    def refresh(self) -> WordList:
        """Read the forum's list now and keep it.

        Raises:
            ForumError: the forum could not be read.
        """
        body = self.forum.watched_words()
        try:
            settings = self.forum.site_settings([REGEX_SETTING])
        except ForumError as exc:
            # A forum that hides its settings from porch's account: plain words, as its default.
            log.warning(
                "moderation: cannot read %s (%s); treating words as plain", REGEX_SETTING, exc
            )
            settings = {}
        regex = settings.get(REGEX_SETTING, "false").strip().lower() in ("true", "t", "1")
        words = WordList(words_from_api(body), regex)
        self.records.save_word_list(words, self.clock())
        if words.invalid:
            log.warning("moderation: skipping watched words that are not valid: %s", words.invalid)
        return words

    def _read(self, now: float) -> WordList | None:
        with self._lock:
            wait = min(RETRY_AFTER_FAILURE, self.config.words_refresh)
            if self._failed_at is not None and now - self._failed_at < wait:
                return None
            try:
                words = self.refresh()
            except ForumError as exc:
                self._failed_at = now
                self.error = f"reading the forum's watched words failed: {exc}"
                log.warning("moderation: %s", self.error)
                return None
            self._failed_at = None
            self.error = None
            return words


#: The keys of ``moderation:`` a config reload (SIGHUP) takes: the watched words and the
#: protections. The rest of the section (lists, sanctions, review) waits for a restart.
RELOADABLE_KEYS = tuple(WordsSettings.model_fields)


def with_words(current: ModerationConfig, new: ModerationConfig) -> ModerationConfig:
    """``current`` with the watched-word and protection settings of ``new``."""
    return current.model_copy(update={key: getattr(new, key) for key in RELOADABLE_KEYS})


def use_words(ctx: RelayContext, new: ModerationConfig) -> None:
    """Decide with ``new``'s watched words and protections from the next event on (a reload).
    The forum's list read last stays in force; only the config's part and the settings change.
    """
    moderation = with_words(ctx.moderation, new)
    ctx.moderation = moderation
    ctx.words.use(moderation)
