"""An adversary over every sink (issue 12, item 6): shared by the property test
(``tests/e2e/test_adversary_sinks.py``) and ``bench/adversary.py``.

One :class:`Rig` serves many examples: a real Synapse, the Discourse double, and one porch built
in process (:func:`webhooks.service.build`) whose doors listen on loopback and whose worker and
alerts run synchronously (``Worker.run_once``, the alert dispatcher's ``send_due``), so an
example costs a few forum actions and a few reads. Tokens carry the example's number, so
examples share rooms and categories without mixing: every token is issued once, and each is
either allowed (content porch may show people without the tier) or not, for good.

The spaces:

- ``council`` (only the group ``council`` reads it) -> the public room ``Town square`` under a
  policy that publishes topics tagged ``publish`` with ``hide_metadata`` (body text crosses;
  title, tags and category name do not);
- ``lobby`` (open) <-> the invite-only ``Back room``: the room's members read what is said there
  first, so the more closed of the two (the room) bounds who may read chat messages;
- watching: a watch of the policy team (no council members) and one of the council, alerts to a
  room whose member ``dana`` has no forum account, to an email address and to a webhook;
  digests to the room and the address; the policy team's dashboard;
- review: held messages go to an open moderators room (``dana``, not in the back room) and to
  the ``/review`` page; the back room may speak into the lobby (``chat-to-forum: allow``), and
  watched words hold some of its messages.
- tiers are the project's: a sink of the same tier as the source may hold its content, so the
  sinks here are all more open than what they must not show.

Restricted content (tokens everywhere): council topics' titles, bodies, tags, the category's
name, image alt text, upload file names and bytes, edits; quotes of council posts inside
published posts, links to council topics (onebox) in published and open lobby posts;
back-room chat messages whose ``formatted_body`` differs from ``body``, their edits and
reactions.

The sinks people without the tier read (emails and webhook calls after every step, the rest
after the example's last step, see :meth:`Rig.run`): the public room's messages
and state, media events' fields and the bytes of every media they point to (downloaded from the
homeserver), the watch room (alerts, digests), every email and webhook call, the dashboard's
pages and exports for a policy-team member, the moderators room. The ``/review`` page is read by
moderators, who judge what will be posted to the open ``lobby`` (public once approved): the
back room's held text may show there, council content may not.

``porch audit`` is not scanned: it prints the store's audit log to whoever holds the config file
and the store (the operator, who holds the forum's admin key anyway), not to any tier.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from email import message_from_bytes
from email.header import decode_header, make_header
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
import sqlalchemy as sa
import yaml
from aiosmtpd.controller import Controller
from hypothesis import strategies as st
from nio import AsyncClient, LoginResponse
from pydantic import SecretStr

from bridges.discourse.discourse_config import DiscourseConfig
from bridges.matrix.matrix_config import MatrixConfig
from bridges.matrix.registration import registration_yaml
from bridges.model import RoomID, UserID
from bridges.preflight import ping_until_answered
from bridges.store.inbox import DEAD, PENDING, inbox
from sandbox.forum import SandboxForum
from sandbox.synapse import SandboxSynapse, free_port
from tests.rig.forum import WebhookSink
from tests.rig.matrix import ChatUser, _Loop
from tests.rig.porch import porch_config_data
from tests.rig.wait import wait_until
from webhooks.config import parse_config
from webhooks.service import Porch, Role, build

BOT = "@porch:localhost"
#: The watches' digests go out after every so many examples.
DIGEST_EVERY = 10
#: The dashboard's pages and exports a policy-team member reads (the council watch's: 404).
DASHBOARD = (
    "/watching/",
    "/watching/crossings",
    "/watching/review",
    "/watching/w/street/heatmap",
    "/watching/w/street/export.json",
    "/watching/w/street/export.csv",
    "/watching/w/council-watch/export.json",
)
TOKEN = re.compile(r"zq\d+t\d+q")
CONNECT_SECRET_BYTES = 24
HELD_WORD = "quagmire"
#: Every generated text carries it, so that both watches match every post and message.
WATCHED = "town"
TEAM = "team@example.org"
COUNCIL_MAIL = "council@example.org"
#: A 1x1 PNG; a token goes after its end (image readers ignore trailing bytes), so the bytes
#: carry it.
_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c63f8cfc0f01f0005000201e226059b0000000049454e44ae426082"
)

# --- actions -----------------------------------------------------------------------------------

_which = st.integers(0, 20)
#: ``("council", publish, image, quote_ref)``: a council topic; ``("reply", which, quote_ref)``
#: a reply in one of the example's council topics; ``("lobby", ref)`` an open post linking to
#: a council topic; ``("edit", which)``; ``("like", which)``; ``("chat", held)`` a back-room
#: message; ``("chat_edit", which)``, ``("chat_react", which)``.
ACTIONS = st.one_of(
    st.tuples(st.just("council"), st.booleans(), st.booleans(), st.none() | _which),
    st.tuples(st.just("reply"), _which, st.none() | _which),
    st.tuples(st.just("lobby"), _which),
    st.tuples(st.just("edit"), _which),
    st.tuples(st.just("like"), _which),
    st.tuples(st.just("chat"), st.booleans()),
    st.tuples(st.just("chat_edit"), _which),
    st.tuples(st.just("chat_react"), _which),
)
HISTORIES = st.lists(ACTIONS, min_size=1, max_size=3)


@dataclass
class Topic:
    """A council topic of the current example."""

    topic_id: int
    slug: str
    published: bool
    first_post: int
    first_token: str
    #: (post id, author)
    posts: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class Ledger:
    """Every token issued, and those porch may show to people without the tier."""

    issued: set[str] = field(default_factory=set)
    allowed: set[str] = field(default_factory=set)
    #: Where each token was put: which example, step and field.
    origin: dict[str, str] = field(default_factory=dict)

    #: Leaks already reported: a token stays in a sink, and one leak is one failure.
    reported: set[str] = field(default_factory=set)

    def leaks(self, found: set[str]) -> set[str]:
        """The tokens of ``found`` that may not be there and were not reported before."""
        return (found & self.issued) - self.allowed - self.reported


class Mailbox:
    """What the local SMTP server received, decoded (headers and every part)."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    @staticmethod
    def texts(messages: list[Message]) -> Iterator[str]:
        """Each message's headers, then each of its parts decoded."""
        for message in messages:
            # Headers may be RFC 2047 encoded words: read them as a mail client shows them.
            yield "\n".join(f"{k}: {make_header(decode_header(v))}" for k, v in message.items())
            for part in message.walk():
                payload = part.get_payload(decode=True)
                if isinstance(payload, bytes):
                    yield payload.decode("utf-8", "replace")


