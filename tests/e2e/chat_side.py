"""Helpers of the chat -> forum end-to-end tests: threads, forum posts, store facts, media."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests

from bridges.model import ContentURI, ForumUsername, UserID
from bridges.store.audit import AuditEntry
from bridges.store.identities import Identity
from bridges.store.store import Store
from sandbox.forum import SandboxForum
from sandbox.synapse import SandboxSynapse
from tests.e2e.conftest import Linked, is_text
from tests.rig.matrix import ChatUser
from tests.rig.porch import PorchProcess
from tests.rig.wait import wait_until


def open_thread(
    town: Linked, forum: SandboxForum, title: str, body: str, author: str = "alice"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A forum topic carried into the room: (its first post, its thread root event)."""
    first = forum.create_topic(author, "town-square", title, body)
    root = town.dana.wait_for_event(town.room, is_text(title), what=f"the root of {title!r}")
    return first, root


def live_posts(forum: SandboxForum, topic_id: int) -> list[dict[str, Any]]:
    """The topic's posts that are not deleted, in order."""
    return [
        p for p in forum.posts(topic_id) if not p.get("deleted_at") and not p.get("user_deleted")
    ]


def wait_for_post(
    forum: SandboxForum, topic_id: int, contains: str, timeout: float = 30.0
) -> dict[str, Any]:
    """The first live post of the topic whose raw contains ``contains``."""

    def find() -> dict[str, Any] | None:
        return next((p for p in live_posts(forum, topic_id) if contains in p["raw"]), None)

    return wait_until(find, timeout, f"a post containing {contains!r} in topic {topic_id}")


def wait_for_post_count(
    forum: SandboxForum, topic_id: int, count: int, timeout: float = 30.0
) -> list[dict[str, Any]]:
    def enough() -> list[dict[str, Any]] | None:
        posts = live_posts(forum, topic_id)
        return posts if len(posts) >= count else None

    return wait_until(enough, timeout, f"{count} posts in topic {topic_id}")


def events_with(user: ChatUser, room: str, text: str) -> list[dict[str, Any]]:
    """Message events of the room whose body contains ``text``."""
    return [e for e in user.room_messages(room, limit=200) if is_text(text)(e)]


def settled(town: Linked, forum: SandboxForum, topic_id: int, marker: str) -> None:
    """Wait until porch has handled every webhook of the topic sent so far.

    The forum's deliveries are flushed, then a forum member posts ``marker``; the topic's
    events are handled in order, so its arrival in the room means every echo before it was
    handled too.
    """
    forum.flush_webhooks()
    forum.reply("bob", topic_id, marker)
    town.dana.wait_for_event(town.room, is_text(marker), what=f"the marker {marker!r}")


@contextmanager
def porch_store(porch: PorchProcess) -> Iterator[Store]:
    """Porch's own store, opened beside the running process."""
    store = Store.open(porch.config.store.url)
    try:
        yield store
    finally:
        store.close()


def link_identity(porch: PorchProcess, user_id: str, username: str) -> None:
    """Record that ``user_id`` owns the forum account ``username`` (linking UX comes later)."""
    with porch_store(porch) as store:
        store.identities.link(
            Identity(UserID(user_id), ForumUsername(username), None, "test", time.time())
        )


def audit_entries(porch: PorchProcess) -> list[AuditEntry]:
    with porch_store(porch) as store:
        return store.audit.entries()


def upload_media(
    synapse: SandboxSynapse, user: ChatUser, data: bytes, content_type: str, filename: str
) -> ContentURI:
    """Upload a file to the homeserver's media repository as ``user``; its ``mxc://`` URI."""
    response = requests.post(
        f"{synapse.base_url}/_matrix/media/v3/upload",
        params={"filename": filename},
        data=data,
        headers={
            "Authorization": f"Bearer {user.access_token}",
            "Content-Type": content_type,
        },
        timeout=10,
    )
    response.raise_for_status()
    return ContentURI(response.json()["content_uri"])


def in_thread(root_event_id: str, content: dict[str, Any]) -> dict[str, Any]:
    """``content`` as a message in a thread (not a reply to anything in particular)."""
    return {
        **content,
        "m.relates_to": {
            "rel_type": "m.thread",
            "event_id": root_event_id,
            "is_falling_back": True,
            "m.in_reply_to": {"event_id": root_event_id},
        },
    }


def set_displayname(synapse: SandboxSynapse, user: ChatUser, name: str) -> None:
    """Give ``user`` a display name (it shows in their member events too)."""
    response = requests.put(
        f"{synapse.base_url}/_matrix/client/v3/profile/{user.user_id}/displayname",
        json={"displayname": name},
        headers={"Authorization": f"Bearer {user.access_token}"},
        timeout=10,
    )
    response.raise_for_status()
