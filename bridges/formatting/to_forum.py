"""Matrix message content to Discourse markdown (a post's ``raw``).

Text from the HTML is escaped so that what the chat user saw is what forum readers see: ``*not
bold*`` typed literally stays literal. Formatting becomes markdown, spoilers and underline the
BBCode Discourse understands, pills ``@username`` mentions when the user has a forum account.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from urllib.parse import unquote

from markdown_it import MarkdownIt

from bridges.formatting.dom import Element, Node, Text, parse_html
from bridges.formatting.layout import (
    BlockTest,
    collapse,
    lay_out_blocks,
    list_start,
    paragraph,
    prefix_lines,
    table_rows,
)
from bridges.formatting.plain import render_plain
from bridges.formatting.sanitize import HIDDEN_TAGS, is_link_url, visible_text
from bridges.model import UserID

ForumNameLookup = Callable[[UserID], str | None]

#: Characters that are markdown syntax anywhere in a line.
_INLINE_SPECIAL = re.compile(r"([\\`*_\[\]<|~])")
#: Bare URLs in text go out as autolinks ``<url>``: their content is never read as markdown.
_URL = re.compile(r"\b(?:https?|ftp)://[^\s<>\"]+[^\s<>\".,;:!?'\)\]]")
#: ``&amp;`` / ``&#38;`` would be decoded as entities.
_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")
#: Syntax only at the start of a line: headings, quotes, list items, setext underlines.
_LINE_START = re.compile(r"^([#>+=\-])")
_ORDERED_START = re.compile(r"^(\d{1,9})([.)])")
_PILL_USER = re.compile(r"https://matrix\.to/#/((?:@|%40)[^/?#]+)")
_LANGUAGE = re.compile(r"language-([A-Za-z0-9_+#.\-]{1,40})")
_REPLY_FALLBACK_START = re.compile(r"> (\* )?<@[^>\s]+>")
#: Where a forum mention (``@name``) or hashtag (``#slug``) could start: not right after a
#: letter or digit, and before a name character (``mentions.js``, ``hashtag-autocomplete.js``).
_MENTION_START = re.compile(r"(?<![^\W_])(?=[@#][\w:\-])")

#: Discourse's markdown options: soft line breaks are breaks, HTML is read (then sanitised).
_READER = MarkdownIt("commonmark", {"breaks": True, "html": True}).enable(
    ["table", "strikethrough"]
)
#: Format characters a reader does not see.
_INVISIBLE = re.compile("[\u00ad\u200b-\u200d\u2060\ufeff]")

_EMPHASIS = {
    "b": "**", "strong": "**",
    "i": "*", "em": "*", "cite": "*", "var": "*", "dfn": "*",
    "s": "~~", "del": "~~", "strike": "~~",
}  # fmt: skip
#: What a marker becomes when it could not take effect in markdown (see ``_hugs``).
_AS_HTML = {"**": "strong", "*": "em", "~~": "del"}
_CODE_TAGS = frozenset({"code", "kbd", "tt", "samp"})


def _no_forum_name(_: UserID) -> str | None:
    return None


def matrix_to_forum(
    body: str,
    formatted_body: str | None,
    *,
    mentions: ForumNameLookup = _no_forum_name,
) -> str:
    """A Matrix message as Discourse markdown.

    With ``formatted_body``: the HTML becomes markdown (bold, italic, strikethrough, code and
    fenced code with its ``language-x``, quotes, lists, links, headings, tables, line breaks);
    ``data-mx-spoiler`` spans become ``[spoiler]…[/spoiler]``; pills become ``@username`` when
    ``mentions(user_id)`` names the user's forum account, else the pill's text; ``mxc`` images
    become their alt text in brackets (the media travels separately); a leading ``<mx-reply>``
    (reply fallback) is dropped. Without it: the plain ``body``, minus a reply fallback,
    as text (:func:`plain_to_forum`).

    Reply fallbacks: https://spec.matrix.org/v1.13/client-server-api/#fallbacks-for-rich-replies
    """
    if formatted_body is not None:
        nodes = parse_html(formatted_body)
        _drop_reply_fallback(nodes)
        markdown = "\n\n".join(_Markdown(mentions).blocks(nodes))
        if markdown.strip():
            return markdown
    return plain_to_forum(strip_reply_fallback(body))


def plain_to_forum(text: str) -> str:
    """Plain text (a ``body`` without ``formatted_body``) as markdown the forum shows as typed.

    A plain body is text, not markdown (Matrix sends markup in ``formatted_body``), whoever
    sent it: nothing in it may become a quote, an image, a poll, a mention or HTML on the
    forum. Every character Discourse's markdown-it setup reads as syntax is escaped as in a
    text node of ``formatted_body`` (:func:`_text`, :func:`_escape_line_starts`); line breaks
    stay line breaks; a line's leading blanks go, as HTML would collapse them anyway (and
    four of them would open a code block).
    """
    lines = [_text(line.lstrip(" \t")) for line in text.replace("\r\n", "\n").split("\n")]
    return _escape_line_starts("\n".join(lines)).strip("\n")


def forum_reading(markdown: str) -> str:
    """The text a forum reader sees of a post's ``markdown``, as plain text.

    Watched words are judged on this as well as on the markdown itself: ``<strong>ki</strong>ll``
    reads "kill". Rendered with markdown-it (the parser Discourse cooks with) with raw HTML on,
    as Discourse has it (``html: true`` in ``discourse-markdown-it/src/setup.js``); invisible
    format characters (word joiners, zero-width spaces, soft hyphens) are left out so they
    cannot split a word.
    """
    text = render_plain(parse_html(_READER.render(markdown)))
    return _INVISIBLE.sub("", text)


def strip_reply_fallback(body: str) -> str:
    """``body`` without a leading reply fallback (``> <@user:server> ...`` lines).

    Only lines that open like a fallback (a quoted ``<@user>``) are taken for one, so a message
    that merely starts with a quote keeps it.
    """
    lines = body.split("\n")
    if not lines or not _REPLY_FALLBACK_START.match(lines[0]):
        return body
    index = 0
    while index < len(lines) and lines[index].startswith(">"):
        index += 1
    return "\n".join(lines[index:]).lstrip("\n")


def escape_markdown(text: str) -> str:
    """Text (already whitespace-collapsed) escaped so markdown shows it literally."""
    text = _INLINE_SPECIAL.sub(r"\\\1", text)
    return _ENTITY.sub(r"\\&", text)


def _text(text: str, in_link: bool = False) -> str:
    """A text node as markdown: escaped, with bare URLs as autolinks and no ``@name`` or
    ``#slug`` that the forum would make a mention or a hashtag (:func:`unmention`; inside a
    link's text the forum makes none)."""
    plain: Callable[[str], str] = (lambda t: t) if in_link else unmention
    out = []
    last = 0
    for match in _URL.finditer(text):
        out.append(escape_markdown(plain(text[last : match.start()])))
        out.append(f"<{match.group(0)}>")
        last = match.end()
    out.append(escape_markdown(plain(text[last:])))
    return "".join(out)


