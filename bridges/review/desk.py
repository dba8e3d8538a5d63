"""The review desk: held crossings wait for a moderator, who approves or rejects them.

- A decision that holds (a crossing policy's ``hold``, a watched word that requires approval)
  puts the crossing in porch's queue (:class:`bridges.store.review.ReviewQueue`) instead of
  delivering it, and porch's bot announces it in the moderators room (``moderation.review.room``).
- The notice quotes the held message only when the moderators room is no more open than the
  space the message was written in (:func:`policies.review_notice.may_quote`, the room's tier as
  :mod:`bridges.link_tiers` derives it); otherwise it says only that item N is held and where to
  read it (the ``/review`` page), and ``!pending`` lists it without its text.
- Moderators decide there, with a reaction on the notice (✅ approve, ❌ reject) or a command
  (``!approve N``, ``!reject N [reason]``, ``!pending``), if their power level in that room
  reaches ``moderation.review.power_level``; or on porch's ``/review`` page
  (:mod:`webhooks.review_pages`).
- A decision is recorded with its audit entry (naming the moderator) and a
  :class:`~bridges.model.ReviewDecided` inbox event, in one transaction. The worker then sends
  the held event through the relay again: the decision is made anew (a policy that now refuses
  still refuses), finds the approval and lets the crossing go through the normal delivery code
  with the same transforms. Deliveries are send-once per inbox event, so an approval delivers
  exactly once; a rejected crossing is never delivered.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from bridges import codec
from bridges.context import RelayContext
from bridges.formatting import forum_to_matrix
from bridges.links import LinkConfig
from bridges.matrix.matrix_errors import MatrixError, MatrixRateLimited, MatrixUnavailable
from bridges.model import (
    ChatMessage,
    ChatReaction,
    EventKind,
    ForumReviewable,
    InboxPayload,
    Platform,
    ReviewDecided,
    RoomID,
    UserID,
)
from bridges.review.forum_queue import ForumQueue
from bridges.review.review_config import ReviewConfig
from bridges.store.audit import AuditEntry
from bridges.store.inbox import InboxRow, NewEvent
from bridges.store.review import APPROVED, REJECTED, HeldItem, NewHeld, ReviewQueue
from policies import engine
from policies.decision import Decision, Outcome
from policies.facts import BodyFormat, Content
from policies.membership import power_level
from policies.review_notice import may_quote
from policies.tiers import Tier

log = logging.getLogger(__name__)

#: Reactions that decide, without the emoji variation selector some clients add.
REACTIONS = {"✅": APPROVED, "✔": APPROVED, "❌": REJECTED, "✖": REJECTED}
#: The longest quote of a held message a notice or the page shows.
PREVIEW_CHARS = 1200

Deliver = Callable[[InboxRow, InboxPayload], None]


def decision_event(item: HeldItem, state: str, by: str) -> NewEvent:
    """The inbox event that carries out a decision on ``item`` (once: its key)."""
    event = ReviewDecided(item.id, state, by)
    source = Platform.FORUM if item.kind.startswith("forum.") else Platform.CHAT
    return NewEvent(
        source=source,
        kind=EventKind.REVIEW_DECIDED,
        conversation=f"porch:review:{item.id}",
        payload=codec.encode(EventKind.REVIEW_DECIDED, event),
        keys=(f"porch:review:{item.id}:decided",),
    )


def decision_entry(item: HeldItem, state: str, by: str, at: float, note: str | None) -> AuditEntry:
    """The audit entry of a moderator's decision: the moderator is the actor."""
    detail = f"review #{item.id}"
    if note:
        detail += f": {note}"
    return AuditEntry(
        at=at,
        inbox_id=item.inbox_id,
        link=item.link,
        outcome=state,
        rule=item.rule,
        policy_version=item.policy_version,
        actor=by,
        detail=detail,
    )


def decide(
    queue: ReviewQueue, item: HeldItem, state: str, by: str, now: float, note: str | None = None
) -> HeldItem | None:
    """Approve or reject ``item`` as moderator ``by``; ``None`` when it is no longer pending.

    Shared by the moderators room (the worker) and the review page (the web process).
    """
    return queue.decide(
        item.id,
        state,
        by,
        now,
        note=note,
        entry=decision_entry(item, state, by, now, note),
        event=decision_event(item, state, by),
    )


