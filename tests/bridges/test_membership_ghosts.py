"""Ghosts join only rooms their forum user may read: the gate against the Discourse double and
a real store (the room's tier is recorded already, so no homeserver call is needed)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from bridges.discourse.client import ForumClient
from bridges.discourse.discourse_config import DiscourseConfig
from bridges.links import LinkConfig, RelayConfig
from bridges.matrix.api import AppserviceAPI
from bridges.matrix.ghosts import Ghosts
from bridges.matrix.matrix_config import MatrixConfig
from bridges.membership.ghost_gate import GhostGate, GhostRefused
from bridges.model import ForumUsername, RoomID
from bridges.relay.components import RelayComponents
from bridges.store.store import Store
from bridges.store.tier_records import RoomSecurity
from bridges.worker import RetryLater
from policies.tiers import Tier
from sandbox.forum import SandboxForum

ROOM = RoomID("!staff:localhost")


@pytest.fixture
def make_gate(
    store: Store,
    forum: SandboxForum,
    discourse_config: DiscourseConfig,
    matrix_config: MatrixConfig,
) -> Callable[[], tuple[GhostGate, Ghosts]]:
    """A gate (with nothing cached in memory) on a link of ``staff-room`` to a private room."""
    forum.add_user("tess", name="Tess Teacher", groups=["teachers"])
    forum.add_category("staff-room", "Staff room", group_permissions={"teachers": 1})
    link = LinkConfig.model_validate(
        {"name": "staff", "forum": {"category": "staff-room"}, "room": ROOM}
    )
    store.tiers.save_room(RoomSecurity(ROOM, "invite", None, Tier.PRIVATE, time.time()))

    def make() -> tuple[GhostGate, Ghosts]:
        root = RelayComponents(
            discourse=discourse_config,
            matrix=matrix_config,
            relay=RelayConfig(),
            links=[link],
            store=store,
            forum=ForumClient(discourse_config),
            chat=AppserviceAPI(matrix_config),
            avatars=lambda url: (b"", "image/png"),
        )
        ghosts = root.ghosts
        assert isinstance(ghosts, Ghosts)
        return GhostGate(root.ctx), ghosts

    return make


def test_only_ghosts_of_readers_may_enter_a_private_room(
    make_gate: Callable[[], tuple[GhostGate, Ghosts]], forum: SandboxForum
) -> None:
    gate, ghosts = make_gate()
    gate(ghosts.user_id_for(ForumUsername("tess")), ROOM)
    gate(ghosts.user_id_for(ForumUsername("porch")), ROOM)  # an admin reads every category
    with pytest.raises(GhostRefused, match="alice may not read"):
        gate(ghosts.user_id_for(ForumUsername("alice")), ROOM)

    forum.add_to_group("alice", "teachers")
    fresh, _ = make_gate()
    fresh(ghosts.user_id_for(ForumUsername("alice")), ROOM)
    # Other rooms, and porch's bot, are not the gate's business.
    gate(ghosts.user_id_for(ForumUsername("alice")), RoomID("!elsewhere:localhost"))
    gate(ghosts.api.bot_user_id, ROOM)


def test_unknown_groups_keep_the_ghost_waiting(
    make_gate: Callable[[], tuple[GhostGate, Ghosts]], forum: SandboxForum
) -> None:
    gate, ghosts = make_gate()
    gate(ghosts.user_id_for(ForumUsername("tess")), ROOM)  # the category's security is read
    forum.fail_next(10, status=500, path_prefix="/users/")
    fresh, _ = make_gate()
    with pytest.raises(RetryLater) as waited:
        fresh(ghosts.user_id_for(ForumUsername("tess")), ROOM)
    assert not isinstance(waited.value, GhostRefused)
    assert "unknown" in str(waited.value)


def test_the_gate_stands_before_a_ghost_joins(
    make_gate: Callable[[], tuple[GhostGate, Ghosts]],
) -> None:
    gate, ghosts = make_gate()
    ghosts.admits = gate
    # Refused before any call to the homeserver (there is none behind this room).
    with pytest.raises(GhostRefused):
        ghosts.ensure_in_room(ghosts.user_id_for(ForumUsername("alice")), ROOM)