@dataclass
class Finding:
    """Tokens found in a sink that may not be there; ``where``: the history and the text."""

    sink: str
    tokens: set[str]
    where: str
    #: Where each token was put (example, step, field), in the order of ``sorted(tokens)``.
    origins: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        put = "; ".join(self.origins)
        return f"{self.sink}: {sorted(self.tokens)} ({put}) in {self.where[:400]!r}"


_QUOTE = re.compile(
    r"<p>\[quote=&quot;[^&]*?topic:(\d+)&quot;\](?:<br\s*/?>\s*)?(.*?)(?:<br\s*/?>\s*)?"
    r"\[/quote\]</p>",
    re.S,
)


def discourse_quotes(forum: SandboxForum) -> None:
    """Cook ``[quote=...]`` as Discourse does (``<aside class="quote" data-topic>``,
    https://github.com/discourse/discourse/blob/main/app/assets/javascripts/discourse-markdown-it/src/features/quotes.js);
    the double leaves it as text, and a quote the relay cannot see as one is not a quote."""
    state = forum._core.state
    plain: Callable[[str], str] = state.cook

    def cook(raw: str) -> str:
        return _QUOTE.sub(
            r'<aside class="quote" data-topic="\1"><blockquote><p>\2</p></blockquote></aside>',
            plain(raw),
        )

    state.cook = cook  # type: ignore[method-assign]