def unmention(text: str) -> str:
    """``text`` with a word joiner (U+2060, invisible) before each ``@`` and ``#`` that would
    start a forum mention or hashtag.

    A backslash does not stop them: Discourse finds mentions and hashtags in the text tokens
    after markdown-it has resolved escapes (``md.core.textPostProcess``, pushed after
    ``text_join``), and only where the character before ``@``/``#`` is whitespace or
    punctuation (``allowedBoundary`` in ``discourse-markdown-it/src/features/
    text-post-process.js``; the rules in ``mentions.js`` and ``hashtag-autocomplete.js``).
    A word joiner is neither, so the text reads the same and notifies nobody: in chat, too,
    only a pill mentions someone (pills still become ``@username``, see :meth:`_Markdown.pill`).
    """
    return _MENTION_START.sub("\u2060", text)


def _drop_reply_fallback(nodes: list[Node]) -> None:
    """Remove ``<mx-reply>`` elements: the quoted history must not cross with the reply."""
    nodes[:] = [n for n in nodes if not (isinstance(n, Element) and n.tag == "mx-reply")]
    for node in nodes:
        if isinstance(node, Element):
            _drop_reply_fallback(node.children)


def _escape_line_starts(text: str) -> str:
    return "\n".join(
        _ORDERED_START.sub(r"\1\\\2", _LINE_START.sub(r"\\\1", line)) for line in text.split("\n")
    )


def _wrap(inner: str, before: str, after: str) -> str:
    """``inner`` between markers, its edge whitespace moved outside (``** x **`` is not bold)."""
    core = inner.strip(" \n")
    if not core:
        return inner
    lead = inner[: len(inner) - len(inner.lstrip(" \n"))]
    trail = inner[len(inner.rstrip(" \n")) :]
    return f"{lead}{before}{core}{after}{trail}"


def _hugs(core: str, marker: str) -> bool:
    """Whether ``marker`` around ``core`` takes effect whatever text surrounds it.

    CommonMark's flanking rules refuse ``**"x"**y``: next to punctuation a marker works only
    when the other side is space or punctuation too; next to (Unicode) space it never works.
    """

    def awkward(char: str) -> bool:
        return char.isspace() or unicodedata.category(char)[0] in "PS"

    return not (awkward(core[0]) or awkward(core[-1]))


