"""Watched words and protections in the crossing decision, both directions.

:class:`bridges.facts.Crossings` hands each decision here after the link's policy has spoken:

- the watched words in force (:mod:`bridges.moderation.words`) are matched against what the
  other side would read (a forum post's raw text and, for a first post, its title; a chat
  message's body): ``block`` and ``silence`` refuse, ``require_approval`` holds, ``censor``,
  ``replace`` and ``link`` rewrite (:mod:`policies.watched_words`), ``flag`` is recorded in
  the audit log and ``tag`` tags a topic porch opens on the forum;
- chat -> forum only, the protections (:mod:`policies.protections`): flood limit, a new
  sender's first message with a link or media, mention spam;
- a decision that must wait (the list was never read) is recorded and the event retried, like
  any other unknown fact: nothing crosses on a guess.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

from bridges.chat_media import MEDIA_MSGTYPES
from bridges.context import RelayContext
from bridges.discourse.errors import ForumError
from bridges.links import LinkConfig
from bridges.model import ChatMessage, ForumPost, PostID
from bridges.store.audit import AuditEntry
from bridges.store.inbox import InboxRow
from bridges.store.moderation_words import ModerationRecords
from bridges.worker import RetryLater
from policies import protections
from policies.decision import Decision, Outcome
from policies.watched_words import NAME, WordAction, WordList, screen

log = logging.getLogger(__name__)


class Screening:
    """Applies the watched words and protections to one crossing's decision."""

    def __init__(self, ctx: RelayContext) -> None:
        self.ctx = ctx
        self.records = ModerationRecords(ctx.store.db)

    def forum_post(
        self, row: InboxRow, link: LinkConfig, decision: Decision, post: ForumPost
    ) -> Decision:
        """``decision`` on carrying ``post`` into the room, after the watched words.

        Raises:
            RetryLater: the word list was never read (recorded in the audit log).
        """
        text = f"{post.topic_title}\n\n{post.raw}" if post.is_first_post else post.raw
        return self._words(row, link, decision, text, post.author.username)

    def chat_message(
        self, row: InboxRow, link: LinkConfig, decision: Decision, msg: ChatMessage
    ) -> Decision:
        """``decision`` on carrying ``msg`` to the forum, after the watched words and (for
        new messages, not edits) the protections.

        Raises:
            RetryLater: the word list was never read (recorded in the audit log).
        """
        decision = self._words(row, link, decision, msg.body, msg.sender)
        if msg.replaces is not None or not (decision.crosses or decision.outcome is Outcome.HELD):
            return decision
        limits = self.ctx.moderation.protections.limits()
        if limits is None:
            return decision
        at = msg.origin_server_ts / 1000 if msg.origin_server_ts > 0 else self.ctx.clock()
        activity = protections.Activity(
            recent=self.records.count_and_record(msg.sender, row.id, at, limits.flood_seconds),
            carried_before=self.records.carried_before(msg.sender),
        )
        found = protections.traits(msg.body, msg.formatted_body, msg.msgtype in MEDIA_MSGTYPES)
        return protections.protect(decision, limits, activity, found)

    def tags(self, text: str, tags: Sequence[str]) -> tuple[str, ...]:
        """``tags`` plus those of the ``tag`` words in ``text``, for a topic porch opens."""
        words = self.ctx.words.current() if self.ctx.words.enabled else None
        extra = () if words is None else words.tags(text)
        return tuple(dict.fromkeys((*tags, *extra)))

    def flag(self, msg: ChatMessage, post_id: PostID) -> None:
        """Flag the forum post ``msg`` became when it holds ``flag`` words, as the forum flags
        its own members' posts; best effort: the audit log has the flag already."""
        words = self.ctx.words.current() if self.ctx.words.enabled else None
        found = () if words is None else words.matches(WordAction.FLAG, msg.body)
        if not found:
            return
        why = "Watched word: " + ", ".join(found)
        try:
            self.ctx.forum.flag(post_id, why)
        except ForumError as exc:
            log.warning("moderation: could not flag post %s: %s", post_id, exc)

    def _words(
        self, row: InboxRow, link: LinkConfig, decision: Decision, text: str, actor: str
    ) -> Decision:
        book = self.ctx.words
        if not book.enabled:
            return decision
        words: WordList | None = book.current()
        screened = screen(decision, words, text)
        result = screened.decision
        if result.outcome is Outcome.WAITING:
            reason = result.reason + (f" ({book.error})" if book.error else "")
            self.ctx.audit(row, link, replace(result, reason=reason), actor)
            raise RetryLater(f"waiting for the watched words: {reason}")
        if (
            screened.flagged
            and result.outcome is not Outcome.REFUSED
            and not self._flagged_already(row, link)
        ):
            # Discourse flags such a post for its moderators and lets it stand; porch carries it
            # and leaves the trace in its own log: an entry of its own, under the rule that
            # moderators look for, beside the crossing's.
            found = ", ".join(f"'{w}'" for w in screened.flagged)
            self.ctx.store.audit.record(
                AuditEntry(
                    at=self.ctx.clock(),
                    inbox_id=row.id,
                    link=link.name,
                    outcome=result.outcome.value,
                    rule=f"{NAME}:flag",
                    policy_version=words.version if words is not None else "",
                    actor=actor,
                    detail=f"contains a flagged word: {found}",
                )
            )
        return result

    def _flagged_already(self, row: InboxRow, link: LinkConfig) -> bool:
        # An event decided again (a retry, an approval) is flagged once.
        rule = f"{NAME}:flag"
        entries = self.ctx.store.audit.entries(inbox_id=row.id)
        return any(e.rule == rule and e.link == link.name for e in entries)
