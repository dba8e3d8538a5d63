"""Ghosts: the Matrix users porch posts as, one per forum author.

Forum user ``Alice`` becomes ``@<ghost_prefix>alice:<server_name>``. A ghost is registered once,
its display name follows the forum name, and its avatar is the forum avatar, uploaded once per
distinct source URL. What was done is kept in the store (:mod:`bridges.store.profiles`), so a
restart does not redo it.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

from bridges.matrix.api import AppserviceAPI
from bridges.matrix.matrix_config import AppserviceConfig, MatrixConfig
from bridges.matrix.matrix_errors import MatrixError
from bridges.model import Author, ContentURI, ForumUsername, RoomID, UserID
from bridges.store.profiles import Ghost, Profiles

log = logging.getLogger(__name__)

#: Characters a ghost localpart keeps as they are. Everything else, ``=`` included, is escaped.
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-")
_ESCAPE = re.compile(r"=([0-9a-f]{2})")
#: The spec's limit on the length of a whole user id.
MAX_USER_ID_LENGTH = 255


def ghost_localpart(prefix: str, username: ForumUsername) -> str:
    """The localpart of a forum user's ghost: ``prefix`` + the escaped, lowercased username.

    Discourse usernames are unique without regard to case, so the username is lowercased
    first. Then every character outside ``[a-z0-9._-]`` (``=`` itself included, as are ``/``
    and ``+``, which some tools mishandle) becomes ``=xx`` for each byte of its UTF-8 encoding,
    in lowercase hex, as the spec's "mapping from other character sets" suggests. The mapping
    is reversible: :func:`username_from_localpart` undoes it.
    See https://spec.matrix.org/v1.13/appendices/#mapping-from-other-character-sets
    """
    out: list[str] = [prefix]
    for char in username.lower():
        if char in _PLAIN:
            out.append(char)
        else:
            out.extend(f"={byte:02x}" for byte in char.encode("utf-8"))
    return "".join(out)


def username_from_localpart(prefix: str, localpart: str) -> ForumUsername | None:
    """The (lowercased) forum username behind a ghost localpart, or ``None`` if it is not one."""
    if not localpart.startswith(prefix) or len(localpart) == len(prefix):
        return None
    escaped = localpart[len(prefix) :]
    if any(c not in _PLAIN and c != "=" for c in escaped):
        return None
    raw = bytearray()
    pos = 0
    while pos < len(escaped):
        char = escaped[pos]
        if char == "=":
            match = _ESCAPE.match(escaped, pos)
            if match is None:
                return None
            raw.append(int(match.group(1), 16))
            pos = match.end()
        else:
            raw.extend(char.encode("ascii"))
            pos += 1
    try:
        username = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    # Only the canonical spelling is a ghost: "=61" for "a" would be a second id for alice.
    if ghost_localpart(prefix, ForumUsername(username)) != localpart:
        return None
    return ForumUsername(username)


class Ghosts:
    """Registers forum authors' ghosts and keeps their profiles in step with the forum."""

    def __init__(
        self,
        api: AppserviceAPI,
        profiles: Profiles,
        config: MatrixConfig,
        fetch: Callable[[str], tuple[bytes, str]],
        clock: Callable[[], float] = time.time,
        admits: Callable[[UserID, RoomID], None] | None = None,
    ) -> None:
        """``fetch(url) -> (bytes, content type)`` downloads a forum avatar; ``admits(ghost,
        room)`` is asked before a ghost joins or sends into a room and raises when it may not
        be there (:class:`bridges.membership.ghost_gate.GhostGate`)."""
        if config.appservice is None:
            raise ValueError("matrix.appservice: ghosts need the appservice section")
        self.api = api
        self.profiles = profiles
        self.config = config
        self._appservice: AppserviceConfig = config.appservice
        self.fetch = fetch
        self.clock = clock
        self._ghost_pattern = re.compile(config.ghost_regex())
        #: Asked before a ghost joins or sends into a room; raises when it may not be there.
        self.admits = admits

    @property
    def prefix(self) -> str:
        return self._appservice.ghost_prefix

    def user_id_for(self, username: ForumUsername) -> UserID:
        """The ghost of a forum user (whether or not it is registered yet)."""
        user_id = f"@{ghost_localpart(self.prefix, username)}:{self.config.server_name}"
        if len(user_id.encode("utf-8")) > MAX_USER_ID_LENGTH:
            raise ValueError(
                f"forum username {username!r} makes a ghost id longer than "
                f"{MAX_USER_ID_LENGTH} bytes; use a shorter matrix.appservice.ghost_prefix"
            )
        return UserID(user_id)

    def username_for(self, user_id: str) -> ForumUsername | None:
        """The forum username whose ghost ``user_id`` is, or ``None`` if it is no ghost."""
        if not self._ghost_pattern.fullmatch(user_id):
            return None
        suffix = f":{self.config.server_name}"
        localpart = user_id[1 : -len(suffix)]
        return username_from_localpart(self.prefix, localpart)

    def is_ours(self, user_id: str) -> bool:
        """Whether porch itself speaks as ``user_id``: one of its ghosts, or its bot.

        Events from these are echoes of what porch sent and never cross back.
        """
        return user_id == self.api.bot_user_id or bool(self._ghost_pattern.fullmatch(user_id))

    def ensure(self, author: Author, avatar_url: str | None = None) -> UserID:
        """The author's ghost, registered, named and with their avatar; returns its user id.

        Each step runs only when its result differs from what the store remembers. A failed
        avatar is logged and tried again next time: it never holds a message back.
        """
        user_id = self.user_id_for(author.username)
        record = self.profiles.ghost(user_id)
        if record is None:
            self.api.ensure_registered(ghost_localpart(self.prefix, author.username))
            record = Ghost(user_id, None, None, None)
            self.profiles.save_ghost(record, self.clock())

        displayname = self._appservice.ghost_displayname.format(
            name=author.display_name, username=author.username
        )
        if record.displayname != displayname:
            self.api.set_displayname(user_id, displayname)
            record = Ghost(user_id, displayname, record.avatar_source, record.avatar_url)
            self.profiles.save_ghost(record, self.clock())

        if avatar_url and avatar_url != record.avatar_source:
            uri = self._avatar(user_id, avatar_url, record.avatar_url)
            if uri is not None:
                record = Ghost(user_id, record.displayname, avatar_url, uri)
                self.profiles.save_ghost(record, self.clock())
        return user_id

    def ensure_in_room(self, user_id: UserID, room_id: RoomID) -> None:
        """Make the ghost a member of the room (the bot invites it if the room is closed),
        once :attr:`admits` lets it in."""
        if self.admits is not None:
            self.admits(user_id, room_id)
        self.api.ensure_joined(room_id, user_id)

    def _avatar(
        self, user_id: UserID, source: str, current: ContentURI | None
    ) -> ContentURI | None:
        """Upload the avatar at ``source`` (once per URL) and set it; ``None`` if that failed."""
        uri = self.profiles.media_for(source)
        if uri is None:
            try:
                data, content_type = self.fetch(source)
            except Exception as exc:
                # ``fetch`` is the caller's and fails in its own ways; an avatar is cosmetic.
                log.warning("ghosts: avatar of %s not fetched from %s: %s", user_id, source, exc)
                return None
        try:
            if uri is None:
                uri = self.api.upload(data, content_type, source.rsplit("/", 1)[-1] or None)
                self.profiles.save_media(source, uri, self.clock())
            if uri != current:
                self.api.set_avatar_url(user_id, uri)
        except MatrixError as exc:
            log.warning("ghosts: avatar of %s not set: %s", user_id, exc)
            return None
        return uri
