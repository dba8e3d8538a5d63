"""The double treats repeated post creations as Discourse does.

Read in discourse/discourse: ``PostsController#create`` memoizes API requests for 120 s
(``DistributedMemoizer.memoize(signature_for(manager_params), 120)``), and
``PostValidator#unique_post_validator`` refuses a non-staff account's text that the same
account posted within ``unique_posts_mins`` (the Redis key ``Post#store_unique_post_key`` sets
when a post is created, in any topic, kept even if the post is deleted), as a 422 whose error
is "Body is too similar to what you recently posted". HTML comments count for neither the
cooked post nor its length (``StrippedLengthValidator.get_sanitized_value``).
"""

from __future__ import annotations

import threading
from typing import Any

import requests

from sandbox.forum import SandboxForum
from tests.rig.forum import FORUM_API_KEY
from tests.rig.wait import wait_until

TOO_SIMILAR = {
    "action": "create_post",
    "errors": ["Body is too similar to what you recently posted"],
}


def post(forum: SandboxForum, as_user: str, **data: Any) -> requests.Response:
    return requests.post(
        f"{forum.base_url}/posts.json",
        json=data,
        headers={"Api-Key": FORUM_API_KEY, "Api-Username": as_user},
        timeout=10,
    )


def test_the_same_text_is_refused_for_unique_posts_mins_in_any_topic(
    forum: SandboxForum,
) -> None:
    first = forum.create_topic(
        "alice", "town-square", "First topic of the day", "The opening words of this topic."
    )
    second = forum.create_topic(
        "bob", "town-square", "Second topic of the day", "More words to open this topic."
    )
    ok = post(forum, "alice", topic_id=first["topic_id"], raw="I agree with all of this.")
    assert ok.status_code == 200
    # Another topic, other parameters (so not the memo): the text itself is refused.
    again = post(forum, "alice", topic_id=second["topic_id"], raw="I agree with all of this.")
    assert again.status_code == 422
    assert again.json() == TOO_SIMILAR
    # Another account may say the same; and deleting the post does not clear the key.
    assert post(forum, "bob", topic_id=second["topic_id"], raw="I agree with all of this.").ok
    forum.delete_post(ok.json()["id"], by="alice")
    refused = post(forum, "alice", topic_id=second["topic_id"], raw="I agree with all of this.")
    assert refused.status_code == 422
    # Once unique_posts_mins (5) have passed for the forum's Redis keys, it is a new post.
    forum.advance_redis(5 * 60 + 1)
    assert post(forum, "alice", topic_id=second["topic_id"], raw="I agree with all of this.").ok


def test_staff_may_repeat_themselves(forum: SandboxForum) -> None:
    topic = forum.create_topic(
        "alice", "town-square", "A topic for the staff", "The opening words of this topic."
    )
    for _ in range(2):
        assert post(forum, "porch", topic_id=topic["topic_id"], raw="Noted, thank you all.").ok


def test_an_identical_api_request_within_120_s_returns_the_first_post(
    forum: SandboxForum,
) -> None:
    topic = forum.create_topic(
        "alice", "town-square", "A topic for the memo", "The opening words of this topic."
    )
    first = post(forum, "bob", topic_id=topic["topic_id"], raw="Count me in for Saturday.")
    second = post(forum, "bob", topic_id=topic["topic_id"], raw="Count me in for Saturday.")
    assert second.status_code == 200 and second.json()["id"] == first.json()["id"]
    assert len([p for p in forum.posts(topic["topic_id"]) if "Count me in" in p["raw"]]) == 1
    # After the memo expired, the same request meets the unique-post check instead.
    forum.advance_redis(121)
    third = post(forum, "bob", topic_id=topic["topic_id"], raw="Count me in for Saturday.")
    assert third.status_code == 422 and third.json() == TOO_SIMILAR


def test_html_comments_neither_show_nor_count(forum: SandboxForum) -> None:
    topic = forum.create_topic(
        "alice", "town-square", "A topic for comments", "The opening words of this topic."
    )
    text = "Same words once more."
    assert post(forum, "bob", topic_id=topic["topic_id"], raw=text).ok
    marked = post(forum, "bob", topic_id=topic["topic_id"], raw=f"{text}\n\n<!-- porch:1 -->")
    assert marked.ok, marked.text
    assert "porch:1" not in marked.json()["cooked"]
    short = post(forum, "bob", topic_id=topic["topic_id"], raw="ok <!-- a long comment here -->")
    assert short.status_code == 422
    assert short.json()["errors"] == ["Body is too short (minimum is 20 characters)"]


def test_a_slow_answer_comes_after_the_post_exists(forum: SandboxForum) -> None:
    topic = forum.create_topic(
        "alice", "town-square", "A topic for slowness", "The opening words of this topic."
    )
    forum.slow_post_answers(2.0)
    answers: list[requests.Response] = []
    caller = threading.Thread(
        target=lambda: answers.append(
            post(forum, "bob", topic_id=topic["topic_id"], raw="Slow but already there.")
        )
    )
    caller.start()
    wait_until(
        lambda: any("Slow but" in p["raw"] for p in forum.posts(topic["topic_id"])),
        5,
        "the post to exist",
    )
    assert not answers, "the answer came before the delay"
    caller.join(10)
    assert answers and answers[0].ok