def _code_span(text: str) -> str:
    text = text.replace("\n", " ")
    if not text:
        return ""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    if text.startswith(("`", " ")) or text.endswith(("`", " ")):
        text = f" {text} "
    return f"{fence}{text}{fence}"


def _destination(url: str) -> str:
    if re.search(r"[\s()<>]", url):
        return "<" + url.replace("<", "%3C").replace(">", "%3E").replace("\n", "%0A") + ">"
    return url


class _Markdown:
    def __init__(self, mentions: ForumNameLookup) -> None:
        self.mentions = mentions
        self.is_block = BlockTest()
        self.active: set[str] = set()
        #: Inside a link's text (the forum finds no mentions there: ``skipAllLinks``).
        self.in_link = 0
        # The last character written in the current paragraph: markers next to a "*" or "~"
        # would merge with it into one delimiter run ("**a****b**").
        self.tail = ""

    # -- blocks ---------------------------------------------------------------------------------

    def blocks(self, nodes: Iterable[Node]) -> list[str]:
        return lay_out_blocks(
            nodes, self.is_block, self.block, lambda run: _escape_line_starts(self.paragraph(run))
        )

    def block(self, el: Element) -> list[str]:
        tag = el.tag
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            text = " ".join(self.paragraph(el.children).split("\n"))
            if not text:
                return []
            if text.endswith("#"):  # a closing sequence would be eaten
                text = text[:-1] + "\\#"
            return ["#" * int(tag[1]) + " " + text]
        if tag == "blockquote":
            inner = "\n\n".join(self.blocks(el.children))
            return [prefix_lines(inner, "> ", "> ")] if inner else []
        if tag in ("ul", "ol", "menu", "dir"):
            items = self.list_items(el)
            return ["\n".join(items)] if items else []
        if tag == "li":
            item = self.item("- ", el)
            return [item] if item else []
        if tag == "pre":
            return self.code_block(el)
        if tag == "hr":
            return ["---"]
        if tag in ("table", "thead", "tbody", "tfoot", "tr"):
            return self.table(el)
        if tag == "details":
            return self.details(el)
        parts = self.blocks(el.children)
        if not parts:
            return []
        if tag == "span" and "data-mx-spoiler" in el.attrs:
            return ["[spoiler]", *parts, "[/spoiler]"]
        if tag == "a":
            href = el.get("href")
            if is_link_url(href):
                parts.append(_destination(href))
        return parts

    def list_items(self, el: Element) -> list[str]:
        number = list_start(el)
        items: list[str] = []
        for child in el.children:
            if isinstance(child, Element) and child.tag == "li":
                marker = f"{number}. " if el.tag == "ol" else "- "
                number += 1
                items.append(self.item(marker, child))
            elif not (isinstance(child, Element) and child.tag in HIDDEN_TAGS):
                items.extend(self.blocks([child]))
        return [item for item in items if item]

    def item(self, marker: str, li: Element) -> str:
        parts = self.blocks(li.children)
        if not parts:
            return marker.rstrip()
        inner = parts[0]
        for part in parts[1:]:
            # A nested list may follow its text directly; paragraphs need a blank line.
            nested = part.startswith(("- ", "-\n")) or re.match(r"\d+\. ", part) is not None
            inner += ("\n" if nested else "\n\n") + part
        return prefix_lines(inner, marker, " " * len(marker))

    def code_block(self, pre: Element) -> list[str]:
        code = visible_text(pre).removeprefix("\n").rstrip("\n")
        language = ""
        code_el = pre.find("code")
        if code_el is not None:
            match = next(
                (m for t in code_el.get("class").split() if (m := _LANGUAGE.fullmatch(t))), None
            )
            language = match.group(1) if match else ""
        longest = max((len(run) for run in re.findall(r"`{3,}", code)), default=0)
        fence = "`" * max(3, longest + 1)
        return [f"{fence}{language}\n{code}\n{fence}"]

    def table(self, el: Element) -> list[str]:
        """A GFM table; the first row is the header (markdown tables must have one)."""
        rows = table_rows(el) if el.tag != "tr" else [el]
        lines: list[list[str]] = []
        for row in rows:
            cells = [
                " ".join(self.blocks(cell.children)).replace("\n", " ")
                for cell in row.elements()
                if cell.tag in ("td", "th")
            ]
            if cells:
                lines.append(cells)
        caption = el.find("caption") if el.tag == "table" else None
        out: list[str] = []
        if caption is not None:
            out.extend(self.blocks(caption.children))
        if lines:
            width = max(len(cells) for cells in lines)
            padded = [cells + [""] * (width - len(cells)) for cells in lines]
            table = ["| " + " | ".join(padded[0]) + " |", "|" + " --- |" * width]
            table += ["| " + " | ".join(cells) + " |" for cells in padded[1:]]
            out.append("\n".join(table))
        return out

    def details(self, el: Element) -> list[str]:
        summary = next((c for c in el.elements() if c.tag == "summary"), None)
        title = self.paragraph(summary.children) if summary is not None else ""
        title = title.replace("\n", " ").replace('"', "'").replace("]", "\\]")
        rest = [c for c in el.children if c is not summary]
        opener = f'[details="{title}"]' if title else "[details]"
        return [opener, *self.blocks(rest), "[/details]"]

    # -- inline ---------------------------------------------------------------------------------

    def inline(self, nodes: Iterable[Node]) -> str:
        out: list[str] = []
        for node in nodes:
            piece = self.inline_node(node)
            if piece:
                if piece.startswith("[") and out and out[-1].endswith("!"):
                    out[-1] = out[-1][:-1] + "\\!"  # "![" would open an image
                out.append(piece)
                self.tail = piece[-1]
        return "".join(out)

    def paragraph(self, nodes: Iterable[Node]) -> str:
        """An inline run starting a new paragraph (or cell, or heading)."""
        self.tail = ""
        return paragraph(self.inline(nodes))

    def inline_node(self, node: Node) -> str:
        if isinstance(node, Text):
            return _text(collapse(node.data), in_link=self.in_link > 0)
        tag = node.tag
        if tag in HIDDEN_TAGS or tag == "mx-reply":
            return ""
        if tag == "br":
            return "\n"
        if tag == "img":
            alt = collapse(node.get("alt") or node.get("title")).strip()
            return f"\\[{escape_markdown(alt or 'image')}\\]"
        if tag in _CODE_TAGS:
            code = collapse(visible_text(node))
            if self.tail == "`":  # right after another code span the backticks would merge
                return f"<code>{escape_markdown(code)}</code>" if code else ""
            return _code_span(code)
        if tag == "a":
            return self.link(node)
        if tag == "span" and "data-mx-spoiler" in node.attrs:
            return self.styled("spoiler", node, "[spoiler]", "[/spoiler]")
        if tag in ("u", "ins"):
            return self.styled("u", node, "[u]", "[/u]")
        if tag in ("sup", "sub"):
            return self.styled(tag, node, f"<{tag}>", f"</{tag}>")
        marker = _EMPHASIS.get(tag)
        if marker is not None:
            return self.emphasis(marker, node)
        return self.inline(node.children)

    def emphasis(self, marker: str, el: Element) -> str:
        if marker in self.active:
            return self.inline(el.children)
        before = self.tail
        # "*" inside "**" (or the reverse) makes runs CommonMark may pair differently.
        nested = any(active[0] == marker[0] for active in self.active)
        self.active.add(marker)
        try:
            inner = self.inline(el.children)
        finally:
            self.active.discard(marker)
        core = inner.strip(" \n")
        if core and (nested or before in ("*", "~") or not _hugs(core, marker)):
            tag = _AS_HTML[marker]
            return _wrap(inner, f"<{tag}>", f"</{tag}>")
        return _wrap(inner, marker, marker)

    def styled(self, style: str, el: Element, before: str, after: str) -> str:
        if style in self.active:  # <b><b>x</b></b> is bold once
            return self.inline(el.children)
        self.active.add(style)
        try:
            return _wrap(self.inline(el.children), before, after)
        finally:
            self.active.discard(style)

    def link(self, el: Element) -> str:
        href = el.get("href").strip()
        pill = _PILL_USER.match(href)
        if pill is not None:
            return self.pill(UserID(unquote(pill.group(1))), el)
        if not is_link_url(href):
            text = self.inline(el.children)  # no link: plain text
            return text if text.strip() else escape_markdown(collapse(href))
        text = self.link_text(el)
        shown = collapse(visible_text(el)).strip()
        if not text.strip():  # an empty link shows nothing
            return text
        if shown == href and _destination(href) == href:
            return f"<{href}>"  # an autolink: nothing in the URL is read as emphasis
        if href.startswith("mailto:") and shown == href.removeprefix("mailto:"):
            return self.inline(el.children)  # the forum links the address itself
        return _wrap(text, "[", f"]({_destination(href)})")

    def pill(self, user_id: UserID, el: Element) -> str:
        username = self.mentions(user_id)
        if username is not None:
            return f"@{username}"
        if collapse(visible_text(el)).strip().startswith("@"):
            # "@name" would mention whoever has that name on the forum: link it instead.
            text = self.link_text(el)
            return _wrap(text, "[", f"]({_destination(el.get('href').strip())})")
        return self.inline(el.children)

    def link_text(self, el: Element) -> str:
        """The markdown of a link's text (``el``'s children)."""
        self.in_link += 1
        try:
            return self.inline(el.children)
        finally:
            self.in_link -= 1
