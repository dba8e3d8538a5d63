"""Message content between Discourse and Matrix: the rewrites users see, one by one."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from bridges.formatting import (
    MatrixContent,
    Mention,
    excerpt,
    forum_to_matrix,
    markdown_to_matrix,
    matrix_to_forum,
    sanitize_matrix_html,
    title_from_text,
)
from bridges.model import ContentURI, UserID

FORUM = "https://forum.example.org"
ALICE = UserID("@forum_alice:example.org")
MIRRORED = ContentURI("mxc://example.org/mirrored1")


def mentions(username: str) -> UserID | None:
    return ALICE if username == "alice" else None


def media(url: str) -> ContentURI | None:
    """The media repository knows forum uploads whose name contains "known"."""
    return MIRRORED if "known" in url else None


def to_matrix(cooked: str) -> MatrixContent:
    return forum_to_matrix(cooked, base_url=FORUM, mentions=mentions, media=media)


def html_of(cooked: str) -> str:
    content = to_matrix(cooked)
    assert content.formatted_body is not None, content
    return content.formatted_body


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(markup: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(markup)
    parser.close()
    return parser.tags


# --- forum -> Matrix -----------------------------------------------------------------------------


def test_plain_paragraphs_need_no_formatted_body() -> None:
    content = to_matrix("<p>Hello there</p>\n<p>Second line</p>")
    assert content == MatrixContent("Hello there\n\nSecond line", None)


def test_inline_formatting_survives() -> None:
    content = to_matrix("<p><strong>bold</strong> <em>it</em> <s>gone</s> <code>x()</code></p>")
    assert content.formatted_body == (
        "<p><strong>bold</strong> <em>it</em> <s>gone</s> <code>x()</code></p>"
    )
    assert content.body == "bold it gone x()"


def test_relative_links_become_absolute_on_the_forum() -> None:
    content = to_matrix('<p>See <a href="/t/welcome/12/3">this reply</a></p>')
    assert content.formatted_body == (
        '<p>See <a href="https://forum.example.org/t/welcome/12/3">this reply</a></p>'
    )
    assert content.body == "See this reply (https://forum.example.org/t/welcome/12/3)"


def test_link_whose_text_is_its_url_is_not_repeated_in_body() -> None:
    content = to_matrix('<p><a href="https://example.com/">https://example.com/</a></p>')
    assert content.body == "https://example.com/"


def test_forum_under_a_subfolder_keeps_its_paths() -> None:
    content = forum_to_matrix(
        '<p><a href="/forum/t/x/1">topic</a> <a href="relative/page">page</a></p>',
        base_url="https://example.org/forum",
    )
    hrefs = [attrs["href"] for tag, attrs in tags(content.formatted_body or "") if tag == "a"]
    assert hrefs == ["https://example.org/forum/t/x/1", "https://example.org/forum/relative/page"]


def test_quote_keeps_who_is_quoted_and_drops_the_title_bar() -> None:
    cooked = (
        '<aside class="quote no-group" data-username="bob" data-post="2" data-topic="12">\n'
        '<div class="title">\n<div class="quote-controls"></div>\n'
        '<img alt="" width="24" height="24" src="/user_avatar/forum/bob/48/1_2.png" '
        'class="avatar"> bob:</div>\n'
        "<blockquote>\n<p>the original words</p>\n</blockquote>\n</aside>\n"
        "<p>my answer</p>"
    )
    content = to_matrix(cooked)
    assert content.formatted_body is not None
    assert content.formatted_body.replace("\n", "") == (
        "<blockquote><p>bob wrote:</p><p>the original words</p></blockquote><p>my answer</p>"
    )
    assert content.body == "> bob wrote:\n>\n> the original words\n\nmy answer"
    assert "user_avatar" not in content.formatted_body


def test_preview_of_a_linked_topic_becomes_just_the_link() -> None:
    cooked = (
        '<aside class="quote quote-modified" data-post="1" data-topic="99">'
        '<div class="title"><img class="avatar" src="/user_avatar/x.png">'
        '<a href="/t/staff-only-plans/99">Staff-only plans</a></div>'
        "<blockquote><p>Excerpt of a restricted topic</p></blockquote></aside>"
    )
    content = to_matrix(cooked)
    assert content.body == "https://forum.example.org/t/staff-only-plans/99"
    assert "Excerpt" not in (content.formatted_body or "")


def test_mention_of_a_known_user_becomes_a_pill() -> None:
    content = to_matrix(
        '<p>Thanks <a class="mention" href="/u/alice">@alice</a> and '
        '<a class="mention" href="/u/carol">@carol</a>!</p>'
    )
    assert content.formatted_body == (
        '<p>Thanks <a href="https://matrix.to/#/@forum_alice:example.org">@alice</a>'
        " and @carol!</p>"
    )
    assert content.body == "Thanks @alice and @carol!"
    assert content.mentions == (Mention("alice", ALICE),)
    assert content.mentioned_user_ids == [ALICE]


def test_group_mention_is_plain_text() -> None:
    content = to_matrix('<p><a class="mention-group" href="/groups/staff">@staff</a> hi</p>')
    assert content == MatrixContent("@staff hi", None)


def test_spoilers_become_matrix_spoilers() -> None:
    content = to_matrix(
        '<p>Ending: <span class="spoiler">everyone lives</span></p>'
        '<div class="spoiler"><p>the whole plot</p></div>'
    )
    assert content.formatted_body == (
        '<p>Ending: <span data-mx-spoiler="">everyone lives</span></p>'
        '<span data-mx-spoiler=""><p>the whole plot</p></span>'
    )
    assert content.body == "Ending: ||everyone lives||\n\n||the whole plot||"


def test_emoji_images_become_characters() -> None:
    content = to_matrix(
        '<p>Nice <img src="/images/emoji/twitter/slight_smile.png?v=12" title=":slight_smile:" '
        'class="emoji" alt=":slight_smile:" loading="lazy" width="20" height="20"> '
        '<img class="emoji" title=":+1:t4:" alt=":+1:t4:" src="/images/emoji/twitter/+1/4.png"> '
        '<img class="emoji emoji-custom" title=":partyparrot:" alt=":partyparrot:" '
        'src="/uploads/default/original/1X/parrot.gif"></p>'
    )
    assert content == MatrixContent("Nice \U0001f642 \U0001f44d\U0001f3fd :partyparrot:", None)


def test_onebox_becomes_a_single_link_to_its_source() -> None:
    cooked = (
        '<aside class="onebox allowlistedgeneric" data-onebox-src="https://news.example/story">'
        '<header class="source"><img src="https://news.example/favicon.ico" class="site-icon">'
        '<a href="https://news.example/story" target="_blank">news.example</a></header>'
        '<article class="onebox-body"><img src="https://news.example/thumb.jpg" class="thumbnail">'
        '<h3><a href="https://news.example/story">A headline</a></h3><p>Teaser text</p>'
        "</article></aside>"
    )
    content = to_matrix(cooked)
    assert content.formatted_body == (
        '<p><a href="https://news.example/story">https://news.example/story</a></p>'
    )
    assert content.body == "https://news.example/story"


def test_inline_onebox_shows_the_url_not_the_fetched_title() -> None:
    content = to_matrix(
        '<p>see <a href="https://forum.example.org/t/secret/7" class="inline-onebox">'
        "Secret topic title</a></p>"
    )
    assert "Secret" not in content.body
    assert content.body == "see https://forum.example.org/t/secret/7"


def test_video_onebox_becomes_a_link() -> None:
    cooked = (
        '<div class="youtube-onebox lazy-video-container" data-video-id="abc" '
        'data-video-title="Title" data-provider-name="youtube">'
        '<a href="https://www.youtube.com/watch?v=abc" target="_blank">'
        '<img class="youtube-thumbnail" src="https://img.youtube.com/vi/abc/0.jpg"></a></div>'
    )
    assert to_matrix(cooked).body == "https://www.youtube.com/watch?v=abc"


LIGHTBOX = (
    '<p><div class="lightbox-wrapper"><a class="lightbox" '
    'href="/uploads/default/original/1X/{name}.png" data-download-href="/uploads/default/abc" '
    'title="{name}.png"><img src="/uploads/default/optimized/1X/{name}_2_690x388.png" '
    'alt="{name}" data-base62-sha1="abc" width="690" height="388">'
    '<div class="meta"><svg class="fa d-icon d-icon-far-image svg-icon"><use href="#far-image">'
    '</use></svg><span class="filename">{name}.png</span>'
    '<span class="informations">1200×675 123 KB</span></div></a></div></p>'
)


def test_lightbox_becomes_the_mirrored_image() -> None:
    content = to_matrix(LIGHTBOX.format(name="known"))
    assert content.formatted_body == (
        '<img src="mxc://example.org/mirrored1" alt="known" width="690" height="388">'
    )
    assert "KB" not in content.body


def test_lightbox_not_mirrored_becomes_a_link_to_the_original() -> None:
    content = to_matrix(LIGHTBOX.format(name="diagram"))
    assert content.formatted_body == (
        '<a href="https://forum.example.org/uploads/default/original/1X/diagram.png">diagram</a>'
    )


def test_images_are_mirrored_or_linked() -> None:
    content = to_matrix(
        '<p><img src="/uploads/default/original/1X/known.jpg" alt="a cat"> '
        '<img src="/uploads/default/original/1X/other.jpg"></p>'
    )
    assert content.formatted_body == (
        '<p><img src="mxc://example.org/mirrored1" alt="a cat"> '
        '<a href="https://forum.example.org/uploads/default/original/1X/other.jpg">other.jpg</a>'
        "</p>"
    )


def test_only_images_on_the_forum_are_offered_for_mirroring() -> None:
    asked: list[str] = []

    def recording_media(url: str) -> ContentURI | None:
        asked.append(url)
        return None

    forum_to_matrix(
        '<p><img src="/uploads/a.png"><img src="https://elsewhere.example/known.png">'
        '<img src="http://127.0.0.1:8080/admin.png"></p>',
        base_url=FORUM,
        media=recording_media,
    )
    assert asked == ["https://forum.example.org/uploads/a.png"]


def test_image_inside_a_link_does_not_nest_links() -> None:
    content = to_matrix('<p><a href="https://example.com/page"><img src="/uploads/x.png"></a></p>')
    assert content.formatted_body == '<p><a href="https://example.com/page">x.png</a></p>'


def test_code_block_language_is_renamed() -> None:
    content = to_matrix(
        '<pre data-code-wrap="python"><code class="lang-python">if a &lt; b:\n'
        "    print('&amp;')\n</code></pre>"
    )
    assert content.formatted_body == (
        "<pre><code class=\"language-python\">if a &lt; b:\n    print('&amp;')\n</code></pre>"
    )
    assert content.body == "if a < b:\n    print('&')"


def test_code_block_without_a_language_has_no_class() -> None:
    assert html_of('<pre><code class="lang-auto">x = 1\n</code></pre>') == (
        "<pre><code>x = 1\n</code></pre>"
    )


def test_lists_keep_their_shape_in_body() -> None:
    content = to_matrix(
        "<ul>\n<li>one</li>\n<li>two\n<ul>\n<li>nested</li>\n</ul>\n</li>\n</ul>\n"
        '<ol start="3">\n<li>three</li>\n<li>four</li>\n</ol>'
    )
    assert content.body == "- one\n- two\n  - nested\n\n3. three\n4. four"
    assert [tag for tag, _ in tags(content.formatted_body or "")] == [
        "ul", "li", "li", "ul", "li", "ol", "li", "li",
    ]  # fmt: skip


def test_headings_without_their_anchor_links() -> None:
    content = to_matrix(
        '<h2><a name="plans-1" class="anchor" href="#plans-1"></a>Plans</h2><p>text</p>'
    )
    assert content.formatted_body == "<h2>Plans</h2><p>text</p>"
    assert content.body == "Plans\n\ntext"


def test_tables_survive() -> None:
    content = to_matrix(
        '<div class="md-table"><table><thead><tr><th>Name</th><th>Role</th></tr></thead>'
        "<tbody><tr><td>Ann</td><td>chair</td></tr></tbody></table></div>"
    )
    assert "<table><thead><tr><th>Name</th><th>Role</th></tr></thead>" in (
        content.formatted_body or ""
    )
    assert content.body == "Name | Role\nAnn | chair"


def test_quoted_blockquote_and_details_are_kept() -> None:
    content = to_matrix(
        "<details><summary>More</summary><p>hidden</p></details><blockquote><p>q</p></blockquote>"
    )
    assert content.formatted_body == (
        "<details><summary>More</summary><p>hidden</p></details><blockquote><p>q</p></blockquote>"
    )
    assert content.body == "More\n\nhidden\n\n> q"


def test_hashtag_is_a_link_to_the_category() -> None:
    content = to_matrix(
        '<p><a class="hashtag-cooked" href="/c/general/4" data-type="category" '
        'data-slug="general"><span class="hashtag-icon-placeholder"></span>'
        "<span>General</span></a></p>"
    )
    assert (
        content.formatted_body
        == '<p><a href="https://forum.example.org/c/general/4">#general</a></p>'
    )


def test_footnote_anchors_become_text() -> None:
    content = to_matrix(
        '<p>claim<sup class="footnote-ref"><a href="#footnote-1">[1]</a></sup></p>'
    )
    assert content.formatted_body == "<p>claim<sup>[1]</sup></p>"


def test_scripts_styles_frames_and_handlers_are_removed() -> None:
    content = to_matrix(
        "<p>before<script>alert('x')</script><style>p{}</style>"
        '<iframe src="https://evil.example">frame text</iframe>'
        '<a href="javascript:alert(1)" onclick="steal()">click</a>'
        '<img src="data:image/png;base64,AAAA" onerror="steal()" alt="pic">'
        '<b onmouseover="steal()" style="color:red">after</b></p>'
    )
    assert content.formatted_body == "<p>beforeclickpic<b>after</b></p>"
    assert content.body == "beforeclickpicafter"


def test_mxc_images_in_html_are_kept_and_others_dropped_by_the_sanitiser() -> None:
    assert (
        sanitize_matrix_html(
            '<img src="mxc://example.org/ok" alt="a"><img src="https://x.example/a.png" alt="b">'
            '<img alt="c"><a href="/relative">r</a><a href="magnet:?xt=urn:x">m</a>'
        )
        == '<img src="mxc://example.org/ok" alt="a"><a>r</a><a href="magnet:?xt=urn:x">m</a>'
    )


def test_unknown_block_elements_keep_their_text_apart() -> None:
    content = to_matrix("<section>one</section><section>two</section>")
    assert content.body == "one\n\ntwo"
    assert content.formatted_body == "<div>one</div><div>two</div>"


def test_empty_post() -> None:
    assert to_matrix("") == MatrixContent("", None)
    assert to_matrix("<script>x</script>") == MatrixContent("", None)


def test_absurd_nesting_is_flattened_not_fatal() -> None:
    content = to_matrix("<div>" * 5000 + "deep" + "</div>" * 5000)
    assert content.body == "deep"


# --- markdown -> Matrix --------------------------------------------------------------------------


def test_markdown_is_rendered_and_sanitised() -> None:
    content = markdown_to_matrix(
        "## New topic\n\n**Hello** ~~old~~ <script>alert(1)</script> [x](javascript:alert(1))\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n```python\nprint(1)\n```",
        base_url=FORUM,
    )
    markup = content.formatted_body or ""
    assert "<h2>New topic</h2>" in markup
    assert "<strong>Hello</strong> <s>old</s> &lt;script&gt;" in markup
    assert "<table>" in markup
    assert '<pre><code class="language-python">print(1)\n</code></pre>' in markup
    assert "javascript" not in "".join(str(attrs) for _, attrs in tags(markup))
    assert "<script>alert(1)</script>" in content.body  # shown as text, never run


def test_markdown_mentions_become_pills_outside_code() -> None:
    content = markdown_to_matrix("ping @alice and @bob, not `@alice`", mentions=mentions)
    assert content.formatted_body == (
        '<p>ping <a href="https://matrix.to/#/@forum_alice:example.org">@alice</a> and @bob, '
        "not <code>@alice</code></p>\n"
    )
    assert content.mentions == (Mention("alice", ALICE),)


def test_markdown_images_and_relative_links() -> None:
    content = markdown_to_matrix(
        "![chart](/uploads/known.png) [topic](/t/x/1)", base_url=FORUM, media=media
    )
    assert content.formatted_body == (
        '<p><img src="mxc://example.org/mirrored1" alt="chart"> '
        '<a href="https://forum.example.org/t/x/1">topic</a></p>\n'
    )


# --- Matrix -> forum -----------------------------------------------------------------------------


def test_matrix_formatting_becomes_markdown() -> None:
    raw = matrix_to_forum(
        "fallback",
        "<b>bold</b> <em>it</em> <del>gone</del> <u>under</u> <code>a`b</code> "
        "<sup>up</sup> <strong><strong>once</strong></strong>",
    )
    assert raw == "**bold** *it* ~~gone~~ [u]under[/u] ``a`b`` <sup>up</sup> **once**"


def test_literal_markdown_in_matrix_text_stays_literal() -> None:
    raw = matrix_to_forum(
        "x", "*not bold* _nor this_ [not](a link) &lt;not a tag&gt; `x` ~~y~~ &amp;c;"
    )
    assert raw == (
        "\\*not bold\\* \\_nor this\\_ \\[not\\](a link) \\<not a tag> \\`x\\` \\~\\~y\\~\\~ \\&c;"
    )


def test_line_starts_that_would_be_markdown_are_escaped() -> None:
    raw = matrix_to_forum("x", "1. not a list<br>- nor this<br># nor a heading<br>> nor a quote")
    assert raw == "1\\. not a list\n\\- nor this\n\\# nor a heading\n\\> nor a quote"


def test_emphasis_next_to_punctuation_uses_html() -> None:
    assert matrix_to_forum("x", '<b>"quoted"</b>s') == '<strong>"quoted"</strong>s'


def test_bare_urls_in_text_are_autolinks_untouched_by_escaping() -> None:
    raw = matrix_to_forum("x", "<b>see</b> https://example.com/a_b*c, then ~stop~")
    assert raw == "**see** <https://example.com/a_b*c>, then \\~stop\\~"


def test_exclamation_before_a_link_does_not_make_an_image() -> None:
    raw = matrix_to_forum("x", 'wow!<a href="https://example.com/">this</a>')
    assert raw == "wow\\![this](https://example.com/)"


def test_nested_emphasis_of_one_kind_uses_html() -> None:
    # "***x***" pairs unpredictably once siblings follow; HTML tags always pair
    assert matrix_to_forum("x", "<em><strong>a</strong> b</em>") == (
        "<em><strong>a</strong> b</em>"
    )
    assert matrix_to_forum("x", "<b>0</b><b>0</b>") == "**0**<strong>0</strong>"


def test_code_block_keeps_its_language() -> None:
    raw = matrix_to_forum(
        "x", '<pre><code class="language-python">def f():\n    return "```"\n</code></pre>'
    )
    assert raw == '````python\ndef f():\n    return "```"\n````'


def test_quotes_lists_and_headings() -> None:
    raw = matrix_to_forum(
        "x",
        "<h2>Agenda</h2><blockquote><p>quoted</p><p>more</p></blockquote>"
        '<ul><li>a</li><li>b<ol start="4"><li>c</li></ol></li></ul><hr><p>end<br>line</p>',
    )
    assert raw == "## Agenda\n\n> quoted\n>\n> more\n\n- a\n- b\n  4. c\n\n---\n\nend\nline"


def test_links_become_markdown_links() -> None:
    raw = matrix_to_forum(
        "x",
        '<a href="https://example.com/a_b">the page</a> '
        '<a href="https://example.com/a_b">https://example.com/a_b</a> '
        '<a href="https://example.com/a (b)">odd</a> <a href="javascript:alert(1)">bad</a> '
        '<a href="mailto:a@example.com">a@example.com</a>',
    )
    assert raw == (
        "[the page](https://example.com/a_b) <https://example.com/a_b> "
        "[odd](<https://example.com/a (b)>) bad a@example.com"
    )


def test_spoilers_become_discourse_spoilers() -> None:
    raw = matrix_to_forum("x", 'Ending: <span data-mx-spoiler="">everyone lives</span>')
    assert raw == "Ending: [spoiler]everyone lives[/spoiler]"


def test_pills_become_mentions_of_linked_forum_accounts() -> None:
    def forum_name(user_id: UserID) -> str | None:
        return "alice" if user_id == "@alice:example.org" else None

    raw = matrix_to_forum(
        "x",
        '<a href="https://matrix.to/#/@alice:example.org">Alice A.</a>, '
        '<a href="https://matrix.to/#/%40carl%3Aexample.org">Carl</a> and '
        '<a href="https://matrix.to/#/@bob:example.org">@bob:example.org</a>',
        mentions=forum_name,
    )
    # bob has no forum account: "@bob" would mention whoever is called bob there
    assert raw == ("@alice, Carl and [@bob:example.org](https://matrix.to/#/@bob:example.org)")


def test_mxc_images_become_their_alt_text() -> None:
    raw = matrix_to_forum("x", '<img src="mxc://example.org/a" alt="cat.png"> and more')
    assert raw == "\\[cat.png\\] and more"


def test_tables_and_details() -> None:
    raw = matrix_to_forum(
        "x",
        "<table><tr><th>a|b</th><th>c</th></tr><tr><td>1</td><td>2</td></tr></table>"
        "<details><summary>More</summary><p>hidden</p></details>",
    )
    assert raw == (
        '| a\\|b | c |\n| --- | --- |\n| 1 | 2 |\n\n[details="More"]\n\nhidden\n\n[/details]'
    )


def test_reply_fallback_is_stripped_from_html() -> None:
    raw = matrix_to_forum(
        "> <@bob:example.org> earlier words\n\nmy reply",
        '<mx-reply><blockquote><a href="https://matrix.to/#/!r/$e">In reply to</a> '
        '<a href="https://matrix.to/#/@bob:example.org">@bob</a><br>earlier words</blockquote>'
        "</mx-reply>my reply",
    )
    assert raw == "my reply"


def test_reply_fallback_is_stripped_from_plain_body() -> None:
    body = "> <@bob:example.org> earlier words\n> second line\n\nmy *reply*"
    assert matrix_to_forum(body, None) == "my \\*reply\\*"


def test_plain_body_is_text_even_where_it_looks_like_markdown() -> None:
    # Markup comes in formatted_body: a plain "> " is what was typed, not a quote.
    assert matrix_to_forum("> a proverb\n\nso true", None) == "\\> a proverb\n\nso true"


def test_scripts_in_matrix_html_do_not_reach_the_forum() -> None:
    raw = matrix_to_forum("x", "<p>hi<script>alert(1)</script><style>b{}</style></p>")
    assert raw == "hi"


def test_html_that_renders_nothing_falls_back_to_body() -> None:
    assert matrix_to_forum("the body", "<span></span>") == "the body"


# --- titles and excerpts -------------------------------------------------------------------------


def test_title_is_the_first_line_without_markdown() -> None:
    assert (
        title_from_text("\n## **Budget** for the [new hall](https://x.example)\nsecond line")
        == "Budget for the new hall"
    )


def test_title_keeps_snake_case_and_drops_emphasis() -> None:
    assert title_from_text("_Why_ does my_var_name break? *really*") == (
        "Why does my_var_name break? really"
    )


def test_short_titles_are_padded() -> None:
    assert title_from_text("hi") == "hi (message from chat)"
    assert title_from_text("") == "Message from chat"
    assert len(title_from_text("hi", min_length=40)) >= 40


def test_long_titles_are_cut_at_a_word() -> None:
    title = title_from_text("word " * 100, max_length=40)
    assert title == "word word word word word word word word…"
    assert len(title) <= 40


def test_title_bounds_must_make_sense() -> None:
    with pytest.raises(ValueError, match="min_length=50"):
        title_from_text("x", min_length=50, max_length=30)


def test_excerpt_cuts_at_a_word() -> None:
    assert excerpt("short text") == "short text"
    assert excerpt("alpha beta gamma delta", 15) == "alpha beta…"
    assert excerpt("x" * 50, 10) == "x" * 9 + "…"