def preview_text(decision: Decision, content: Content, base_url: str) -> str:
    """What a held crossing would show, as plain text: after the decision's transforms (the
    moderators see what would be published, not what they would remove), HTML made text."""
    shown = engine.apply(decision, content).content if decision.transforms else content
    body = shown.body
    if shown.format is BodyFormat.HTML:
        body = forum_to_matrix(body, base_url=base_url).body
    if shown.title:
        body = f"{shown.title}\n\n{body}"
    return body if len(body) <= PREVIEW_CHARS else body[: PREVIEW_CHARS - 1] + "…"


class ReviewDesk:
    """The relay's side of the review queue."""

    def __init__(
        self, ctx: RelayContext, forum_queue: ForumQueue, deliver: Deliver | None = None
    ) -> None:
        self.ctx = ctx
        self.queue = ctx.store.review
        self.forum_queue = forum_queue
        self.deliver = deliver
        self._room: RoomID | None = None
        #: The configured moderators room turned out to be a linked one: never used.
        self._linked = False

    # --- held decisions (called from bridges.relay.crossings.Crossings) -----------------------

    def consult(
        self,
        row: InboxRow,
        link: LinkConfig,
        subject: str,
        decision: Decision,
        author: str,
        content: Content,
        msg: ChatMessage | None = None,
        keep: Mapping[str, Any] | None = None,
    ) -> Decision:
        """The decision to act on: ``decision`` itself unless it holds the crossing.

        A held crossing is queued (and announced; a chat sender, ``msg``'s, is told) the first
        time, with ``content`` as its preview and ``keep`` (what it was judged on) kept for
        :meth:`kept`; once a moderator approved it, the decision lets it cross with the same
        transforms; once rejected, it refuses.
        """
        if decision.outcome is not Outcome.HELD:
            return decision
        now = self.ctx.clock()
        item = self.queue.hold(
            NewHeld(
                inbox_id=row.id,
                link=link.name,
                subject=subject,
                direction=(
                    "forum-to-chat" if row.kind.value.startswith("forum.") else "chat-to-forum"
                ),
                kind=row.kind.value,
                payload=row.payload,
                author=author,
                preview=preview_text(decision, content, self.ctx.discourse.base_url),
                rule=decision.rule,
                policy_version=decision.policy_version,
                reason=decision.reason,
                kept=None if keep is None else json.dumps(keep, ensure_ascii=False),
                source_tier=_source_tier(decision),
            ),
            now,
        )
        if item.state == APPROVED:
            outcome = Outcome.TRANSFORMED if decision.transforms else Outcome.CARRIED
            why = f"approved by {item.decided_by} (review #{item.id}); {decision.reason}"
            return replace(decision, outcome=outcome, reason=why)
        if item.state == REJECTED:
            why = f"rejected by {item.decided_by} (review #{item.id})"
            if item.decision_note:
                why += f": {item.decision_note}"
            return replace(decision, outcome=Outcome.REFUSED, reason=why, transforms=())
        if item.notice_event_id is None:
            self._announce(row, item)
        if msg is not None and item.created_at == now:
            self._tell_sender(row, link, msg, item)
        return replace(decision, reason=f"{decision.reason} (review #{item.id})")

    def kept(self, row: InboxRow, link: LinkConfig, subject: str) -> Mapping[str, Any] | None:
        """What a held crossing was judged on (``keep`` of :meth:`consult`), once it is held;
        ``None`` when it never was, or was held before porch kept it."""
        item = self.queue.find(row.id, link.name, subject)
        if item is None or item.kept is None:
            return None
        try:
            found = json.loads(item.kept)
        except ValueError:
            return None
        return found if isinstance(found, dict) else None

    def _tell_sender(
        self, row: InboxRow, link: LinkConfig, msg: ChatMessage, item: HeldItem
    ) -> None:
        """A notice answering the held message, in its thread: it waits for a moderator."""
        self._notify_sender(
            msg,
            "Held for a moderator: it reaches the forum once approved.",
            f"porch.{row.id}.{link.name}.review.{item.id}.sender",
        )

    def _notify_sender(self, msg: ChatMessage, text: str, txn: str) -> None:
        """A notice to ``msg``'s sender, answering it in its thread; it quotes nothing."""
        relation: dict[str, Any] = {"m.in_reply_to": {"event_id": msg.replaces or msg.event_id}}
        if msg.thread_root is not None:
            relation.update(rel_type="m.thread", event_id=msg.thread_root, is_falling_back=False)
        notice = {
            "msgtype": "m.notice",
            "body": text,
            "m.relates_to": relation,
            "m.mentions": {"user_ids": [msg.sender]},
        }
        self.ctx.chat.send(msg.room_id, notice, as_user=None, txn_id=txn)

    # --- the moderators room ------------------------------------------------------------------

    @property
    def _config(self) -> ReviewConfig:
        return self.ctx.moderation.review

    def room(self) -> RoomID | None:
        """The moderators room's id (an alias resolved once), or None without one or while
        its alias cannot be resolved (every chat event asks: one bad setting must not stop
        them all)."""
        configured = self._config.room
        if configured is None or self._linked:
            return None
        if self._room is None:
            try:
                resolved = self.ctx.chat.resolve_room(configured)
            except (MatrixRateLimited, MatrixUnavailable):
                raise
            except MatrixError as exc:
                log.warning("review: moderation.review.room %s: %s", configured, exc)
                return None
            if self._is_linked(resolved):
                # An alias of a linked room (the config check compares the names only):
                # notices of held messages would show there, to everyone.
                log.error(
                    "review: moderation.review.room %s is a linked room; not used", configured
                )
                self._linked = True
                return None
            self._room = resolved
        return self._room

    def _is_linked(self, room: RoomID) -> bool:
        """Whether ``room`` is a linked room; a link whose room cannot be resolved now is
        left out (its own events report that)."""
        for link in self.ctx.links:
            try:
                if self.ctx.room_of(link) == room:
                    return True
            except (MatrixRateLimited, MatrixUnavailable):
                raise
            except MatrixError:
                continue
        return False

    def _announce(self, row: InboxRow, item: HeldItem) -> None:
        room = self.room()
        if room is None:
            return
        try:
            self.ctx.chat.ensure_joined(room, self.ctx.chat.bot_user_id)
            quoted = self._may_quote(room, item)
            if not quoted:
                log.warning(
                    "review: #%d comes from a %s space and the moderators room %s is more "
                    "open (or its tier is unknown): the notice points to the review page only",
                    item.id,
                    item.source_tier or "private (unknown)",
                    room,
                )
            content = (
                notice_content(item) if quoted else pointer_content(item, self.ctx.public_url)
            )
            event_id = self.ctx.chat.send(
                room, content, as_user=None, txn_id=f"porch.{row.id}.review.{item.id}.notice"
            )
        except (MatrixRateLimited, MatrixUnavailable):
            raise  # passing: the event is tried again and the notice with it
        except MatrixError as exc:
            # The bot is not let in, say: the message stays held (and on the review page);
            # failing the event would only make it a dead letter.
            log.warning("review: no notice of #%d in %s: %s", item.id, room, exc)
            return
        self.queue.set_notice(item.id, event_id)

    def _may_quote(self, room: RoomID, item: HeldItem) -> bool:
        """Whether the moderators room may read the text of ``item`` (fails closed: an
        unreadable room tier, or a tier porch does not know, shows nothing).

        Raises:
            MatrixRateLimited: the homeserver asks porch to wait (the event is tried again).
        """
        return may_quote(self.ctx.tiers.room_tier(room), _tier(item.source_tier))

    def is_moderators_room(self, room_id: RoomID) -> bool:
        """Whether ``room_id`` is the moderators room (its messages and reactions are the
        desk's: commands and decisions on held crossings)."""
        return self._config.room is not None and room_id == self.room()

    def handle(self, row: InboxRow, event: InboxPayload) -> None:
        if isinstance(event, ReviewDecided):
            self._carry_out(row, event)
        elif isinstance(event, ForumReviewable):
            self.forum_queue.reviewable(row, event)
        elif isinstance(event, ChatReaction):
            self._reaction(row, event)
        elif isinstance(event, ChatMessage):
            self._command(row, event)

    def _reaction(self, row: InboxRow, reaction: ChatReaction) -> None:
        state = REACTIONS.get(reaction.key.replace("\ufe0f", "").strip())
        if state is None or reaction.sender == self.ctx.chat.bot_user_id:
            return
        item = self.queue.by_notice(reaction.relates_to)
        if item is None:
            return
        self._decide(row, reaction.sender, item, state, None)

    def _command(self, row: InboxRow, msg: ChatMessage) -> None:
        if msg.sender == self.ctx.chat.bot_user_id or msg.replaces is not None:
            return
        words = msg.body.strip().split(maxsplit=2)
        if not words or words[0].lower() not in ("!approve", "!reject", "!pending"):
            return
        room = RoomID(msg.room_id)
        if not self._may_decide(room, msg.sender):
            self._say(row, room, self._not_allowed(msg.sender), "denied")
            return
        if words[0].lower() == "!pending":
            items = self.queue.items()
            self._say(
                row, room, pending_text(items, lambda i: self._may_quote(room, i)), "pending"
            )
            return
        number = words[1].lstrip("#") if len(words) > 1 else ""
        item = self.queue.get(int(number)) if number.isdigit() else None
        if item is None:
            self._say(row, room, f"No held message #{number or '?'}.", "unknown")
            return
        state = APPROVED if words[0].lower() == "!approve" else REJECTED
        note = words[2].strip() if len(words) > 2 and state == REJECTED else None
        self._decide(row, msg.sender, item, state, note, checked=True)

    def _decide(
        self,
        row: InboxRow,
        sender: UserID,
        item: HeldItem,
        state: str,
        note: str | None,
        *,
        checked: bool = False,
    ) -> None:
        room = self.room()
        assert room is not None
        if not checked and not self._may_decide(room, sender):
            self._say(row, room, self._not_allowed(sender), "denied")
            return
        if not item.pending:
            if item.decided_by != sender or item.state != state:
                self._say(row, room, f"#{item.id} was {item.state} by {item.decided_by}.", "late")
            return
        decided = decide(self.queue, item, state, sender, self.ctx.clock(), note)
        if decided is None:
            latest = self.queue.get(item.id)
            if latest is not None and latest.decided_by != sender:
                self._say(
                    row, room, f"#{item.id} was {latest.state} by {latest.decided_by}.", "late"
                )
            return
        log.info("review: #%d %s by %s", item.id, state, sender)

    def _may_decide(self, room: RoomID, user: UserID) -> bool:
        """Whether ``user`` may decide: a creator of the moderators room (unlimited power since
        room v12) or a power level reaching the threshold; with no power levels to read,
        only the creators may (fail closed).

        See https://spec.matrix.org/v1.16/rooms/v12/#authorization-rules
        """
        if user in self.ctx.chat.room_creators(room):
            return True
        levels = self.ctx.chat.room_state(room, "m.room.power_levels")
        return power_level(levels, user) >= self._config.power_level

    def _not_allowed(self, user: UserID) -> str:
        return (
            f"{user}: only members with power level {self._config.power_level} or more "
            "may decide on held messages."
        )

    # --- carrying out a decision ----------------------------------------------------------

    def _carry_out(self, row: InboxRow, decided: ReviewDecided) -> None:
        item = self.queue.get(decided.item_id)
        if item is None or item.state != decided.state:
            return
        if item.state == APPROVED and self.deliver is not None:
            source = Platform.FORUM if item.kind.startswith("forum.") else Platform.CHAT
            original = InboxRow(
                id=item.inbox_id,
                source=source,
                kind=EventKind(item.kind),
                conversation=f"porch:review:{item.id}",
                payload=item.payload,
                status="done",
                attempts=0,
                next_attempt_at=0.0,
                last_error=None,
                received_at=item.created_at,
            )
            self.deliver(original, codec.decode(item.kind, item.payload))
        if item.state == REJECTED:
            self._tell_rejected(row, item)
        room = self.room()
        if room is not None:
            mark = "✅ Approved" if item.state == APPROVED else "❌ Rejected"
            text = f"{mark} #{item.id} ({item.link}) by {item.decided_by}"
            if item.decision_note:
                text += f": {item.decision_note}"
            self._say(row, room, text + ".", "done", reply_to=item.notice_event_id)

    def _tell_rejected(self, row: InboxRow, item: HeldItem) -> None:
        """A rejected chat message's sender is told, as they were told it was held; the
        moderator's reason stays with the moderators (it may quote what was not carried)."""
        if item.kind.startswith("forum."):
            return
        held = codec.decode(item.kind, item.payload)
        if not isinstance(held, ChatMessage):
            return
        self._notify_sender(
            held,
            "Not carried to the forum: a moderator rejected it.",
            f"porch.{row.id}.review.{item.id}.rejected.sender",
        )

    def _say(
        self, row: InboxRow, room: RoomID, text: str, step: str, reply_to: str | None = None
    ) -> None:
        content: dict[str, Any] = {"msgtype": "m.notice", "body": text, "m.mentions": {}}
        if reply_to is not None:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
        self.ctx.chat.send(room, content, as_user=None, txn_id=f"porch.{row.id}.review.{step}")


