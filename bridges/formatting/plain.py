"""HTML to the plain-text ``body`` of a Matrix message.

The body is what notifications, search and clients without HTML show, so it keeps every visible
piece of text: paragraphs separated by blank lines, list items as ``- `` / ``1. ``, quotes as
``> `` lines, code blocks verbatim, links as ``text (url)``, pills as their text.
"""

from __future__ import annotations

from collections.abc import Iterable

from bridges.formatting.dom import Element, Node, Text
from bridges.formatting.layout import (
    BlockTest,
    collapse,
    lay_out_blocks,
    list_start,
    paragraph,
    prefix_lines,
)
from bridges.formatting.sanitize import HIDDEN_TAGS, visible_text

_PILL_PREFIX = "https://matrix.to/#/"


def render_plain(nodes: Iterable[Node]) -> str:
    """The plain-text rendering of an HTML tree."""
    return "\n\n".join(_Plain().blocks(nodes))


class _Plain:
    def __init__(self) -> None:
        self.is_block = BlockTest()

    # -- blocks ---------------------------------------------------------------------------------

    def blocks(self, nodes: Iterable[Node]) -> list[str]:
        """Render a sequence of nodes as blocks (each a string without blank edges)."""
        return lay_out_blocks(
            nodes, self.is_block, self.block, lambda run: paragraph(self.inline(run))
        )

    def block(self, el: Element) -> list[str]:
        tag = el.tag
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
            code = visible_text(el).removeprefix("\n").rstrip("\n")
            return [code] if code.strip() else []
        if tag == "hr":
            return ["---"]
        if tag in ("table", "thead", "tbody", "tfoot", "tr"):
            rows = self.table(el)
            return ["\n".join(rows)] if rows else []
        if tag in ("td", "th"):  # a stray cell
            return self.blocks(el.children)
        parts = self.blocks(el.children)
        if not parts:
            return []
        if tag == "span" and "data-mx-spoiler" in el.attrs:
            parts[0] = "||" + parts[0]
            parts[-1] += "||"
        elif tag == "a":
            href = el.get("href")
            if href and not href.startswith(_PILL_PREFIX):
                parts.append(href)
        return parts

    def list_items(self, el: Element) -> list[str]:
        number = list_start(el)
        items: list[str] = []
        for child in el.children:
            if isinstance(child, Element) and child.tag == "li":
                marker = f"{number}. " if el.tag == "ol" else "- "
                number += 1
                items.append(self.item(marker, child))
            elif isinstance(child, Element) and child.tag in HIDDEN_TAGS:
                continue
            else:  # stray content between items
                items.extend(self.blocks([child]))
        return [item for item in items if item]

    def item(self, marker: str, li: Element) -> str:
        inner = "\n".join(self.blocks(li.children))
        return prefix_lines(inner, marker, " " * len(marker)) if inner else marker.rstrip()

    def table(self, el: Element) -> list[str]:
        """One line per row, cells joined by `` | ``; captions and stray text as lines."""
        lines: list[str] = []
        if el.tag == "tr":
            cells = []
            for child in el.children:
                if isinstance(child, Element) and child.tag in HIDDEN_TAGS:
                    continue
                if isinstance(child, Element) and child.tag in ("td", "th"):
                    cells.append(" ".join(self.blocks(child.children)).replace("\n", " "))
                else:
                    cells.extend(self.blocks([child]))
            row = " | ".join(cell for cell in cells if cell)
            return [row] if row else []
        for child in el.children:
            if isinstance(child, Element) and child.tag in ("thead", "tbody", "tfoot", "tr"):
                lines.extend(self.table(child))
            elif isinstance(child, Element) and child.tag in HIDDEN_TAGS:
                continue
            else:
                lines.extend(self.blocks([child]))
        return lines

    # -- inline ---------------------------------------------------------------------------------

    def inline(self, nodes: Iterable[Node]) -> str:
        return "".join(self.inline_node(node) for node in nodes)

    def inline_node(self, node: Node) -> str:
        if isinstance(node, Text):
            return collapse(node.data)
        tag = node.tag
        if tag in HIDDEN_TAGS:
            return ""
        if tag == "br":
            return "\n"
        if tag == "img":
            return node.get("alt") or node.get("title")
        inner = self.inline(node.children)
        if tag == "a":
            return _link_text(inner, node.get("href"))
        if tag == "span" and "data-mx-spoiler" in node.attrs:
            return _wrap(inner, "||", "||")
        return inner


def _wrap(inner: str, before: str, after: str) -> str:
    """``inner`` between markers, with its edge spaces kept outside them."""
    core = inner.strip(" ")
    if not core:
        return inner
    lead = " " if inner.startswith(" ") else ""
    trail = " " if inner.endswith(" ") else ""
    return f"{lead}{before}{core}{after}{trail}"


def _link_text(text: str, href: str) -> str:
    """A link as ``text (url)``; just the text for a pill or when the text already is the url."""
    shown = text.strip()
    if not href or href.startswith(_PILL_PREFIX) or not shown:
        return text
    if shown in (href, href.removeprefix("mailto:")) or href.rstrip("/") == shown.rstrip("/"):
        return text
    return _wrap(text, "", f" ({href})")
