"""The relay's route table: every kind of inbox event has a handler, and what is said or
reacted in a room goes by the room's role (direct chat, moderators room, any other room)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridges.discourse.discourse_config import DiscourseConfig
from bridges.links import LinkConfig
from bridges.matrix.api import AppserviceAPI
from bridges.matrix.matrix_config import MatrixConfig
from bridges.model import (
    ChatMessage,
    ChatReaction,
    ChatRedaction,
    EventID,
    EventKind,
    InboxPayload,
    Platform,
    RoomID,
    UserID,
)
from bridges.relay.components import RelayComponents
from bridges.relay.routes import ByRoomRole, RoomRole
from bridges.store.inbox import InboxRow
from bridges.store.store import Store
from tests.bridges.context import relay_components
from tests.rig.store import sqlite_url

DIRECT = RoomID("!direct:localhost")
MODERATORS = RoomID("!moderators:localhost")
LINKED = RoomID("!town:localhost")
DANA = UserID("@dana:localhost")


@pytest.fixture
def parts(
    tmp_path: Path, discourse_config: DiscourseConfig, matrix_config: MatrixConfig
) -> Iterator[RelayComponents]:
    store = Store.open(sqlite_url(tmp_path))
    link = LinkConfig.model_validate(
        {"name": "town", "forum": {"category": "town-square"}, "room": LINKED}
    )
    yield relay_components(
        store, discourse_config, matrix_config, AppserviceAPI(matrix_config), [link]
    )
    store.close()


@pytest.fixture
def reached(parts: RelayComponents, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The handlers the routed events reached, in order; the rooms' roles are fixed above and
    an ``!accept`` message answers a knock."""
    calls: list[str] = []

    def record(name: str) -> Any:
        return lambda *args: calls.append(name)

    monkeypatch.setattr(parts.commands, "is_direct_chat", lambda room: room == DIRECT)
    monkeypatch.setattr(parts.review, "is_moderators_room", lambda room: room == MODERATORS)
    monkeypatch.setattr(
        parts.membership,
        "owns",
        lambda event: isinstance(event, ChatMessage) and event.body.startswith("!accept"),
    )
    monkeypatch.setattr(parts.chat_reactions, "owns_redaction", lambda event: False)
    monkeypatch.setattr(parts.sanctions, "owns", lambda event: False)
    for component, method, name in [
        (parts.commands, "handle", "commands"),
        (parts.membership, "handle", "membership"),
        (parts.review, "handle", "review"),
        (parts.sanctions, "on_sight", "sanctions.on_sight"),
        (parts.to_forum, "handle", "to_forum"),
        (parts.chat_reactions, "chat_reaction", "chat_reaction"),
    ]:
        monkeypatch.setattr(component, method, record(name))
    return calls


def _row(kind: EventKind) -> InboxRow:
    return InboxRow(
        id=1,
        source=Platform.CHAT,
        kind=kind,
        conversation="test",
        payload="{}",
        status="pending",
        attempts=0,
        next_attempt_at=0.0,
        last_error=None,
        received_at=0.0,
    )


def _message(room: RoomID, body: str = "hello") -> ChatMessage:
    return ChatMessage(EventID("$m"), room, DANA, "m.text", body)


def _route(parts: RelayComponents, kind: EventKind, event: InboxPayload) -> None:
    parts.relay.route(_row(kind), event)


def test_every_kind_of_inbox_event_has_a_route(parts: RelayComponents) -> None:
    assert set(parts.routes) == set(EventKind)


@pytest.mark.parametrize(
    ("room", "handlers"),
    [
        (DIRECT, ["commands"]),
        (MODERATORS, ["review"]),
        (LINKED, ["sanctions.on_sight", "to_forum"]),
    ],
)
def test_a_chat_message_goes_by_its_rooms_role(
    parts: RelayComponents, reached: list[str], room: RoomID, handlers: list[str]
) -> None:
    _route(parts, EventKind.CHAT_MESSAGE, _message(room))
    assert reached == handlers


@pytest.mark.parametrize(
    ("room", "handlers"),
    [(DIRECT, ["commands"]), (MODERATORS, ["membership"]), (LINKED, ["membership"])],
)
def test_an_accept_answers_a_knock_except_in_a_direct_chat(
    parts: RelayComponents, reached: list[str], room: RoomID, handlers: list[str]
) -> None:
    _route(parts, EventKind.CHAT_MESSAGE, _message(room, "!accept @erin:localhost"))
    assert reached == handlers


@pytest.mark.parametrize(
    ("room", "handlers"),
    [(DIRECT, ["chat_reaction"]), (MODERATORS, ["review"]), (LINKED, ["chat_reaction"])],
)
def test_a_reaction_decides_a_held_crossing_only_in_the_moderators_room(
    parts: RelayComponents, reached: list[str], room: RoomID, handlers: list[str]
) -> None:
    reaction = ChatReaction(EventID("$r"), room, DANA, EventID("$m"), "👍")
    _route(parts, EventKind.CHAT_REACTION, reaction)
    assert reached == handlers


def test_a_plain_redaction_is_the_senders_own_deletion(
    parts: RelayComponents, reached: list[str]
) -> None:
    redaction = ChatRedaction(EventID("$x"), LINKED, DANA, EventID("$m"))
    _route(parts, EventKind.CHAT_REDACTION, redaction)
    assert reached == ["sanctions.on_sight", "to_forum"]


def test_a_role_table_needs_a_handler_for_linked_rooms() -> None:
    with pytest.raises(ValueError, match="linked room"):
        ByRoomRole({RoomRole.DIRECT: lambda row, event: None}, {})
