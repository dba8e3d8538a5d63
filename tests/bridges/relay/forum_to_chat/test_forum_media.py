"""Which uploads a post shows, and the Matrix content each becomes (pure functions)."""

from __future__ import annotations

from bridges.model import ContentURI
from bridges.relay.forum_to_chat.forum_media import (
    Upload,
    image_dimensions,
    is_upload,
    media_content,
    uploads_in,
)
from bridges.store.post_media import MediaInfo
from sandbox.forum_render import png

BASE = "https://forum.example.org"
ORIGINAL = "/uploads/default/original/1X/3f2a.png"
OPTIMIZED = "/uploads/default/optimized/1X/3f2a_2_690x388.png"


def test_a_lightbox_gives_the_original_and_an_attachment_its_name() -> None:
    cooked = (
        '<p>Spot:</p><div class="lightbox-wrapper"><a class="lightbox" '
        f'href="{BASE}{ORIGINAL}" title="gate.png"><img src="{OPTIMIZED}" alt="gate" '
        'width="690" height="388"><div class="meta">gate.png 1024×576</div></a></div>'
        '<p><a class="attachment" href="/uploads/default/original/1X/9c1d.pdf">plans.pdf</a>'
        " (12.3 KB)</p>"
    )
    assert uploads_in(cooked, BASE) == [
        Upload(BASE + ORIGINAL, "gate.png", 690, 388),
        Upload(BASE + "/uploads/default/original/1X/9c1d.pdf", "plans.pdf"),
    ]


def test_quotes_previews_code_emoji_and_other_hosts_are_not_this_posts_uploads() -> None:
    cooked = (
        '<aside class="quote" data-username="bob"><blockquote>'
        f'<img src="{ORIGINAL}" alt="quoted"></blockquote></aside>'
        '<aside class="onebox"><img src="/uploads/default/original/1X/aa.png"></aside>'
        '<pre><code><a href="/uploads/default/original/1X/bb.txt">x</a></code></pre>'
        '<p><img class="emoji" src="/uploads/default/original/1X/cc.png" alt=":bench:">'
        '<img src="https://elsewhere.example/uploads/dd.png" alt="far">'
        '<a href="/t/some-topic/4">a topic</a></p>'
        '<p><img src="/uploads/default/original/1X/ee.jpeg" alt="mine"></p>'
        '<p><img src="/uploads/default/original/1X/ee.jpeg" alt="again"></p>'
    )
    assert uploads_in(cooked, BASE) == [
        Upload(BASE + "/uploads/default/original/1X/ee.jpeg", "mine.jpeg")
    ]


def test_the_markdown_attachment_suffix_is_not_part_of_the_name() -> None:
    cooked = '<p><a href="/uploads/default/original/1X/9c1d.pdf">plans.pdf|attachment</a></p>'
    assert [u.filename for u in uploads_in(cooked, BASE)] == ["plans.pdf"]


def test_uploads_live_under_the_forums_own_upload_paths() -> None:
    assert is_upload(BASE + ORIGINAL, BASE)
    assert is_upload(BASE + "/secure-uploads/original/1X/a.png", BASE)
    assert not is_upload(BASE + "/t/topic/1", BASE)
    assert not is_upload("http://forum.example.org" + ORIGINAL, BASE)
    assert is_upload("https://example.org/forum/uploads/a.png", "https://example.org/forum")


def test_image_sizes_are_read_from_the_file() -> None:
    assert image_dimensions(png(7, 3, (1, 2, 3))) == (7, 3)
    assert image_dimensions(b"GIF89a\x05\x00\x09\x00rest") == (5, 9)
    jpeg = (
        b"\xff\xd8" + b"\xff\xe0\x00\x04ab" + b"\xff\xc0\x00\x11\x08\x00\x21\x00\x42" + bytes(12)
    )
    assert image_dimensions(jpeg) == (0x42, 0x21)
    assert image_dimensions(b"%PDF-1.4") is None


def test_an_image_is_m_image_with_its_size_and_anything_else_m_file() -> None:
    uri = ContentURI("mxc://localhost/abc")
    image = media_content(Upload("u", "gate.png", 690, 388), uri, MediaInfo("image/png", 99))
    assert image["msgtype"] == "m.image"
    assert image["info"] == {"mimetype": "image/png", "size": 99, "w": 690, "h": 388}
    pdf = media_content(Upload("u", "plans.pdf"), uri, MediaInfo("application/pdf", 12))
    assert (pdf["msgtype"], pdf["body"], pdf["url"]) == ("m.file", "plans.pdf", uri)
    assert pdf["info"] == {"mimetype": "application/pdf", "size": 12}


def test_only_upload_routes_are_uploads_however_the_path_is_spelled() -> None:
    cooked = (
        '<p><img src="/admin/users/list/active.json?show_emails=true" alt="x">'
        '<img src="/uploads/../admin/users/1.json" alt="dots">'
        '<img src="/uploads/%2e%2e/admin/users/1.json" alt="encoded">'
        '<a href="/uploads/..%2fadmin/users/1.json">report.json|attachment</a>'
        '<img src="//evil.example/uploads/a.png" alt="far">'
        '<img src="/user_avatar/forum.example.org/alice/240/1_2.png" alt="avatar">'
        f'<img src="{ORIGINAL}?dl=1" alt="mine"></p>'
    )
    assert uploads_in(cooked, BASE) == [Upload(BASE + ORIGINAL, "mine.png")]
    assert uploads_in(cooked, BASE)[0].image
    attachment = '<p><a href="/uploads/default/original/1X/9c1d.pdf">plans.pdf</a></p>'
    assert not uploads_in(attachment, BASE)[0].image
