"""Which forum URLs porch fetches as media: the forum's file routes only, however a hostile
post spells the path (pure function, no network)."""

from __future__ import annotations

import pytest

from bridges.discourse.media_paths import FileKind, ForumFile, forum_file, is_upload

BASE = "https://forum.example.org"
UPLOAD = "/uploads/default/original/1X/3f2a9c0d1e2b3a4f5e6d7c8b9a0f1e2d3c4b5a69.png"
ADMIN = "/admin/users/list/active.json?show_emails=true"


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        (UPLOAD, FileKind.UPLOAD),
        ("/uploads/default/optimized/1X/3f2a_2_690x388.png", FileKind.UPLOAD),
        ("/uploads/short-url/8Xk2q.png", FileKind.UPLOAD),
        ("/secure-uploads/original/1X/3f2a.png", FileKind.UPLOAD),
        ("/secure-media-uploads/original/1X/3f2a.png", FileKind.UPLOAD),
        ("/user_avatar/forum.example.org/alice/240/12_2.png", FileKind.AVATAR),
        ("/letter_avatar/alice/240/5_abc.png", FileKind.AVATAR),
        ("/letter_avatar_proxy/v4/letter/a/8e7dd6/240.png", FileKind.AVATAR),
        ("/images/emoji/twitter/bench.png", FileKind.EMOJI),
        ("/uploads/default/original/1X/a%20b.pdf", FileKind.UPLOAD),
    ],
)
def test_the_forums_file_routes_are_files(path: str, kind: FileKind) -> None:
    assert forum_file(BASE + path, BASE) == ForumFile(BASE + path, kind)


def test_what_is_fetched_is_the_forums_origin_and_the_path_without_query_or_fragment() -> None:
    found = forum_file("HTTPS://Forum.Example.ORG:443/images/emoji/twitter/+1.png?v=12#x", BASE)
    assert found == ForumFile(BASE + "/images/emoji/twitter/+1.png", FileKind.EMOJI)


@pytest.mark.parametrize(
    "url",
    [
        # Not a file route at all.
        BASE + ADMIN,
        BASE + "/admin/users/1.json",
        BASE + "/t/secret-topic/7.json",
        BASE + "/session/current.json",
        BASE + "/uploads",
        BASE + "/uploadsX/a.png",
        BASE + "/images/emojis/../../admin.json",
        BASE + "/UPLOADS/a.png",
        # Dot segments, plain or encoded (once, twice, mixed case), and encoded slashes.
        BASE + "/uploads/../admin/users/list/active.json",
        BASE + "/uploads/./../admin/users/1.json",
        BASE + "/uploads/%2e%2e/admin/users/1.json",
        BASE + "/uploads/%2E%2E/admin/users/1.json",
        BASE + "/uploads/.%2e/admin/users/1.json",
        BASE + "/uploads/%252e%252e/admin/users/1.json",
        BASE + "/uploads/%25252e%25252e/admin/users/1.json",
        BASE + "/uploads/%2e%2e%2fadmin%2fusers%2f1.json",
        BASE + "/uploads%2f..%2fadmin/users/1.json",
        BASE + "/uploads/x/%2e%2e%2f%2e%2e/admin/users/1.json",
        BASE + "/uploads/a.png/..",
        BASE + "/uploads/a/.",
        # Backslashes, doubled slashes, path parameters, control characters, bad escapes.
        BASE + "/uploads/..\\admin/users/1.json",
        BASE + "/uploads/%5c..%5cadmin/users/1.json",
        BASE + "/uploads//admin/users/1.json",
        BASE + "/uploads/%2f/admin",
        BASE + "/uploads/..;/admin/users/1.json",
        BASE + "/uploads/a%00.png",
        BASE + "/uploads/\t../admin",
        BASE + "/uploads/a\n.png",
        BASE + "/uploads/%ff%fe.png",
        # Another host, port, scheme, userinfo or a scheme-relative trick.
        "https://elsewhere.example" + UPLOAD,
        "https://forum.example.org.evil.example" + UPLOAD,
        "https://forum.example.org:8443" + UPLOAD,
        "http://forum.example.org" + UPLOAD,
        "https://evil.example@forum.example.org" + UPLOAD,
        "https://forum.example.org@evil.example" + UPLOAD,
        "https://forum.example.org:443@evil.example" + UPLOAD,
        "https://forum.example.org:99999" + UPLOAD,
        "https://forum.example.org:x" + UPLOAD,
        "//forum.example.org" + UPLOAD,
        "ftp://forum.example.org" + UPLOAD,
        "file:///uploads/a.png",
        "javascript:alert(1)//uploads/a.png",
        "data:image/png;base64,AAAA",
        UPLOAD,
        "",
    ],
)
def test_anything_else_is_not_a_forum_file(url: str) -> None:
    assert forum_file(url, BASE) is None


def test_a_forum_under_a_subfolder_serves_files_under_it_only() -> None:
    base = "https://example.org/forum"
    assert forum_file(base + "/uploads/a.png", base) == ForumFile(
        base + "/uploads/a.png", FileKind.UPLOAD
    )
    assert forum_file("https://example.org/uploads/a.png", base) is None
    assert forum_file(base + "/x/../uploads/a.png", base) is None
    assert forum_file(base + "/../uploads/a.png", base) is None


def test_only_uploads_are_uploads() -> None:
    assert is_upload(BASE + UPLOAD, BASE)
    assert not is_upload(BASE + "/user_avatar/forum.example.org/alice/240/12_2.png", BASE)
    assert not is_upload(BASE + "/uploads/%2e%2e/admin/users/1.json", BASE)
