"""The ``moderation:`` config section.

Several parts of moderation share it. Each keeps its settings in its own sub-model and adds
one field line to :class:`ModerationConfig` (or, for the watched words, whose keys sit at the
top of the section, a base class of it); every field needs a default so that a config without
``moderation:`` stays valid.

Watched words and protections (this module's own part)::

    moderation:
      words_from_forum: true      # read the forum's watched words (admin API)
      words_refresh: 600          # seconds between reads of the forum's list
      words:                      # added to the forum's list
        - {word: "liquorice", action: block}
        - {word: "darn", action: replace, replacement: "gosh"}
      protections:
        flood: {messages: 10, seconds: 60, action: hold}
        new_user_links: true
        max_mentions: 10
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from pydantic import Field, model_validator

from bridges.configbase import Section
from bridges.moderation.sanctions_config import PolicyLists, SanctionsConfig
from bridges.review.review_config import ReviewConfig
from policies.protections import Limits
from policies.watched_words import NEEDS_REPLACEMENT, WatchedWord, WordAction, normalize_word


class ConfigWord(Section):
    """A watched word the config adds to the forum's, with Discourse's fields."""

    word: str = Field(min_length=1, max_length=100)
    action: WordAction
    #: The replacement text (``replace``), URL (``link``) or comma-separated tags (``tag``).
    replacement: str | None = Field(default=None, max_length=100)
    case_sensitive: bool = False

    @model_validator(mode="after")
    def _replacement(self) -> ConfigWord:
        if self.action in NEEDS_REPLACEMENT and not self.replacement:
            raise ValueError(f"a {self.action.value} word needs a replacement")
        if not normalize_word(self.word):
            raise ValueError("word: must not be blank")
        return self

    def watched(self) -> WatchedWord:
        return WatchedWord(
            normalize_word(self.word), self.action, self.replacement, self.case_sensitive
        )


class FloodConfig(Section):
    """More than ``messages`` chat messages from one sender within ``seconds``: the excess is
    held for review (``hold``) or not carried (``refuse``)."""

    messages: int = Field(default=10, ge=1)
    seconds: float = Field(default=60.0, gt=0)
    action: Literal["hold", "refuse"] = "hold"


class ProtectionsConfig(Section):
    """Protections for chat -> forum (``moderation.protections``)."""

    #: Off switch for all of them.
    enabled: bool = True
    flood: FloodConfig = FloodConfig()
    #: Hold a sender's first carried message when it has a link or media.
    new_user_links: bool = True
    #: Hold a message that mentions more than this many distinct people (0: no limit).
    #: Discourse's own ``max_mentions_per_post`` defaults to 10.
    max_mentions: int = Field(default=10, ge=0)

    def limits(self) -> Limits | None:
        """The protections as plain data for :mod:`policies.protections`; ``None``: off."""
        if not self.enabled:
            return None
        return Limits(
            flood_messages=self.flood.messages,
            flood_seconds=self.flood.seconds,
            flood_refuses=self.flood.action == "refuse",
            new_user_links=self.new_user_links,
            max_mentions=self.max_mentions,
        )


class WordsSettings(Section):
    """The watched-word keys of ``moderation:`` (see :mod:`bridges.moderation.words`)."""

    #: Read the forum's own watched words (``GET /admin/customize/watched_words.json``; porch's
    #: account must be an admin). Until they have been read once, nothing crosses.
    words_from_forum: bool = True
    #: Seconds between reads of the forum's list; the last list read stays in force meanwhile
    #: and while the forum cannot be reached.
    words_refresh: float = Field(default=600.0, gt=0)
    #: Words added to the forum's list.
    words: tuple[ConfigWord, ...] = ()
    #: Treat the words as regular expressions; by default the forum's site setting
    #: ``watched_words_regular_expressions`` decides (off when porch cannot read it).
    words_regular_expressions: bool | None = None
    protections: ProtectionsConfig = ProtectionsConfig()

    @property
    def words_enabled(self) -> bool:
        return self.words_from_forum or bool(self.words)


class ModerationConfig(WordsSettings):
    """The ``moderation:`` section; other parts of moderation add their field lines here."""

    policy_lists: PolicyLists = ()  # bridges/moderation/sanctions_config.py
    sanctions: SanctionsConfig = SanctionsConfig()
    review: ReviewConfig = ReviewConfig()  # bridges/review/review_config.py

    @property
    def reviewed(self) -> bool:
        """Whether held messages are shown to someone: a moderators room or the ``/review``
        page's moderators."""
        return self.review.room is not None or bool(self.review.moderators)

    def protection_limits(self) -> Limits | None:
        """The protections in force; without a review destination they do not hold
        (:mod:`policies.protections`): a flood set to ``refuse`` still refuses."""
        limits = self.protections.limits()
        if limits is None or self.reviewed:
            return limits
        return replace(limits, hold=False)


def protection_warnings(moderation: ModerationConfig) -> list[str]:
    """What ``porch check`` (and ``serve``, in its log) warns about the protections: on, but
    with no one to review what they would hold, so they hold nothing."""
    protections = moderation.protections
    if not protections.enabled or moderation.reviewed:
        return []
    refuses = protections.flood.action == "refuse"
    off = "new_user_links, max_mentions" if refuses else "flood, new_user_links, max_mentions"
    return [
        "moderation.protections: no review destination (moderation.review.room or "
        f"moderation.review.moderators), so nothing is held: {off} are off"
        + ("; a flood is still refused" if refuses else "")
        + ". Name a moderators room or page moderators to turn them on, or set "
        "moderation.protections.enabled: false to silence this warning."
    ]
