"""The double cooks mentions and uploads into the HTML Discourse stores in ``cooked``.

Porch reads these shapes (``a.mention``, ``img[data-base62-sha1]``, ``a.attachment``) to make
pills and carry files, so the double must render them as the real forum does.
"""

from __future__ import annotations

from sandbox.forum import SandboxForum
from sandbox.forum_render import png
from tests.e2e.forum_helpers import allow_extensions


def test_mentions_of_users_link_their_profile_and_others_stay_text(forum: SandboxForum) -> None:
    first = forum.create_topic(
        "alice",
        "town-square",
        "Who has the bench keys?",
        "@Bob has them, @nobody_here does not. Mail bob@example.org, not `@bob`.",
    )
    cooked = forum.post(first["id"])["cooked"]
    assert '<a class="mention" href="/u/bob">@Bob</a> has them' in cooked
    assert '<span class="mention">@nobody_here</span> does not' in cooked
    assert "Mail bob@example.org" in cooked
    assert "<code>@bob</code>" in cooked


def test_uploads_cook_as_image_and_attachment(forum: SandboxForum) -> None:
    allow_extensions(forum, "txt")
    image = forum.upload("alice", png(690, 388, (10, 120, 40)), "park.png")
    sheet = forum.upload("alice", b"col1,col2\n1,2\n", "plan.txt")
    short = image["short_url"].removeprefix("upload://").split(".")[0]
    first = forum.create_topic(
        "alice",
        "town-square",
        "The bench plan, with a photo",
        f"![park|690x388]({image['short_url']})\n\n[plan.txt|attachment]({sheet['short_url']})",
    )
    cooked = forum.post(first["id"])["cooked"]
    assert (
        f'<img src="{image["url"]}" alt="park" data-base62-sha1="{short}" '
        'width="690" height="388">'
    ) in cooked
    assert f'<a class="attachment" href="{sheet["url"]}">plan.txt</a>' in cooked


def test_spoilers_and_emoji_cook_outside_code(forum: SandboxForum) -> None:
    first = forum.create_topic(
        "alice",
        "town-square",
        "The film club's verdict",
        "Ending: [spoiler]everyone lives[/spoiler] :tada: :no_such_emoji:\n\n"
        "[spoiler]the whole plot[/spoiler]\n\n`[spoiler]kept[/spoiler] :tada:`",
    )
    cooked = forum.post(first["id"])["cooked"]
    assert (
        '<p>Ending: <span class="spoiler">everyone lives</span> <img src="/images/emoji/' in cooked
    )
    assert 'title=":tada:" class="emoji" alt=":tada:"' in cooked
    assert ":no_such_emoji:" in cooked
    assert '<div class="spoiler"><p>the whole plot</p></div>' in cooked
    assert "<code>[spoiler]kept[/spoiler] :tada:</code>" in cooked
