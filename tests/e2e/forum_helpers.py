"""Helpers for the forum -> chat end-to-end tests.

Two of them fill gaps in the Discourse double that these tests need (each is a change the
double itself should take over, so that every test sees it):

- :func:`discourse_cooking`: Discourse cooks ``@username`` of an existing user into
  ``<a class="mention" href="/u/username">@username</a>`` and ``[name|attachment](upload://..)``
  into ``<a class="attachment" href="/uploads/...">name</a>``; the double leaves both as they
  are in markdown.
- :func:`allow_extensions`: the admin's ``authorized_extensions`` site setting.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import requests

from bridges.store.inbox import InboxRow
from bridges.store.store import Store
from sandbox.forum import SandboxForum
from tests.e2e.conftest import Linked
from tests.rig.matrix import ChatUser
from tests.rig.wait import wait_until

_TAG = re.compile(r"(<[^>]+>)")
_MENTION = re.compile(r"(?<![\w@/.])@([A-Za-z0-9_][\w.\-]*[A-Za-z0-9_]|[A-Za-z0-9_])")
_ATTACHMENT = re.compile(r'<a href="(/uploads/[^"]+)">([^<]*)\|attachment</a>')


def discourse_cooking(forum: SandboxForum) -> None:
    """Make the double cook mentions and attachment links as Discourse does (see above)."""
    # The double has no switch for this; its state's cook() is the one place posts are cooked.
    state = forum._core.state
    plain: Callable[[str], str] = state.cook

    def mention(match: re.Match[str]) -> str:
        name = match.group(1)
        if state.user_named(name) is None:
            return match.group(0)
        return f'<a class="mention" href="/u/{name.lower()}">@{name}</a>'

    def cook(raw: str) -> str:
        cooked = _ATTACHMENT.sub(r'<a class="attachment" href="\1">\2</a>', plain(raw))
        out, verbatim = [], 0
        for part in _TAG.split(cooked):
            if part.startswith("<"):
                name = part.strip("</>").split()[0].lower() if part.strip("</>") else ""
                if name in ("a", "code", "pre"):
                    verbatim += -1 if part.startswith("</") else 1
                out.append(part)
            else:
                out.append(part if verbatim else _MENTION.sub(mention, part))
        return "".join(out)

    state.cook = cook  # type: ignore[method-assign]


def allow_extensions(forum: SandboxForum, *extensions: str) -> None:
    """Add file extensions to the forum's ``authorized_extensions`` (an admin setting)."""
    settings = forum._core.state.settings
    settings.authorized_extensions = (*settings.authorized_extensions, *extensions)


@contextmanager
def porch_store(town: Linked) -> Iterator[Store]:
    """The store the linked porch runs on, opened beside it."""
    store = Store.open(str(town.porch.data["store"]["url"]))
    try:
        yield store
    finally:
        store.close()


def wait_handled(
    town: Linked, kind: str, what: str, *, count: int = 1, timeout: float = 20.0
) -> list[InboxRow]:
    """Wait until the worker has finished ``count`` inbox events of ``kind`` (an event that
    does not lead to a visible message is only observable so)."""
    with porch_store(town) as store:

        def done() -> list[InboxRow] | None:
            rows = [r for r in store.inbox.rows("done") if r.kind.value == kind]
            return rows if len(rows) >= count else None

        return wait_until(done, timeout, what)


def events(town: Linked, limit: int = 200) -> list[dict[str, Any]]:
    """The room's latest events as the room's member ``dana`` sees them, oldest first."""
    return town.dana.room_messages(town.room, limit=limit)


def edits_of(town: Linked, event_id: str) -> list[dict[str, Any]]:
    """The ``m.replace`` events for ``event_id``, oldest first."""
    return [
        e
        for e in events(town)
        if e.get("content", {}).get("m.relates_to", {}).get("rel_type") == "m.replace"
        and e["content"]["m.relates_to"].get("event_id") == event_id
    ]


def is_redacted(town: Linked, event_id: str) -> bool:
    """Whether ``event_id`` shows redacted (its content emptied) to the room's member."""
    found = next((e for e in events(town) if e.get("event_id") == event_id), None)
    return found is not None and found.get("content") == {}


def redactions_of(town: Linked, event_id: str) -> list[dict[str, Any]]:
    return [
        e
        for e in events(town)
        if e.get("type") == "m.room.redaction"
        and (e.get("redacts") == event_id or e.get("content", {}).get("redacts") == event_id)
    ]


def download(user: ChatUser, homeserver: str, mxc: str) -> bytes:
    """Fetch an ``mxc://`` URI as ``user`` through authenticated media."""
    server, media_id = mxc.removeprefix("mxc://").split("/", 1)
    response = requests.get(
        f"{homeserver}/_matrix/client/v1/media/download/{server}/{media_id}",
        headers={"Authorization": f"Bearer {user.access_token}"},
        timeout=10,
    )
    response.raise_for_status()
    return response.content
