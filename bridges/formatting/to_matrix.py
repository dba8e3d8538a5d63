"""Discourse cooked HTML and markdown to Matrix ``m.room.message`` content.

Two passes: a tree rewrite (Discourse quotes, mentions, spoilers, emoji, oneboxes, lightboxes, code
languages, relative URLs, images) that already keeps only the Matrix allow-list, then nh3 over the
serialised result, so that a mistake in the rewrite cannot let unsafe HTML through.

Matrix HTML subset: https://spec.matrix.org/v1.13/client-server-api/#mroommessage-msgtypes
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from urllib.parse import quote, urljoin, urlsplit

from markdown_it import MarkdownIt

from bridges.discourse.media_paths import forum_file
from bridges.formatting.content import MatrixContent, Mention
from bridges.formatting.dom import Element, Node, Text, parse_html, serialize
from bridges.formatting.emoji_names import emoji_for
from bridges.formatting.plain import render_plain
from bridges.formatting.sanitize import (
    ALLOWED_TAGS,
    HIDDEN_TAGS,
    clean_attributes,
    is_link_url,
    is_mxc,
    sanitize_matrix_html,
    visible_text,
)
from bridges.model import ContentURI, UserID

MentionLookup = Callable[[str], UserID | None]
MediaLookup = Callable[[str], ContentURI | None]

#: Where a Matrix pill points (https://spec.matrix.org/v1.13/appendices/#matrixto-navigation).
PILL_PREFIX = "https://matrix.to/#/"

#: Tags outside the allow-list that have an allowed equivalent.
_RENAMED = {
    "strike": "s",
    "ins": "u",
    "kbd": "code",
    "tt": "code",
    "samp": "code",
    "var": "i",
    "cite": "i",
    "dfn": "i",
    "menu": "ul",
    "dir": "ul",
    "listing": "pre",
    "plaintext": "pre",
}
#: Block-level tags outside the allow-list: kept as ``div`` so their text stays apart.
_AS_DIV = frozenset(
    {
        "section", "article", "aside", "header", "footer", "nav", "main", "figure", "figcaption",
        "address", "center", "dl", "dt", "dd", "fieldset", "legend", "form", "hgroup", "dialog",
    }
)  # fmt: skip
#: Discourse code-block classes that name no language.
_NO_LANGUAGE = frozenset({"auto", "plaintext", "text", "nohighlight", "none"})
#: A Discourse @username in text (usernames: letters, digits, ``_ . -``).
_AT_USERNAME = re.compile(r"(?<![\w@/.])@([A-Za-z0-9_](?:[\w.\-]{0,58}[A-Za-z0-9_])?)")
_USER_PATH = re.compile(r"/u/([^/?#]+)")

_MARKDOWN = MarkdownIt("commonmark", {"html": False, "breaks": True}).enable(
    ["table", "strikethrough"]
)


def _no_mentions(_: str) -> UserID | None:
    return None


def _no_media(_: str) -> ContentURI | None:
    return None


def pill_url(user_id: UserID) -> str:
    """The ``matrix.to`` link a pill for ``user_id`` points to."""
    return PILL_PREFIX + quote(user_id, safe="@:")


def forum_to_matrix(
    cooked: str,
    *,
    base_url: str,
    mentions: MentionLookup = _no_mentions,
    media: MediaLookup = _no_media,
) -> MatrixContent:
    """A Discourse post's cooked HTML as Matrix message content, sanitised to the allow-list.

    - ``base_url``: the forum's address; relative URLs (``/t/...``, ``/uploads/...``) are made
      absolute on it.
    - ``mentions(username)``: the Matrix user an ``@username`` mention becomes a pill for, or
      ``None`` to keep it as plain text.
    - ``media(url)``: an ``mxc://`` URI for an image on the forum (``url`` is absolute, on
      ``base_url``'s origin and one of the forum's file routes: uploads, avatars, emoji), or
      ``None`` to turn the image into a link to it. Other images are links without asking.

    Discourse specifics: quotes become ``<blockquote>`` opened by "bob wrote:"; spoilers become
    ``data-mx-spoiler`` spans; emoji images become characters; oneboxes and inline oneboxes
    become a bare link to their source (previews carry metadata such as titles); lightboxes
    become their image; ``lang-x`` code classes become ``language-x``. ``script``, ``style`` and
    ``iframe`` go with their content.
    """
    converter = _Converter(base_url, mentions, media, discourse=True)
    return converter.content(parse_html(cooked))


def markdown_to_matrix(
    raw: str,
    *,
    base_url: str = "",
    mentions: MentionLookup = _no_mentions,
    media: MediaLookup = _no_media,
) -> MatrixContent:
    """Markdown composed by porch (CommonMark with tables and strikethrough) as Matrix content.

    Raw HTML in the markdown is shown as text, not interpreted. ``@username`` in text becomes a
    pill when ``mentions`` knows the user. Relative URLs are resolved on ``base_url`` (dropped
    when it is empty); images go through ``media`` as in :func:`forum_to_matrix`.
    """
    converter = _Converter(base_url, mentions, media, discourse=False, text_mentions=True)
    return converter.content(parse_html(_MARKDOWN.render(raw)))


class _Converter:
    def __init__(
        self,
        base_url: str,
        mentions: MentionLookup,
        media: MediaLookup,
        *,
        discourse: bool,
        text_mentions: bool = False,
    ) -> None:
        self.base = base_url.rstrip("/") + "/" if base_url else ""
        self.mentions = mentions
        self.media = media
        self.discourse = discourse
        self.text_mentions = text_mentions
        self.found: list[Mention] = []
        self.in_link = 0
        self.in_code = 0

    def content(self, nodes: list[Node]) -> MatrixContent:
        converted = self.convert(nodes)
        body = render_plain(converted)
        if not body or _is_plain(converted):
            return MatrixContent(body, None, tuple(self.found))
        formatted = sanitize_matrix_html(serialize(converted))
        return MatrixContent(body, formatted, tuple(self.found))

    # -- the walk -------------------------------------------------------------------------------

    def convert(self, nodes: Iterable[Node]) -> list[Node]:
        out: list[Node] = []
        for node in nodes:
            out.extend(self.node(node))
        return out

    def node(self, node: Node) -> list[Node]:
        if isinstance(node, Text):
            return self.text(node.data)
        tag = node.tag
        if tag in HIDDEN_TAGS:
            return []
        if self.discourse:
            special = self.discourse_rule(node)
            if special is not None:
                return special
        if tag == "a":
            return self.link(node)
        if tag == "img":
            return self.image(node)
        tag = _RENAMED.get(tag, tag)
        if tag in _AS_DIV:
            tag = "div"
        if tag in ("code", "pre"):
            self.in_code += 1
            children = self.convert(node.children)
            self.in_code -= 1
        else:
            children = self.convert(node.children)
        if tag not in ALLOWED_TAGS:
            return children
        if tag == "code":
            return [Element("code", _code_class(node.get("class")), children)]
        attrs = clean_attributes(tag, node.attrs)
        if tag == "span" and not attrs:
            return children
        if tag == "p" and not any(isinstance(c, Element) or c.data.strip() for c in children):
            return children  # e.g. what is left of <p> around a Discourse lightbox
        return [Element(tag, attrs, children)]

    def text(self, data: str) -> list[Node]:
        if not (self.text_mentions and not self.in_link and not self.in_code and "@" in data):
            return [Text(data)]
        out: list[Node] = []
        last = 0
        for match in _AT_USERNAME.finditer(data):
            pill = self.pill(match.group(1), match.group(0))
            if pill is not None:
                out.extend([Text(data[last : match.start()]), pill])
                last = match.end()
        out.append(Text(data[last:]))
        return [node for node in out if not isinstance(node, Text) or node.data]

    def pill(self, username: str, shown: str) -> Element | None:
        user_id = self.mentions(username)
        if user_id is None:
            return None
        self.found.append(Mention(username, user_id))
        return Element("a", {"href": pill_url(user_id)}, [Text(shown)])

    # -- links and images -----------------------------------------------------------------------

    def absolute(self, href: str) -> str | None:
        """``href`` made absolute on the forum, if the result may be linked from Matrix."""
        href = href.strip(" \t\n\r\f")
        if not href:
            return None
        if self.base:
            try:
                href = urljoin(self.base, href)
            except ValueError:
                return None
        href = href.replace(" ", "%20")
        return href if is_link_url(href) else None

    def link(self, el: Element, href: str | None = None) -> list[Node]:
        self.in_link += 1
        children = self.convert(el.children)
        self.in_link -= 1
        if self.in_link:  # links do not nest; the outer one wins
            return children
        href = el.get("href") if href is None else href
        if href.startswith(PILL_PREFIX):  # a pill in Matrix-sourced HTML
            return [Element("a", {"href": href}, children)]
        if href.strip().startswith("#"):  # in-page anchors (footnotes, headings) mean nothing
            return children
        url = self.absolute(href)
        if url is None:
            return children
        return [Element("a", {"href": url}, children)]

    def image(self, el: Element, *, fallback: str = "", label: str = "") -> list[Node]:
        """An image: mirrored into the media repository, else a link to it (``img`` needs mxc)."""
        src = el.get("src").strip()
        alt = (el.get("alt") or el.get("title") or label).strip()
        size = {k: el.get(k) for k in ("width", "height") if el.get(k).isdigit()}
        if is_mxc(src):
            return [Element("img", {"src": src, "alt": alt, **size})]
        url = self.absolute(src) if src else None
        local = self.local_file(url) if url is not None else None
        if local is not None:
            uri = self.media(local)
            if uri is not None and is_mxc(uri):
                return [Element("img", {"src": uri, "alt": alt or _filename(local), **size})]
        target = self.absolute(fallback) if fallback else url
        text = alt or _filename(target or "")
        if target is None or self.in_link:
            return [Text(text)] if text else []
        return [Element("a", {"href": target}, [Text(text or target)])]

    def local_file(self, url: str) -> str | None:
        """The URL to offer to ``media`` for mirroring when ``url`` is one of the forum's files
        (an upload, an avatar, an emoji), else ``None``: any other forum path (``/admin/...``,
        a topic, a JSON route) is shown as a link, as an image on another site is
        (:mod:`bridges.discourse.media_paths`)."""
        if not self.base:
            return None
        found = forum_file(url, self.base)
        return None if found is None else found.url

    # -- Discourse ------------------------------------------------------------------------------

    def discourse_rule(self, el: Element) -> list[Node] | None:
        """The rewrite for a Discourse-specific element, or ``None`` for ordinary ones."""
        tag, classes = el.tag, el.classes
        if tag == "aside" and "quote" in classes:
            return self.quote(el)
        if tag == "a":
            if "mention" in classes:
                return self.mention(el)
            if "mention-group" in classes:
                return [Text(visible_text(el))]
            if "anchor" in classes and not visible_text(el).strip():
                return []
            if "lightbox" in classes:
                return self.lightbox(el)
            if classes & {"hashtag", "hashtag-cooked"}:
                return self.hashtag(el)
            if classes & {"inline-onebox", "inline-onebox-loading"}:
                url = self.absolute(el.get("href"))
                return [Element("a", {"href": url}, [Text(url)])] if url else []
            return None
        if tag == "img" and "emoji" in classes:
            name = el.get("title") or el.get("alt")
            return [Text(emoji_for(name) or name.strip())] if name.strip() else []
        if tag == "span" and "mention" in classes:
            return [Text(visible_text(el))]
        if "lightbox-wrapper" in classes:
            return self.lightbox(el.find("a", "lightbox") or el)
        if classes & {"onebox", "lazy-video-container", "lazyYT", "video-onebox"}:
            return self.onebox(el)
        if tag in ("div", "span") and "spoiler" in classes:
            return [Element("span", {"data-mx-spoiler": ""}, self.convert(el.children))]
        return None

    def quote(self, aside: Element) -> list[Node]:
        """``[quote]``: a blockquote that keeps who is quoted, not the title bar around it."""
        username = aside.get("data-username").strip()
        inner = next((c for c in aside.elements() if c.tag == "blockquote"), None)
        if inner is None:
            inner = aside.find("blockquote")
        rest = [c for c in aside.children if not (isinstance(c, Element) and "title" in c.classes)]
        content = self.convert(inner.children if inner is not None else rest)
        if username:
            who: Node = Element("p", {}, [Text(f"{username} wrote:")])
            return [Element("blockquote", {}, [who, *content])]
        # No author: Discourse's preview of a linked topic. Keep the link, not the preview.
        title = aside.find("div", "title")
        link = title.find("a") if title is not None else None
        url = self.absolute(link.get("href")) if link is not None else None
        if url is not None:
            return [Element("p", {}, [Element("a", {"href": url}, [Text(url)])])]
        return [Element("blockquote", {}, content)] if content else []

    def mention(self, el: Element) -> list[Node]:
        shown = visible_text(el).strip()
        path = _USER_PATH.search(el.get("href"))
        username = path.group(1) if path else shown.removeprefix("@")
        pill = self.pill(username, shown or f"@{username}") if username else None
        return [pill] if pill is not None else [Text(visible_text(el))]

    def hashtag(self, el: Element) -> list[Node]:
        name = el.get("data-slug") or visible_text(el).strip().removeprefix("#")
        shown = f"#{name}" if name else ""
        url = self.absolute(el.get("href"))
        if url is None or not shown:
            return [Text(shown)] if shown else []
        return [Element("a", {"href": url}, [Text(shown)])]

    def lightbox(self, el: Element) -> list[Node]:
        """An enlargeable image: the image itself, without the size and filename overlay."""
        anchor = el if el.tag == "a" else None
        img = el.find("img")
        original = anchor.get("href") if anchor is not None else ""
        title = anchor.get("title") if anchor is not None else ""
        if img is None:
            url = self.absolute(original)
            return [Element("a", {"href": url}, [Text(title or url)])] if url else []
        return self.image(img, fallback=original, label=title)

    def onebox(self, el: Element) -> list[Node]:
        """A link preview: just the link to its source (previews leak metadata)."""
        source = el.get("data-onebox-src") or el.get("data-video-url")
        if not source:
            header = el.find("header", "source")
            link = (header.find("a") if header is not None else None) or el.find("a")
            source = link.get("href") if link is not None else ""
        url = self.absolute(source) if source else None
        if url is None:
            return []
        if self.in_link:
            return [Text(url)]
        link_el = Element("a", {"href": url}, [Text(url)])
        return [Element("p", {}, [link_el])] if el.tag != "span" else [link_el]


def _code_class(value: str) -> dict[str, str]:
    """``lang-python`` (Discourse) or ``language-python`` becomes ``language-python``."""
    for token in value.split():
        for prefix in ("language-", "lang-"):
            if token.startswith(prefix):
                language = token.removeprefix(prefix)
                if language and language not in _NO_LANGUAGE:
                    return clean_attributes("code", {"class": f"language-{language}"})
    return {}


def _filename(url: str) -> str:
    path = urlsplit(url).path if url else ""
    return path.rstrip("/").rsplit("/", 1)[-1]


def _is_plain(nodes: list[Node]) -> bool:
    """Whether the tree is only text in paragraphs and line breaks (the body says it all)."""

    def simple(node: Node) -> bool:
        return isinstance(node, Text) or node.tag == "br"

    return all(
        simple(node)
        or (isinstance(node, Element) and node.tag == "p" and all(map(simple, node.children)))
        for node in nodes
    )
