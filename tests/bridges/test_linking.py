"""Account linking without HTTP: the DiscourseConnect answer, the one-time nonce bound to the
Matrix user who asked, and what is recorded, on SQLite and PostgreSQL."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr

from bridges import codec
from bridges.discourse.discourse_config import DiscourseConfig
from bridges.identity.connect import ConnectRefused, decode, encode, sign, verify
from bridges.identity.linking import LINK_TTL, Linking
from bridges.model import EventKind, IdentityLinked, RoomID, UserID
from bridges.store.store import Store
from tests.rig.clock import Clock

SECRET = "connect-secret-for-tests"
DANA = UserID("@dana:example.org")
ERIN = UserID("@erin:example.org")
DM = RoomID("!dm:example.org")


def discourse(secret: str | None = SECRET) -> DiscourseConfig:
    return DiscourseConfig(
        url="https://forum.example.org",  # type: ignore[arg-type]
        api_key=SecretStr("k" * 20),
        api_username="porch",
        relay_username="chat-relay",
        webhook_secret=SecretStr("w" * 20),
        connect_secret=None if secret is None else SecretStr(secret),
    )


@pytest.fixture
def clock() -> Clock:
    return Clock(1_000_000.0)


@pytest.fixture
def linking(store: Store, clock: Clock) -> Linking:
    return Linking(store, discourse(), "https://porch.example.org/", clock)


def forum_answer(
    forum_url: str, *, user_id: int = 7, username: str = "alice", groups: str = "editors"
) -> tuple[str, str]:
    """What the forum sends back for the request in ``forum_url``, signed as it signs."""
    query = parse_qs(urlsplit(forum_url).query)
    request = decode(query["sso"][0])
    payload = encode(
        {
            "nonce": request["nonce"],
            "return_sso_url": request["return_sso_url"],
            "external_id": str(user_id),
            "username": username,
            "email": f"{username}@example.org",
            "groups": groups,
            "admin": "false",
            "moderator": "true",
        }
    )
    return payload, sign(payload, SECRET)


# --- the protocol -------------------------------------------------------------------------------


def test_the_request_is_signed_and_names_the_return_page(linking: Linking) -> None:
    page = linking.start(DANA, DM)
    url = linking.forum_url(page.rsplit("/", 1)[1])
    assert url.startswith("https://forum.example.org/session/sso_provider?")
    query = parse_qs(urlsplit(url).query)
    assert sign(query["sso"][0], SECRET) == query["sig"][0]
    fields = decode(query["sso"][0])
    assert fields["return_sso_url"] == "https://porch.example.org/link/return"
    assert len(fields["nonce"]) >= 32


def test_an_answer_signed_with_another_secret_or_changed_is_refused() -> None:
    payload = encode({"nonce": "n" * 32, "external_id": "7", "username": "alice"})
    assert verify(payload, sign(payload, SECRET), SECRET).username == "alice"
    with pytest.raises(ConnectRefused, match="not signed"):
        verify(payload, sign(payload, "another-secret"), SECRET)
    forged = encode({"nonce": "n" * 32, "external_id": "1", "username": "admin"})
    with pytest.raises(ConnectRefused, match="not signed"):
        verify(forged, sign(payload, SECRET), SECRET)
    with pytest.raises(ConnectRefused, match="not signed"):
        verify(payload + "é", "00", SECRET)


def test_an_answer_without_a_user_is_refused() -> None:
    payload = encode({"nonce": "n" * 32, "username": "alice"})
    with pytest.raises(ConnectRefused, match="does not name a forum user"):
        verify(payload, sign(payload, SECRET), SECRET)


# --- a whole link -------------------------------------------------------------------------------


def test_the_forum_answer_links_the_user_who_asked(linking: Linking, store: Store) -> None:
    url = linking.forum_url(linking.start(DANA, DM).rsplit("/", 1)[1])
    linked = linking.complete(*forum_answer(url))
    assert linked.matrix_user_id == DANA
    identity = store.identities.by_matrix_user(DANA)
    assert identity is not None
    assert (identity.forum_username, identity.forum_user_id, identity.verified_via) == (
        "alice",
        7,
        "discourse-connect",
    )
    assert linking.groups.of(DANA) == {"editors", "moderators"}
    # The bot's confirmation waits in the direct chat's conversation.
    (row,) = store.inbox.rows()
    assert row.kind is EventKind.IDENTITY_LINKED
    assert row.conversation == f"matrix:room:{DM}"
    assert codec.decode(row.kind, row.payload) == IdentityLinked(DANA, DM, "alice")  # type: ignore[arg-type]


def test_a_replayed_answer_records_nothing_more(linking: Linking, store: Store) -> None:
    url = linking.forum_url(linking.start(DANA, DM).rsplit("/", 1)[1])
    answer = forum_answer(url)
    linking.complete(*answer)
    linking.unlink(DANA)
    with pytest.raises(ConnectRefused, match="already used"):
        linking.complete(*answer)
    assert store.identities.by_matrix_user(DANA) is None
    assert len(store.inbox.rows()) == 1


def test_a_page_works_once_and_not_after_it_expired(linking: Linking, clock: Clock) -> None:
    token = linking.start(DANA, DM).rsplit("/", 1)[1]
    linking.forum_url(token)
    with pytest.raises(ConnectRefused, match="already used"):
        linking.forum_url(token)
    late = linking.start(DANA, DM).rsplit("/", 1)[1]
    clock.now += LINK_TTL + 1
    with pytest.raises(ConnectRefused, match="expired"):
        linking.forum_url(late)


def test_an_answer_after_expiry_is_refused(linking: Linking, store: Store, clock: Clock) -> None:
    url = linking.forum_url(linking.start(DANA, DM).rsplit("/", 1)[1])
    clock.now += LINK_TTL + 1
    with pytest.raises(ConnectRefused, match="expired"):
        linking.complete(*forum_answer(url))
    assert store.identities.by_matrix_user(DANA) is None


def test_a_new_request_retires_the_earlier_page(linking: Linking) -> None:
    first = linking.start(DANA, DM).rsplit("/", 1)[1]
    linking.start(DANA, DM)
    with pytest.raises(ConnectRefused):
        linking.forum_url(first)


def test_an_answer_with_an_unknown_nonce_is_refused(linking: Linking, store: Store) -> None:
    payload = encode({"nonce": "f" * 32, "external_id": "7", "username": "alice"})
    with pytest.raises(ConnectRefused, match="unknown"):
        linking.complete(payload, sign(payload, SECRET))
    assert store.identities.by_matrix_user(DANA) is None


def test_a_forum_account_linked_again_leaves_the_earlier_user(
    linking: Linking, store: Store
) -> None:
    for user in (DANA, ERIN):
        url = linking.forum_url(linking.start(user, DM).rsplit("/", 1)[1])
        linking.complete(*forum_answer(url))
    assert store.identities.by_matrix_user(DANA) is None
    assert linking.groups.of(DANA) == frozenset()
    identity = store.identities.by_forum_username("alice")  # type: ignore[arg-type]
    assert identity is not None and identity.matrix_user_id == ERIN


def test_unlink_forgets_the_identity_and_its_groups(linking: Linking, store: Store) -> None:
    url = linking.forum_url(linking.start(DANA, DM).rsplit("/", 1)[1])
    linking.complete(*forum_answer(url))
    unlinked = linking.unlink(DANA)
    assert unlinked is not None and unlinked.forum_username == "alice"
    assert store.identities.by_matrix_user(DANA) is None
    assert linking.groups.of(DANA) == frozenset()
    assert linking.unlink(DANA) is None


def test_without_a_secret_linking_is_off(store: Store, clock: Clock) -> None:
    off = Linking(store, discourse(None), "https://porch.example.org", clock)
    assert not off.enabled
    with pytest.raises(ConnectRefused, match="not enabled"):
        off.forum_url("anything")
