"""Where each inbox event goes: one handler per kind of event, and for what is said or reacted
in a room, per role of that room.

Every kind of :class:`~bridges.model.EventKind` has exactly one entry. Where the kind alone
does not decide, the entry does, always in the same order:

- a chat message: in a direct chat with porch's bot it is a command
  (:mod:`bridges.identity.commands`); in any other room an ``!accept`` answering a knock is
  membership's (:mod:`bridges.membership.rooms`), then a message in the moderators room is the
  review desk's (:mod:`bridges.review.desk`), and anything else is carried to the forum where a
  link names the room (:mod:`bridges.relay.chat_to_forum`);
- a chat reaction: in the moderators room it decides a held crossing, elsewhere it may be a
  like (:mod:`bridges.relay.chat_to_forum.chat_reactions`);
- a chat redaction: it takes back a carried reaction, else it is a moderator's removal (a
  sanction, :mod:`bridges.moderation.sanctions`), else the sender's own deletion of a carried
  message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Enum
from typing import TYPE_CHECKING

from bridges.model import (
    ChatMessage,
    ChatReaction,
    ChatRedaction,
    EventKind,
    ForumLike,
    IdentityLinked,
    InboxPayload,
    RoomID,
)
from bridges.store.inbox import InboxRow

if TYPE_CHECKING:
    from bridges.relay.components import RelayComponents

#: One inbox event in; deliveries, records and audit entries out.
Handler = Callable[[InboxRow, InboxPayload], None]


class RoomRole(Enum):
    """What a room is to porch, for the events said in it."""

    #: A direct chat with porch's bot: account linking and the bot's other commands.
    DIRECT = "direct"
    #: The moderators room (``moderation.review.room``): held crossings are decided there.
    MODERATORS = "moderators"
    #: Any other room: carried when a link names it (the handler finds no link otherwise).
    LINKED = "linked"


class ByRoomRole:
    """A handler that hands a chat message or reaction to the handler of its room's role.

    Only the roles ``handlers`` names are asked, in :class:`RoomRole` order; a room that has
    none of them is :attr:`RoomRole.LINKED`.
    """

    def __init__(
        self,
        handlers: Mapping[RoomRole, Handler],
        is_role: Mapping[RoomRole, Callable[[RoomID], bool]],
    ) -> None:
        if RoomRole.LINKED not in handlers:
            raise ValueError("every room without another role is a linked room: name its handler")
        self.handlers = dict(handlers)
        self.is_role = dict(is_role)

    def role(self, room_id: RoomID) -> RoomRole:
        """The role ``room_id`` has among those this handler tells apart."""
        for role in RoomRole:
            if (
                role is not RoomRole.LINKED
                and role in self.handlers
                and self.is_role[role](room_id)
            ):
                return role
        return RoomRole.LINKED

    def __call__(self, row: InboxRow, event: InboxPayload) -> None:
        if not isinstance(event, ChatMessage | ChatReaction):
            raise TypeError(f"{row.kind.value} carries no room to pick a handler by")
        self.handlers[self.role(event.room_id)](row, event)


def route_table(parts: RelayComponents) -> dict[EventKind, Handler]:
    """The handler of every kind of inbox event, from the relay's components."""

    def carried_chat(row: InboxRow, event: InboxPayload) -> None:
        # A listed sender speaking is sanctioned on sight; the crossing decision refuses them.
        parts.sanctions.on_sight(row, event)
        parts.to_forum.handle(row, event)

    def unless_knock_answer(then: Handler) -> Handler:
        def handle(row: InboxRow, event: InboxPayload) -> None:
            # ``!accept @user`` in a managed room (or its facilitators' room) answers a knock.
            if parts.membership.owns(event):
                parts.membership.handle(row, event)
            else:
                then(row, event)

        return handle

    def identity_linked(row: InboxRow, event: InboxPayload) -> None:
        parts.commands.handle(row, event)
        if isinstance(event, IdentityLinked):
            parts.membership.linked(row, event)

    def tier_changed(row: InboxRow, event: InboxPayload) -> None:
        parts.tier_events.handle(row, event)
        # A category now closed to its room takes back what was carried from it.
        parts.retraction.category_closed(row, event)

    def forum_like(row: InboxRow, event: InboxPayload) -> None:
        if isinstance(event, ForumLike):
            parts.forum_likes.forum_like(row, event)

    def chat_reaction(row: InboxRow, event: InboxPayload) -> None:
        if isinstance(event, ChatReaction):
            parts.chat_reactions.chat_reaction(row, event)

    def chat_redaction(row: InboxRow, event: InboxPayload) -> None:
        if isinstance(event, ChatRedaction) and parts.chat_reactions.owns_redaction(event):
            parts.chat_reactions.chat_unreaction(row, event)
        elif parts.sanctions.owns(event):
            parts.sanctions.handle(row, event)
        else:
            carried_chat(row, event)

    is_role: dict[RoomRole, Callable[[RoomID], bool]] = {
        RoomRole.DIRECT: parts.commands.is_direct_chat,
        RoomRole.MODERATORS: parts.review.is_moderators_room,
    }
    # Outside a direct chat an ``!accept`` is looked for before the moderators room is.
    said_in_room = ByRoomRole(
        {RoomRole.MODERATORS: parts.review.handle, RoomRole.LINKED: carried_chat}, is_role
    )
    chat_message = ByRoomRole(
        {
            RoomRole.DIRECT: parts.commands.handle,
            RoomRole.LINKED: unless_knock_answer(said_in_room),
        },
        is_role,
    )
    # A reaction in a direct chat is no command: only the moderators room is told apart.
    chat_reaction_by_room = ByRoomRole(
        {RoomRole.MODERATORS: parts.review.handle, RoomRole.LINKED: chat_reaction}, is_role
    )
    to_matrix = parts.to_matrix.handle
    return {
        EventKind.POST_CREATED: to_matrix,
        EventKind.POST_EDITED: to_matrix,
        EventKind.POST_DESTROYED: to_matrix,
        EventKind.POST_RECOVERED: to_matrix,
        EventKind.TOPIC_EDITED: to_matrix,
        EventKind.TOPIC_DESTROYED: to_matrix,
        EventKind.TOPIC_RECOVERED: to_matrix,
        EventKind.POST_LIKED: forum_like,
        EventKind.CHAT_MESSAGE: chat_message,
        EventKind.CHAT_REDACTION: chat_redaction,
        EventKind.CHAT_REACTION: chat_reaction_by_room,
        EventKind.CHAT_INVITE: parts.commands.handle,
        EventKind.IDENTITY_LINKED: identity_linked,
        EventKind.CATEGORY_CHANGED: tier_changed,
        EventKind.CATEGORY_DESTROYED: tier_changed,
        EventKind.ROOM_SECURITY_CHANGED: tier_changed,
        EventKind.GROUP_USER_ADDED: parts.membership.handle,
        EventKind.GROUP_USER_REMOVED: parts.membership.handle,
        EventKind.CHAT_KNOCK: parts.membership.handle,
        EventKind.MEMBERSHIP_REFRESH: parts.membership.handle,
        EventKind.FORUM_USER_CHANGED: parts.sanctions.handle,
        EventKind.CHAT_BAN: parts.sanctions.handle,
        EventKind.POLICY_RULE_CHANGED: parts.sanctions.handle,
        EventKind.REVIEW_DECIDED: parts.review.handle,
        EventKind.FORUM_REVIEWABLE: parts.review.handle,
    }
