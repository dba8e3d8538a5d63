"""Verified identity end to end: ``!link`` in a direct chat with porch's bot, the forum's own
login (the double's DiscourseConnect provider), and the next message posted as that account.

Real Synapse, a real Matrix client, the Discourse double, ``porch serve`` as a child process;
a ``requests.Session`` plays the browser, logged in to the forum as ``alice``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from sandbox.forum import SandboxForum
from sandbox.synapse import SandboxSynapse
from tests.e2e.chat_side import open_thread, porch_store, wait_for_post
from tests.e2e.conftest import BOT, Linked
from tests.rig.matrix import ChatUser
from tests.rig.wait import wait_until

SECRET = "connect-secret-for-e2e"
_URL = re.compile(r"https?://\S+/link/\S+")


def start_linking(linked: Callable[..., Linked], forum: SandboxForum, secret: bool) -> Linked:
    town = linked(start=False)
    if secret:
        town.porch.data["discourse"]["connect_secret"] = SECRET
        forum.sso.set_secret("127.0.0.1", SECRET)
    town.porch.write()
    town.porch.start()
    return town


def open_direct_chat(synapse: SandboxSynapse, user: ChatUser) -> str:
    """A direct chat with porch's bot, as a client opens one (``is_direct`` invite)."""
    response = requests.post(
        f"{synapse.base_url}/_matrix/client/v3/createRoom",
        json={"preset": "trusted_private_chat", "is_direct": True, "invite": [BOT]},
        headers={"Authorization": f"Bearer {user.access_token}"},
        timeout=10,
    )
    response.raise_for_status()
    room = str(response.json()["room_id"])
    # The bot joins and greets with its commands.
    user.wait_for_text(room, "!unlink", timeout=30)
    return room


def follow_link(browser: requests.Session, url: str) -> requests.Response:
    """Open the bot's link, check it names the account, press its button, follow it through."""
    shown = browser.get(url, timeout=30)
    assert shown.status_code == 200, shown.text
    assert "This links the Matrix account" in shown.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', shown.text)
    assert csrf is not None, shown.text
    return browser.post(url, data={"csrf": csrf.group(1)}, timeout=30)


def bot_says(user: ChatUser, room: str, contains: str) -> str:
    event = user.wait_for_event(
        room,
        lambda e: e.get("sender") == BOT and contains in str(e.get("content", {}).get("body")),
        timeout=30,
        what=f"the bot saying {contains!r}",
    )
    return str(event["content"]["body"])


def test_a_linked_user_posts_as_their_forum_account_until_they_unlink(
    linked: Callable[..., Linked], forum: SandboxForum, synapse: SandboxSynapse
) -> None:
    town = start_linking(linked, forum, secret=True)
    dana = town.dana
    dm = open_direct_chat(synapse, dana)

    dana.send_text(dm, "!link")
    match = _URL.search(bot_says(dana, dm, "/link/"))
    assert match is not None
    browser = requests.Session()
    browser.post(f"{forum.base_url}/sandbox/login", data={"username": "alice"}).raise_for_status()
    page = follow_link(browser, match.group(0))
    assert page.status_code == 200, page.text
    assert "linked to the forum account alice" in page.text
    bot_says(dana, dm, "Linked: you are alice on the forum")

    first, root = open_thread(town, forum, "Benches for the square", "Where should they go?")
    dana.send_text(town.room, "Under the lime trees, please.", thread_root=root["event_id"])
    as_alice = wait_for_post(forum, first["topic_id"], "Under the lime trees", timeout=30)
    assert as_alice["username"] == "alice"
    assert as_alice["raw"] == "Under the lime trees, please."

    # The forum's answer is used up: the same return URL again, or with its signature
    # changed, is refused with a page that says why, and changes nothing.
    replay = browser.get(page.url, timeout=30)
    assert replay.status_code == 400
    assert "already used" in replay.text
    query = parse_qs(urlsplit(page.url).query)
    tampered = requests.get(
        f"{town.porch.url}/link/return?" + urlencode({"sso": query["sso"][0], "sig": "0" * 64}),
        timeout=30,
    )
    assert tampered.status_code == 400
    assert "not signed" in tampered.text

    dana.send_text(dm, "!unlink")
    bot_says(dana, dm, "Unlinked from forum account alice")
    with porch_store(town.porch) as store:
        assert store.identities.by_matrix_user(dana.user_id) is None
    dana.send_text(town.room, "And one by the fountain.", thread_root=root["event_id"])
    relayed = wait_for_post(forum, first["topic_id"], "one by the fountain", timeout=30)
    assert relayed["username"] == "chat-relay"
    assert dana.user_id in relayed["raw"]


def test_a_replayed_answer_after_unlink_links_nobody(
    linked: Callable[..., Linked], forum: SandboxForum, synapse: SandboxSynapse
) -> None:
    town = start_linking(linked, forum, secret=True)
    dana = town.dana
    dm = open_direct_chat(synapse, dana)
    dana.send_text(dm, "!link")
    match = _URL.search(bot_says(dana, dm, "/link/"))
    assert match is not None
    browser = requests.Session()
    browser.post(f"{forum.base_url}/sandbox/login", data={"username": "bob"}).raise_for_status()
    page = follow_link(browser, match.group(0))
    assert page.status_code == 200
    bot_says(dana, dm, "Linked: you are bob")
    dana.send_text(dm, "!unlink")
    bot_says(dana, dm, "Unlinked from forum account bob")
    replay = browser.get(page.url, timeout=30)
    assert replay.status_code == 400
    with porch_store(town.porch) as store:
        assert store.identities.by_matrix_user(dana.user_id) is None
    # The page link itself is one-time too.
    again = browser.get(match.group(0), timeout=30)
    assert again.status_code == 410


def test_without_a_connect_secret_link_says_it_is_not_enabled(
    linked: Callable[..., Linked], forum: SandboxForum, synapse: SandboxSynapse
) -> None:
    town = start_linking(linked, forum, secret=False)
    dm = open_direct_chat(synapse, town.dana)
    town.dana.send_text(dm, "!help")

    def help_twice() -> bool:
        helps = [
            e
            for e in town.dana.room_messages(dm)
            if e.get("sender") == BOT and "!help: this list" in str(e["content"].get("body"))
        ]
        return len(helps) == 2  # the greeting, then the answer to !help

    wait_until(help_twice, 30, "the bot to answer !help with its commands")
    town.dana.send_text(dm, "!link")
    bot_says(town.dana, dm, "Linking forum accounts is not enabled")


def test_only_the_owner_of_the_direct_chat_can_link_in_it(
    linked: Callable[..., Linked],
    forum: SandboxForum,
    synapse: SandboxSynapse,
    matrix_user_factory: Callable[..., ChatUser],
) -> None:
    town = start_linking(linked, forum, secret=True)
    dm = open_direct_chat(synapse, town.dana)
    erin = matrix_user_factory()
    town.dana.invite(dm, erin.user_id)
    erin.join(dm)
    erin.send_text(dm, "!link")
    # The room's events are handled in order: once Dana's !help is answered, Erin's !link was
    # handled too, and it got no link page.
    town.dana.send_text(dm, "!help")

    def answered() -> list[dict[str, object]] | None:
        bot = [e for e in town.dana.room_messages(dm) if e.get("sender") == BOT]
        return bot if len(bot) >= 2 else None

    said = wait_until(answered, 30, "the bot to answer Dana's !help")
    assert not any("/link/" in str(e["content"]) for e in said)
