"""Message content between Discourse and Matrix, sanitised.

- :func:`forum_to_matrix`: a post's cooked HTML to ``m.room.message`` content;
- :func:`markdown_to_matrix`: markdown porch composes itself, likewise;
- :func:`matrix_to_forum`: a Matrix message to Discourse markdown (:func:`plain_to_forum` for
  a plain body); :func:`forum_reading`: the text forum readers see of such markdown;
- :func:`title_from_text`, :func:`excerpt`: short texts for titles and previews.

Everything here is a pure function: no I/O; images and mentions are looked up through callbacks.
Every Matrix-bound ``formatted_body`` passes nh3 with the spec's allow-list
(https://spec.matrix.org/v1.13/client-server-api/#mroommessage-msgtypes).
"""

from __future__ import annotations

from bridges.formatting.content import MatrixContent, Mention
from bridges.formatting.sanitize import ALLOWED_ATTRIBUTES, ALLOWED_TAGS, sanitize_matrix_html
from bridges.formatting.titles import excerpt, title_from_text
from bridges.formatting.to_forum import (
    escape_markdown,
    forum_reading,
    matrix_to_forum,
    plain_to_forum,
    strip_reply_fallback,
)
from bridges.formatting.to_matrix import forum_to_matrix, markdown_to_matrix, pill_url

__all__ = [
    "ALLOWED_ATTRIBUTES",
    "ALLOWED_TAGS",
    "MatrixContent",
    "Mention",
    "escape_markdown",
    "excerpt",
    "forum_reading",
    "forum_to_matrix",
    "markdown_to_matrix",
    "matrix_to_forum",
    "pill_url",
    "plain_to_forum",
    "sanitize_matrix_html",
    "strip_reply_fallback",
    "title_from_text",
]
