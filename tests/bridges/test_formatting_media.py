"""Forum -> Matrix formatting: which images are offered for mirroring (only the forum's file
routes) and what every other image becomes (a link, as an image on another site does)."""

from __future__ import annotations

from bridges.formatting import forum_to_matrix
from bridges.model import ContentURI

FORUM = "https://forum.example.org"
MIRRORED = ContentURI("mxc://example.org/mirrored1")


def test_only_the_forums_file_routes_are_offered_for_mirroring() -> None:
    asked: list[str] = []

    def media(url: str) -> ContentURI | None:
        asked.append(url)
        return MIRRORED

    content = forum_to_matrix(
        '<p><img src="/admin/users/list/active.json?show_emails=true" alt="x">'
        '<img src="/uploads/../admin/users/1.json" alt="dots">'
        '<img src="/uploads/%2e%2e/admin/users/1.json" alt="encoded">'
        '<img src="/uploads/%252e%252e/admin/users/1.json" alt="twice">'
        '<img src="/t/secret-topic/7.json" alt="topic">'
        '<img src="https://forum.example.org@evil.example/uploads/a.png" alt="userinfo">'
        '<img src="/user_avatar/forum.example.org/alice/240/1_2.png?x=1" alt="avatar"></p>',
        base_url=FORUM,
        media=media,
    )
    assert asked == [FORUM + "/user_avatar/forum.example.org/alice/240/1_2.png"]
    formatted = content.formatted_body or ""
    assert formatted.count("<img") == 1 and formatted.count(MIRRORED) == 1
    assert f'<a href="{FORUM}/admin/users/list/active.json?show_emails=true">x</a>' in formatted
    assert f'<a href="{FORUM}/t/secret-topic/7.json">topic</a>' in formatted