class Rig:
    """The spaces, porch and the sinks; see the module docstring."""

    def __init__(
        self,
        forum: SandboxForum,
        discourse: DiscourseConfig,
        matrix: MatrixConfig,
        appservice_port: int,
        make_user: Callable[..., ChatUser],
        workdir: Path,
    ) -> None:
        self.forum = forum
        self.matrix = matrix
        self.ledger = Ledger()
        #: Tokens of council content (the rest are the back room's).
        self.council_tokens: set[str] = set()
        self._n = itertools.count(1)
        self._periods = itertools.count(1)
        self._digested = time.time()
        self._media: dict[str, str] = {}
        self.mailbox = Mailbox()
        smtp_port = free_port()
        self._smtp = Controller(self.mailbox, hostname="127.0.0.1", port=smtp_port)
        self._smtp.start()
        self.hooks = WebhookSink()
        self.hooks.start()
        connect_secret = secrets.token_hex(CONNECT_SECRET_BYTES)
        self.review_token = secrets.token_hex(16)

        forum.add_user("sam", name="Sam Sterling", groups=["council"])
        forum.add_user("carl", name="Carl Council", groups=["council"])
        forum.add_user("pat", name="Pat Policy", groups=["policy-team"])
        # The category's name is restricted too (token of example 0).
        self.ledger.issued.add("zq0t1q")
        self.ledger.origin["zq0t1q"] = "the council category's name"
        self.council_tokens.add("zq0t1q")
        forum.add_category("council", "Council zq0t1q", group_permissions={"council": 1})
        forum.add_category("lobby", "Lobby")
        forum.sso.set_secret("127.0.0.1", connect_secret)
        discourse_quotes(forum)

        self.dana = make_user()
        self.erin = make_user()
        self.public = self.dana.create_room(name="Town square", preset="public_chat")
        self.dana.invite(self.public, BOT)
        self.back = self.erin.create_room(name="Back room", preset="private_chat")
        self.erin.invite(self.back, BOT)
        self.watch_room = self.dana.create_room(name="Policy watch", preset="private_chat")
        self.dana.invite(self.watch_room, BOT)
        # Open to anyone: what the invite-only back room holds must reach it as a pointer only.
        self.mods = self.dana.create_room(name="Moderators", preset="public_chat")
        self.dana.invite(self.mods, BOT)

        data = porch_config_data(
            discourse=discourse,
            matrix=matrix,
            port=appservice_port,
            store_url=f"sqlite:///{workdir / 'adversary.db'}",
            links=[
                {
                    "name": "town",
                    "forum": {"category": "council"},
                    "room": self.public,
                    "direction": "forum-to-chat",
                    "policy": "publish-quietly",
                },
                {
                    "name": "back",
                    "forum": {"category": "lobby"},
                    "room": self.back,
                    "policy": "back-room-speaks",
                },
            ],
        )
        data["discourse"]["connect_secret"] = connect_secret
        data["policies"] = {
            "publish-quietly": {
                "forum-to-chat": {
                    "action": "allow",
                    "when": {"tags": ["publish"]},
                    "otherwise": "deny",
                    "transforms": {"hide_metadata": True},
                }
            },
            # The back room's admin lets its words cross to the lobby (held ones once a
            # moderator approves): who else may read them is still the room's business.
            "back-room-speaks": {"chat-to-forum": {"action": "allow"}},
        }
        data["moderation"] = {
            "protections": {"enabled": False},
            "words_from_forum": False,
            "words": [{"word": HELD_WORD, "action": "require_approval"}],
            "review": {"room": self.mods, "moderators": {"mo": self.review_token}},
        }
        alerts = {
            "room": self.watch_room,
            "emails": [TEAM],
            "webhook": {"url": self.hooks.url, "secret": secrets.token_hex(16)},
        }
        data["watching"] = {
            "smtp": {"host": "127.0.0.1", "port": smtp_port, "sender": "porch@example.org"},
            "dashboard": {"groups": ["policy-team"]},
            "watches": [
                {
                    "name": "street",
                    "groups": ["policy-team"],
                    "terms": {"words": [WATCHED]},
                    "alerts": alerts,
                    "digest": {"every": "daily", "room": True, "emails": [TEAM]},
                },
                {
                    "name": "council-watch",
                    "groups": ["council"],
                    "terms": {"words": [WATCHED]},
                    "alerts": {**alerts, "emails": [COUNCIL_MAIL]},
                    "digest": {"every": "daily", "room": True, "emails": [COUNCIL_MAIL]},
                },
            ],
        }
        config = parse_config(yaml.safe_dump(data), source="adversary")
        self.porch: Porch = build(config, Role.ALL)
        assert self.porch.server is not None and self.porch.worker is not None
        self._serving = threading.Thread(target=self.porch.server.serve_forever, daemon=True)
        self._serving.start()
        url = f"http://127.0.0.1:{appservice_port}"
        self.url = url
        forum.set_webhook(f"{url}/discourse/webhook", discourse.webhook_secret.get_secret_value())
        assert self.porch.chat is not None
        self.porch.chat.ensure_registered("porch")
        for room in (self.public, self.back, self.watch_room, self.mods):
            self.porch.chat.ensure_joined(RoomID(room), UserID(BOT))
        # The homeserver queues pushes while nothing listened; a ping makes it send them now
        # (tried again when Synapse's first attempt meets a connection it had given up on).
        ping_until_answered(self.porch.chat)
        self.browser = requests.Session()
        self.browser.post(
            f"{forum.base_url}/sandbox/login", data={"username": "pat"}, timeout=10
        ).raise_for_status()
        page = self.browser.get(f"{url}/watching/login", timeout=30)
        assert page.status_code == 200, page.text[:500]
        self._chat: list[str] = []
        #: Which fields' tokens (allowed or not) each sink was seen to hold: that the sinks are
        #: read at all, and hold what they should, for a positive control and the benchmark.
        self.seen: dict[str, Counter[str]] = {}
        #: How far the inbox, the mailbox and the webhook sink have been read.
        self._seen = 0
        self._mails = 0
        self._hooks = 0

    def close(self) -> None:
        self.porch.stop(10)
        self.hooks.stop()
        self._smtp.stop()

    # --- one example ---------------------------------------------------------------------------

    def run(self, history: list[tuple[Any, ...]]) -> list[Finding]:
        """Play ``history`` as a new example; every leak it caused (empty: none).

        Emails and webhook calls are read after every step; the sinks read over HTTP (rooms,
        dashboard, review page) after the last one, which sees every step's: no action takes
        anything away (an edit is a new event, the original stays in the timeline), and reading
        them once keeps an example to about a second. Every :data:`DIGEST_EVERY` examples the
        watches' digests of the last hour go out, and are read with the rest.
        """
        example = Example(self, next(self._n))
        found: list[Finding] = []
        for action in history:
            example.act(action)
            self.settle()
            found += self._label(self.scan_messages(), f"after {action} of {history}")
            if found:
                return found
        if example.n % DIGEST_EVERY == 0:
            self.send_digests()
            found += self._label(self.scan_messages(), f"digests after {history}")
        return found + self._label(self.scan(), f"after {history}")

    @staticmethod
    def _label(found: list[Finding], when: str) -> list[Finding]:
        return [Finding(f.sink, f.tokens, f"{when}: {f.where}", f.origins) for f in found]

    def settle(self) -> None:
        """Every webhook and chat push delivered and handled; due alerts sent."""
        self.forum.flush_webhooks()
        store = self.porch.store
        worker = self.porch.worker
        assert worker is not None
        if self._chat:

            def pushed() -> bool:
                query = sa.select(inbox.c.id, inbox.c.payload).where(inbox.c.id > self._seen)
                with store.db.read() as conn:
                    payloads = [str(r.payload) for r in conn.execute(query)]
                return all(any(e in p for p in payloads) for e in self._chat)

            wait_until(pushed, 30, "the homeserver to push the back room's events")
            self._chat.clear()

        def handled() -> bool:
            while worker.run_once():
                pass
            dead = store.inbox.rows(DEAD)
            assert not dead, [(r.kind, r.last_error) for r in dead]
            return not store.inbox.rows(PENDING)

        wait_until(handled, 30, "the inbox handled")
        with store.db.read() as conn:
            self._seen = conn.execute(sa.select(sa.func.max(inbox.c.id))).scalar() or 0
        if self.porch.watching is not None:
            self.porch.watching.dispatcher.send_due()

    def send_digests(self) -> None:
        """Each watch's digest of what happened since the last one, to its room and addresses.

        A digest of everything so far would outgrow a Matrix event (65536 bytes) after a few
        hundred examples; the homeserver refuses it with 413 ``M_TOO_LARGE``.
        """
        watching = self.porch.watching
        assert watching is not None
        now = time.time()
        seconds, self._digested = now - self._digested + 1, now
        for watch in watching.config.watches:
            digest = watching.digests.since(watch, seconds)
            # A digest of a period goes out once: each of these is a period of its own.
            digest = replace(digest, period=f"ex{next(self._periods)}")
            watching.digests.send(watch, digest)

    # --- the sinks -------------------------------------------------------------------------------

    def _check(
        self, found: list[Finding], sink: str, text: str, within: set[str] | None = None
    ) -> None:
        tokens = set(TOKEN.findall(text))
        kind = re.sub(r" (?:[$!]|mxc://)\S+", "", sink)
        for token in tokens & self.ledger.issued:
            what = self.ledger.origin[token].split(": ", 1)[-1]
            self.seen.setdefault(kind, Counter())[what] += 1
        leaked = self.ledger.leaks(tokens if within is None else tokens & within)
        if leaked:
            origins = [self.ledger.origin.get(t, t) for t in sorted(leaked)]
            found.append(Finding(sink, leaked, text, origins))
            self.ledger.reported.update(leaked)

    def scan_messages(self) -> list[Finding]:
        """The emails and webhook calls received since the last look."""
        found: list[Finding] = []
        messages, self._mails = self.mailbox.messages[self._mails :], len(self.mailbox.messages)
        for text in Mailbox.texts(messages):
            self._check(found, "email", text)
        hooks, self._hooks = self.hooks.received[self._hooks :], len(self.hooks.received)
        for hook in hooks:
            self._check(found, "alert webhook", hook.body.decode("utf-8", "replace"))
        return found

    def scan(self) -> list[Finding]:
        """The rooms, the media, the dashboard and the review page, as their readers see them."""
        found: list[Finding] = []
        for event in self.dana.room_messages(self.public, limit=60):
            text = json.dumps(event.get("content", {}))
            self._check(found, f"public room {event.get('type')} {event.get('event_id')}", text)
            for mxc in re.findall(r"mxc://[A-Za-z0-9.:_-]+/[A-Za-z0-9_-]+", text):
                self._check(found, f"media bytes {mxc}", self._download(mxc))
        self._check(found, "public room state", json.dumps(self._state(self.public)))
        for room, name in ((self.watch_room, "watch room"), (self.mods, "moderators room")):
            for event in self.dana.room_messages(room, limit=60):
                content = json.dumps(event.get("content", {}))
                self._check(found, f"{name} {event.get('event_id')}", content)
        for path in DASHBOARD:
            page = self.browser.get(f"{self.url}{path}", timeout=30)
            assert page.status_code < 500, (path, page.status_code)
            self._check(found, f"dashboard {path}", page.text)
        review = requests.get(
            f"{self.url}/review",
            headers={"Authorization": f"Bearer {self.review_token}"},
            timeout=30,
        )
        assert review.status_code == 200, review.text[:300]
        # Moderators judge what would be posted to the open lobby: only council content is
        # out of bounds there.
        self._check(found, "review page", review.text, self.council_tokens)
        return found

    def _state(self, room: str) -> Any:
        answer = requests.get(
            f"{self.matrix.base_url}/_matrix/client/v3/rooms/{quote(room)}/state",
            headers={"Authorization": f"Bearer {self.dana.access_token}"},
            timeout=30,
        )
        answer.raise_for_status()
        return answer.json()

    def _download(self, mxc: str) -> str:
        known = self._media.get(mxc)
        if known is None:
            server, media = mxc[len("mxc://") :].split("/", 1)
            answer = requests.get(
                f"{self.matrix.base_url}/_matrix/client/v1/media/download/{server}/{media}",
                headers={"Authorization": f"Bearer {self.dana.access_token}"},
                timeout=30,
            )
            known = answer.content.decode("latin-1") if answer.ok else ""
            self._media[mxc] = known
        return known


