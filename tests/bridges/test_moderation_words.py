"""The watched words in force: read from the double's admin API, kept in a real store, read
again when stale, kept through an outage, and never guessed before the first read."""

from __future__ import annotations

from bridges.discourse.client import ForumClient
from bridges.discourse.discourse_config import DiscourseConfig
from bridges.moderation.moderation_config import ModerationConfig
from bridges.moderation.words import WordBook
from bridges.store.moderation_words import ModerationRecords
from bridges.store.store import Store
from policies.watched_words import WatchedWord, WordAction
from sandbox.forum import SandboxForum
from tests.rig.clock import Clock

WORDS = "/admin/customize/watched_words"


def _book(
    store: Store, discourse_config: DiscourseConfig, clock: Clock, **config: object
) -> WordBook:
    moderation = ModerationConfig.model_validate({"words_refresh": 60, **config})
    forum = ForumClient(discourse_config)
    return WordBook(ModerationRecords(store.db), forum, moderation, clock)


def test_the_forum_list_is_read_kept_and_read_again_when_stale(
    store: Store, forum: SandboxForum, discourse_config: DiscourseConfig, clock: Clock
) -> None:
    forum.set_watched_words(
        {"word": "liquorice", "action": "block"},
        {"word": "faq", "action": "link", "replacement": "https://example.org/faq"},
        {"word": "NASA", "action": "flag", "case_sensitive": True},
        {"word": "future", "action": "some_new_action"},
    )
    book = _book(store, discourse_config, clock)
    words = book.current()
    assert words is not None
    assert words.words == (
        WatchedWord("liquorice", WordAction.BLOCK),
        WatchedWord("faq", WordAction.LINK, "https://example.org/faq"),
        WatchedWord("NASA", WordAction.FLAG, case_sensitive=True),
    )
    assert not words.regular_expressions

    forum.set_watched_words({"word": "anise", "action": "block"})
    forum.change_settings(watched_words_regular_expressions=True)
    clock.now += 30
    assert book.current() is words, "read 30 s ago: still in force (and not compiled again)"
    clock.now += 31
    fresh = book.current()
    assert fresh is not None and fresh.words == (WatchedWord("anise", WordAction.BLOCK),)
    assert fresh.regular_expressions


def test_an_outage_keeps_the_last_list_but_a_list_never_read_is_unknown(
    store: Store, forum: SandboxForum, discourse_config: DiscourseConfig, clock: Clock
) -> None:
    forum.set_watched_words({"word": "liquorice", "action": "block"})
    forum.fail_next(1, status=500, method="GET", path_prefix=WORDS)
    book = _book(store, discourse_config, clock)
    assert book.current() is None
    assert book.error is not None and "500" in book.error
    # Failures are not retried on every message.
    assert book.current() is None
    clock.now += 6
    words = book.current()
    assert words is not None and words.matches(WordAction.BLOCK, "liquorice")

    clock.now += 120
    forum.fail_next(10, status=502, method="GET", path_prefix=WORDS)
    kept = book.current()
    assert kept is not None and kept.matches(WordAction.BLOCK, "liquorice")
    # A restart keeps it too: it is in the store.
    again = _book(store, discourse_config, clock)
    later = again.current()
    assert later is not None and later.matches(WordAction.BLOCK, "liquorice")


def test_config_words_add_to_the_forum_list_or_stand_alone(
    store: Store, forum: SandboxForum, discourse_config: DiscourseConfig, clock: Clock
) -> None:
    forum.set_watched_words({"word": "liquorice", "action": "block"})
    extra = [{"word": "anise", "action": "censor"}]
    both = _book(store, discourse_config, clock, words=extra).current()
    assert both is not None and [w.word for w in both.words] == ["liquorice", "anise"]

    forum.fail_next(10, status=500, method="GET", path_prefix=WORDS)
    alone = _book(store, discourse_config, clock, words=extra, words_from_forum=False)
    only = alone.current()
    assert only is not None and [w.word for w in only.words] == ["anise"]
    assert not any(c.path.startswith(WORDS) and c.status == 500 for c in forum.requests_log())
