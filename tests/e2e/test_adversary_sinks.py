"""Nothing restricted reaches any sink a person without the tier reads (issue 12, item 6).

A hostile member's generated histories on the real homeserver and the Discourse double: council
topics (title, body, tag, category name, image alt text, upload name and bytes, edits, likes),
quotes of and links to them inside published and open posts, back-room chat messages whose
``formatted_body`` differs from ``body``, their edits and reactions, some held for review. Every
sink is read (emails and webhook calls after each step, the rest after the example's last step,
which still shows every step's): the public room (messages, state, media fields and bytes),
alerts (room, email, webhook), digests, the dashboard's pages and exports for a policy-team
member, the moderators room and the ``/review`` page. What each sink may hold, and why
``porch audit`` is not one of them, is in :mod:`tests.e2e.adversary`. A failure names the sink,
the token, the example, step and field it came from, and the history. ``bench/adversary.py``
runs the same with 10^4 examples.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings

from bridges.discourse.discourse_config import DiscourseConfig
from bridges.matrix.matrix_config import MatrixConfig
from sandbox.forum import SandboxForum
from tests.e2e.adversary import HISTORIES, Rig
from tests.rig.matrix import ChatUser


@pytest.fixture
def rig(
    forum: SandboxForum,
    discourse_config: DiscourseConfig,
    matrix_config: MatrixConfig,
    appservice_port: int,
    matrix_user_factory: Callable[..., ChatUser],
    tmp_path: Path,
) -> Iterator[Rig]:
    made = Rig(
        forum, discourse_config, matrix_config, appservice_port, matrix_user_factory, tmp_path
    )
    yield made
    made.close()


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    # Examples share the rooms and the watches, so a shrunk example would replay on a history
    # it did not fail on; the finding names the example, step and field of each token instead.
    phases=[Phase.explicit, Phase.generate],
    report_multiple_bugs=False,
    database=None,
)
@example(
    history=[
        ("council", True, True, None),
        ("council", False, True, 0),
        ("reply", 0, 1),
        ("edit", 1),
        ("lobby", 1),
    ]
)
@example(history=[("chat", True), ("chat_edit", 0), ("chat_react", 0), ("like", 0)])
@given(history=HISTORIES)
def test_no_restricted_token_reaches_a_sink_without_the_tier(
    rig: Rig, history: list[tuple[Any, ...]]
) -> None:
    findings = rig.run(history)
    assert not findings, "\n".join(str(f) for f in findings)


def test_the_sinks_are_read_and_hold_what_people_may_read(rig: Rig) -> None:
    """The control: what may show does show where a reader would see it, so that the property
    above is not passing over empty sinks. A published council topic with an image reaches the
    open room (its text, alt text and image bytes); an open lobby topic reaches the alerts (room,
    email, webhook), the dashboard and the digest; a held back-room message reaches the review
    page."""
    history: list[tuple[Any, ...]] = [
        ("council", True, True, None),
        ("lobby", 0),
        ("chat", True),
    ]
    assert rig.run(history) == []
    seen = {sink: set(fields) for sink, fields in rig.seen.items()}
    assert {"council body, published", "image alt text"} <= seen["public room m.room.message"]
    assert "upload bytes" in seen["media bytes"]
    for sink in ("watch room", "email", "alert webhook", "dashboard /watching/"):
        assert "lobby title" in seen[sink], sink
    assert "back-room formatted_body (held)" in seen["review page"]
    # The watches' digests, which the property sends every few examples, list the lobby topic.
    rig.send_digests()
    assert rig.scan_messages() == [] and rig.scan() == []
    title = next(t for t, what in rig.ledger.origin.items() if what.endswith(": lobby title"))
    digests = [
        e
        for e in rig.dana.room_messages(rig.watch_room, limit=20)
        if "Digest of watch street" in str(e.get("content", {}).get("body"))
    ]
    assert digests and title in json.dumps(digests[-1]["content"])