def notice_content(item: HeldItem) -> dict[str, Any]:
    """The moderators-room notice of a held crossing: the quote is text, escaped in HTML, and
    mentions nobody (a quoted ``@name`` must not ping)."""
    quote = item.preview.strip() or "(no text)"
    how = f"React ✅ to approve or ❌ to reject, or write !approve {item.id} / !reject {item.id}"
    head = f"Held for review #{item.id}: {item.direction} on link {item.link}, from {item.author}"
    body = f"{head}\n" + "\n".join(f"> {line}" for line in quote.splitlines()) + f"\n{how}."
    why = f"{item.rule}: {item.reason}"
    formatted = (
        f"<p><strong>{html.escape(head)}</strong></p>"
        f"<blockquote>{html.escape(quote).replace(chr(10), '<br>')}</blockquote>"
        f"<p><em>{html.escape(why)}</em></p><p>{html.escape(how)} [reason].</p>"
    )
    return {
        "msgtype": "m.notice",
        "body": body + f"\n({why})",
        "format": "org.matrix.custom.html",
        "formatted_body": formatted,
        "m.mentions": {},
    }


def pointer_content(item: HeldItem, public_url: str | None) -> dict[str, Any]:
    """The moderators-room notice of a held crossing the room may not read: its number and
    where to decide, nothing of its text, author or link (they are the closed space's too)."""
    page = f"{public_url.rstrip('/')}/review" if public_url else "porch's /review page"
    text = (
        f"Held for review #{item.id}: it comes from a space more closed than this room, so "
        f"its text is not shown here. Read it and decide on {page}."
    )
    return {"msgtype": "m.notice", "body": text, "m.mentions": {}}


def pending_text(items: list[HeldItem], quotable: Callable[[HeldItem], bool]) -> str:
    """The ``!pending`` answer: each held item, quoted only where ``quotable`` says the room
    may read it."""
    if not items:
        return "Nothing is held for review."
    lines = [
        f"#{i.id} {i.link} {i.direction} from {i.author}: {i.preview[:80]}"
        if quotable(i)
        else f"#{i.id}: from a more closed space (see the review page)"
        for i in items
    ]
    return "Held for review:\n" + "\n".join(lines)


def _source_tier(decision: Decision) -> str | None:
    """The tier of the space held content was written in (``None``: unknown)."""
    facts = decision.facts
    tier = None if facts is None else facts.effective_source_tier
    return None if tier is None else tier.value


def _tier(value: str | None) -> Tier | None:
    try:
        return None if value is None else Tier(value)
    except ValueError:
        return None
