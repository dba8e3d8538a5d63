"""Which forum URLs porch may fetch as media: the forum's own file routes, and nothing else.

A post can put any forum path in an image (``![x](/admin/users/list/active.json)``), and the
forum answers porch with whatever that path serves to the caller. So porch fetches only paths
under which Discourse serves files (its ``config/routes.rb``, discourse/discourse):

- uploads: ``/uploads/<site>/original/<tree><sha1>.<ext>``, ``/uploads/<site>/<sha1>.<ext>``,
  ``/uploads/short-url/<base62>.<ext>`` (``uploads#show``, ``uploads#show_short``), the
  optimized copies that the web server serves from the same directory, and
  ``/secure-uploads/*path`` with its older name ``/secure-media-uploads/*path``
  (``uploads#show_secure``);
- avatars: ``/user_avatar/<host>/<user>/<size>/<version>.png``,
  ``/letter_avatar/<user>/<size>/<version>.png`` and
  ``/letter_avatar_proxy/<version>/letter/<letter>/<color>/<size>.png`` (``user_avatars#*``);
- emoji: ``/images/emoji/<set>/<name>.png``, static files of ``public/images/emoji``.

The check runs on the parsed URL: the forum's scheme, host and port exactly (no userinfo, no
other scheme), and a path that starts with one of those prefixes both as written and after
percent-decoding (repeated, so ``%252e`` counts as ``.``), with no ``.``/``..`` segment, empty
segment, backslash, ``;`` or control character in either form: a web server or router that
normalises such a path could otherwise serve a different route than the one checked. The
query and fragment are dropped from what is fetched: no file route needs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import SplitResult, unquote, urlsplit

#: Paths of uploaded files (post images and attachments, custom emoji).
UPLOAD_PREFIXES = ("/uploads/", "/secure-uploads/", "/secure-media-uploads/")
#: Paths of user avatars.
AVATAR_PREFIXES = ("/user_avatar/", "/letter_avatar/", "/letter_avatar_proxy/")
#: Paths of the forum's standard emoji images.
EMOJI_PREFIXES = ("/images/emoji/",)

_DEFAULT_PORTS = {"http": 80, "https": 443}
#: More rounds of percent-decoding than any server applies; a path still changing is refused.
_DECODE_ROUNDS = 4


class FileKind(StrEnum):
    """What a forum file route serves."""

    UPLOAD = "upload"
    AVATAR = "avatar"
    EMOJI = "emoji"


_PREFIXES = (
    *((p, FileKind.UPLOAD) for p in UPLOAD_PREFIXES),
    *((p, FileKind.AVATAR) for p in AVATAR_PREFIXES),
    *((p, FileKind.EMOJI) for p in EMOJI_PREFIXES),
)


@dataclass(frozen=True, slots=True)
class ForumFile:
    """A URL that names one of the forum's files: ``url`` is what to fetch (the forum's own
    scheme and host, the path as written, no query or fragment)."""

    url: str
    kind: FileKind


def forum_file(url: str, base_url: str) -> ForumFile | None:
    """The forum file ``url`` (absolute) names on the forum at ``base_url``, or ``None`` when
    it is anything else: another origin, or a path that is not a file route."""
    if not url or any(ord(c) <= 0x20 or c in "\\\x7f" for c in url):
        return None  # urlsplit would silently drop tabs and newlines; backslashes mean "/"
    try:
        parts, base = urlsplit(url), urlsplit(base_url)
        same_origin = _origin(parts) == _origin(base)
    except ValueError:
        return None
    if not same_origin or "@" in parts.netloc:
        return None
    root = base.path.rstrip("/")
    path = parts.path
    decoded = _decoded(path)
    if decoded is None or not path.startswith(root + "/"):
        return None
    for prefix, kind in _PREFIXES:
        full = root + prefix
        if path.startswith(full) and decoded.startswith(full):
            if _plain(path[len(root) :]) and _plain(decoded[len(root) :]):
                return ForumFile(f"{base.scheme.lower()}://{base.netloc}{path}", kind)
            return None
    return None


def is_upload(url: str, base_url: str) -> bool:
    """Whether ``url`` (absolute) is a file uploaded to the forum at ``base_url``."""
    found = forum_file(url, base_url)
    return found is not None and found.kind is FileKind.UPLOAD


def _origin(parts: SplitResult) -> tuple[str, str, int | None]:
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError("not an http(s) URL with a host")
    port = parts.port  # raises ValueError for a port that is not a number in range
    return scheme, parts.hostname.lower(), _DEFAULT_PORTS[scheme] if port is None else port


def _decoded(path: str) -> str | None:
    for _ in range(_DECODE_ROUNDS):
        try:
            once = unquote(path, errors="strict")
        except UnicodeDecodeError:
            return None  # not UTF-8: no file name of the forum's looks like that
        if once == path:
            return path
        path = once
    return None


def _plain(path: str) -> bool:
    """No segment a server could resolve or split differently from how it reads here."""
    if any(ord(c) < 0x20 or c in "\\;\x7f" for c in path):
        return False
    segments = path.split("/")[1:]
    return all(s not in ("", ".", "..") for s in segments)
