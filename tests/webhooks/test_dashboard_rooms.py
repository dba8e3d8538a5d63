"""A chat message is shown on the dashboard only while its room is no more closed than its
link's category: a room that became invite-only takes what was seen there off every page and
export, for every viewer, even though its category is open."""

from __future__ import annotations

import time

import pytest
from flask.testing import FlaskClient

from bridges.model import RoomID
from bridges.store.store import Store
from bridges.store.tier_records import RoomSecurity
from bridges.store.watch_records import Activity, WatchRecords
from policies.tiers import Tier
from sandbox.forum import SandboxForum
from tests.webhooks.test_dashboard import (
    OPEN_TITLE,
    SECRET,
    TOWN,
    dashboard_config,
    everything,
    seed,
    sign_in,
)
from webhooks.app import create_app

PUBLIC_ROOM, CLOSED_ROOM = "!town:x", "!backroom:x"
PUBLIC_TITLE, CLOSED_TITLE = "Street party rent pool", "Backroom rent arrears list"


@pytest.fixture
def client(forum: SandboxForum, store: Store) -> FlaskClient:
    forum.sso.set_secret("porch.test", SECRET)
    forum.add_user("dave", groups=["policy-team", "council"])
    now = time.time()
    seed(store, now)
    for room, join_rule, tier in (
        (PUBLIC_ROOM, "public", Tier.OPEN),
        (CLOSED_ROOM, "invite", Tier.PRIVATE),
    ):
        store.tiers.save_room(RoomSecurity(RoomID(room), join_rule, "shared", tier, now))
    records = WatchRecords(store.db)
    for n, (room, title) in enumerate(((PUBLIC_ROOM, PUBLIC_TITLE), (CLOSED_ROOM, CLOSED_TITLE))):
        records.record(
            Activity(
                watch="housing",
                inbox_id=5000 + n,
                at=now - 60,
                thread=f"room:{room}:$root{n}",
                author="@dana:x",
                terms=("rent",),
                title=title,
                category_id=TOWN,
                room_id=room,
                event_id=f"$root{n}",
                link="town-square",
                matrix_url=f"https://matrix.to/#/{room}/$root{n}",
                words=("arrears",),
            )
        )
    return create_app(dashboard_config(forum.base_url), store).test_client()


def test_a_message_of_an_invite_only_room_is_shown_to_nobody(
    client: FlaskClient, forum: SandboxForum
) -> None:
    assert sign_in(client, forum, "dave") == 303
    seen = everything(client)
    assert PUBLIC_TITLE in seen
    assert CLOSED_TITLE not in seen and CLOSED_ROOM not in seen


def test_the_figures_and_held_items_of_a_link_to_an_invite_only_room_are_shown_to_nobody(
    client: FlaskClient, forum: SandboxForum, store: Store
) -> None:
    """Crossing figures, held and refused decisions and the review queue of a link carry what
    its room's members wrote: once the room is invite-only, its open category's readers no
    longer see them (forum posts of that category stay visible: the forum is theirs)."""
    store.tiers.save_room(
        RoomSecurity(RoomID(PUBLIC_ROOM), "invite", "shared", Tier.PRIVATE, time.time())
    )
    assert sign_in(client, forum, "dave") == 303
    seen = everything(client)
    assert OPEN_TITLE in seen
    for hidden in ("review:new-user", "policy:no-tag", "review:town-square-rule", PUBLIC_TITLE):
        assert hidden not in seen
    # The council's link (a closed room of a closed category) is still shown to its members.
    assert "council-secret-rule" in seen
