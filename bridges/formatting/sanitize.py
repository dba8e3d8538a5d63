"""The Matrix HTML allow-list, and the nh3 pass that every Matrix-bound ``formatted_body`` takes.

Tags and per-tag attributes follow the spec's suggested subset:
https://spec.matrix.org/v1.13/client-server-api/#mroommessage-msgtypes
"""

from __future__ import annotations

import re

import nh3

from bridges.formatting.dom import Element, Node, parse_html, serialize, text_content

#: Tags a Matrix client is expected to render (spec: "HTML subset").
ALLOWED_TAGS = frozenset(
    {
        "del", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "p", "a", "ul", "ol", "sup",
        "sub", "li", "b", "i", "u", "strong", "em", "s", "code", "hr", "br", "div", "table",
        "thead", "tbody", "tr", "th", "td", "caption", "pre", "span", "img", "details", "summary",
    }
)  # fmt: skip

#: Attributes each tag may carry; values are checked further by :func:`filter_attribute`.
ALLOWED_ATTRIBUTES: dict[str, frozenset[str]] = {
    "a": frozenset({"href"}),
    "img": frozenset({"src", "alt", "title", "width", "height"}),
    "code": frozenset({"class"}),
    "span": frozenset({"data-mx-color", "data-mx-bg-color", "data-mx-spoiler", "data-mx-maths"}),
    "div": frozenset({"data-mx-maths"}),
    "ol": frozenset({"start"}),
}

#: Schemes a link may use (spec: ``a[href]`` only http, https, ftp, mailto, magnet).
LINK_SCHEMES = ("http", "https", "ftp", "mailto", "magnet")
_LINK_PREFIXES = ("http://", "https://", "ftp://", "mailto:", "magnet:")

#: Tags removed together with everything inside them: their content is code or another document,
#: never text a reader of the post saw.
HIDDEN_TAGS = frozenset({"script", "style", "iframe", "template", "noembed", "noframes", "xmp"})

_MXC = re.compile(r"mxc://[A-Za-z0-9.\-:\[\]]+/[A-Za-z0-9_\-]+")
_COLOR = re.compile(r"#[0-9A-Fa-f]{6}")
_LANGUAGE = re.compile(r"language-[A-Za-z0-9_+#.\-]{1,40}")
_NUMBER = re.compile(r"[0-9]{1,6}")


def is_mxc(url: str) -> bool:
    """Whether ``url`` is a well-formed ``mxc://server/media-id`` content URI."""
    return _MXC.fullmatch(url) is not None


def is_link_url(url: str) -> bool:
    """Whether ``url`` is absolute with one of the schemes Matrix allows in ``a[href]``.

    A plain prefix test, not a URL parser: browsers and parsers disagree about oddities such as
    ``java\\tscript:``; a value that does not literally start with an allowed scheme is refused.
    """
    return url.lower().startswith(_LINK_PREFIXES)


def filter_attribute(tag: str, name: str, value: str) -> str | None:
    """The value an allowed attribute keeps, or ``None`` to drop it."""
    if name not in ALLOWED_ATTRIBUTES.get(tag, ()):
        return None
    if name == "href":
        return value if is_link_url(value) else None
    if name == "src":
        return value if is_mxc(value) else None
    if name == "class":  # only code[class], only language-*
        for token in value.split():
            if _LANGUAGE.fullmatch(token):
                return token
        return None
    if name in ("data-mx-color", "data-mx-bg-color"):
        return value if _COLOR.fullmatch(value) else None
    if name in ("width", "height", "start"):
        return value if _NUMBER.fullmatch(value) else None
    return value


def clean_attributes(tag: str, attrs: dict[str, str]) -> dict[str, str]:
    """The attributes of ``attrs`` that may stay on ``tag``, with their checked values."""
    kept: dict[str, str] = {}
    for name, value in attrs.items():
        checked = filter_attribute(tag, name, value)
        if checked is not None:
            kept[name] = checked
    return kept


def _nh3_filter(tag: str, name: str, value: str) -> str | None:
    return filter_attribute(tag, name, value)


def sanitize_matrix_html(markup: str) -> str:
    """Clean HTML down to the Matrix allow-list with nh3, then drop images without mxc sources.

    nh3 removes unknown tags (keeping their text), ``script``/``style``/``iframe`` with their
    content, every attribute outside the per-tag allow-list, and URLs with other schemes or none.
    An ``img`` whose ``src`` was refused would stay as an empty element, so it is removed here.
    """
    cleaned: str = nh3.clean(
        markup,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(HIDDEN_TAGS),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        attribute_filter=_nh3_filter,
        strip_comments=True,
        link_rel=None,
        url_schemes={*LINK_SCHEMES, "mxc"},
        url_relative="deny",
    )
    if "<img" not in cleaned:
        return cleaned
    nodes = parse_html(cleaned)
    _drop_bad_images(nodes)
    return serialize(nodes)


def _drop_bad_images(nodes: list[Node]) -> None:
    nodes[:] = [
        node
        for node in nodes
        if not (isinstance(node, Element) and node.tag == "img" and not is_mxc(node.get("src")))
    ]
    for node in nodes:
        if isinstance(node, Element):
            _drop_bad_images(node.children)


def visible_text(node: Node | list[Node]) -> str:
    """The text of a node a reader sees: without ``script``, ``style`` and the like."""
    return text_content(node, HIDDEN_TAGS)
