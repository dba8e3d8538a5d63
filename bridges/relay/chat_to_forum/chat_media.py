"""Chat -> forum media: a Matrix image or file becomes a forum upload embedded in the post.

The file is fetched from the media repository (authenticated media, as porch's bot), refused
above ``relay.media_max_bytes``, uploaded to the forum as the account that will post it, and
embedded the way Discourse's composer embeds uploads: ``![name|WxH](upload://...)`` for an
image, ``[name|attachment](upload://...) (size)`` for any other file. Whatever cannot be
carried is said in words instead, so the post never silently loses something.
Matrix file messages: https://spec.matrix.org/v1.13/client-server-api/#mfile
"""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bridges.discourse.client import ForumClient
from bridges.discourse.forum_errors import ForumRejected
from bridges.matrix.api import AppserviceAPI
from bridges.matrix.matrix_errors import MatrixError, MatrixRateLimited, MatrixUnavailable
from bridges.model import ChatMessage

log = logging.getLogger(__name__)

#: Message types that carry a file in ``url``.
MEDIA_MSGTYPES = frozenset({"m.image", "m.file", "m.video", "m.audio"})

#: Characters that would end or split the alt text / link text of the embed, each to a
#: space (a table, not a pattern: one pass in C, where a pattern substitutes match by match).
_NAME_UNSAFE = str.maketrans(dict.fromkeys("[]|\\<>`*_~\n\r", " "))


def human_size(size: int) -> str:
    """A byte count as people read it: ``512 bytes``, ``1.5 KB``, ``12 MB``."""
    if size < 1024:
        return f"{size} bytes"
    value = float(size)
    for unit in ("KB", "MB", "GB", "TB"):
        value /= 1024
        if value < 1024 or unit == "TB":
            text = f"{value:.1f}".removesuffix(".0")
            return f"{text} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def safe_name(name: str) -> str:
    """A file name fit to stand inside ``[...]`` of markdown (and shown as text)."""
    cleaned = name.translate(_NAME_UNSAFE).strip()
    return " ".join(cleaned.split()) or "file"


@dataclass(frozen=True)
class MediaFacts:
    """What a media message says about its file."""

    filename: str
    caption: str | None
    caption_html: str | None
    size: int | None
    mimetype: str | None


def media_facts(msg: ChatMessage, content: Mapping[str, Any] | None) -> MediaFacts:
    """File name, caption and size of a media message.

    Since Matrix v1.10 a ``filename`` that differs from ``body`` makes ``body`` a caption
    (https://spec.matrix.org/v1.13/client-server-api/#media-captions); without ``filename``,
    ``body`` is the file name. ``content`` is the event's content as the homeserver has it
    (the neutral event does not keep ``filename``), or None when it could not be read.
    """
    filename = content.get("filename") if content else None
    caption = caption_html = None
    if isinstance(filename, str) and filename.strip() and filename != msg.body:
        caption, caption_html = msg.body, msg.formatted_body
    else:
        filename = msg.body
    size = msg.info.get("size")
    mimetype = msg.info.get("mimetype")
    return MediaFacts(
        filename=filename.strip() or "file",
        caption=caption if caption and caption.strip() else None,
        caption_html=caption_html,
        size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        mimetype=mimetype if isinstance(mimetype, str) and mimetype else None,
    )


def _with_extension(filename: str, content_type: str) -> str:
    """The forum only takes authorised extensions: a name without one gets the type's."""
    if "." in filename.strip(".")[1:]:
        return filename
    extension = mimetypes.guess_extension(content_type.split(";", 1)[0].strip()) or ""
    return filename + extension


class MediaCarrier:
    """Carries the file of a Matrix media message to the forum."""

    def __init__(
        self, chat: AppserviceAPI, forum: ForumClient, max_bytes: Callable[[], int]
    ) -> None:
        self.chat = chat
        self.forum = forum
        self.max_bytes = max_bytes

    def content_of(self, msg: ChatMessage) -> Mapping[str, Any] | None:
        """The message's content as the homeserver has it (for ``filename``)."""
        try:
            event = self.chat.get_event(msg.room_id, msg.event_id)
        except (MatrixUnavailable, MatrixRateLimited):
            raise
        except MatrixError as exc:
            log.info("relay: cannot read %s for its file name: %s", msg.event_id, exc)
            return None
        content = event.get("content")
        if not isinstance(content, dict):
            return None
        if msg.replaces is not None and isinstance(content.get("m.new_content"), dict):
            new: dict[str, Any] = content["m.new_content"]
            return new
        return content

    def embed(self, msg: ChatMessage, facts: MediaFacts, as_user: str) -> str:
        """Markdown that shows the file on the forum, or says why it could not be carried.

        Raises the platforms' transient errors (outage, rate limit): the relay retries.
        Uploading the same bytes again returns the same upload (the forum deduplicates by
        checksum), so a retry does not leave extra files behind.
        """
        name = safe_name(facts.filename)
        limit = self.max_bytes()
        if msg.url is None:
            return f"(file not carried: {name}, it is encrypted or has no address)"
        if facts.size is not None and facts.size > limit:
            return f"(file too large to carry: {name}, {human_size(facts.size)})"
        try:
            data, content_type = self.chat.download(msg.url, limit)
        except ValueError:
            size = human_size(facts.size) if facts.size else f"over {human_size(limit)}"
            return f"(file too large to carry: {name}, {size})"
        except (MatrixUnavailable, MatrixRateLimited):
            raise
        except MatrixError as exc:
            log.info("relay: %s of %s could not be fetched: %s", msg.url, msg.event_id, exc)
            return f"(file could not be fetched from chat: {name})"
        content_type = facts.mimetype or content_type or "application/octet-stream"
        upload_name = _with_extension(facts.filename.strip(), content_type)
        try:
            upload = self.forum.upload(data, upload_name, content_type, as_user=as_user)
        except ForumRejected as exc:
            reason = "; ".join(exc.messages) or str(exc)
            return f"(file not accepted by the forum: {name}: {reason})"
        return _embed_markdown(msg, name, upload, len(data))


def _embed_markdown(msg: ChatMessage, name: str, upload: Mapping[str, Any], size: int) -> str:
    target = str(upload.get("short_url") or upload.get("url") or "")
    if not target:
        return f"(file not accepted by the forum: {name}: the upload has no address)"
    width, height = upload.get("width"), upload.get("height")
    if msg.msgtype == "m.image" and isinstance(width, int) and isinstance(height, int):
        alt = name.rsplit(".", 1)[0] if "." in name[1:] else name
        return f"![{alt}|{width}x{height}]({target})"
    shown = upload.get("human_filesize")
    return f"[{name}|attachment]({target}) ({shown if shown else human_size(size)})"
