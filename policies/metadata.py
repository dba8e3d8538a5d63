"""``hide_metadata``: the topic's title, tags and category name stay on their side.

Peers leak through metadata as much as through text (docs/policies.md, "Tiers"; ActivityPub
bridges leak through titles, tags and category URLs). The copy
gets a neutral title, no tags and no category name, and any mention of them in the body goes.
"""

from __future__ import annotations

import unicodedata
from dataclasses import replace

from policies.facts import Content, Facts
from policies.markup import rewrite_text
from policies.names import pattern
from policies.rules import Change, Rewrite, RuleOptions, Transform

NAME = "hide_metadata"


class MetadataOptions(RuleOptions):
    """What stands in for the hidden title and for mentions of the hidden names."""

    title: str = "A discussion from a members-only space"
    placeholder: str = "[removed]"


def hide_metadata(options: MetadataOptions, facts: Facts, content: Content) -> Rewrite:
    """Replace the title, drop tags and category name, and scrub their mentions."""
    changes: list[Change] = []
    hidden = [
        name
        for name in (content.title, facts.title, content.category_name, facts.category_name)
        if name
    ]
    hidden += [*content.tags, *facts.tags]
    # Discourse writes the title into every link to the topic, as its slug (/t/<slug>/<id>).
    hidden += [slug for slug in (_slug(n) for n in (content.title, facts.title) if n) if slug]
    if facts.category_slug:
        hidden.append(facts.category_slug)
    found = pattern(hidden)
    scrubbed = 0

    def edit(text: str) -> str:
        nonlocal scrubbed
        if found is None:
            return text
        text, n = found.subn(options.placeholder, text)
        scrubbed += n
        return text

    body = rewrite_text(content, edit)
    if content.title is not None:
        changes.append(Change(NAME, "title"))
    if content.tags:
        changes.append(Change(NAME, "tag", len(content.tags)))
    if content.category_name is not None:
        changes.append(Change(NAME, "category name"))
    if scrubbed:
        changes.append(Change(NAME, "mention of the title, a tag or the category", scrubbed))
    hidden_content = replace(
        content,
        body=body,
        title=None if content.title is None else options.title,
        tags=(),
        category_name=None,
    )
    return Rewrite(hidden_content, tuple(changes))


def _slug(title: str) -> str:
    """Discourse's ASCII slug of a title (``Slug.ascii_generator``)."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    # Runs of anything but a-z and 0-9 become one "-", none at either end (as ``[^a-z0-9]+``
    # substituted and the ends trimmed): a table and a split rather than that pattern, which
    # substitutes match by match, and a title of "a." pairs is a match per pair.
    return "-".join(ascii_title.lower().translate(_NOT_SLUG).split())


#: Every ASCII character but a-z and 0-9, to a space (the text is ASCII by then).
_NOT_SLUG = {c: " " for c in range(128) if not ("a" <= chr(c) <= "z" or "0" <= chr(c) <= "9")}


TRANSFORM: Transform[MetadataOptions] = Transform(
    NAME,
    MetadataOptions,
    hide_metadata,
    order=30,
    doc="replace the title, drop tags and category name, scrub their mentions",
)
