"""Forum uploads in a post, carried into its Matrix thread as ``m.image`` / ``m.file`` events.

A post's text becomes one message; every file uploaded to the forum and shown in the post (an
image, or an attachment link) then follows it in the thread as an event of its own, from the
same ghost. In the text the upload stays a link to the forum, so the message reads right on its
own. Each forum file is uploaded to the media repository once (cached by its URL), and a file
larger than ``relay.media_max_bytes`` is not mirrored at all: it stays a link.

Only the forum's upload routes are mirrored (:mod:`bridges.discourse.media_paths`), fetched
without porch's credentials, and an image only when the forum answers with an image. What the
media events show comes from the post as the decision's transforms left it (the same HTML the
text is made from): file names and alt text are redacted, anonymised and scrubbed like the
text, and under ``hide_metadata`` the link back to the post leaves out the topic's slug.

Message types: https://spec.matrix.org/v1.13/client-server-api/#mimage
"""

from __future__ import annotations

import hashlib
import logging
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from bridges.context import RelayContext
from bridges.discourse.forum_errors import ForumRejected
from bridges.discourse.media_paths import FileKind, forum_file, is_upload
from bridges.formatting.dom import Element, Node, parse_html, text_content
from bridges.links import LinkConfig
from bridges.matrix.matrix_errors import MatrixError, MatrixUnavailable
from bridges.model import ContentURI, EventID, ForumPost, PostID, RoomID, UserID
from bridges.relay.crossings import Shown
from bridges.relay.forum_to_chat.send_once import send_once, txn_id
from bridges.store.inbox import InboxRow
from bridges.store.post_media import MediaEvent, MediaInfo, PostMedia

log = logging.getLogger(__name__)

#: Elements whose images and links are not this post's uploads: quotes of other posts, link
#: previews, code.
_NOT_OURS = frozenset({"pre", "code"})
_NOT_OURS_CLASSES = frozenset({"quote", "onebox", "lazy-video-container", "video-onebox"})
#: Images that are part of the forum's chrome, not uploads shown in the post.
_CHROME_IMAGES = frozenset({"emoji", "avatar", "site-icon", "onebox-avatar", "thumbnail"})
#: Discourse markdown marks an attachment link with this suffix on its text.
_ATTACHMENT_SUFFIX = "|attachment"


@dataclass(frozen=True, slots=True)
class Upload:
    """A forum file shown in a post. ``url`` is absolute; ``width``/``height`` come from the
    post's HTML when it gives them. ``image``: shown as an image (mirrored only if the forum
    answers with one), else an attachment link."""

    url: str
    filename: str
    width: int | None = None
    height: int | None = None
    image: bool = field(default=False, compare=False)


def uploads_in(cooked: str, base_url: str) -> list[Upload]:
    """The uploads a post shows, in order, each once: images (the original behind a lightbox,
    not its thumbnail) and attachment links. Quotes of other posts, link previews and code are
    not searched."""
    finder = _Finder(base_url)
    finder.walk(parse_html(cooked))
    return finder.found


class _Finder:
    def __init__(self, base_url: str) -> None:
        self.base = base_url.rstrip("/") + "/"
        self.found: list[Upload] = []
        self._seen: set[str] = set()

    def absolute(self, href: str) -> str | None:
        href = href.strip()
        if not href:
            return None
        try:
            url = urljoin(self.base, href)
        except ValueError:
            return None
        found = forum_file(url, self.base)
        return found.url if found is not None and found.kind is FileKind.UPLOAD else None

    def add(
        self, url: str, filename: str, width: str = "", height: str = "", *, image: bool
    ) -> None:
        if url in self._seen:
            return
        self._seen.add(url)
        name = _filename(filename, url)
        self.found.append(Upload(url, name, _dimension(width), _dimension(height), image))

    def walk(self, nodes: Iterable[Node]) -> None:
        for node in nodes:
            if not isinstance(node, Element):
                continue
            if node.tag in _NOT_OURS or node.classes & _NOT_OURS_CLASSES:
                continue
            if node.tag == "img":
                self.image(node)
            elif node.tag == "a":
                self.link(node)
            else:
                self.walk(node.children)

    def image(self, img: Element, original: str | None = None, title: str = "") -> None:
        if img.classes & _CHROME_IMAGES:
            return
        url = original or self.absolute(img.get("src"))
        if url is not None:
            name = title or img.get("alt") or img.get("title")
            self.add(url, name, img.get("width"), img.get("height"), image=True)

    def link(self, a: Element) -> None:
        img = a.find("img")
        if img is not None:
            # A lightbox: the link is the original file, the image its thumbnail.
            self.image(img, self.absolute(a.get("href")), a.get("title"))
            return
        url = self.absolute(a.get("href"))
        if url is not None:
            self.add(url, text_content(a).strip(), image=False)


