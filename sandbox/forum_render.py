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

import emoji
from markdown_it import MarkdownIt

_MD = MarkdownIt("commonmark", {"breaks": True, "html": False}).enable(["table", "strikethrough"])

# Discourse's image markdown carries the size in the alt text: ``![alt|690x388](upload://x.png)``.
_IMG = re.compile(r'<img src="([^"]*)" alt="([^"]*)"((?: title="[^"]*")?) />')
_IMG_SIZE = re.compile(r"\|(\d+)x(\d+)")
_UPLOAD_REF = re.compile(r"upload://([0-9A-Za-z]+)\.([0-9A-Za-z]+)")
# ``[name|attachment](upload://x.pdf)``: a download link, ``class="attachment"``.
_ATTACHMENT = re.compile(r'<a href="(upload://[^"]+)">([^<]*)\|attachment</a>')
_TAG = re.compile(r"(<[^>]+>)")
# Discourse's mention rule: ``@`` not after a word character, a username not ending in . or -.
_MENTION = re.compile(r"(?<![\w@/.])@([A-Za-z0-9_][\w.\-]*[A-Za-z0-9_]|[A-Za-z0-9_])")
_NO_MENTIONS_INSIDE = ("a", "code", "pre")
_CODE = re.compile(r"(<pre>.*?</pre>|<code>.*?</code>)", re.S)
# The spoiler-alert plugin Discourse ships: a paragraph of its own is a block, else inline.
_BLOCK_SPOILER = re.compile(r"<p>\[spoiler\](.*?)\[/spoiler\]</p>", re.S)
_INLINE_SPOILER = re.compile(r"\[spoiler\](.*?)\[/spoiler\]", re.S)
_EMOJI = re.compile(r"(?<![\w:]):([a-z0-9_+\-]+):(?!\w)")


def cook(
    raw: str,
    resolve_short: Callable[[str], str | None] | None = None,
    user_exists: Callable[[str], bool] | None = None,
) -> str:
    """Render a post's markdown the way the forum stores it in ``cooked``.

    Soft line breaks become ``<br>`` (Discourse's default, ``traditional_markdown_linebreaks``
    off); raw HTML is escaped; ``upload://`` short URLs become the upload's relative
    ``/uploads/...`` URL, which stays relative as in real ``cooked``; images keep their
    ``data-base62-sha1`` and size, attachment links get ``class="attachment"``; ``@name`` of
    an existing user becomes ``<a class="mention" href="/u/name">@name</a>`` (of anyone
    else, ``<span class="mention">``), except inside links and code.
    """
    rendered = _MD.render(without_comments(raw)).strip()
    rendered = _IMG.sub(_image, rendered)
    rendered = _ATTACHMENT.sub(r'<a class="attachment" href="\1">\2</a>', rendered)
    rendered = _outside_code(rendered, _spoilers_and_emoji)
    if user_exists is not None:
        rendered = _mentions(rendered, user_exists)
    if resolve_short is not None:
        rendered = _UPLOAD_REF.sub(
            lambda m: resolve_short(f"{m[1]}.{m[2]}") or m[0],
            rendered,
        )
    return rendered


def without_comments(raw: str) -> str:
    """``raw`` without HTML comments: Discourse's sanitizer drops them from ``cooked`` and its
    length validator ignores them (``StrippedLengthValidator.get_sanitized_value``). A scan,
    not a pattern, so an unclosed ``<!--`` costs linear time."""
    out: list[str] = []
    start = 0
    while (opening := raw.find("<!--", start)) != -1:
        closing = raw.find("-->", opening + 4)
        if closing == -1:
            break
        out.append(raw[start:opening])
        start = closing + 3
    out.append(raw[start:])
    return "".join(out)


def _image(m: re.Match[str]) -> str:
    src, alt, title = m[1], m[2], m[3]
    name, _, options = alt.partition("|")
    attrs = [f'src="{src}"', f'alt="{name}"']
    short = _UPLOAD_REF.fullmatch(src)
    if short is not None:
        attrs.append(f'data-base62-sha1="{short[1]}"')
    size = _IMG_SIZE.match(f"|{options}") if options else None
    if size is not None:
        attrs += [f'width="{size[1]}"', f'height="{size[2]}"']
    return f"<img {' '.join(attrs)}{title}>"


def _outside_code(html_text: str, rewrite: Callable[[str], str]) -> str:
    parts = _CODE.split(html_text)
    return "".join(part if i % 2 else rewrite(part) for i, part in enumerate(parts))


def _spoilers_and_emoji(html_text: str) -> str:
    html_text = _BLOCK_SPOILER.sub(r'<div class="spoiler"><p>\1</p></div>', html_text)
    html_text = _INLINE_SPOILER.sub(r'<span class="spoiler">\1</span>', html_text)
    return _EMOJI.sub(_emoji_image, html_text)


def _emoji_image(m: re.Match[str]) -> str:
    name = m[1]
    if emoji.emojize(f":{name}:", language="alias") == f":{name}:":
        return m[0]  # not an emoji the forum knows: it stays text
    return (
        f'<img src="/images/emoji/twitter/{name}.png?v=12" title=":{name}:" class="emoji" '
        f'alt=":{name}:" loading="lazy" width="20" height="20">'
    )


def _mentions(html_text: str, user_exists: Callable[[str], bool]) -> str:
    def mention(match: re.Match[str]) -> str:
        before = match.string[match.start() - 1] if match.start() else " "
        if not (before.isspace() or unicodedata.category(before)[0] in "PS"):
            # Discourse starts a mention only after whitespace or punctuation (markdown-it's
            # isWhiteSpace / isPunctChar: ``allowedBoundary`` in discourse-markdown-it's
            # text-post-process.js); an invisible word joiner, say, is neither.
            return match[0]
        name = match[1]
        if user_exists(name):
            return f'<a class="mention" href="/u/{name.lower()}">@{name}</a>'
        return f'<span class="mention">@{name}</span>'

    out, verbatim = [], 0
    for part in _TAG.split(html_text):
        if part.startswith("<"):
            tag = part.strip("</>").split()[0].lower() if part.strip("</>") else ""
            if tag in _NO_MENTIONS_INSIDE:
                verbatim += -1 if part.startswith("</") else 1
            out.append(part)
        else:
            out.append(part if verbatim else _MENTION.sub(mention, part))
    return "".join(out)


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
