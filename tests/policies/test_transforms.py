from __future__ import annotations

from policies.anonymise import Alias, anonymise
from policies.boundary import (
    LinkOptions,
    QuoteOptions,
    drop_restricted_quotes,
    neutralise_restricted_links,
    points_inside,
)
from policies.facts import BodyFormat, Content, Facts
from policies.metadata import MetadataOptions, hide_metadata
from policies.pii import PersonalDataOptions, remove_personal_data
from policies.tiers import Tier

FACTS = Facts(
    Tier.RESTRICTED,
    Tier.OPEN,
    topic_id=10,
    forum_url="https://forum.example.org",
    readable_topic_ids=frozenset({20}),
    author_groups=frozenset({"staff"}),
    author_username="alice",
    title="Secret budget",
    category_name="Council officers",
    tags=frozenset({"internal"}),
)


def test_quotes_of_restricted_topics_are_dropped_and_readable_ones_kept() -> None:
    body = (
        '<p>As said:</p><aside class="quote" data-topic="30" data-post="2"><blockquote>'
        "the hidden plan</blockquote></aside>"
        '<aside class="quote" data-topic="20"><blockquote>public words</blockquote></aside>'
        '<aside class="quote" data-post="1"><blockquote>same topic</blockquote></aside>'
    )
    out = drop_restricted_quotes(QuoteOptions(), FACTS, Content(body))
    assert "hidden plan" not in out.content.body
    assert "public words" in out.content.body and "same topic" in out.content.body
    assert "[quote removed]" in out.content.body
    assert [(c.what, c.count) for c in out.changes] == [("quote of a restricted post", 1)]


def test_markdown_quotes_nested_or_unclosed_are_dropped() -> None:
    body = (
        '[quote="bob, post:2, topic:30"]outer [quote="carol, post:1, topic:20"]inner[/quote]'
        ' more[/quote] kept text [quote="dan, post:3, topic:31"]tail without end'
    )
    out = drop_restricted_quotes(QuoteOptions(), FACTS, Content(body, BodyFormat.MARKDOWN))
    assert out.content.body == "[quote removed] kept text [quote removed]"


def test_links_and_previews_into_restricted_topics_are_neutralised() -> None:
    body = (
        '<p><a href="https://forum.example.org/t/secret-budget/30">Secret budget</a>, '
        '<a href="/t/open-thread/20">open thread</a>, '
        '<a href="https://elsewhere.example/t/x/30">elsewhere</a>, bare '
        "https://forum.example.org/t/31 too.</p>"
        '<aside class="onebox" data-onebox-src="https://forum.example.org/t/secret/30">'
        "<h3>Secret budget</h3></aside>"
    )
    out = neutralise_restricted_links(LinkOptions(), FACTS, Content(body))
    assert "Secret budget" not in out.content.body
    assert "/t/31" not in out.content.body and "/t/secret" not in out.content.body
    assert '<a href="/t/open-thread/20">open thread</a>' in out.content.body
    assert "https://elsewhere.example/t/x/30" in out.content.body
    assert out.changes[0].count == 3


def test_markdown_links_lose_their_text_too() -> None:
    body = (
        "see [the plan](https://forum.example.org/t/plan/30) and <https://forum.example.org/p/77>"
    )
    out = neutralise_restricted_links(LinkOptions(), FACTS, Content(body, BodyFormat.MARKDOWN))
    assert out.content.body == "see [link removed] and <[link removed]>"


def test_what_counts_as_a_link_into_the_forum() -> None:
    assert points_inside("https://forum.example.org/t/x/30/4", FACTS)
    assert points_inside("https://forum.example.org/c/council/5", FACTS)
    assert not points_inside("https://forum.example.org/t/x/20", FACTS)
    assert not points_inside("https://forum.example.org/u/alice", FACTS)
    assert not points_inside("mailto:x@example.org", FACTS)
    # Without the forum's address any forum-shaped link is treated as the forum's.
    unknown = Facts(Tier.RESTRICTED, Tier.OPEN)
    assert points_inside("https://anywhere.example/t/x/30", unknown)


def test_personal_data_goes_and_only_counts_are_recorded() -> None:
    body = (
        '<p>Mail <a href="mailto:jo.doe+x@mail.example.co.uk">jo.doe+x@mail.example.co.uk</a>'
        ", ring 020 7946 0958 or +1 (202) 555-0143, meet on 2024-05-06.</p>"
    )
    options = PersonalDataOptions(region="GB")
    out = remove_personal_data(options, FACTS, Content(body, title="call 07700 900123"))
    assert "jo.doe" not in out.content.body and "mail.example" not in out.content.body
    assert "7946" not in out.content.body and "555-0143" not in out.content.body
    assert "2024-05-06" in out.content.body
    assert out.content.title == "call [phone removed]"
    assert {(c.what, c.count) for c in out.changes} == {
        ("email address", 2),
        ("phone number", 3),
    }


def test_anonymise_replaces_the_author_everywhere() -> None:
    body = (
        '<p>Alice Smith here; ping <a class="mention" href="/u/alice">@alice</a>.</p>'
        '<aside class="quote" data-username="alice"><blockquote>Smith said</blockquote></aside>'
    )
    content = Content(body, author_display_name="Alice Smith", author_username="alice")
    options = (
        Alias(groups=("admins",), **{"as": "Admins"}),
        Alias(groups=("staff",), **{"as": "Policy team"}),
    )
    out = anonymise(options, FACTS, content)
    assert out.content.author_display_name == "Policy team"
    assert out.content.author_username is None
    for name in ("Alice", "alice", "Smith"):
        assert name not in out.content.body


def test_anonymise_leaves_authors_outside_the_groups() -> None:
    options = (Alias(groups=("staff",), **{"as": "Policy team"}),)
    member = Facts(Tier.RESTRICTED, Tier.OPEN, author_groups=frozenset({"trust_level_1"}))
    content = Content("<p>hi</p>", author_display_name="Bob")
    assert anonymise(options, member, content).content == content


def test_hide_metadata_keeps_title_tags_and_category_on_their_side() -> None:
    content = Content(
        "<p>About the Secret budget in Council officers (#internal).</p>",
        title="Secret budget",
        tags=("internal",),
        category_name="Council officers",
    )
    out = hide_metadata(MetadataOptions(), FACTS, content)
    assert out.content.title == "A discussion from a members-only space"
    assert out.content.tags == () and out.content.category_name is None
    for leak in ("Secret budget", "Council officers", "internal"):
        assert leak not in out.content.body
