"""Chat -> forum under trouble: a throttling, then failing forum delays chat messages without
losing, reordering or duplicating them; rate-limit waits never make a dead letter; merging
(``merge_window``) writes each message exactly once."""

from __future__ import annotations

from collections.abc import Callable

from sandbox.forum import SandboxForum
from tests.e2e.chat_side import live_posts, open_thread, porch_store, wait_for_post_count
from tests.e2e.conftest import Linked
from tests.rig.wait import wait_until


def test_429_then_500s_delay_messages_without_loss_reordering_or_duplicates(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    town = linked(start=False)
    # Three attempts make a dead letter: the three 429 waits must not count, the 500s do.
    town.porch.data["relay"]["max_attempts"] = 3
    town.porch.write()
    town.porch.start()
    first, root = open_thread(
        town, forum, "Stalls for the winter market", "One stall idea per message, please."
    )
    forum.fail_next(3, status=429, retry_after=1, method="POST", path_prefix="/posts")
    forum.fail_next(2, status=500, method="POST", path_prefix="/posts")
    sent = [f"Stall idea {n}: something warm for a cold evening." for n in range(6)]
    for text in sent:
        town.dana.send_text(town.room, text, root["event_id"])

    posts = wait_for_post_count(forum, first["topic_id"], 1 + len(sent), timeout=30)
    replies = [p["raw"].rsplit("\n\n", 1)[-1] for p in posts[1:]]
    assert replies == sent  # each once, in the order sent
    statuses = [
        c.status for c in forum.requests_log() if c.method == "POST" and "/posts" in c.path
    ]
    assert statuses[:5] == [429, 429, 429, 500, 500], statuses
    # Once porch has nothing left to do, no retry can post a message a second time.
    forum.flush_webhooks()
    with porch_store(town.porch) as store:
        wait_until(lambda: not store.inbox.rows(status="pending"), 10, "an empty inbox")
        assert store.inbox.rows(status="dead") == []
    assert len(live_posts(forum, first["topic_id"])) == 1 + len(sent)


def test_a_forum_outage_longer_than_the_retries_delays_messages_but_loses_none(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    town = linked(start=False)
    # A forum answering 503 (down behind its proxy, or in maintenance) for more tries than make
    # a dead letter: the outage is the forum's, not the messages', so nothing may be given up.
    town.porch.data["relay"]["max_attempts"] = 2
    town.porch.write()
    town.porch.start()
    first, root = open_thread(
        town, forum, "Benches for the square", "Where should the new benches go?"
    )
    forum.fail_next(5, status=503, method="POST", path_prefix="/posts")
    sent = [f"Bench spot {n}: by the fountain, in the shade." for n in range(3)]
    for text in sent:
        town.dana.send_text(town.room, text, root["event_id"])

    posts = wait_for_post_count(forum, first["topic_id"], 1 + len(sent), timeout=60)
    assert [p["raw"].rsplit("\n\n", 1)[-1] for p in posts[1:]] == sent
    statuses = [
        c.status for c in forum.requests_log() if c.method == "POST" and "/posts" in c.path
    ]
    assert statuses[:5] == [503] * 5, statuses
    with porch_store(town.porch) as store:
        wait_until(lambda: not store.inbox.rows(status="pending"), 10, "an empty inbox")
        assert store.inbox.rows(status="dead") == []
