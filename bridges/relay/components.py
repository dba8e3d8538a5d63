"""The relay's composition root: every long-lived part of the relay, built once, here.

Each part is a getter that builds it on first use from the parts it needs, so that the order
of construction follows the dependencies by itself and every part that needs, say, the
crossing decision gets the same one. Nothing is patched after it is built: where two parts
need each other (the review desk delivers an approved crossing through the router, which routes
to the desk), one of them gets a small callback that asks the root when it is called.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cached_property

from bridges.context import RelayContext
from bridges.identity.commands import BotCommands
from bridges.membership.ghost_gate import GhostGate
from bridges.membership.membership_facts import MembershipFacts
from bridges.membership.rooms import Membership
from bridges.model import EventKind, InboxPayload, RoomID, UserID
from bridges.moderation.sanctions import SanctionRelay
from bridges.moderation.screening import Screening
from bridges.relay.chat_to_forum.chat_changes import ChatChanges
from bridges.relay.chat_to_forum.chat_messages import ToForum
from bridges.relay.chat_to_forum.chat_posting import ChatPosting
from bridges.relay.chat_to_forum.chat_reactions import ChatReactions
from bridges.relay.chat_to_forum.forum_once import ForumOnce
from bridges.relay.crossings import Crossings
from bridges.relay.forum_to_chat.forum_likes import ForumLikes
from bridges.relay.forum_to_chat.forum_media import ForumMedia
from bridges.relay.forum_to_chat.forum_posts import ToMatrix
from bridges.relay.forum_to_chat.forum_retraction import Retraction
from bridges.relay.readable_topics import ReadableTopics
from bridges.relay.router import Relay
from bridges.relay.routes import Handler, route_table
from bridges.relay.tier_events import TierEvents
from bridges.review.desk import ReviewDesk
from bridges.review.forum_queue import ForumQueue
from bridges.store.inbox import InboxRow

#: Told of each event once it is routed (watching, :mod:`bridges.watching`).
Observer = Callable[[InboxRow, InboxPayload], None]


class RelayComponents:
    """The relay's parts over one :class:`RelayContext`, each built once, on first use."""

    def __init__(self, ctx: RelayContext, observers: Sequence[Observer] = ()) -> None:
        self.ctx = ctx
        self._observers = tuple(observers)

    # --- the router -------------------------------------------------------------------------

    @cached_property
    def relay(self) -> Relay:
        """The worker's handler: one inbox event in, deliveries out."""
        return Relay(self.ctx, self.routes, self._observers)

    @cached_property
    def routes(self) -> Mapping[EventKind, Handler]:
        """The handler of each kind of inbox event (:mod:`bridges.relay.routes`)."""
        return route_table(self)

    # --- the crossing decision --------------------------------------------------------------

    @cached_property
    def crossings(self) -> Crossings:
        """Facts gathered, the link's policy asked, the answer recorded; both directions."""
        return Crossings(self.ctx, self.review, self.screening, self.readable_topics)

    @cached_property
    def screening(self) -> Screening:
        """Watched words and protections (:mod:`bridges.moderation.screening`)."""
        return Screening(self.ctx)

    @cached_property
    def readable_topics(self) -> ReadableTopics:
        """Which linked topics the target may read."""
        return ReadableTopics(self.ctx)

    @cached_property
    def review(self) -> ReviewDesk:
        """Held crossings: the moderators room, decisions, the forum's own queue."""
        return ReviewDesk(self.ctx, self.forum_queue, self._deliver_approved)

    def _deliver_approved(self, row: InboxRow, event: InboxPayload) -> None:
        # An approved crossing goes the way any event goes (the router is built later than
        # the desk it routes to).
        self.relay.route(row, event)

    @cached_property
    def forum_queue(self) -> ForumQueue:
        """Posts the forum queued for its own moderators, and their answers."""
        return ForumQueue(self.ctx)

    @cached_property
    def tier_events(self) -> TierEvents:
        """Events that change the tier of a category or a room."""
        return TierEvents(self.ctx)

    # --- forum -> chat ----------------------------------------------------------------------

    @cached_property
    def to_matrix(self) -> ToMatrix:
        """Forum posts and topics into linked rooms."""
        return ToMatrix(
            self.ctx,
            self.crossings,
            self.forum_media,
            self.retraction,
            self.forum_queue,
            self.ghost_gate,
        )

    @cached_property
    def forum_media(self) -> ForumMedia:
        """A post's uploads as Matrix media events."""
        return ForumMedia(self.ctx)

    @cached_property
    def retraction(self) -> Retraction:
        """Taking back every copy of content that may no longer be shown."""
        return Retraction(self.ctx, self.forum_media)

    @cached_property
    def forum_likes(self) -> ForumLikes:
        """Forum likes as reactions."""
        return ForumLikes(self.ctx)

    # --- chat -> forum ----------------------------------------------------------------------

    @cached_property
    def to_forum(self) -> ToForum:
        """Chat messages, edits and redactions onto the forum."""
        return ToForum(
            self.ctx, self.chat_posting, self.chat_changes, self.forum_once, self.forum_queue
        )

    @cached_property
    def chat_posting(self) -> ChatPosting:
        """Who posts what, and which post is whose."""
        return ChatPosting(self.ctx, self.crossings)

    @cached_property
    def chat_changes(self) -> ChatChanges:
        """Edits and redactions of carried chat messages."""
        return ChatChanges(self.ctx, self.chat_posting)

    @cached_property
    def forum_once(self) -> ForumOnce:
        """A forum post created once, even across crashes."""
        return ForumOnce(self.ctx)

    @cached_property
    def chat_reactions(self) -> ChatReactions:
        """Like reactions as forum likes."""
        return ChatReactions(self.ctx)

    # --- the features beside the relay ------------------------------------------------------

    @cached_property
    def commands(self) -> BotCommands:
        """Direct chats with porch's bot; an ``!unlink`` is followed by membership."""
        return BotCommands(self.ctx, on_unlinked=self.membership.unlinked)

    @cached_property
    def membership_facts(self) -> MembershipFacts:
        """Who may be in which managed room (shared by membership and the ghost gate)."""
        return MembershipFacts(self.ctx)

    @cached_property
    def membership(self) -> Membership:
        """Managed rooms' membership: group changes, knocks, reconciliation."""
        return Membership(self.ctx, self.membership_facts)

    @cached_property
    def ghost_gate(self) -> GhostGate:
        """Whether a ghost may be in a room (:mod:`bridges.membership.ghost_gate`)."""
        return GhostGate(self.ctx, self.membership_facts)

    def admit_ghost(self, ghost: UserID, room: RoomID) -> None:
        """The ghost gate, for the ghosts of :attr:`ctx` (built before this root exists)."""
        self.ghost_gate(ghost, room)

    @cached_property
    def sanctions(self) -> SanctionRelay:
        """Policy lists and sanctions across the boundary."""
        return SanctionRelay(self.ctx, self.ctx.moderation.sanctions, self.ctx.policy_lists)
