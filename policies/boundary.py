"""The transforms that keep other topics' content behind the wall.

A published post can still carry what was never published: a quote of a restricted post, a
link (and the preview a client builds from it) into a restricted topic, or the restricted
topic's title that Discourse writes as the text of such a link. ``drop_restricted_quotes`` and
``neutralise_restricted_links`` remove them; every outward crossing gets both.

A topic counts as readable at the target only if the relay says so
(``Facts.readable_topic_ids``) or it is the topic being carried; anything else, including a
link whose topic cannot be told (``/p/<post>``, ``/c/...``, ``/tag/...``), counts as restricted.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlsplit

from policies.facts import BodyFormat, Content, Facts
from policies.linear import Found, Linear
from policies.markup import soup
from policies.rules import Change, Rewrite, RuleOptions, Transform

QUOTES = "drop_restricted_quotes"
LINKS = "neutralise_restricted_links"

# All RE2 patterns (linear time: a backtracking engine takes seconds on a long run of ``[``).
_TOPIC_PATH = Linear(r"^/(?:t|raw|print)/([^/?#]+)(?:/([^/?#]+))?")
# Forum paths whose target cannot be checked against the readable topics: a post permalink,
# categories and tags (their pages show restricted titles and names).
_OPAQUE_PATH = Linear(r"^/(?:p|c|tag|tags|posts)(?:/|$)")
# A link in text: absolute, or a forum path not glued to a word or a path (two patterns, since
# the boundary belongs to the second only; see _links).
_URL_ABSOLUTE = Linear(r"""(?:https?://|www\.)[^\s<>"'()\[\]]+""")
_URL_PATH = Linear(r"""/(?:t|p|c|tag|raw)/[^\s<>"'()\[\]]+""", not_after=r"\w/")
_MD_LINK = Linear(r"!?\[([^\]]*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_QUOTE_TOKEN = Linear(r"\[quote(?:=(\"[^\"]*\"|[^\]]*))?\]|\[/quote\]", ignore_case=True)
_QUOTE_TOPIC = Linear(r"topic:\s*(\d+)")


class QuoteOptions(RuleOptions):
    """What a dropped quote leaves in its place."""

    placeholder: str = "[quote removed]"


class LinkOptions(RuleOptions):
    """What a neutralised link or preview leaves in its place."""

    placeholder: str = "[link removed]"


def readable(topic_id: int | None, facts: Facts) -> bool:
    """Whether ``topic_id`` may be shown at the target tier (``None``: the carried topic)."""
    if topic_id is None or topic_id == facts.topic_id:
        return True
    return topic_id in facts.readable_topic_ids


def points_inside(url: str, facts: Facts) -> bool:
    """Whether ``url`` leads to forum content not known to be readable at the target."""
    url = url.strip()
    if url.lower().startswith("www."):
        url = "https://" + url
    try:
        parts = urlsplit(url)
    except ValueError:
        return True
    if parts.scheme and parts.scheme not in ("http", "https"):
        return False
    if parts.netloc:
        forum = urlsplit(facts.forum_url).netloc.lower() if facts.forum_url else None
        # Without the forum's address every forum-shaped link counts as the forum's.
        if forum is not None and parts.netloc.lower() != forum:
            return False
    elif not parts.path.startswith("/"):
        return False
    path = parts.path
    if facts.forum_url and parts.netloc:
        prefix = urlsplit(facts.forum_url).path.rstrip("/")
        if prefix and path.startswith(prefix):
            path = path[len(prefix) :]
    if _OPAQUE_PATH.match(path):
        return True
    topic = _TOPIC_PATH.match(path)
    if topic is None:
        return False
    # /t/<slug>/<id>, /t/<id>/<post>: either number may be the topic, so both must be readable.
    numbers = [int(s) for s in topic.groups() if s is not None and s.isdigit()]
    return not numbers or not all(readable(n, facts) for n in numbers)


def drop_restricted_quotes(options: QuoteOptions, facts: Facts, content: Content) -> Rewrite:
    """Replace quotes of posts in topics not readable at the target with a placeholder."""
    dropped = 0
    if content.format is BodyFormat.HTML:
        document = soup(content.body)
        # Discourse cooks a quote (and an internal topic preview) as <aside class="quote"
        # data-topic=...>; without data-topic it quotes the topic it is in.
        for aside in document.select("aside.quote"):
            if aside.decomposed:
                continue
            topic = str(aside.get("data-topic") or "")
            if readable(int(topic) if topic.isdigit() else None, facts):
                continue
            note = document.new_tag("p")
            note.string = options.placeholder
            aside.insert_before(note)
            aside.decompose()
            dropped += 1
        body = str(document) if dropped else content.body
    elif content.format is BodyFormat.MARKDOWN:
        body, dropped = _drop_bbcode_quotes(content.body, facts, options.placeholder)
    else:
        body = content.body
    changes = (Change(QUOTES, "quote of a restricted post", dropped),) if dropped else ()
    return Rewrite(replace(content, body=body), changes)


def _drop_bbcode_quotes(text: str, facts: Facts, placeholder: str) -> tuple[str, int]:
    spans: list[tuple[int, int, str | None]] = []
    stack: list[tuple[int, str | None]] = []
    for token in _QUOTE_TOKEN.finditer(text):
        if token.group(0).lower() != "[/quote]":
            stack.append((token.start(), token.group(1) if token.matched(1) else None))
        elif stack:
            start, params = stack.pop()
            if not stack:
                spans.append((start, token.end(), params))
    # An unclosed quote runs to the end of the post (Discourse renders it so).
    if stack:
        start, params = stack[0]
        spans.append((start, len(text), params))
    dropped = 0
    for start, end, params in reversed(spans):
        inner = text[start:end]
        topics = [int(t) for t in _QUOTE_TOPIC.findall(params or "")]
        nested = [int(t) for t in _QUOTE_TOPIC.findall(inner)]
        topic_ids: list[int | None] = [*topics, *nested] or [None]
        if all(readable(t, facts) for t in topic_ids):
            continue
        text = text[:start] + placeholder + text[end:]
        dropped += 1
    return text, dropped


def _links(text: str) -> list[tuple[int, int]]:
    """The links of :data:`_URL_ABSOLUTE` and :data:`_URL_PATH` in ``text``, leftmost first and
    not overlapping, as one alternation of the two would find them."""
    spans = sorted(
        [m.span() for m in _URL_ABSOLUTE.finditer(text)]
        + [m.span() for m in _URL_PATH.finditer(text)]
    )
    out: list[tuple[int, int]] = []
    for start, end in spans:
        if not out or start >= out[-1][1]:
            out.append((start, end))
    return out


def neutralise_restricted_links(options: LinkOptions, facts: Facts, content: Content) -> Rewrite:
    """Replace links into restricted topics, and their previews, with a placeholder.

    The whole link goes, text included: Discourse writes the linked topic's title as the text.
    """
    count = 0

    def bare(text: str) -> str:
        nonlocal count

        out: list[str] = []
        at = 0
        for start, end in _links(text):
            if points_inside(text[start:end], facts):
                out.append(text[at:start] + options.placeholder)
                at = end
                count += 1
        return "".join(out) + text[at:]

    if content.format is BodyFormat.HTML:
        document = soup(content.body)
        for tag in document.select("[data-onebox-src]"):
            if not tag.decomposed and points_inside(str(tag["data-onebox-src"]), facts):
                tag.decompose()
                count += 1
        for anchor in document.find_all("a", href=True):
            if points_inside(str(anchor["href"]), facts):
                anchor.replace_with(options.placeholder)
                count += 1
        for tag in document.find_all(src=True):
            if points_inside(str(tag["src"]), facts):
                tag.decompose()
                count += 1
        for node in list(document.find_all(string=True)):
            new = bare(str(node))
            if new != node:
                node.replace_with(new)
        body = str(document) if count else content.body
    else:

        def md(match: Found) -> str:
            nonlocal count
            if not points_inside(match.group(2), facts):
                return match.group(0)
            count += 1
            return options.placeholder

        body = bare(
            _MD_LINK.sub(md, content.body)
            if content.format is BodyFormat.MARKDOWN
            else content.body
        )
    changes = (Change(LINKS, "link into a restricted topic", count),) if count else ()
    return Rewrite(replace(content, body=body), changes)


QUOTE_TRANSFORM: Transform[QuoteOptions] = Transform(
    QUOTES,
    QuoteOptions,
    drop_restricted_quotes,
    order=10,
    doc="drop quotes of posts in topics not readable at the target",
)
LINK_TRANSFORM: Transform[LinkOptions] = Transform(
    LINKS,
    LinkOptions,
    neutralise_restricted_links,
    order=20,
    doc="replace links and previews pointing into restricted topics",
)
