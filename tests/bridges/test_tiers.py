"""Tiers read from the platforms: the category security of the Discourse double, the room state
of the session Synapse, cached in a real store and kept current; and the boundary ``porch
check`` keeps, offline from declared tiers and online from the platforms' own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml

from bridges.discourse.client import ForumClient
from bridges.discourse.discourse_config import DiscourseConfig
from bridges.discourse.payloads import inbox_event
from bridges.link_tiers import TierBook, TierChange, online_problems
from bridges.links import LinkConfig
from bridges.matrix.api import AppserviceAPI
from bridges.matrix.events import inbox_events
from bridges.model import (
    CategoryID,
    EventID,
    EventKind,
    ForumCategory,
    RoomID,
    RoomSecurityChanged,
    UserID,
)
from bridges.store.store import Store
from bridges.store.tier_records import CategorySecurity, RoomSecurity
from policies.tiers import Tier
from sandbox.forum import SandboxForum
from tests.policies.policyfiles import policies
from tests.rig.clock import Clock
from tests.rig.matrix import ChatUser
from tests.webhooks.configs import config_data
from webhooks.config import ConfigError, parse_config

BOT = "@porch:localhost"


@pytest.fixture
def book(
    store: Store, forum: SandboxForum, discourse_config: DiscourseConfig, clock: Clock
) -> TierBook:
    """A tier book on the double; its homeserver client is never reached in forum tests."""
    chat: Any = None
    return TierBook(store.tiers, ForumClient(discourse_config), chat, clock=clock, max_age=60)


def _categories(forum: SandboxForum) -> dict[str, CategoryID]:
    forum.add_category("members", read_restricted=True, group_permissions={"trust_level_0": 1})
    forum.add_category("teachers-room", read_restricted=True, group_permissions={"teachers": 1})
    return {
        slug: CategoryID(forum.category_id(slug))
        for slug in ("town-square", "members", "teachers-room")
    }


# --- the store -----------------------------------------------------------------------------


def test_security_records_round_trip_and_are_forgotten(store: Store) -> None:
    category = CategorySecurity(
        CategoryID(7), "staff", "Staff", True, {"staff": 1, "teachers": 3}, Tier.PRIVATE, 5.0
    )
    store.tiers.save_category(category)
    assert store.tiers.category(CategoryID(7)) == category
    assert category.readers == {"staff", "teachers"}
    newer = CategorySecurity(CategoryID(7), "staff", "Staff", False, None, Tier.OPEN, 9.0)
    store.tiers.save_category(newer)
    assert store.tiers.category(CategoryID(7)) == newer
    assert newer.readers == {"everyone"}
    store.tiers.forget_category(CategoryID(7))
    assert store.tiers.category(CategoryID(7)) is None

    room = RoomSecurity(RoomID("!a:x"), "knock", None, Tier.RESTRICTED, 5.0)
    store.tiers.save_room(room)
    assert store.tiers.room(RoomID("!a:x")) == room
    store.tiers.save_room(RoomSecurity(RoomID("!a:x"), "public", "shared", Tier.OPEN, 6.0))
    assert store.tiers.room(RoomID("!a:x")).tier is Tier.OPEN  # type: ignore[union-attr]
    store.tiers.forget_room(RoomID("!a:x"))
    assert store.tiers.room(RoomID("!a:x")) is None


# --- categories ------------------------------------------------------------------------------


def test_category_tiers_follow_the_forums_security(book: TierBook, forum: SandboxForum) -> None:
    ids = _categories(forum)
    assert book.forum_tier(ids["town-square"]) is Tier.OPEN
    assert book.forum_tier(ids["members"]) is Tier.RESTRICTED
    assert book.forum_tier(ids["teachers-room"]) is Tier.PRIVATE
    teachers = book.category(ids["teachers-room"])
    assert teachers is not None
    assert teachers.readers == {"teachers"}, "membership reads the entitled groups here"
    assert (teachers.slug, teachers.name) == ("teachers-room", "Teachers room")


def test_a_cached_tier_holds_until_it_is_stale_then_the_change_is_seen(
    book: TierBook, forum: SandboxForum, clock: Clock
) -> None:
    ids = _categories(forum)
    changes: list[TierChange] = []
    book.subscribe(changes.append)
    assert book.forum_tier(ids["town-square"]) is Tier.OPEN
    forum.set_category_security("town-square", group_permissions={"teachers": 1})
    clock.now += 30
    assert book.forum_tier(ids["town-square"]) is Tier.OPEN, "read 30 s ago: still trusted"
    clock.now += 31
    assert book.forum_tier(ids["town-square"]) is Tier.PRIVATE
    assert changes[-1] == TierChange("category", str(ids["town-square"]), Tier.OPEN, Tier.PRIVATE)


def test_while_the_security_cannot_be_read_the_tier_is_unknown(
    book: TierBook, forum: SandboxForum, clock: Clock
) -> None:
    ids = _categories(forum)
    forum.fail_next(1, status=500, method="GET", path_prefix="/c/")
    assert book.forum_tier(ids["members"]) is None
    assert "500" in book.errors[f"category {ids['members']}"]
    assert book.forum_tier(ids["members"]) is Tier.RESTRICTED

    # A stale record is not used once reading it again fails: it may no longer hold.
    clock.now += 120
    forum.fail_next(1, status=502, method="GET", path_prefix="/c/")
    assert book.forum_tier(ids["members"]) is None
    assert book.forum_tier(ids["members"]) is Tier.RESTRICTED


def test_without_the_groups_a_restricted_category_is_unknown(
    store: Store, forum: SandboxForum, discourse_config: DiscourseConfig, clock: Clock
) -> None:
    """The forum shows ``group_permissions`` only to an account that may edit the category."""
    forum.add_user("helper", trust_level=2, groups=["teachers"])
    forum.add_category("teachers-room", read_restricted=True, group_permissions={"teachers": 1})
    not_admin = discourse_config.model_copy(update={"api_username": "helper"})
    chat: Any = None
    book = TierBook(store.tiers, ForumClient(not_admin), chat, clock=clock)
    assert book.forum_tier(CategoryID(forum.category_id("teachers-room"))) is None


def test_a_category_webhook_reads_a_linked_category_again(
    book: TierBook, forum: SandboxForum
) -> None:
    ids = _categories(forum)
    assert book.forum_tier(ids["members"]) is Tier.RESTRICTED
    forum.set_category_security("members", group_permissions={"everyone": 1})
    update = ForumCategory(ids["members"], "members")
    book.category_event(update, destroyed=False, linked=True)
    assert book.forum_tier(ids["members"]) is Tier.OPEN
    book.category_event(update, destroyed=True, linked=True)
    assert book.records.category(ids["members"]) is None


def test_the_forum_fires_category_updated_and_porch_records_it(forum: SandboxForum) -> None:
    ids = _categories(forum)
    forum.set_category_security("members", read_restricted=True)
    fired = forum.events()[-1]
    assert (fired.type, fired.name) == ("category", "category_updated")
    assert fired.payload["read_restricted"] is True
    assert fired.payload["group_permissions"] == [
        {"permission_type": 1, "group_name": "staff", "group_id": 3}
    ]
    event = inbox_event("category_updated", "41", {"category": fired.payload})
    assert event is not None
    assert event.kind is EventKind.CATEGORY_CHANGED
    assert event.conversation == f"discourse:category:{ids['members']}"
    destroyed = inbox_event("category_destroyed", "42", {"category": fired.payload})
    assert destroyed is not None and destroyed.kind is EventKind.CATEGORY_DESTROYED


# --- rooms -----------------------------------------------------------------------------------


@pytest.fixture
def room_book(store: Store, appservice_api: AppserviceAPI, clock: Clock) -> TierBook:
    forum: Any = None
    return TierBook(store.tiers, forum, appservice_api, clock=clock, max_age=60)


def _room(
    dana: ChatUser, api: AppserviceAPI, preset: str, state: list[dict[str, Any]] | None = None
) -> RoomID:
    room = dana.create_room(preset=preset, initial_state=state or [])
    dana.invite(room, BOT)
    api.ensure_joined(room, api.bot_user_id)
    return room


def test_room_tiers_follow_join_rule_and_history_visibility(
    room_book: TierBook,
    appservice_api: AppserviceAPI,
    matrix_user_factory: Callable[..., ChatUser],
) -> None:
    dana = matrix_user_factory()
    public = _room(dana, appservice_api, "public_chat")
    private = _room(dana, appservice_api, "private_chat")
    knock = _room(
        dana,
        appservice_api,
        "private_chat",
        [{"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": "knock"}}],
    )
    readable = _room(
        dana,
        appservice_api,
        "private_chat",
        [
            {
                "type": "m.room.history_visibility",
                "state_key": "",
                "content": {"history_visibility": "world_readable"},
            }
        ],
    )
    assert room_book.room_tier(public) is Tier.OPEN
    assert room_book.room_tier(private) is Tier.PRIVATE
    assert room_book.room_tier(knock) is Tier.RESTRICTED
    assert room_book.room_tier(readable) is Tier.OPEN


def test_a_join_rule_state_event_changes_the_room_tier(
    room_book: TierBook,
    appservice_api: AppserviceAPI,
    matrix_user_factory: Callable[..., ChatUser],
) -> None:
    dana = matrix_user_factory()
    room = _room(dana, appservice_api, "public_chat")
    assert room_book.room_tier(room) is Tier.OPEN
    raw = {
        "type": "m.room.join_rules",
        "state_key": "",
        "event_id": "$rules",
        "room_id": room,
        "sender": dana.user_id,
        "content": {"join_rule": "invite"},
    }
    (recorded,) = inbox_events([raw], is_ours=lambda sender: sender == BOT)
    assert recorded.kind is EventKind.ROOM_SECURITY_CHANGED
    assert recorded.conversation == f"matrix:room:{room}", "in order with the room's messages"
    room_book.room_state_changed(
        RoomSecurityChanged(
            EventID("$rules"), room, UserID(dana.user_id), "m.room.join_rules", "invite"
        )
    )
    assert room_book.room_tier(room) is Tier.PRIVATE


def test_the_periodic_refresh_reads_every_link_again_and_names_what_failed(
    store: Store,
    forum: SandboxForum,
    discourse_config: DiscourseConfig,
    appservice_api: AppserviceAPI,
    matrix_user_factory: Callable[..., ChatUser],
    clock: Clock,
) -> None:
    ids = _categories(forum)
    room = _room(matrix_user_factory(), appservice_api, "public_chat")
    book = TierBook(store.tiers, ForumClient(discourse_config), appservice_api, clock=clock)
    links = [
        LinkConfig.model_validate({"name": slug, "forum": {"category": slug}, "room": room})
        for slug in ("members", "teachers-room")
    ]
    assert book.refresh(links, lambda link: ids[str(link.forum.category)], lambda _: room) == []
    assert book.records.category(ids["members"]) is not None
    assert book.records.room(room) is not None
    forum.set_category_security("members", group_permissions={"teachers": 1})
    forum.fail_next(1, status=503, method="GET", path_prefix=f"/c/{ids['teachers-room']}/")
    (failed,) = book.refresh(links, lambda link: ids[str(link.forum.category)], lambda _: room)
    assert failed.startswith("teachers-room: category: ")
    assert book.records.category(ids["teachers-room"]) is None, "unknown until read again"
    assert book.forum_tier(ids["members"]) is Tier.PRIVATE, "read again without waiting"


# --- porch check -----------------------------------------------------------------------------

_PUBLISH = {"publish": {"forum-to-chat": {"action": "allow", "when": {"tags": ["publish"]}}}}


def _check(link: dict[str, Any], named: dict[str, Any] | None = None) -> tuple[str, ...]:
    data = config_data(links=[{"name": "staff", "room": "!town:x", **link}])
    if named is not None:
        data["policies"] = named
    try:
        parse_config(yaml.safe_dump(data))
    except ConfigError as exc:
        return exc.errors
    return ()


def test_check_refuses_an_outward_link_without_a_publishing_policy() -> None:
    closed_to_open = {"forum": {"category": "staff", "tier": "private"}, "room_tier": "open"}
    (error,) = _check(closed_to_open)
    assert error.startswith(
        "links[0].policy: forum-to-chat carries the private category into the more open room "
        "(open) and the link names no policy"
    )
    assert _check({**closed_to_open, "policy": "publish"}, _PUBLISH) == ()
    assert _check({**closed_to_open, "direction": "chat-to-forum"}) == ()
    # Inward is no publication; a policy that only denies publishes nothing.
    inward = {"forum": {"category": "s", "tier": "open"}, "room_tier": "private"}
    assert _check({**inward, "direction": "forum-to-chat"}) == ()
    deny = {"quiet": {"forum-to-chat": {"action": "deny"}}}
    (error,) = _check({**closed_to_open, "policy": "quiet"}, deny)
    assert "policy 'quiet' has no forum-to-chat rule that allows or holds" in error


def test_check_refuses_chat_published_into_a_more_open_category() -> None:
    (error,) = _check({"forum": {"category": "town", "tier": "open"}, "room_tier": "restricted"})
    assert "chat-to-forum carries the restricted room into the more open category (open)" in error


def test_check_online_compares_declared_tiers_with_the_platforms(
    forum: SandboxForum,
    discourse_config: DiscourseConfig,
    appservice_api: AppserviceAPI,
    matrix_user_factory: Callable[..., ChatUser],
) -> None:
    forum.add_category("staff-room", read_restricted=True)
    dana = matrix_user_factory()
    room = _room(dana, appservice_api, "public_chat")
    links = [
        LinkConfig.model_validate(
            {
                "name": "staff",
                "forum": {"category": "staff-room", "tier": "restricted"},
                "room": room,
                "room_tier": "open",
                "policy": "publish-tagged",
            }
        ),
        LinkConfig.model_validate(
            {"name": "town", "forum": {"category": "town-square"}, "room": room}
        ),
    ]
    problems = online_problems(ForumClient(discourse_config), appservice_api, links, policies())
    assert problems == [
        "links[0].forum.tier: declared restricted, but the platform makes it private"
    ]
    links[1] = links[1].model_copy(update={"forum": links[0].forum, "policy": None})
    (problem,) = online_problems(
        ForumClient(discourse_config), appservice_api, links[1:], policies()
    )[1:]
    assert problem.startswith("links[0].policy: forum-to-chat carries the private category")
