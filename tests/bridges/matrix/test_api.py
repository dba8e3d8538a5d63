"""Porch's appservice client against the session's real Synapse, watched by real users."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from bridges.matrix.api import AppserviceAPI
from bridges.matrix.matrix_config import MatrixConfig
from bridges.matrix.matrix_errors import MatrixError, MatrixUnavailable, is_errcode
from bridges.model import EventID, RoomID, UserID
from tests.rig.matrix import AppserviceStub, ChatUser

# The homeserver pushes every event of rooms porch is in to the appservice URL; a listener
# there keeps it from backing off (and from flooding the porch tests that come later).
pytestmark = pytest.mark.usefixtures("appservice_stub")

MakeUser = Callable[..., ChatUser]


def _ghost(api: AppserviceAPI) -> UserID:
    return api.ensure_registered(f"forum_{uuid.uuid4().hex[:8]}")


def _text(body: str) -> dict[str, Any]:
    return {"msgtype": "m.text", "body": body}


def _shared_room(api: AppserviceAPI, person: ChatUser) -> RoomID:
    """A private room of ``person``'s, with porch's bot invited (as an admin links a room)."""
    room = person.create_room(name="linked", invite=[api.bot_user_id])
    api.ensure_joined(room, api.bot_user_id)
    return room


def _with_id(event_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda event: event.get("event_id") == event_id


def test_the_homeserver_knows_porch_as_its_bot(appservice_api: AppserviceAPI) -> None:
    assert appservice_api.whoami() == appservice_api.bot_user_id == "@porch:localhost"
    assert "versions" in appservice_api.versions()


def test_registering_a_ghost_twice_is_fine(appservice_api: AppserviceAPI) -> None:
    localpart = f"forum_{uuid.uuid4().hex[:8]}"
    first = appservice_api.ensure_registered(localpart)
    second = appservice_api.ensure_registered(localpart)
    assert first == second == f"@{localpart}:localhost"
    assert appservice_api.whoami(as_user=first) == first


def test_users_outside_porchs_namespace_are_refused(appservice_api: AppserviceAPI) -> None:
    with pytest.raises(MatrixError) as caught:
        appservice_api.ensure_registered(f"bob_{uuid.uuid4().hex[:8]}")
    assert is_errcode(caught.value, "M_EXCLUSIVE")
    assert "POST /_matrix/client/v3/register" in str(caught.value)


def test_a_ghost_joins_a_closed_room_through_the_bot_and_is_seen_speaking(
    appservice_api: AppserviceAPI, matrix_user_factory: MakeUser
) -> None:
    carol = matrix_user_factory()
    room = carol.create_room(name="closed", invite=[appservice_api.bot_user_id])
    ghost = _ghost(appservice_api)
    appservice_api.set_displayname(ghost, "Alice (forum)")

    # The bot was only invited; ensure_joined accepts for it, invites the ghost, joins it.
    appservice_api.ensure_joined(room, ghost)
    event_id = appservice_api.send(
        room, _text("hello from the forum"), as_user=ghost, txn_id=appservice_api.new_txn_id()
    )

    seen = carol.wait_for_event(room, _with_id(event_id))
    assert seen["sender"] == ghost
    assert seen["content"]["body"] == "hello from the forum"
    member = carol.room_state(room, "m.room.member", ghost)
    assert member is not None and member["membership"] == "join"
    assert member["displayname"] == "Alice (forum)"


def test_a_ghost_invited_by_a_person_joins_without_the_bot(
    appservice_api: AppserviceAPI, matrix_user_factory: MakeUser
) -> None:
    dave = matrix_user_factory()
    ghost = _ghost(appservice_api)
    room = dave.create_room(invite=[ghost])
    appservice_api.ensure_joined(room, ghost)
    assert dave.room_state(room, "m.room.member", appservice_api.bot_user_id) is None
    assert (dave.room_state(room, "m.room.member", ghost) or {}).get("membership") == "join"


def test_the_same_transaction_id_sends_one_event(
    appservice_api: AppserviceAPI, matrix_user_factory: MakeUser
) -> None:
    erin = matrix_user_factory()
    room = _shared_room(appservice_api, erin)
    ghost = _ghost(appservice_api)
    appservice_api.ensure_joined(room, ghost)
    txn = appservice_api.new_txn_id()
    body = f"once {uuid.uuid4().hex}"

    first = appservice_api.send(room, _text(body), as_user=ghost, txn_id=txn)
    again = appservice_api.send(room, _text(body), as_user=ghost, txn_id=txn)

    assert first == again
    erin.wait_for_event(room, _with_id(first))
    copies = [e for e in erin.room_messages(room) if e["content"].get("body") == body]
    assert len(copies) == 1


def test_two_ghosts_speak_as_themselves(
    appservice_api: AppserviceAPI, matrix_user_factory: MakeUser
) -> None:
    frank = matrix_user_factory()
    room = _shared_room(appservice_api, frank)
    alice, bob = _ghost(appservice_api), _ghost(appservice_api)
    sent: dict[EventID, UserID] = {}
    for ghost in (alice, bob):
        appservice_api.ensure_joined(room, ghost)
        event_id = appservice_api.send(
            room, _text(f"I am {ghost}"), as_user=ghost, txn_id=appservice_api.new_txn_id()
        )
        sent[event_id] = ghost
    assert len(sent) == 2
    for event_id, ghost in sent.items():
        seen = frank.wait_for_event(room, _with_id(event_id))
        assert seen["sender"] == ghost
        assert seen["content"]["body"] == f"I am {ghost}"


def test_a_redacted_message_loses_its_content(
    appservice_api: AppserviceAPI, matrix_user_factory: MakeUser
) -> None:
    gina = matrix_user_factory()
    room = _shared_room(appservice_api, gina)
    ghost = _ghost(appservice_api)
    appservice_api.ensure_joined(room, ghost)
    event_id = appservice_api.send(
        room, _text("to be deleted"), as_user=ghost, txn_id=appservice_api.new_txn_id()
    )
    gina.wait_for_event(room, _with_id(event_id))

    redaction = appservice_api.redact(
        room, event_id, as_user=ghost, txn_id=appservice_api.new_txn_id(), reason="Deleted"
    )

    seen = gina.wait_for_event(
        room, lambda e: e.get("event_id") == event_id and not e.get("content")
    )
    assert seen["unsigned"]["redacted_because"]["event_id"] == redaction


def test_a_backdated_message_keeps_its_time(
    appservice_api: AppserviceAPI, matrix_user_factory: MakeUser
) -> None:
    hank = matrix_user_factory()
    room = _shared_room(appservice_api, hank)
    event_id = appservice_api.send(
        room,
        _text("from 2020"),
        as_user=None,
        txn_id=appservice_api.new_txn_id(),
        ts=1_600_000_000_000,
    )
    seen = hank.wait_for_event(room, _with_id(event_id))
    assert seen["origin_server_ts"] == 1_600_000_000_000
    assert seen["sender"] == appservice_api.bot_user_id


def test_room_state_and_events_read_back(
    appservice_api: AppserviceAPI, matrix_user_factory: MakeUser
) -> None:
    ivy = matrix_user_factory()
    room = _shared_room(appservice_api, ivy)
    assert appservice_api.room_state(room, "m.room.name") == {"name": "linked"}
    assert appservice_api.room_state(room, "m.room.topic") is None
    member = appservice_api.room_state(room, "m.room.member", ivy.user_id)
    assert member is not None and member["membership"] == "join"

    event_id = ivy.send_text(room, "read me")
    event = appservice_api.get_event(room, event_id)
    assert event["sender"] == ivy.user_id and event["content"]["body"] == "read me"


def test_inviting_a_member_twice_is_fine(
    appservice_api: AppserviceAPI, matrix_user_factory: MakeUser
) -> None:
    jack, kim = matrix_user_factory(), matrix_user_factory()
    room = _shared_room(appservice_api, jack)
    appservice_api.invite(room, kim.user_id)
    appservice_api.invite(room, kim.user_id)
    kim.join(room)
    appservice_api.invite(room, kim.user_id)
    assert (jack.room_state(room, "m.room.member", kim.user_id) or {})["membership"] == "join"


def test_a_room_made_by_porch_is_found_by_its_alias(appservice_api: AppserviceAPI) -> None:
    localpart = f"forum_room_{uuid.uuid4().hex[:8]}"
    room = appservice_api.create_room(name="Porch's room", alias_localpart=localpart)
    assert appservice_api.resolve_room(f"#{localpart}:localhost") == room
    assert appservice_api.resolve_room(room) == room
    with pytest.raises(MatrixError) as caught:
        appservice_api.resolve_room(f"#forum_nothing_{uuid.uuid4().hex[:8]}:localhost")
    assert is_errcode(caught.value, "M_NOT_FOUND")


def test_uploaded_media_downloads_again(appservice_api: AppserviceAPI) -> None:
    data = b"porch " + uuid.uuid4().bytes
    uri = appservice_api.upload(data, "text/plain", "note.txt")
    assert uri.startswith("mxc://localhost/")
    got, content_type = appservice_api.download(uri)
    assert got == data
    assert content_type.startswith("text/plain")
    with pytest.raises(ValueError, match="larger than"):
        appservice_api.download(uri, max_bytes=4)


def test_ping_reaches_the_listener(
    appservice_api: AppserviceAPI, appservice_stub: AppserviceStub, matrix_config: MatrixConfig
) -> None:
    assert matrix_config.appservice is not None
    duration = appservice_api.ping("ping-1")
    assert duration >= 0
    (ping,) = [p for p in appservice_stub.pings() if (p["body"] or {}).get("transaction_id")]
    assert ping["body"] == {"transaction_id": "ping-1"}
    assert (
        ping["authorization"] == f"Bearer {matrix_config.appservice.hs_token.get_secret_value()}"
    )


def test_ping_without_a_listener_is_unavailable(
    appservice_api: AppserviceAPI, appservice_stub: AppserviceStub
) -> None:
    appservice_stub.stop()
    with pytest.raises(MatrixUnavailable) as caught:
        appservice_api.ping()
    assert caught.value.status == 502
