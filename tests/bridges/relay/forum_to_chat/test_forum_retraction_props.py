"""The boundary over random histories, at the relay (issue 4, "Done when": hypothesis).

Each example is a fresh link from a private category (``staff``) into a fresh public room on the
real homeserver, a fresh store, and one of a few policy sets; then a random sequence of forum
actions on the Discourse double: topics (tagged for publication or not, in the linked private
category, another private one or an open one), replies, edits, moves between the categories,
hidden posts, unlisted topics and deletions. Bodies link to and quote other topics. Every
webhook the double fires goes through the real inbox, worker and :class:`bridges.relay.Relay`.

Every title, body version, tag and category name carries a unique token. After each action the
room is read as its member sees it, and every token found in an event that is not redacted
must be one that may be there *now*:

- a post of a topic the link's policy publishes now (in the linked category, listed, not
  deleted, not hidden; its title only when the policy does not hide it);
- or content that was public on the forum itself at some point (an open, listed topic).

So nothing restricted reaches the room (body, title, tag, category name, quote, link preview)
unless a publish rule allows it, and once it may no longer be there every copy of it (the
copies, their edits) is gone: each retraction reaches every copy.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from bridges.discourse.discourse_config import DiscourseConfig
from bridges.discourse.payloads import inbox_event
from bridges.links import LinkConfig, RelayConfig
from bridges.matrix.api import AppserviceAPI
from bridges.matrix.matrix_config import MatrixConfig
from bridges.store.store import Store
from bridges.worker import Worker
from sandbox.forum import SandboxForum
from tests.bridges.context import relay_components
from tests.e2e.conftest import BOT
from tests.policies.policyfiles import policy
from tests.rig.matrix import ChatUser
from tests.rig.wait import wait_until

TOKEN = re.compile(r"zq\d{3}t\d{3}q")
CATEGORIES = ("staff", "board", "open")

PUBLISH_TAGGED: dict[str, Any] = {
    "forum-to-chat": {
        "action": "allow",
        "when": {"tags": ["publish"]},
        "otherwise": "deny",
        "transforms": {"anonymise": [{"groups": ["staff"], "as": "Policy team"}]},
    }
}
#: The policy sets an example draws from: (name, policy, publishes(tags), hides the title).
POLICY_SETS: list[tuple[str | None, dict[str, Any] | None, Callable[[set[str]], bool], bool]] = [
    (None, None, lambda tags: False, False),
    ("publish-tagged", PUBLISH_TAGGED, lambda tags: "publish" in tags, False),
    (
        "publish-tagged-quietly",
        {
            "forum-to-chat": {
                **PUBLISH_TAGGED["forum-to-chat"],
                "transforms": {
                    **PUBLISH_TAGGED["forum-to-chat"]["transforms"],
                    "hide_metadata": True,
                },
            }
        },
        lambda tags: "publish" in tags,
        True,
    ),
    ("publish-all", {"forum-to-chat": {"action": "allow"}}, lambda tags: True, False),
]

_EXAMPLES = itertools.count(1)
_QUOTE = re.compile(
    r"<p>\[quote=&quot;[^&]*?topic:(\d+)&quot;\](?:<br\s*/?>\s*)?(.*?)(?:<br\s*/?>\s*)?"
    r"\[/quote\]</p>",
    re.S,
)


# --- what the forum holds, as the test sees it -------------------------------------------------


@dataclass
class Post:
    post_id: int
    tokens: list[str]
    first: bool
    hidden: bool = False
    deleted: bool = False


@dataclass
class Topic:
    topic_id: int
    slug: str
    title_token: str
    title: str
    category: str
    tags: set[str]
    posts: list[Post] = field(default_factory=list)
    visible: bool = True
    deleted: bool = False


@dataclass
class World:
    n: int
    forum: SandboxForum
    publishes: Callable[[set[str]], bool]
    hides_title: bool
    categories: dict[str, str]
    secret_tokens: set[str]
    topics: list[Topic] = field(default_factory=list)
    public_ever: set[str] = field(default_factory=set)
    _tokens: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def token(self) -> str:
        return f"zq{self.n % 1000:03d}t{next(self._tokens):03d}q"

    def live_posts(self) -> list[tuple[Topic, Post]]:
        return [(t, p) for t in self.topics if not t.deleted for p in t.posts if not p.deleted]

    def published(self, topic: Topic) -> bool:
        first = topic.posts[0]
        return (
            topic.category == "staff"
            and topic.visible
            and not topic.deleted
            and not first.hidden
            and self.publishes(topic.tags)
        )

    def note_public(self) -> None:
        """Content the forum shows everyone now may show anywhere, for good."""
        for topic in self.topics:
            if topic.category == "open" and topic.visible and not topic.deleted:
                self.public_ever.add(topic.title_token)
                for post in topic.posts:
                    if not post.deleted and not post.hidden:
                        self.public_ever.update(post.tokens)

    def allowed(self) -> set[str]:
        allowed = set(self.public_ever)
        for topic in self.topics:
            if not self.published(topic):
                continue
            if not self.hides_title:
                allowed.add(topic.title_token)
            for post in topic.posts:
                if not post.deleted and not post.hidden:
                    allowed.update(post.tokens)
        return allowed

    def body(self, ref: int | None) -> tuple[str, str]:
        """A body with a fresh token, linking to and quoting topic ``ref`` if there is one."""
        token = self.token()
        text = f"Body {token} has something to say about the town."
        if ref is not None and self.topics:
            other = self.topics[ref % len(self.topics)]
            quoted = other.posts[0].tokens[0]
            text += (
                f"\n\nSee [{other.title}](/t/{other.slug}/{other.topic_id}) too."
                f'\n\n[quote="sam, post:1, topic:{other.topic_id}"]\n{quoted}\n[/quote]\n\nEnd.'
            )
        return token, text


def _discourse_quotes(forum: SandboxForum) -> None:
    """Cook ``[quote=...]`` as Discourse does (``<aside class="quote" data-topic>``); the
    double leaves it as text, and a quote the relay cannot see as one is not a quote."""
    state = forum._core.state
    plain: Callable[[str], str] = state.cook

    def cook(raw: str) -> str:
        return _QUOTE.sub(
            r'<aside class="quote" data-topic="\1"><blockquote><p>\2</p></blockquote></aside>',
            plain(raw),
        )

    state.cook = cook  # type: ignore[method-assign]


# --- actions ---------------------------------------------------------------------------------

indices = st.integers(0, 50)
new_topics = st.tuples(
    st.just("topic"), st.sampled_from(CATEGORIES), st.booleans(), st.none() | indices
)
replies = st.tuples(st.just("reply"), indices, st.none() | indices)
#: Writing is drawn more often than taking away, so that there is something to take away.
actions = st.one_of(
    new_topics,
    new_topics,
    replies,
    replies,
    replies,
    st.tuples(st.just("edit"), indices),
    st.tuples(st.just("move"), indices, st.sampled_from(CATEGORIES)),
    st.tuples(st.just("hide"), indices),
    st.tuples(st.just("unlist"), indices),
    st.tuples(st.just("delete"), indices),
)


def _act(world: World, action: tuple[Any, ...]) -> None:
    forum, kind = world.forum, action[0]
    live = world.live_posts()
    topics = [t for t in world.topics if not t.deleted]
    if kind == "topic":
        _, category, tagged, ref = action
        title_token = world.token()
        token, body = world.body(ref)
        tags = ["publish"] if tagged else []
        tags.append(world.token())
        world.secret_tokens.add(tags[-1])
        title = f"Topic {title_token} for the town"
        first = forum.create_topic("sam", world.categories[category], title, body, tags)
        slug = str(forum.topic(first["topic_id"])["slug"])
        topic = Topic(first["topic_id"], slug, title_token, title, category, set(tags))
        topic.posts.append(Post(first["id"], [token], True))
        world.topics.append(topic)
    elif kind == "reply" and topics:
        _, which, ref = action
        topic = topics[which % len(topics)]
        token, body = world.body(ref)
        reply = forum.reply("sam", topic.topic_id, body)
        topic.posts.append(Post(reply["id"], [token], False))
    elif kind == "edit" and live:
        _, post = live[action[1] % len(live)]
        token = world.token()
        forum.edit_post(
            post.post_id, f"Edited {token}: on second thoughts, the park.", editor="sam"
        )
        post.tokens.append(token)
    elif kind == "move" and topics:
        topic = topics[action[1] % len(topics)]
        if topic.category != action[2]:
            forum.move_topic(topic.topic_id, world.categories[action[2]])
            topic.category = action[2]
    elif kind == "hide" and live:
        topic, post = live[action[1] % len(live)]
        if not post.hidden:
            forum.hide_post(post.post_id)
            post.hidden = True
            topic.visible = topic.visible and not post.first
    elif kind == "unlist" and topics:
        topic = topics[action[1] % len(topics)]
        if topic.visible:
            forum.set_topic_visible(topic.topic_id, False)
            topic.visible = False
    elif kind == "delete" and live:
        topic, post = live[action[1] % len(live)]
        forum.delete_post(post.post_id)
        post.deleted = True
        topic.deleted = topic.deleted or post.first


# --- the relay ---------------------------------------------------------------------------------


@dataclass
class Bench:
    forum: SandboxForum
    store: Store
    worker: Worker
    dana: ChatUser
    room: str
    seen: int = 0

    def deliver(self) -> None:
        """Every webhook the forum fired since last time, through the inbox and the relay."""
        fired = self.forum.events()
        for i, event in enumerate(fired[self.seen :], start=self.seen):
            new = inbox_event(event.name, f"{self.room}-{i}", {event.type: event.payload})
            if new is not None:
                self.store.inbox.append([new], time.time())
        self.seen = len(fired)

        def settled() -> bool:
            self.worker.run_once()
            rows = self.store.inbox.rows()
            dead = [r for r in rows if r.status == "dead"]
            assert not dead, [(r.kind, r.last_error) for r in dead]
            return all(r.status == "done" for r in rows)

        wait_until(settled, 30, "the inbox handled")

    def carried_topic(self) -> int:
        """A topic on ``town-square`` with one reply, carried into the room; its id."""
        first = self.forum.create_topic(
            "alice", "town-square", "Where should the bench go?", "Park gate or library steps?"
        )
        self.forum.reply("bob", first["topic_id"], "The library steps, where people wait.")
        self.deliver()
        return int(first["topic_id"])

    def visible_tokens(self) -> set[str]:
        """Every token in an event of the room that is not redacted."""
        found: set[str] = set()
        for event in self.dana.room_messages(self.room, limit=1000):
            content = event.get("content")
            if event.get("type") == "m.room.message" and content:
                found.update(TOKEN.findall(json.dumps(content).lower()))
        return found


@pytest.fixture
def bench(
    forum: SandboxForum,
    discourse_config: DiscourseConfig,
    matrix_config: MatrixConfig,
    appservice_api: AppserviceAPI,
    matrix_user_factory: Callable[..., ChatUser],
    tmp_path: Path,
) -> Iterator[Callable[..., Bench]]:
    """``make(policy_name, policy, categories, **link)``: a new room, store and relay."""
    forum.add_user("sam", name="Sam Sterling", moderator=True)
    stores: list[Store] = []
    _discourse_quotes(forum)
    dana = matrix_user_factory()

    def make(
        name: str | None, body: dict[str, Any] | None, categories: dict[str, str], **more: Any
    ) -> Bench:
        """A link from ``categories["staff"]`` into a new public room under policy ``name``
        (``more``: other link fields)."""
        room = dana.create_room(name="Town square", preset="public_chat")
        dana.invite(room, BOT)
        link = LinkConfig.model_validate(
            {
                "name": "town",
                "forum": {"category": categories["staff"]},
                "room": room,
                "direction": "forum-to-chat",
                "policy": name,
                **more,
            }
        )
        store = Store.open(f"sqlite:///{tmp_path / (room.strip('!').split(':')[0] + '.db')}")
        parts = relay_components(
            store,
            discourse_config,
            matrix_config,
            appservice_api,
            [link],
            policies={} if name is None or body is None else {name: policy(body)},
        )
        stores.append(store)
        worker = Worker(store.inbox, parts.relay, RelayConfig(), "props")
        return Bench(forum, store, worker, dana, room, len(forum.events()))

    yield make
    for store in stores:
        store.close()


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    # Each example runs on a real homeserver: shrinking is worth a little, explaining is not.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    report_multiple_bugs=False,
)
@example(
    policy_set=POLICY_SETS[2],
    history=[
        ("reply", 0, 0),
        ("topic", "open", False, None),
        ("reply", 0, 1),
        ("edit", 1),
        ("unlist", 0),
    ],
)
@example(
    policy_set=POLICY_SETS[3],
    history=[
        ("reply", 0, None),
        ("edit", 0),
        ("hide", 1),
        ("reply", 0, None),
        ("move", 0, "board"),
    ],
)
@given(
    policy_set=st.sampled_from(POLICY_SETS),
    history=st.lists(actions, min_size=3, max_size=12),
)
def test_nothing_restricted_reaches_the_open_room_and_retractions_reach_every_copy(
    bench: Callable[..., Bench],
    forum: SandboxForum,
    policy_set: tuple[str | None, dict[str, Any] | None, Callable[[set[str]], bool], bool],
    history: list[tuple[Any, ...]],
) -> None:
    name, body, publishes, hides_title = policy_set
    n = next(_EXAMPLES)
    secret: set[str] = set()
    categories: dict[str, str] = {}
    world = World(n, forum, publishes, hides_title, categories, secret)
    for kind in CATEGORIES:
        token = world.token()
        secret.add(token)
        slug = f"{kind}-{n}"
        forum.add_category(slug, f"{kind.title()} {token}", read_restricted=kind != "open")
        categories[kind] = slug
    # A topic for the others to link to and quote from the start.
    history = [("topic", "staff", True, None), *history]
    relay = bench(name, body, categories)
    most = 0
    for action in history:
        _act(world, action)
        relay.deliver()
        world.note_public()
        shown = relay.visible_tokens()
        most = max(most, len(shown))
        leaked = shown - world.allowed()
        assert not leaked, f"after {action}: {sorted(leaked)} may not be in the room"
        assert not shown & secret - world.public_ever, "a tag or category name leaked"
    hypothesis.event(f"at most {most} tokens in the room ({name})")
