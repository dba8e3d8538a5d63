"""What the text renderers share: which elements are blocks, and how blocks are laid out."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from bridges.formatting.dom import Element, Node
from bridges.formatting.sanitize import HIDDEN_TAGS

#: Elements laid out as blocks of their own (paragraph breaks around them).
BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "caption", "center", "dd", "details", "dir",
        "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3",
        "h4", "h5", "h6", "header", "hgroup", "hr", "legend", "li", "listing", "main", "menu",
        "nav", "ol", "p", "plaintext", "pre", "section", "summary", "table", "tbody", "td",
        "tfoot", "th", "thead", "tr", "ul",
    }
)  # fmt: skip

#: HTML collapses only ASCII whitespace; a no-break space is text.
_HTML_SPACE = re.compile(r"[ \t\n\r\f]+")


def collapse(text: str) -> str:
    """Whitespace as HTML renders it outside ``<pre>``: every run becomes one space."""
    return _HTML_SPACE.sub(" ", text)


class BlockTest:
    """Whether a node must be laid out as a block: a block tag, or an inline element holding one.

    Answers are remembered per element, so deep trees are walked once.
    """

    def __init__(self) -> None:
        self._seen: dict[int, bool] = {}

    def __call__(self, node: Node) -> bool:
        if not isinstance(node, Element):
            return False
        known = self._seen.get(id(node))
        if known is None:
            known = node.tag in BLOCK_TAGS or any(self(child) for child in node.children)
            self._seen[id(node)] = known
        return known


def lay_out_blocks(
    nodes: Iterable[Node],
    is_block: Callable[[Node], bool],
    block: Callable[[Element], list[str]],
    run_text: Callable[[list[Node]], str],
) -> list[str]:
    """Nodes as blocks: each block element by ``block``, each run of inline nodes between them
    as one paragraph by ``run_text`` (empty paragraphs dropped); hidden elements skipped."""
    out: list[str] = []
    run: list[Node] = []

    def flush() -> None:
        if run:
            text = run_text(run)
            if text:
                out.append(text)
            run.clear()

    for node in nodes:
        if isinstance(node, Element) and node.tag in HIDDEN_TAGS:
            continue
        if isinstance(node, Element) and is_block(node):
            flush()
            out.extend(block(node))
        else:
            run.append(node)
    flush()
    return out


def paragraph(inline: str) -> str:
    """An inline run as a paragraph: lines trimmed, spaces collapsed, blank edges dropped."""
    lines = [re.sub(r" {2,}", " ", line).strip() for line in inline.split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def prefix_lines(text: str, first: str, rest: str) -> str:
    """``text`` with ``first`` before its first line and ``rest`` before each later one.

    Blank lines get the prefix without its trailing spaces.
    """
    out = []
    for i, line in enumerate(text.split("\n")):
        lead = first if i == 0 else rest
        out.append(lead + line if line else lead.rstrip())
    return "\n".join(out)


def list_start(el: Element) -> int:
    """The number of the first item of an ``<ol>`` (its ``start`` attribute, else 1)."""
    start = el.get("start").strip()
    if start.isdigit() and len(start) <= 6:
        return int(start)
    return 1


def table_rows(table: Element) -> list[Element]:
    """The ``tr`` elements of a table, through thead/tbody/tfoot, not of nested tables."""
    rows: list[Element] = []
    for child in table.elements():
        if child.tag == "tr":
            rows.append(child)
        elif child.tag in ("thead", "tbody", "tfoot"):
            rows.extend(table_rows(child))
    return rows
