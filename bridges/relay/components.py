"""The relay's composition root: every long-lived part of the relay, built once, here.

The root is given the plain shared things (the config sections, the store, both platform
clients, the clock) and builds the rest: the context every part shares, with the tiers, the
watched words, the policy lists and the ghosts it carries; the router and its handlers; and the
background parts porch runs beside the worker (room joins, tier refresh, watching, the
membership ticker).

Each part is a getter that builds it on first use from the parts it needs, so that the order
of construction follows the dependencies by itself and every part that needs, say, the
crossing decision gets the same one. Nothing is patched after it is built: where two parts
need each other (the review desk delivers an approved crossing through the router, which routes
to the desk), one of them gets a small callback that asks the root when it is called.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property

from bridges.context import RelayContext
from bridges.discourse.client import ForumClient
from bridges.discourse.discourse_config import DiscourseConfig
from bridges.identity.commands import BotCommands
from bridges.link_tiers import TierBook, TierRefresher
from bridges.links import LinkConfig, RelayConfig
from bridges.matrix.api import AppserviceAPI
from bridges.matrix.bot_ghosts import BotGhosts
from bridges.matrix.ghosts import Ghosts
from bridges.matrix.matrix_config import MatrixConfig
from bridges.membership.ghost_gate import GhostGate
from bridges.membership.membership_facts import MembershipFacts
from bridges.membership.rooms import Membership, MembershipTicker
from bridges.model import EventKind, InboxPayload, RoomID, UserID
from bridges.moderation.moderation_config import ModerationConfig
from bridges.moderation.policy_lists import PolicyLists
from bridges.moderation.sanctions import SanctionRelay
from bridges.moderation.screening import Screening
from bridges.moderation.words import WordBook
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
from bridges.reload import WatchingSlot
from bridges.review.desk import ReviewDesk
from bridges.review.forum_queue import ForumQueue
from bridges.room_joins import RoomJoins
from bridges.store.inbox import InboxRow, worker_identity
from bridges.store.moderation_words import ModerationRecords
from bridges.store.store import Store
from bridges.watching.runner import Watching, build_watching
from bridges.watching.watching_config import WatchingConfig
from bridges.worker import Worker
from policies.policy_config import Policy

#: Largest forum avatar porch mirrors to the homeserver.
MAX_AVATAR_BYTES = 2 * 1024 * 1024


class RelayComponents:
    """The relay's parts over one store and both platforms, each built once, on first use."""

    def __init__(
        self,
        *,
        discourse: DiscourseConfig,
        matrix: MatrixConfig,
        relay: RelayConfig,
        links: Sequence[LinkConfig],
        store: Store,
        forum: ForumClient,
        chat: AppserviceAPI,
        clock: Callable[[], float] = time.time,
        public_url: str | None = None,
        policies: Mapping[str, Policy] | None = None,
        moderation: ModerationConfig | None = None,
        watching: WatchingConfig | None = None,
        avatars: Callable[[str], tuple[bytes, str]] | None = None,
    ) -> None:
        """``avatars`` fetches a forum avatar for a ghost (by default from the forum, at most
        :data:`MAX_AVATAR_BYTES`); the other arguments are the config sections and the shared
        clients every part uses."""
        self.discourse = discourse
        self.matrix = matrix
        self.relay_config = relay
        self.links = links
        self.store = store
        self.forum = forum
        self.chat = chat
        self.clock = clock
        self.public_url = public_url
        self.policies: Mapping[str, Policy] = {} if policies is None else policies
        self.moderation = ModerationConfig() if moderation is None else moderation
        self.watching_config = WatchingConfig() if watching is None else watching
        self._avatars = avatars

    # --- what every part shares -------------------------------------------------------------

    @cached_property
    def ctx(self) -> RelayContext:
        """The context every part is given (:mod:`bridges.context`)."""
        return RelayContext(
            discourse=self.discourse,
            matrix=self.matrix,
            relay=self.relay_config,
            links=self.links,
            store=self.store,
            forum=self.forum,
            chat=self.chat,
            ghosts=self.ghosts,
            moderation=self.moderation,
            tiers=self.tiers,
            words=self.words,
            policy_lists=self.policy_lists,
            clock=self.clock,
            public_url=self.public_url,
            policies=self.policies,
        )

    @cached_property
    def tiers(self) -> TierBook:
        """The tiers of linked categories and rooms (:mod:`bridges.link_tiers`)."""
        return TierBook(
            self.store.tiers,
            self.forum,
            self.chat,
            clock=self.clock,
            max_age=self.relay_config.tier_refresh,
        )

    @cached_property
    def words(self) -> WordBook:
        """The watched words in force (:mod:`bridges.moderation.words`)."""
        return WordBook(ModerationRecords(self.store.db), self.forum, self.moderation, self.clock)

    @cached_property
    def policy_lists(self) -> PolicyLists:
        """The followed Matrix policy lists (:mod:`bridges.moderation.policy_lists`)."""
        return PolicyLists(self.chat, self.store, self.clock, self.moderation.policy_lists)

    @cached_property
    def ghosts(self) -> Ghosts | BotGhosts:
        """The forum authors' ghosts, behind the ghost gate; in bot mode, porch's one account."""
        if self.matrix.mode != "appservice":
            return BotGhosts(self.chat)
        return Ghosts(
            self.chat,
            self.store.profiles,
            self.matrix,
            self._avatar if self._avatars is None else self._avatars,
            clock=self.clock,
            admits=self.admit_ghost,
        )

    def _avatar(self, url: str) -> tuple[bytes, str]:
        return self.forum.download(url, MAX_AVATAR_BYTES)

    # --- the worker and the parts that run beside it ----------------------------------------

    @cached_property
    def worker(self) -> Worker:
        """Claims inbox events and hands each to :attr:`relay`."""
        return Worker(
            self.store.inbox,
            self.relay,
            self.relay_config,
            worker_identity(),
            clock=self.clock,
        )

    @cached_property
    def room_joins(self) -> RoomJoins:
        """Joins the bot to every linked room at start (:mod:`bridges.room_joins`)."""
        return RoomJoins(self.ctx)

    @cached_property
    def tier_refresher(self) -> TierRefresher:
        """Reads every link's tiers again now and then (:mod:`bridges.link_tiers`)."""
        ctx = self.ctx
        return TierRefresher(
            lambda: self.tiers.refresh(ctx.links, ctx.category_of, ctx.room_of),
            self.relay_config.tier_refresh,
        )

    @cached_property
    def watching(self) -> Watching | None:
        """Watching's due alerts and digests; ``None`` when no watch is configured."""
        return build_watching(self.ctx, self.watching_config)

    @cached_property
    def watching_slot(self) -> WatchingSlot:
        """The relay's watching observer, which a reload points at a rebuilt watching."""
        return WatchingSlot(self.watching)

    @cached_property
    def membership_ticker(self) -> MembershipTicker | None:
        """Asks for a reconciliation of managed rooms' members now and then; ``None`` when no
        link manages its room's membership."""
        if not any(link.membership.manage for link in self.ctx.links):
            return None
        return MembershipTicker(
            self.store.inbox,
            self.relay_config.membership_refresh,
            self.clock,
            self.worker.wake.set,
        )

    # --- the router -------------------------------------------------------------------------

    @cached_property
    def relay(self) -> Relay:
        """The worker's handler: one inbox event in, deliveries out."""
        return Relay(self.ctx, self.routes, (self.watching_slot,))

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
        """The ghost gate, for :attr:`ghosts` (built before the gate, which stands on the
        context the ghosts are part of)."""
        self.ghost_gate(ghost, room)

    @cached_property
    def sanctions(self) -> SanctionRelay:
        """Policy lists and sanctions across the boundary."""
        return SanctionRelay(self.ctx, self.ctx.moderation.sanctions, self.policy_lists)