def _dimension(value: str) -> int | None:
    return int(value) if value.isdigit() and 0 < int(value) < 100_000 else None


def _filename(shown: str, url: str) -> str:
    """A file name for the event's ``body``: the name the post shows, with the file's
    extension when the shown name has none (Discourse's image alt text has none)."""
    shown = shown.removesuffix(_ATTACHMENT_SUFFIX).strip()
    path_name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    if not shown:
        return path_name or "file"
    extension = path_name.rsplit(".", 1)[-1] if "." in path_name else ""
    if extension and "." not in shown:
        return f"{shown}.{extension}"
    return shown


def image_dimensions(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG, GIF or JPEG, read from its header; None for anything else."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if data[:2] == b"\xff\xd8":
        pos = 2
        while pos + 9 < len(data) and data[pos] == 0xFF:
            marker = data[pos + 1]
            (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
            # Start-of-frame markers carry the size (all but DHT, JPG and DAC of C0..CF).
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
                return int(width), int(height)
            pos += 2 + length
    return None


def _url_key(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


class ForumMedia:
    """Mirrors a post's uploads into the media repository and sends them into its thread."""

    def __init__(self, ctx: RelayContext) -> None:
        self.ctx = ctx
        self.events = PostMedia(ctx.store.db)

    def is_upload(self, url: str) -> bool:
        return is_upload(url, self.ctx.discourse.base_url)

    # --- mirroring ---------------------------------------------------------------------------

    def mirror(self, url: str, *, image: bool) -> tuple[ContentURI, MediaInfo] | None:
        """The ``mxc://`` copy of a forum file and what it is, uploading it the first time.

        ``url`` must be one of the forum's file routes (:mod:`bridges.discourse.media_paths`);
        with ``image``, the forum must answer with an image. None when the file is not carried
        (not a file route, not an image, too large, gone, refused by the media repository):
        it then stays a link. An outage of either platform raises, so the delivery is retried.
        """
        if forum_file(url, self.ctx.discourse.base_url) is None:
            log.info("relay: %s stays a link: not one of the forum's file routes", url)
            return None
        profiles = self.ctx.store.profiles
        uri, info = profiles.media_for(url), self.events.info(url)
        if uri is not None and info is not None:
            if image and not info.mimetype.startswith("image/"):
                return None
            return uri, info
        limit = self.ctx.relay.media_max_bytes
        try:
            data, content_type = self.ctx.forum.download(url, limit, images_only=image)
        except ForumRejected as exc:
            log.info("relay: %s stays a link: %s", url, exc)
            return None
        size = image_dimensions(data) if content_type.startswith("image/") else None
        info = MediaInfo(content_type, len(data), *(size or (None, None)))
        if uri is None:
            # The repository keeps the upload's name for anyone holding the mxc: the forum's
            # own file name (a hash) says nothing; the name shown is in the event.
            stored_name = unquote(urlsplit(url).path.rsplit("/", 1)[-1]) or None
            try:
                uri = self.ctx.chat.upload(data, content_type, stored_name)
            except MatrixUnavailable:
                raise
            except MatrixError as exc:
                log.info("relay: %s stays a link: the media repository refused it: %s", url, exc)
                return None
            profiles.save_media(url, uri, self.ctx.clock())
        self.events.save_info(url, info)
        return uri, info

    # --- a post's media events ---------------------------------------------------------------

    def sync(
        self,
        row: InboxRow,
        link: LinkConfig,
        room: RoomID,
        root: EventID,
        text_event: EventID,
        post: ForumPost,
        ghost: UserID,
        shown: Shown,
        *,
        remove: bool = True,
    ) -> None:
        """Make the thread show the post's current uploads after its text: send those not
        sent yet (a new post, a retry, an edit that added one) and, with ``remove``, redact
        those the post no longer shows (an edit that removed one). Finishing an interrupted
        delivery of an older version of the post must not remove anything: ``remove=False``.

        The uploads are read from ``shown``, the post as the decision's transforms left it,
        never from the post itself: names and alt text must not bring back what they removed.
        """
        uploads = uploads_in(shown.content.body, self.ctx.discourse.base_url)
        wanted = {u.url for u in uploads}
        sent = self.events.for_post(link.name, post.post_id)
        for gone in (m for m in sent if remove and m.source_url not in wanted):
            self._redact(row, link, gone, "removed from the post")
        done = {m.source_url for m in sent}
        for upload in uploads:
            if upload.url not in done:
                self._send(row, link, room, root, text_event, post, ghost, upload, shown)

    def retract(
        self, row: InboxRow, link: LinkConfig | None, post_id: PostID, reason: str
    ) -> None:
        """Redact every media event of the post (in every link when ``link`` is None)."""
        links = [link] if link is not None else self.ctx.links
        for each in links:
            for event in self.events.for_post(each.name, post_id):
                self._redact(row, each, event, reason)

    def _send(
        self,
        row: InboxRow,
        link: LinkConfig,
        room: RoomID,
        root: EventID,
        text_event: EventID,
        post: ForumPost,
        ghost: UserID,
        upload: Upload,
        shown: Shown,
    ) -> None:
        mirrored = self.mirror(upload.url, image=upload.image)
        if mirrored is None:
            return
        uri, info = mirrored
        content = media_content(upload, uri, info)
        content["external_url"] = self._post_url(post, shown)
        content["m.relates_to"] = {
            "rel_type": "m.thread",
            "event_id": root,
            "is_falling_back": True,
            "m.in_reply_to": {"event_id": text_event},
        }
        txn = txn_id(row, link, f"media.{post.post_id}.{_url_key(upload.url)}")
        event_id = send_once(self.ctx.chat, row, room, content, as_user=ghost, txn=txn)
        self.events.add(
            MediaEvent(link.name, post.post_id, upload.url, room, event_id, ghost),
            self.ctx.clock(),
        )

    def _redact(self, row: InboxRow, link: LinkConfig, event: MediaEvent, reason: str) -> None:
        txn = txn_id(row, link, f"redact.media.{event.post_id}.{_url_key(event.source_url)}")
        self.ctx.chat.redact(
            event.room_id, event.event_id, as_user=event.sender, txn_id=txn, reason=reason
        )
        self.events.remove(event.room_id, event.event_id)

    def _post_url(self, post: ForumPost, shown: Shown) -> str:
        base = self.ctx.discourse.base_url
        if shown.title_hidden:
            # The slug is the title in other words (as for the text:
            # bridges.relay.forum_to_chat.forum_posts).
            return f"{base}/t/{post.topic_id}/{post.post_number}"
        return f"{base}/t/{post.topic_slug}/{post.topic_id}/{post.post_number}"


def media_content(upload: Upload, uri: ContentURI, info: MediaInfo) -> dict[str, Any]:
    """The ``m.image`` (an image type) or ``m.file`` content for a mirrored upload."""
    is_image = info.mimetype.startswith("image/")
    details: dict[str, Any] = {"mimetype": info.mimetype, "size": info.size}
    if is_image:
        width, height = info.width or upload.width, info.height or upload.height
        if width and height:
            details["w"], details["h"] = width, height
    return {
        "msgtype": "m.image" if is_image else "m.file",
        "body": upload.filename,
        "filename": upload.filename,
        "url": uri,
        "info": details,
        "m.mentions": {},
    }
