"""The watched-word list porch last read from the forum, and the senders' recent activity.

The list is a cache of what the forum said (:mod:`bridges.moderation.words` reads and
refreshes it): a missing row means *never read*. The activity rows count a sender's chat
messages for the flood limit (:mod:`policies.protections`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import sqlalchemy as sa

from bridges.model import Platform, UserID
from bridges.store.db import Database
from bridges.store.mapping import messages
from policies.watched_words import WatchedWord, WordAction, WordList

word_lists = sa.table(
    "watched_word_lists",
    sa.column("source", sa.String),
    sa.column("words", sa.Text),
    sa.column("regular_expressions", sa.Boolean),
    sa.column("fetched_at", sa.Float),
)
activity = sa.table(
    "moderation_activity",
    sa.column("id", sa.BigInteger),
    sa.column("sender", sa.String),
    sa.column("inbox_id", sa.BigInteger),
    sa.column("at", sa.Float),
)


@dataclass(frozen=True, slots=True)
class StoredList:
    """A word list as read at ``fetched_at``."""

    words: WordList
    fetched_at: float


def _encode(words: WordList) -> str:
    return json.dumps(
        [
            {
                "word": w.word,
                "action": w.action.value,
                "replacement": w.replacement,
                "case_sensitive": w.case_sensitive,
            }
            for w in words.words
        ],
        ensure_ascii=False,
    )


def _decode(text: str, regular_expressions: bool) -> WordList:
    entries = json.loads(text)
    return WordList(
        tuple(
            WatchedWord(
                str(e["word"]),
                WordAction(e["action"]),
                e.get("replacement"),
                bool(e.get("case_sensitive")),
            )
            for e in entries
        ),
        regular_expressions,
    )


class ModerationRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- word lists -------------------------------------------------------------------------

    def word_list(self, source: str = "forum") -> StoredList | None:
        with self.db.read() as conn:
            row = conn.execute(sa.select(word_lists).where(word_lists.c.source == source)).first()
        if row is None:
            return None
        return StoredList(_decode(row.words, bool(row.regular_expressions)), float(row.fetched_at))

    def save_word_list(self, words: WordList, fetched_at: float, source: str = "forum") -> None:
        """Insert or replace the list (the latest read wins)."""
        values = {
            "words": _encode(words),
            "regular_expressions": words.regular_expressions,
            "fetched_at": fetched_at,
        }
        insert = self.db.insert(word_lists).values(source=source, **values)
        with self.db.begin() as conn:
            conn.execute(insert.on_conflict_do_update(index_elements=["source"], set_=values))

    # --- activity ---------------------------------------------------------------------------

    def count_and_record(self, sender: UserID, inbox_id: int, at: float, window: float) -> int:
        """How many other messages ``sender`` sent within ``window`` seconds before ``at``;
        records this one (once per inbox event) and drops rows too old to matter."""
        with self.db.begin() as conn:
            conn.execute(
                self.db.insert(activity)
                .values(sender=sender, inbox_id=inbox_id, at=at)
                .on_conflict_do_nothing(index_elements=["sender", "inbox_id"])
            )
            recent = conn.execute(
                sa.select(sa.func.count())
                .select_from(activity)
                .where(
                    activity.c.sender == sender,
                    activity.c.inbox_id != inbox_id,
                    activity.c.at > at - window,
                    activity.c.at <= at,
                )
            ).scalar()
            # Rows far older than any window in use are noise; a day is generous.
            conn.execute(
                sa.delete(activity).where(
                    activity.c.sender == sender, activity.c.at < at - max(window, 86400.0)
                )
            )
        return int(recent or 0)

    def carried_before(self, sender: UserID) -> bool:
        """Whether any chat message of ``sender`` was carried to the forum."""
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(messages.c.id)
                .where(messages.c.sender == sender, messages.c.origin == Platform.CHAT.value)
                .limit(1)
            ).first()
        return row is not None
