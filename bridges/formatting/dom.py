"""A small HTML tree built with the standard library's parser, and its serialiser.

The bridges rewrite HTML structurally (Discourse quotes, oneboxes, Matrix pills, ...), so they need
a tree, not regular expressions. ``html.parser`` tokenises; this module adds the few tree-building
rules of the HTML standard that matter for real posts (void elements, implied ``</p>`` and
``</li>``, table cells, a depth cap) so that the tree matches what a browser or html5ever would
build for well-formed and ordinarily sloppy input. Exactness for adversarial input is not
needed: every Matrix-bound result is re-sanitised by nh3 afterwards.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

#: Elements that never have children (https://html.spec.whatwg.org/#void-elements).
VOID_TAGS = frozenset(
    {
        "area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link", "meta",
        "param", "source", "track", "wbr",
    }
)  # fmt: skip

#: Start tags that close an open ``<p>`` (https://html.spec.whatwg.org/#parsing-main-inbody).
_CLOSES_P = frozenset(
    {
        "address", "article", "aside", "blockquote", "center", "details", "dialog", "dir", "div",
        "dl", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5",
        "h6", "header", "hgroup", "hr", "main", "menu", "nav", "ol", "p", "pre", "section",
        "summary", "table", "ul", "listing", "xmp", "plaintext",
    }
)  # fmt: skip

#: Elements that stop the search for an open ``<p>`` ("button scope" in the standard).
_P_SCOPE = frozenset(
    {"#root", "html", "table", "td", "th", "caption", "object", "template", "button", "marquee"}
)
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})

#: Deeper elements are flattened into their ancestor (Matrix limits nesting to 100 levels, and
#: the renderers recurse).
MAX_DEPTH = 100


@dataclass(eq=False, slots=True)
class Text:
    """A text node; ``data`` is the decoded text (no entities)."""

    data: str


@dataclass(eq=False, slots=True)
class Element:
    """An element: lower-case tag, attributes (a bare attribute has the value ``""``)."""

    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Node] = field(default_factory=list)

    def get(self, name: str, default: str = "") -> str:
        return self.attrs.get(name, default)

    @property
    def classes(self) -> frozenset[str]:
        return frozenset(self.attrs.get("class", "").split())

    def elements(self) -> Iterator[Element]:
        """The element children."""
        return (child for child in self.children if isinstance(child, Element))

    def descendants(self) -> Iterator[Element]:
        """Every element below this one, in document order."""
        for child in self.elements():
            yield child
            yield from child.descendants()

    def find(self, tag: str, cls: str | None = None) -> Element | None:
        """The first descendant with this tag (and class, when given)."""
        for el in self.descendants():
            if el.tag == tag and (cls is None or cls in el.classes):
                return el
        return None


Node = Element | Text


def text_content(node: Node | Iterable[Node], skip: frozenset[str] = frozenset()) -> str:
    """All the text below a node (or a list of nodes), as a browser's ``textContent``;
    elements whose tag is in ``skip`` are left out with their content."""
    if isinstance(node, Text):
        return node.data
    if isinstance(node, Element):
        if node.tag in skip:
            return ""
        nodes: Iterable[Node] = node.children
    else:
        nodes = node
    return "".join(text_content(child, skip) for child in nodes)


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#root")
        self.stack: list[Element] = [self.root]

    # -- tree construction ----------------------------------------------------------------------

    def _pop_to(self, tag: str, boundary: frozenset[str]) -> bool:
        """Close the innermost open ``tag`` unless a ``boundary`` element comes first."""
        for i in range(len(self.stack) - 1, 0, -1):
            name = self.stack[i].tag
            if name == tag:
                del self.stack[i:]
                return True
            if name in boundary:
                return False
        return False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _CLOSES_P:
            self._pop_to("p", _P_SCOPE)
        if tag in _HEADINGS and self.stack[-1].tag in _HEADINGS:
            self.stack.pop()
        if tag == "li":
            self._pop_to("li", frozenset({"ul", "ol", "menu"}) | _P_SCOPE)
        elif tag in ("dt", "dd"):
            self._pop_to("dt", frozenset({"dl"}) | _P_SCOPE)
            self._pop_to("dd", frozenset({"dl"}) | _P_SCOPE)
        elif tag == "tr":
            self._pop_to("tr", frozenset({"table"}))
        elif tag in ("td", "th"):
            self._pop_to("td", frozenset({"tr", "table"}))
            self._pop_to("th", frozenset({"tr", "table"}))
        elif tag in ("thead", "tbody", "tfoot"):
            for section in ("thead", "tbody", "tfoot"):
                self._pop_to(section, frozenset({"table"}))
        elif tag == "a":
            # Links do not nest: a new <a> ends the open one.
            self._pop_to("a", _P_SCOPE)
        if len(self.stack) > MAX_DEPTH:
            return
        values: dict[str, str] = {}
        for name, value in attrs:
            values.setdefault(name, value if value is not None else "")
        element = Element(tag, values)
        self.stack[-1].children.append(element)
        if tag not in VOID_TAGS:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # HTML ignores the self-closing flag on non-void elements.
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "br":  # the standard parses </br> as <br>
            self.handle_starttag("br", [])
            return
        self._pop_to(tag, frozenset())

    def handle_data(self, data: str) -> None:
        children = self.stack[-1].children
        if children and isinstance(children[-1], Text):
            children[-1].data += data
        else:
            children.append(Text(data))


def parse_html(markup: str) -> list[Node]:
    """Parse an HTML fragment into a list of top-level nodes."""
    builder = _TreeBuilder()
    builder.feed(markup)
    builder.close()
    return builder.root.children


def serialize(nodes: Iterable[Node]) -> str:
    """HTML for these nodes: every text and attribute value escaped, every element closed."""
    return "".join(_serialize(node) for node in nodes)


def _serialize(node: Node) -> str:
    if isinstance(node, Text):
        return html.escape(node.data, quote=False)
    attrs = "".join(f' {name}="{html.escape(value)}"' for name, value in node.attrs.items())
    if node.tag in VOID_TAGS:
        return f"<{node.tag}{attrs}>"
    inner = serialize(node.children)
    if node.tag == "pre" and inner.startswith("\n"):
        # A parser drops one newline right after <pre>; keep a leading blank line intact.
        inner = "\n" + inner
    return f"<{node.tag}{attrs}>{inner}</{node.tag}>"
