"""Forum authors' ghosts on the real homeserver: registered once, named, with their avatars."""

from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bridges.matrix.api import AppserviceAPI
from bridges.matrix.ghosts import Ghosts
from bridges.matrix.matrix_config import MatrixConfig
from bridges.model import Author, ForumUsername, UserID
from bridges.store.store import Store
from tests.rig.matrix import ChatUser
from tests.rig.store import sqlite_url

pytestmark = pytest.mark.usefixtures("appservice_stub")

MakeUser = Callable[..., ChatUser]


def _png(rgb: tuple[int, int, int]) -> bytes:
    """A valid 1x1 PNG of one colour (the homeserver thumbnails images it stores)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" + bytes(rgb))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", pixels)
        + chunk(b"IEND", b"")
    )


class Avatars:
    """The forum's avatar URLs; counts how often porch fetched each."""

    def __init__(self) -> None:
        self.images: dict[str, bytes] = {}
        self.fetched: list[str] = []

    def add(self, rgb: tuple[int, int, int]) -> str:
        url = f"http://forum.invalid/user_avatar/{uuid.uuid4().hex}/240.png"
        self.images[url] = _png(rgb)
        return url

    def fetch(self, url: str) -> tuple[bytes, str]:
        self.fetched.append(url)
        if url not in self.images:
            raise ConnectionError(f"cannot fetch {url}")
        return self.images[url], "image/png"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(sqlite_url(tmp_path))
    yield s
    s.close()


@pytest.fixture
def avatars() -> Avatars:
    return Avatars()


@pytest.fixture
def ghosts(
    appservice_api: AppserviceAPI, store: Store, matrix_config: MatrixConfig, avatars: Avatars
) -> Ghosts:
    return Ghosts(appservice_api, store.profiles, matrix_config, avatars.fetch)


def _author(name: str | None = None) -> Author:
    username = ForumUsername(f"Alice_{uuid.uuid4().hex[:6]}")
    return Author(username=username, user_id=7, name=name)


def test_a_ghost_is_named_after_the_forum_author(
    ghosts: Ghosts, matrix_user_factory: MakeUser
) -> None:
    author = _author("Alice Adams")
    ghost = ghosts.ensure(author)
    assert ghost == f"@forum_{author.username.lower()}:localhost"
    assert matrix_user_factory().profile(ghost)["displayname"] == "Alice Adams (forum)"


def test_ensuring_a_ghost_twice_registers_it_once(
    ghosts: Ghosts, store: Store, appservice_api: AppserviceAPI
) -> None:
    author = _author("Bob")
    first = ghosts.ensure(author)
    assert ghosts.ensure(author) == first
    assert appservice_api.whoami(as_user=first) == first
    record = store.profiles.ghost(first)
    assert record is not None and record.displayname == "Bob (forum)"


def test_a_renamed_author_renames_the_ghost(ghosts: Ghosts, matrix_user_factory: MakeUser) -> None:
    author = _author("Carol")
    ghost = ghosts.ensure(author)
    renamed = Author(username=author.username, user_id=author.user_id, name="Carol Chen")
    assert ghosts.ensure(renamed) == ghost
    assert matrix_user_factory().profile(ghost)["displayname"] == "Carol Chen (forum)"


def test_an_avatar_is_uploaded_once_and_set(
    ghosts: Ghosts,
    avatars: Avatars,
    store: Store,
    appservice_api: AppserviceAPI,
    matrix_user_factory: MakeUser,
) -> None:
    author = _author("Dora")
    url = avatars.add((200, 30, 30))

    ghost = ghosts.ensure(author, url)
    ghosts.ensure(author, url)

    assert avatars.fetched == [url]
    uri = store.profiles.media_for(url)
    assert uri is not None and uri.startswith("mxc://localhost/")
    assert matrix_user_factory().profile(ghost)["avatar_url"] == uri
    assert appservice_api.download(uri) == (avatars.images[url], "image/png")


def test_two_ghosts_with_the_same_avatar_share_one_upload(
    ghosts: Ghosts, avatars: Avatars, matrix_user_factory: MakeUser
) -> None:
    url = avatars.add((10, 10, 200))
    one = ghosts.ensure(_author("Eve"), url)
    two = ghosts.ensure(_author("Fay"), url)
    assert avatars.fetched == [url]
    person = matrix_user_factory()
    assert person.profile(one)["avatar_url"] == person.profile(two)["avatar_url"] is not None


def test_a_new_avatar_replaces_the_old(
    ghosts: Ghosts, avatars: Avatars, matrix_user_factory: MakeUser
) -> None:
    author = _author("Gus")
    old, new = avatars.add((1, 2, 3)), avatars.add((4, 5, 6))
    ghost = ghosts.ensure(author, old)
    first = matrix_user_factory().profile(ghost)["avatar_url"]
    ghosts.ensure(author, new)
    second = matrix_user_factory().profile(ghost)["avatar_url"]
    assert first and second and first != second
    assert avatars.fetched == [old, new]


def test_an_avatar_that_cannot_be_fetched_does_not_hold_the_ghost_back(
    ghosts: Ghosts, avatars: Avatars, store: Store
) -> None:
    author = _author("Hal")
    missing = "http://forum.invalid/user_avatar/gone/240.png"
    ghost = ghosts.ensure(author, missing)
    record = store.profiles.ghost(ghost)
    assert record is not None and record.avatar_url is None
    # Tried again next time (it may have been a passing failure).
    ghosts.ensure(author, missing)
    assert avatars.fetched == [missing, missing]


def test_a_ghost_enters_a_closed_room_and_speaks(
    ghosts: Ghosts, appservice_api: AppserviceAPI, matrix_user_factory: MakeUser
) -> None:
    ivy = matrix_user_factory()
    room = ivy.create_room(name="closed", invite=[appservice_api.bot_user_id])
    author = _author("Ivan")
    ghost = ghosts.ensure(author)
    ghosts.ensure_in_room(ghost, room)
    ghosts.ensure_in_room(ghost, room)
    event_id = appservice_api.send(
        room,
        {"msgtype": "m.text", "body": "hi"},
        as_user=ghost,
        txn_id=appservice_api.new_txn_id(),
    )
    seen = ivy.wait_for_event(room, lambda e: e.get("event_id") == event_id)
    assert seen["sender"] == ghost
    member = ivy.room_state(room, "m.room.member", ghost)
    assert member is not None and member["displayname"] == "Ivan (forum)"


def test_porchs_own_users_are_recognised(ghosts: Ghosts, appservice_api: AppserviceAPI) -> None:
    alice = ghosts.user_id_for(ForumUsername("Jörg"))
    assert alice == "@forum_j=c3=b6rg:localhost"
    assert ghosts.is_ours(alice)
    assert ghosts.is_ours(appservice_api.bot_user_id)
    assert ghosts.username_for(alice) == "jörg"
    for other in ("@bob:localhost", "@forum_alice:localhost.evil", "@forum_alice:elsewhere"):
        assert not ghosts.is_ours(other)
        assert ghosts.username_for(UserID(other)) is None