class Example:
    """One example's forum and chat actions, and the tokens they issue."""

    def __init__(self, rig: Rig, n: int) -> None:
        self.rig = rig
        self.n = n
        self._k = itertools.count(1)
        self.topics: list[Topic] = []
        self.chat: list[str] = []
        self.liked: set[int] = set()
        #: The back room's thread of a lobby topic that this example's chat messages go to.
        self.thread: str | None = None
        self.step = 0

    def token(self, what: str, allowed: bool = False) -> str:
        """A new token for ``what`` (its field), shown to the rest if ``allowed``."""
        token = f"zq{self.n}t{next(self._k)}q"
        self.rig.ledger.issued.add(token)
        self.rig.ledger.origin[token] = f"example {self.n} step {self.step}: {what}"
        if allowed:
            self.rig.ledger.allowed.add(token)
        return token

    def secret(self, what: str) -> str:
        """A new token for council content ``what``."""
        token = self.token(what)
        self.rig.council_tokens.add(token)
        return token

    def _quote(self, ref: int | None, *, link_only: bool = False) -> str:
        """A link to (a onebox) and a quote of one of this example's council topics.

        ``link_only`` for open posts: what a post in an open category quotes is on the forum
        for everyone to read, but a link's preview is porch's to make.
        """
        if ref is None or not self.topics:
            return ""
        other = self.topics[ref % len(self.topics)]
        link = f"\n\n{self.rig.forum.base_url}/t/{other.slug}/{other.topic_id}\n\n"
        if link_only:
            return link
        return (
            f'{link}[quote="sam, post:1, topic:{other.topic_id}"]\n{other.first_token}\n[/quote]\n'
        )

    def _lobby(self, ref: int | None) -> str:
        """An open topic (its tokens may show anywhere) linking to a council topic; its title."""
        token = self.token("lobby body", True)
        body = f"Lobby {token} about the {WATCHED}.{self._quote(ref, link_only=True)}"
        title = f"Lobby {self.token('lobby title', True)} {WATCHED}"
        self.rig.forum.create_topic("alice", "lobby", title, body)
        return title

    def _image(self, published: bool) -> str:
        name = self.token("upload file name", published)
        alt = self.token("image alt text", published)
        inside = self.token("upload bytes", published)
        if not published:
            self.rig.council_tokens.update({name, alt, inside})
        upload = self.rig.forum.upload("sam", _PNG + inside.encode(), f"{name}.png")
        return f"\n\n![{alt}]({upload['url']})\n"

    def act(self, action: tuple[Any, ...]) -> None:
        """Play ``action`` (see :data:`ACTIONS`); one with nothing to act on does nothing."""
        self.step += 1
        forum, kind = self.rig.forum, action[0]
        if kind == "council":
            _, publish, image, ref = action
            title = f"Topic {self.secret('council title')} of the {WATCHED}"
            # Published bodies may cross; titles, tags and the category's name never do.
            what = "council body" + (", published" if publish else "")
            body_token = self.token(what, True) if publish else self.secret(what)
            body = f"Body {body_token} about the {WATCHED}.{self._quote(ref)}"
            if image:
                body += self._image(publish)
            tags = ["publish"] if publish else []
            tags.append(self.secret("council tag"))
            made = forum.create_topic("sam", "council", title, body, tags)
            slug = str(forum.topic(made["topic_id"])["slug"])
            topic = Topic(
                made["topic_id"], slug, publish, made["id"], body_token, [(made["id"], "sam")]
            )
            self.topics.append(topic)
        elif kind == "reply" and self.topics:
            _, which, ref = action
            topic = self.topics[which % len(self.topics)]
            what = "council reply" + (", published" if topic.published else "")
            token = self.token(what, True) if topic.published else self.secret(what)
            body = f"Reply {token} on the {WATCHED}.{self._quote(ref)}"
            topic.posts.append((forum.reply("carl", topic.topic_id, body)["id"], "carl"))
        elif kind == "lobby":
            self._lobby(action[1])
        elif kind == "edit" and self.topics:
            posts = [(t, p) for t in self.topics for p in t.posts]
            topic, (post, author) = posts[action[1] % len(posts)]
            what = "council edit" + (", published" if topic.published else "")
            token = self.token(what, True) if topic.published else self.secret(what)
            forum.edit_post(post, f"Edited {token}: the {WATCHED} park.", editor=author)
        elif kind == "like" and self.topics:
            mine = [p for t in self.topics for p in t.posts]
            post, author = mine[action[1] % len(mine)]
            # One like per person and post, never one's own (Discourse answers 403).
            if post not in self.liked:
                self.liked.add(post)
                forum.like("carl" if author == "sam" else "sam", post)
        elif kind == "chat":
            if self.thread is None:
                # Top-level messages stay in chat: a thread of a lobby topic crosses (and can
                # be held), so the first message of an example starts one.
                title = self._lobby(None)
                self.rig.settle()
                root = wait_until(
                    lambda: next(
                        (
                            e
                            for e in self.rig.erin.room_messages(self.rig.back, limit=20)
                            if title in json.dumps(e.get("content", {}))
                        ),
                        None,
                    ),
                    30,
                    "the lobby topic in the back room",
                )
                self.thread = str(root["event_id"])
            plain = self.token("back-room body" + (" (held)" if action[1] else ""))
            shown = self.token("back-room formatted_body" + (" (held)" if action[1] else ""))
            held = f" {HELD_WORD}" if action[1] else ""
            event = self.rig.erin.send_text(
                self.rig.back,
                f"Back {plain} of the {WATCHED}{held}",
                formatted_body=f"<p>Back <b>{shown}</b> of the {WATCHED}{held}</p>",
                thread_root=self.thread,
            )
            self.chat.append(event)
            self.rig._chat.append(event)
        elif kind == "chat_edit" and self.chat:
            event = self.chat[action[1] % len(self.chat)]
            self.rig._chat.append(
                self.rig.erin.edit(
                    self.rig.back, event, f"Back {self.token('back-room edit')} {WATCHED}"
                )
            )
        elif kind == "chat_react" and self.chat:
            event = self.chat[action[1] % len(self.chat)]
            self.rig._chat.append(
                self.rig.erin.react(self.rig.back, event, self.token("back-room reaction"))
            )


