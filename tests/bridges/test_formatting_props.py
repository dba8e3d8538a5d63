"""Properties of the formatting functions over generated HTML and text.

The allow-list below is written out from the spec here, not imported, so that a mistake in
``bridges.formatting``'s own list cannot make these tests agree with it.
https://spec.matrix.org/v1.13/client-server-api/#mroommessage-msgtypes
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from html.parser import HTMLParser

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from bridges.formatting import (
    forum_to_matrix,
    markdown_to_matrix,
    matrix_to_forum,
    sanitize_matrix_html,
    title_from_text,
)
from bridges.model import ContentURI, UserID

SPEC_TAGS = {
    "del", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "p", "a", "ul", "ol", "sup", "sub",
    "li", "b", "i", "u", "strong", "em", "s", "code", "hr", "br", "div", "table", "thead",
    "tbody", "tr", "th", "td", "caption", "pre", "span", "img", "details", "summary",
}  # fmt: skip
SPEC_ATTRIBUTES = {
    "a": {"href"},
    "img": {"src", "alt", "title", "width", "height"},
    "code": {"class"},
    "span": {"data-mx-color", "data-mx-bg-color", "data-mx-spoiler", "data-mx-maths"},
    "div": {"data-mx-maths"},
    "ol": {"start"},
}
LINK_PREFIXES = ("http://", "https://", "ftp://", "mailto:", "magnet:")

PROPS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- checking the output with a real parser ------------------------------------------------------


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, attrs))


def assert_matrix_safe(markup: str | None) -> None:
    """Every tag, attribute and URL in ``markup`` is within the Matrix allow-list."""
    if markup is None:
        return
    parser = _Collect()
    parser.feed(markup)
    parser.close()
    for tag, attrs in parser.elements:
        assert tag in SPEC_TAGS, f"tag <{tag}> in {markup!r}"
        names = [name for name, _ in attrs]
        if tag == "img":
            assert "src" in names, f"img without src in {markup!r}"
        for name, value in attrs:
            assert not name.startswith("on"), f"handler {name} in {markup!r}"
            assert name in SPEC_ATTRIBUTES.get(tag, set()), f"{tag}[{name}] in {markup!r}"
            value = value or ""
            if name == "href":
                assert value.lower().startswith(LINK_PREFIXES), f"href {value!r} in {markup!r}"
            if name == "src":
                assert value.startswith("mxc://"), f"src {value!r} in {markup!r}"
            if name == "class":
                assert value.startswith("language-"), f"class {value!r} in {markup!r}"


def unspaced(text: str) -> str:
    # (without the invisible word joiners that keep "@name" from mentioning on the forum)
    return "".join(text.replace("\u2060", "").split())


def squash(text: str) -> str:
    """Text compared modulo whitespace (and the ``>`` quote prefixes the body adds to lines)."""
    return unspaced(text).replace(">", "")


# --- generated HTML ------------------------------------------------------------------------------

CONTAINERS = [
    "p", "div", "span", "b", "i", "u", "strong", "em", "s", "del", "code", "pre", "blockquote",
    "a", "ul", "ol", "li", "h1", "h3", "sup", "sub", "table", "thead", "tbody", "tr", "td", "th",
    "caption", "details", "summary",
    # outside the allow-list
    "object", "svg", "math", "form", "font", "section", "aside", "mark", "marquee", "center",
    "button", "label", "select", "textarea", "video", "noscript",
]  # fmt: skip
VOIDS = ["br", "hr", "img", "input", "embed", "wbr", "source"]
#: Their content is not text a reader sees (script/style are raw text: only text inside).
RAW_HIDDEN = ["script", "style"]
HIDDEN = [*RAW_HIDDEN, "iframe"]

ATTRIBUTES = [
    ("onclick", "alert(1)"), ("onerror", "steal()"), ("onload", "x()"), ("onmouseover", "x()"),
    ("onfocus", "x()"), ("href", "javascript:alert(1)"), ("href", "JaVaScRiPt:alert(1)"),
    ("href", " javascript:alert(1)"), ("href", "java\tscript:alert(1)"),
    ("href", "javascript&colon;alert(1)"), ("href", "&#106;avascript:alert(1)"),
    ("href", "data:text/html,<script>alert(1)</script>"), ("href", "vbscript:msgbox(1)"),
    ("href", "/t/topic/1"), ("href", "https://ok.example/x"), ("href", "mailto:a@b.example"),
    ("href", "#fragment"), ("href", "//other.example/x"), ("href", "ftp://files.example/f"),
    ("href", "https://matrix.to/#/@u:example.org"), ("src", "javascript:alert(1)"),
    ("src", "data:image/png;base64,AAAA"), ("src", "/uploads/known.png"),
    ("src", "/uploads/unknown.png"), ("src", "https://elsewhere.example/known.png"),
    ("src", "mxc://example.org/abc"), ("src", "mxc://bad/../x"), ("style", "color:red"),
    ("class", "spoiler"), ("class", "mention"), ("class", "lang-python"),
    ("class", "language-js"), ("class", "foo bar"), ("data-mx-spoiler", ""),
    ("data-mx-color", "#ff0000"), ("data-mx-color", "red;background:url(x)"), ("id", "x"),
    ("title", "t"), ("alt", "an image"), ("width", "10"), ("start", "3"), ("srcset", "/a 1x"),
    ("formaction", "javascript:alert(1)"), ("xlink:href", "javascript:alert(1)"),
    ("data-username", "bob"), ("name", "n"), ("target", "_blank"),
]  # fmt: skip


@dataclass
class GenText:
    text: str


@dataclass
class GenElement:
    tag: str
    attrs: list[tuple[str, str]]
    children: list[GenNode] = field(default_factory=list)


GenNode = GenText | GenElement


def render(nodes: list[GenNode]) -> str:
    out = []
    for node in nodes:
        if isinstance(node, GenText):
            out.append(html.escape(node.text, quote=False))
            continue
        attrs = "".join(f' {name}="{html.escape(value)}"' for name, value in node.attrs)
        out.append(f"<{node.tag}{attrs}>")
        if node.tag not in VOIDS:
            out.append(render(node.children) + f"</{node.tag}>")
    return "".join(out)


def visible_texts(nodes: list[GenNode], hidden: bool = False) -> list[str]:
    texts: list[str] = []
    for node in nodes:
        if isinstance(node, GenText):
            if not hidden:
                texts.append(node.text)
        else:
            texts.extend(visible_texts(node.children, hidden or node.tag in HIDDEN))
    return texts


words = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\r")
    | st.sampled_from(" \n\t<>&\"'*_`[]#-|~@:!"),
    min_size=1,
    max_size=12,
)
texts = st.builds(GenText, words)
attributes = st.lists(st.sampled_from(ATTRIBUTES), max_size=3, unique_by=lambda a: a[0])


def _extend(children: st.SearchStrategy[list[GenNode]]) -> st.SearchStrategy[GenNode]:
    return st.one_of(
        st.builds(GenElement, st.sampled_from(CONTAINERS), attributes, children),
        st.builds(GenElement, st.sampled_from(VOIDS), attributes),
        st.builds(
            GenElement, st.sampled_from(RAW_HIDDEN), attributes, st.lists(texts, max_size=1)
        ),
        st.builds(GenElement, st.just("iframe"), attributes, children),
    )


trees: st.SearchStrategy[GenNode] = st.recursive(
    texts, lambda inner: _extend(st.lists(inner, max_size=4)), max_leaves=25
)
documents = st.lists(trees, min_size=1, max_size=5)


def known_user(username: str) -> UserID | None:
    return UserID(f"@{username}:example.org") if username.startswith("a") else None


def mirror(url: str) -> ContentURI | None:
    return ContentURI("mxc://example.org/mirrored") if "/known" in url else None


# --- forum -> Matrix -----------------------------------------------------------------------------


@PROPS
@given(documents)
def test_forum_html_is_sanitised_to_the_allow_list(doc: list[GenNode]) -> None:
    content = forum_to_matrix(
        render(doc), base_url="https://forum.example.org", mentions=known_user, media=mirror
    )
    assert_matrix_safe(content.formatted_body)


@PROPS
@given(documents)
def test_body_keeps_every_visible_text(doc: list[GenNode]) -> None:
    content = forum_to_matrix(
        render(doc), base_url="https://forum.example.org", mentions=known_user, media=mirror
    )
    body = squash(content.body)
    for text in visible_texts(doc):
        assert squash(text) in body, f"{text!r} missing from body {content.body!r}"


@PROPS
@given(documents)
def test_hidden_content_never_reaches_matrix(doc: list[GenNode]) -> None:
    secret = "S3cr3tPayload"
    wrapped = [GenElement(tag, [], [GenText(secret)]) for tag in HIDDEN]
    content = forum_to_matrix(render([*doc, *wrapped]), base_url="https://forum.example.org")
    assert secret not in content.body
    assert secret not in (content.formatted_body or "")


@PROPS
@given(documents)
def test_nh3_pass_alone_enforces_the_allow_list(doc: list[GenNode]) -> None:
    assert_matrix_safe(sanitize_matrix_html(render(doc)))


# --- markdown -> Matrix --------------------------------------------------------------------------

markdown_bits = st.sampled_from(
    [
        "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "[x](javascript:alert(1))",
        "[y](JaVaScRiPt:alert(1))", "![i](data:image/png;base64,AAAA)", "![k](/uploads/known.png)",
        "<a href='javascript:x'>a</a>", "<iframe src=//evil>", "**", "*", "_", "`", "```\n",
        "~~", "> ", "# ", "- ", "1. ", "| a | b |\n|---|---|\n", "\n", "\n\n", "@alice", "@bob",
        "<https://ok.example>", "[ok](https://ok.example)", "&amp;", "&#x3C;", "\\",
    ]
)  # fmt: skip


@PROPS
@given(st.lists(markdown_bits | words, max_size=12).map("".join))
def test_markdown_never_yields_unsafe_html(raw: str) -> None:
    content = markdown_to_matrix(
        raw, base_url="https://forum.example.org", mentions=known_user, media=mirror
    )
    assert_matrix_safe(content.formatted_body)


# --- Matrix -> forum -----------------------------------------------------------------------------

# How the forum reads the markdown: CommonMark (with raw HTML on, as Discourse allows some), GFM
# tables and strikethrough, newlines as line breaks.
_FORUM_MARKDOWN = MarkdownIt("commonmark", {"breaks": True}).enable(["table", "strikethrough"])


class _Rendered(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def forum_reads(raw: str) -> _Rendered:
    rendered = _Rendered()
    rendered.feed(_FORUM_MARKDOWN.render(raw))
    rendered.close()
    return rendered


@PROPS
@given(st.lists(words | st.just("<br>"), min_size=1, max_size=8))
def test_text_from_matrix_reads_literally_on_the_forum(pieces: list[str]) -> None:
    markup = "".join(p if p == "<br>" else html.escape(p, quote=False) for p in pieces)
    raw = matrix_to_forum("", markup)
    forum = forum_reads(raw)
    # bare URLs become links (autolinks); nothing else is read as markup
    assert set(forum.tags) <= {"p", "br", "a"}, f"{markup!r} became {raw!r}"
    typed = "".join(p for p in pieces if p != "<br>")
    assert unspaced("".join(forum.text)) == unspaced(typed), f"{markup!r} became {raw!r}"


inline_tags = st.sampled_from(["b", "strong", "i", "em", "del", "s", "code", "a"])


def _inline(children: st.SearchStrategy[list[GenNode]]) -> st.SearchStrategy[GenNode]:
    return st.builds(
        GenElement,
        inline_tags,
        st.just([("href", "https://ok.example/p")]),
        children,
    )


inline_trees: st.SearchStrategy[GenNode] = st.recursive(
    texts, lambda inner: _inline(st.lists(inner, min_size=1, max_size=3)), max_leaves=10
)


@PROPS
@given(st.lists(inline_trees, min_size=1, max_size=4))
def test_formatted_text_from_matrix_keeps_its_words_on_the_forum(doc: list[GenNode]) -> None:
    markup = render(doc)
    raw = matrix_to_forum("", markup)
    forum = forum_reads(raw)
    allowed = {"p", "br", "strong", "em", "s", "del", "code", "a"}
    assert set(forum.tags) <= allowed, f"{markup!r} became {raw!r}"
    typed = "".join(visible_texts(doc))
    assert unspaced("".join(forum.text)) == unspaced(typed), f"{markup!r} became {raw!r}"


@PROPS
@given(documents)
def test_any_matrix_html_becomes_markdown_without_raw_html(doc: list[GenNode]) -> None:
    raw = matrix_to_forum("", render(doc))
    forum = forum_reads(raw)
    produced = {
        "p", "br", "strong", "em", "s", "del", "code", "pre", "a", "blockquote", "ul", "ol",
        "li", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "table", "thead", "tbody", "tr", "th",
        "td", "sup", "sub",
    }  # fmt: skip
    assert set(forum.tags) <= produced, f"{render(doc)!r} became {raw!r}"


# --- titles --------------------------------------------------------------------------------------


bounds = st.integers(0, 40).flatmap(
    lambda lo: st.tuples(st.just(lo), st.integers(max(lo, 1), 300))
)


@PROPS
@given(st.text(max_size=400), bounds)
def test_titles_respect_their_bounds(text: str, lengths: tuple[int, int]) -> None:
    min_length, max_length = lengths
    title = title_from_text(text, min_length=min_length, max_length=max_length)
    assert min_length <= len(title) <= max_length
    assert "\n" not in title
    assert title == title.strip()
