"""Bot mode names each forum post's author in its copy, since one account sends them all.

The line comes from ``matrix.bot.author_template`` (markdown, like
``relay.chat_sender_template`` the other way): ``**alice** (forum): ...`` by default, bold in
``formatted_body`` and plain in ``body``.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import quote

from bridges.formatting import escape_markdown, markdown_to_matrix
from bridges.model import Author

_HTML = "org.matrix.custom.html"


def author_line(author: Author, template: str, forum_url: str) -> tuple[str, str]:
    """The line naming ``author``: (plain text, HTML). Names are text, never markdown."""
    line = template.format(
        name=escape_markdown(author.display_name),
        username=escape_markdown(author.username),
        profile_url=f"{forum_url.rstrip('/')}/u/{quote(author.username, safe='')}",
    )
    rendered = markdown_to_matrix(line)
    body = rendered.body.strip()
    formatted = (rendered.formatted_body or html.escape(body)).strip()
    # One line in front of the message, not a paragraph of its own.
    if formatted.startswith("<p>") and formatted.endswith("</p>"):
        formatted = formatted[3:-4]
    return body, formatted


def name_author(
    content: dict[str, Any], author: Author, template: str, forum_url: str
) -> dict[str, Any]:
    """``content`` (an ``m.room.message``) with the author's line in front of its text."""
    body, formatted = author_line(author, template, forum_url)
    text_html = content.get("formatted_body") or html.escape(str(content["body"])).replace(
        "\n", "<br>"
    )
    named = dict(content)
    named["body"] = f"{body} {content['body']}"
    named["format"] = _HTML
    if text_html.startswith("<p>"):
        named["formatted_body"] = f"<p>{formatted} {text_html[3:]}"
    else:
        named["formatted_body"] = f"<p>{formatted}</p>{text_html}"
    return named
