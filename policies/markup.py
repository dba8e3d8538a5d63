"""Reading and rewriting bodies in their format: HTML through a parser, source text as text.

Transforms rewrite what a reader sees (text and attribute values) and never the markup itself,
so a name that happens to be a tag or attribute name cannot break the document.
"""

from __future__ import annotations

from collections.abc import Callable

from bs4 import BeautifulSoup
from bs4.element import Comment, NavigableString

from policies.facts import BodyFormat, Content


def soup(html: str) -> BeautifulSoup:
    """``html`` parsed with the standard library's parser (no native dependency)."""
    return BeautifulSoup(html, "html.parser")


def rewrite_text(content: Content, edit: Callable[[str], str]) -> str:
    """The body with ``edit`` applied to every piece of text a reader could see.

    For HTML that is every text node and every attribute value (links, titles, ``data-*``);
    comments are dropped, since nobody needs them on the other side.
    """
    if content.format is not BodyFormat.HTML:
        return edit(content.body)
    document = soup(content.body)
    for comment in document.find_all(string=lambda s: isinstance(s, Comment)):
        comment.extract()
    for node in list(document.find_all(string=True)):
        new = edit(str(node))
        if new != node:
            node.replace_with(NavigableString(new))
    for tag in document.find_all(True):
        for key, value in list(tag.attrs.items()):
            if isinstance(value, str):
                tag.attrs[key] = edit(value)
            elif isinstance(value, list):
                value[:] = [edit(v) for v in value]
    return str(document)