# --- a sandbox of its own (bench/adversary.py) ---------------------------------------------------


@contextlib.contextmanager
def sandbox(workdir: Path) -> Iterator[Rig]:
    """A :class:`Rig` on a Synapse and a forum double of its own, started and stopped here, as
    the test session's fixtures (``tests/rig/``) make them."""
    appservice_port, synapse_port = free_port(), free_port()
    matrix = MatrixConfig.model_validate(
        {
            "homeserver": f"http://127.0.0.1:{synapse_port}",
            "server_name": "localhost",
            "appservice": {
                "id": "porch-adversary",
                "url": f"http://127.0.0.1:{appservice_port}",
                "as_token": secrets.token_hex(24),
                "hs_token": secrets.token_hex(24),
                "bot_localpart": "porch",
                "ghost_prefix": "forum_",
            },
            "timeout": 10,
        }
    )
    workdir.mkdir(parents=True, exist_ok=True)
    registration = workdir / "registration.yaml"
    registration.write_text(registration_yaml(matrix), encoding="utf-8")
    registration.chmod(0o600)  # it holds porch's tokens
    homeserver = SandboxSynapse(
        workdir / "synapse", port=synapse_port, registrations=[registration]
    )
    api_key = secrets.token_hex(32)
    forum = SandboxForum(api_key=api_key)
    loop = _Loop()
    clients: list[AsyncClient] = []

    def make_user() -> ChatUser:
        localpart = f"user_{uuid.uuid4().hex[:10]}"
        password = secrets.token_hex(8)
        user_id = homeserver.register_user(localpart, password)
        client = AsyncClient(homeserver.base_url, user_id)
        clients.append(client)
        response = loop.run(client.login(password, device_name="porch-adversary"))
        if not isinstance(response, LoginResponse):
            raise AssertionError(f"{user_id}: login failed: {response}")
        return ChatUser(loop, client, password)

    homeserver.start()
    rig: Rig | None = None
    try:
        forum.start()
        forum.add_user("porch", name="Porch", admin=True)
        forum.add_user("chat-relay", name="Chat relay", trust_level=1)
        forum.add_user("alice", name="Alice Adams")
        discourse = DiscourseConfig(
            url=forum.base_url,  # type: ignore[arg-type]  # pydantic parses the string
            api_key=SecretStr(api_key),
            api_username="porch",
            relay_username="chat-relay",
            webhook_secret=SecretStr("whsec-" + secrets.token_hex(12)),
            timeout=5.0,
        )
        rig = Rig(forum, discourse, matrix, appservice_port, make_user, workdir)
        yield rig
    finally:
        if rig is not None:
            rig.close()
        for client in clients:
            with contextlib.suppress(Exception):
                loop.run(client.close(), timeout=10)
        loop.close()
        forum.stop()
        homeserver.stop()
