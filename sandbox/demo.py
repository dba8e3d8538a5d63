"""``porch demo``: a real homeserver, a sandbox forum and porch, with a scripted exchange.

Everything runs on loopback in one directory; Ctrl-C stops it all.
"""

from __future__ import annotations

import logging
import secrets
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.markup import escape

from bridges.matrix.api import AppserviceAPI
from bridges.matrix.registration import registration_yaml
from sandbox.forum import SandboxForum
from sandbox.member import SandboxMember
from sandbox.synapse import SandboxSynapse
from webhooks.config import load_config
from webhooks.service import Porch, Role, build

console = Console()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _step(text: str) -> None:
    console.print(f"[bold cyan]>[/] {text}")


def _wait(what: str, predicate: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise TimeoutError(f"{what} did not happen within {timeout:.0f}s")


def demo_config(
    workdir: Path, *, forum_url: str, homeserver: str, porch_port: int
) -> dict[str, Any]:
    """The sandbox's porch config, with fresh secrets; the link's room is filled in later."""
    return {
        "discourse": {
            "url": forum_url,
            "api_key": secrets.token_hex(16),
            "api_username": "porch",
            "relay_username": "chat-relay",
            "webhook_secret": secrets.token_hex(16),
        },
        "matrix": {
            "homeserver": homeserver,
            "server_name": "localhost",
            "appservice": {
                "id": "porch-demo",
                "url": f"http://127.0.0.1:{porch_port}",
                "as_token": secrets.token_hex(24),
                "hs_token": secrets.token_hex(24),
                "bot_localpart": "porch",
                "ghost_prefix": "forum_",
            },
        },
        # The ops listener (/metrics, /readyz) on any free loopback port: the demo must not
        # need a port the machine may already use.
        "listen": {"host": "127.0.0.1", "port": porch_port, "ops": {"port": 0}},
        "store": {"url": f"sqlite:///{workdir / 'porch.db'}"},
        "links": [
            {
                "name": "town-square",
                "forum": {"category": "town-square"},
                "room": "!not-created-yet",
                "direction": "both",
            }
        ],
    }


def write_config(workdir: Path, data: dict[str, Any]) -> Path:
    """Write porch.yaml (readable by its owner only: it holds the secrets)."""
    path = workdir / "porch.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    path.chmod(0o600)
    return path


def run_demo(workdir: str | None = None, exit_after_script: bool = False) -> int:
    """Run the sandbox; returns the exit code."""
    base = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="porch-demo-"))
    base.mkdir(parents=True, exist_ok=True)
    logging.getLogger().handlers.clear()
    logging.basicConfig(
        filename=base / "porch.log",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    porch_port, synapse_port, forum_port = _free_port(), _free_port(), _free_port()
    forum_url = f"http://127.0.0.1:{forum_port}"
    homeserver = f"http://127.0.0.1:{synapse_port}"
    data = demo_config(base, forum_url=forum_url, homeserver=homeserver, porch_port=porch_port)
    config = load_config(write_config(base, data))
    registration = base / "registration.yaml"
    registration.write_text(registration_yaml(config.matrix), encoding="utf-8")

    synapse = SandboxSynapse(base / "synapse", port=synapse_port, registrations=[registration])
    forum = SandboxForum(
        api_key=config.discourse.api_key.get_secret_value(),
        webhook_url=f"http://127.0.0.1:{porch_port}/discourse/webhook",
        webhook_secret=config.discourse.webhook_secret.get_secret_value(),
        port=forum_port,
    )
    porch: Porch | None = None
    try:
        _step(f"Starting a Synapse homeserver on {homeserver} (first start takes a few seconds)")
        synapse.start()
        _step(f"Starting the sandbox forum on {forum_url}")
        forum.start()
        for user, name in [("alice", "Alice Adams"), ("bob", "Bob Brown")]:
            forum.add_user(user, name=name)
        forum.add_user("porch", admin=True)
        forum.add_user("chat-relay")
        forum.add_category("town-square", "Town square")

        password = secrets.token_hex(8)
        chat = AppserviceAPI(config.matrix)
        chat.ensure_registered(data["matrix"]["appservice"]["bot_localpart"])
        carol_id = synapse.register_user("carol", password)
        room = chat.create_room(name="Town square", invite=[carol_id], preset="public_chat")
        data["links"][0]["room"] = room
        config_path = write_config(base, data)
        config = load_config(config_path)
        _step(f"Linked category [bold]town-square[/] to room {room}")

        porch = build(config, Role.ALL)
        porch.start()
        _wait("porch to answer", lambda: _healthy(porch_port))
        _step(f"Porch is listening on http://127.0.0.1:{porch_port}")

        carol = SandboxMember(homeserver, "carol", password)
        carol.set_displayname("Carol Clark")
        carol.join(room)
        topic_id = _script(forum, carol, room)

        console.print()
        console.print("[bold green]The sandbox is running.[/] Look around:")
        console.print(f"  homeserver    {homeserver}   (user carol, password {password})")
        console.print(f"  room          {room}")
        console.print(f"  forum topic   {forum_url}/t/{topic_id}.json")
        console.print(f"  porch config  {config_path}")
        console.print(f"  porch log     {base / 'porch.log'}")
        if porch.ops is not None:
            console.print(f"  metrics       http://127.0.0.1:{porch.ops.port}/metrics")
        console.print(f"  queue         porch status -c {config_path}")
        if exit_after_script:
            return 0
        console.print("Press Ctrl-C to stop everything.")
        stop = threading.Event()
        try:
            stop.wait()
        except KeyboardInterrupt:
            console.print("\nStopping ...")
        return 0
    finally:
        if porch is not None:
            porch.stop()
        forum.stop()
        synapse.stop()


def _healthy(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _script(forum: SandboxForum, carol: SandboxMember, room: str) -> int:
    """The scripted exchange: a topic and a reply on the forum, an answer from chat."""
    _step("alice opens a topic on the forum ...")
    first = forum.create_topic(
        "alice",
        "town-square",
        "Where should the new bench go?",
        "The council has one bench to place. **Park gate** or *library steps*?",
    )
    root = carol.wait_for_message(room, "Where should the new bench go?")
    _step(f"  ... it appears in the room as a thread root from {root['sender']}")

    _step("bob replies on the forum ...")
    forum.reply(
        "bob", first["topic_id"], "Library steps: people wait there for the bus every day."
    )
    reply = carol.wait_for_message(room, "Library steps")
    _step(f"  ... it appears in the thread from {reply['sender']}")

    _step("carol answers from Matrix, inside the thread ...")
    carol.send_text(
        room, "Agreed, the library steps. Shade in the afternoon too.", root["event_id"]
    )
    _wait(
        "carol's answer to reach the forum",
        lambda: any("Shade in the afternoon" in p["raw"] for p in forum.posts(first["topic_id"])),
    )
    post = next(p for p in forum.posts(first["topic_id"]) if "Shade in the afternoon" in p["raw"])
    _step(f"  ... it is post #{post['post_number']} of the topic, by {post['username']}:")
    for line in post["raw"].splitlines():
        # The post's own text: not rich markup (``[@...]`` would be taken for a tag), unwrapped.
        console.print(f"      {escape(line)}", soft_wrap=True)
    return int(first["topic_id"])
