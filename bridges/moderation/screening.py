"""Watched words and protections in the crossing decision, both directions.

:class:`bridges.relay.crossings.Crossings` hands each decision here once the link's policy has
spoken:

- the watched words in force (:mod:`bridges.moderation.words`) are matched against what the
  other side would read (a forum post's raw text and, for a first post, its title; a chat
  message as the forum will get it, :class:`bridges.relay.chat_to_forum.chat_posting.Draft`, never
  its ``body`` alone): ``block`` and ``silence`` refuse, ``require_approval`` holds, ``censor``,
  ``replace`` and ``link`` rewrite (:mod:`policies.watched_words`), ``flag`` is recorded in
  the audit log and flags the forum post (both ways), and ``tag`` tags a topic porch opens on
  the forum;
- a chat message refused for a ``silence`` word sanctions its sender
  (:mod:`bridges.moderation.word_sanctions`);
- forum staff are exempt from ``block``, ``silence``, ``require_approval`` and ``flag`` words,
  as in Discourse (``NewPostManager``, ``Jobs::ProcessPost``; ``docs/moderation.md``):
  a forum post by an admin or moderator, a chat message whose sender is linked to one.
  Censor, replace and link apply to everyone, as the forum's cooking does;
- chat -> forum only, the protections (:mod:`policies.protections`): flood limit, a new
  sender's first message with a link or media, mention spam;
- a decision that must wait (the list was never read) is recorded and the event retried, like
  any other unknown fact: nothing crosses on a guess.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace

from bridges.context import RelayContext
from bridges.discourse.forum_errors import ForumError, ForumNotFound, ForumRateLimited
from bridges.links import LinkConfig
from bridges.model import ChatMessage, ForumPost, ForumUsername, PostID, UserID
from bridges.moderation.word_sanctions import WordSilence
from bridges.relay.chat_to_forum.chat_media import MEDIA_MSGTYPES
from bridges.store.audit import AuditEntry
from bridges.store.inbox import InboxRow
from bridges.store.moderation_words import ModerationRecords
from bridges.worker import RetryLater
from policies import protections
from policies.decision import Decision, Outcome
from policies.watched_words import NAME, WordAction, WordList, screen

log = logging.getLogger(__name__)

#: The actions Discourse does not apply to staff.
STAFF_EXEMPT = frozenset(
    {WordAction.BLOCK, WordAction.SILENCE, WordAction.REQUIRE_APPROVAL, WordAction.FLAG}
)
_EXEMPT_RULES = frozenset(f"{NAME}:{a.value}" for a in STAFF_EXEMPT)


class Screening:
    """Applies the watched words and protections to one crossing's decision."""

    def __init__(self, ctx: RelayContext) -> None:
        self.ctx = ctx
        self.records = ModerationRecords(ctx.store.db)
        self.silence = WordSilence(ctx)
        self._lenient: tuple[str, WordList] | None = None

    def forum_post(
        self, row: InboxRow, link: LinkConfig, decision: Decision, post: ForumPost
    ) -> Decision:
        """``decision`` on carrying ``post`` into the room, after the watched words; a post
        with ``flag`` words is flagged on the forum (once).

        Raises:
            RetryLater: the word list was never read (recorded in the audit log).
        """
        text = f"{post.topic_title}\n\n{post.raw}" if post.is_first_post else post.raw
        result, flagged = self._words(
            row, link, decision, text, post.author.username, lambda: post.author.staff
        )
        if flagged:
            self._flag(post.post_id, flagged)
        return result

    def chat_message(
        self, row: InboxRow, link: LinkConfig, decision: Decision, msg: ChatMessage, judged: str
    ) -> Decision:
        """``decision`` on carrying ``msg`` to the forum, after the watched words and (for
        new messages, not edits) the protections, both judged on ``judged``: what the forum
        will get and show of the message. A ``silence`` word sanctions the sender.

        Raises:
            RetryLater: the word list was never read (recorded in the audit log), or the
                forum cannot say whether the sender's linked account is staff.
        """
        decision, _ = self._words(
            row, link, decision, judged, msg.sender, lambda: self._linked_staff(msg.sender)
        )
        if decision.outcome is Outcome.REFUSED and decision.rule == f"{NAME}:silence":
            self.silence.sanction(row, link, msg, decision)
        if msg.replaces is not None or not (decision.crosses or decision.outcome is Outcome.HELD):
            return decision
        limits = self.ctx.moderation.protection_limits()
        if limits is None:
            return decision
        at = msg.origin_server_ts / 1000 if msg.origin_server_ts > 0 else self.ctx.clock()
        activity = protections.Activity(
            recent=self.records.count_and_record(msg.sender, row.id, at, limits.flood_seconds),
            carried_before=self.records.carried_before(msg.sender),
        )
        # The event's own versions as well as what is posted: either holding a link or a
        # mention is enough (a mismatch between them only ever holds more).
        found = protections.traits(
            f"{msg.body}\n{judged}", msg.formatted_body, msg.msgtype in MEDIA_MSGTYPES
        )
        return protections.protect(decision, limits, activity, found)

    def tags(self, text: str, tags: Sequence[str]) -> tuple[str, ...]:
        """``tags`` plus those of the ``tag`` words in ``text``, for a topic porch opens."""
        words = self.ctx.words.current() if self.ctx.words.enabled else None
        extra = () if words is None else words.tags(text)
        return tuple(dict.fromkeys((*tags, *extra)))

    def flag(self, msg: ChatMessage, post_id: PostID, judged: str) -> None:
        """Flag the forum post ``msg`` became when ``judged`` (what it was judged on) holds
        ``flag`` words, as the forum flags its own members' posts; best effort: the audit log
        has the flag already. A sender linked to forum staff is not flagged (the decision
        knew it: no flag entry)."""
        words = self.ctx.words.current() if self.ctx.words.enabled else None
        found = () if words is None else words.matches(WordAction.FLAG, judged)
        # Staff are not flagged; when the forum cannot tell, the flag errs on the side of the
        # forum's moderators seeing it.
        if found and self._linked_staff_known(msg.sender) is not True:
            self._flag(post_id, found)

    def _flag(self, post_id: PostID, found: Sequence[str]) -> None:
        why = "Watched word: " + ", ".join(found)
        try:
            self.ctx.forum.flag(post_id, why)
        except ForumError as exc:
            log.warning("moderation: could not flag post %s: %s", post_id, exc)

    # --- forum staff ----------------------------------------------------------------------

    def _linked_staff(self, sender: UserID) -> bool:
        """Whether ``sender``'s linked forum account is an admin or moderator.

        Raises:
            RetryLater: the forum could not be asked.
        """
        identity = self.ctx.store.identities.by_matrix_user(sender)
        if identity is None:
            return False
        try:
            user = self.ctx.forum.user(ForumUsername(identity.forum_username))
        except ForumNotFound:
            return False
        except ForumRateLimited:
            raise
        except ForumError as exc:
            raise RetryLater(f"is {identity.forum_username} forum staff? {exc}") from exc
        return bool(user.get("admin") or user.get("moderator"))

    def _linked_staff_known(self, sender: UserID) -> bool | None:
        try:
            return self._linked_staff(sender)
        except (RetryLater, ForumError):
            return None

    def _lenient_list(self, words: WordList) -> WordList:
        """``words`` without the actions staff are exempt from (kept until the list changes)."""
        memo = self._lenient
        if memo is not None and memo[0] == words.version:
            return memo[1]
        lenient = WordList(
            tuple(w for w in words.words if w.action not in STAFF_EXEMPT),
            words.regular_expressions,
        )
        self._lenient = (words.version, lenient)
        return lenient

    # --- the words ------------------------------------------------------------------------

    def _words(
        self,
        row: InboxRow,
        link: LinkConfig,
        decision: Decision,
        text: str,
        actor: str,
        staff: Callable[[], bool],
    ) -> tuple[Decision, tuple[str, ...]]:
        """The decision after the words, and the ``flag`` words found when they were recorded
        now (the first time this event is decided for this link)."""
        book = self.ctx.words
        if not book.enabled:
            return decision, ()
        words: WordList | None = book.current()
        screened = screen(decision, words, text)
        result = screened.decision
        if result.outcome is Outcome.WAITING:
            reason = result.reason + (f" ({book.error})" if book.error else "")
            self.ctx.audit(row, link, replace(result, reason=reason), actor)
            raise RetryLater(f"waiting for the watched words: {reason}")
        assert words is not None
        if (screened.flagged or result.rule in _EXEMPT_RULES) and staff():
            # Asked only when an exempt word matched: for a chat sender it costs a call.
            spared = sorted(
                {w for a in STAFF_EXEMPT for w in words.matches(a, text)}, key=str.lower
            )
            screened = screen(decision, self._lenient_list(words), text)
            note = f"; forum staff: exempt from watched word(s) {', '.join(spared)}"
            result = replace(screened.decision, reason=screened.decision.reason + note)
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
                    policy_version=words.version,
                    actor=actor,
                    detail=f"contains a flagged word: {found}",
                )
            )
            return result, screened.flagged
        return result, ()

    def _flagged_already(self, row: InboxRow, link: LinkConfig) -> bool:
        # An event decided again (a retry, an approval) is flagged once.
        rule = f"{NAME}:flag"
        entries = self.ctx.store.audit.entries(inbox_id=row.id)
        return any(e.rule == rule and e.link == link.name for e in entries)
