"""Small pure helpers of the sandbox forum: cooking, slugs, timestamps, images.

Nothing here knows the forum's state; the double's other modules call these to render what a
real Discourse renders (``cooked`` HTML, topic slugs, upload URLs, letter-style avatars).
"""

from __future__ import annotations

import hashlib
import html
import re
import struct
import unicodedata
import zlib
from collections.abc import Callable
from datetime import UTC, datetime

from markdown_it import MarkdownIt

_MD = MarkdownIt("commonmark", {"breaks": True, "html": False}).enable(["table", "strikethrough"])

# Discourse's image markdown carries the size in the alt text: ``![alt|690x388](upload://x.png)``.
_IMG_SIZE = re.compile(r'<img src="([^"]*)" alt="([^"|]*)\|(\d+)x(\d+)(?:[^"]*)"')
_UPLOAD_REF = re.compile(r"upload://([0-9A-Za-z]+)\.([0-9A-Za-z]+)")


def cook(raw: str, resolve_short: Callable[[str], str | None] | None = None) -> str:
    """Render a post's markdown the way the forum stores it in ``cooked``.

    Soft line breaks become ``<br>`` (Discourse's default, ``traditional_markdown_linebreaks``
    off); raw HTML is escaped; ``upload://`` short URLs become the upload's relative
    ``/uploads/...`` URL, which stays relative as in real ``cooked``.
    """
    rendered = _MD.render(raw).strip()
    rendered = _IMG_SIZE.sub(
        lambda m: f'<img src="{m[1]}" alt="{m[2]}" width="{m[3]}" height="{m[4]}"', rendered
    )
    if resolve_short is not None:
        rendered = _UPLOAD_REF.sub(
            lambda m: resolve_short(f"{m[1]}.{m[2]}") or m[0],
            rendered,
        )
    return rendered


def excerpt(cooked: str, limit: int = 200) -> str:
    """A plain-text excerpt of cooked HTML, as list views show."""
    text = html.unescape(re.sub(r"<[^>]+>", "", cooked)).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slugify(title: str) -> str:
    """Discourse's ASCII slug of a title (``topic`` when nothing usable remains)."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    return slug[:100] or "topic"


def iso(moment: datetime) -> str:
    """Rails' JSON timestamp: UTC, milliseconds, ``Z``."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{moment.microsecond // 1000:03d}Z"
    )


def now() -> datetime:
    return datetime.now(UTC)


def human_filesize(size: int) -> str:
    """``ActiveSupport``'s ``number_to_human_size`` for the sizes uploads have."""
    if size < 1024:
        return f"{size} Bytes"
    for unit in ("KB", "MB", "GB"):
        size_f = size / 1024
        if size_f < 1024 or unit == "GB":
            text = f"{size_f:.1f}".rstrip("0").rstrip(".")
            return f"{text} {unit}"
        size = int(size_f)
    return f"{size} GB"  # pragma: no cover - loop always returns


_BASE62 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def base62(sha1: str) -> str:
    """The short-URL id of an upload: its SHA1 in base 62 (``upload://<this>.<ext>``)."""
    number = int(sha1, 16)
    digits = []
    while number:
        number, rest = divmod(number, 62)
        digits.append(_BASE62[rest])
    return "".join(reversed(digits)) or "0"


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG, GIF or JPEG, else None (not an image we can measure)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if data[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    pos = 2
    while pos + 9 < len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE):
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return int(width), int(height)
        pos += 2 + length
    return None


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour RGB PNG, built by hand so the sandbox needs no imaging library."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height, 9))
        + chunk(b"IEND", b"")
    )


def avatar_png(username: str, size: int) -> bytes:
    """A user's avatar: the same colour for the same user, every time."""
    digest = hashlib.sha256(username.lower().encode()).digest()
    side = max(1, min(size, 360))
    return png(side, side, (digest[0], digest[1], digest[2]))
