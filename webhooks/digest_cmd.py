"""``porch digest -c FILE --watch NAME [--send] [--since SECONDS] [--html]``.

Prints the digest of one watch for its last complete period (or for the last ``--since``
seconds); ``--send`` also posts it to the watch's room and emails it, as the worker's scheduled
run does (a period's digest is sent once per channel; ``--since`` digests every time).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(sub: Any) -> None:
    """Add the ``digest`` command to the ``porch`` parser's subcommands."""
    help_text = "print (or send) a watch's digest"
    p = sub.add_parser("digest", help=help_text, description=help_text)
    p.add_argument("-c", "--config", required=True, help="the porch YAML file")
    p.add_argument("--watch", required=True, help="the watch's name (watching.watches[].name)")
    p.add_argument("--send", action="store_true", help="post it to the room and email it")
    p.add_argument(
        "--since",
        type=float,
        metavar="SECONDS",
        help="the last SECONDS up to now instead of the last complete period",
    )
    p.add_argument("--html", action="store_true", help="print the HTML instead of the text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """The command; exit 0 when printed (and sent), 1 when the config or watch is wrong, 2
    when sending failed."""
    from bridges.matrix.api import AppserviceAPI
    from bridges.model import RoomID
    from bridges.store.link_requests import IdentityGroups
    from bridges.store.store import Store
    from bridges.watching.access import Readers
    from bridges.watching.digest import Digests, render_html, render_text
    from bridges.watching.sinks import Audiences, porch_accounts
    from webhooks.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    try:
        watch = config.watching.watch(args.watch)
    except KeyError:
        known = ", ".join(w.name for w in config.watching.watches) or "none are configured"
        print(f"watching: no watch named {args.watch!r} ({known})", file=sys.stderr)
        return 1
    store = Store.open(config.store.url)
    try:
        chat = AppserviceAPI(config.matrix) if config.matrix.appservice is not None else None

        def resolve(room: str) -> RoomID:
            assert chat is not None
            found = chat.resolve_room(room) if room.startswith("#") else RoomID(room)
            chat.ensure_joined(found, chat.bot_user_id)
            return found

        audiences = None
        if chat is not None:
            audiences = Audiences(
                chat,
                IdentityGroups(store.db),
                porch_accounts(chat.bot_user_id, config.matrix.ghost_regex()),
            )
        digests = Digests(
            config.watching, Readers(store, config.links), chat, resolve, audiences=audiences
        )
        digest = digests.since(watch, args.since) if args.since else digests.current(watch)
        print(render_html(digest) if args.html else render_text(digest))
        if args.send:
            if watch.digest is None:
                print(f"watching: watch {watch.name} has no digest section", file=sys.stderr)
                return 1
            try:
                if args.since:
                    # An ad-hoc span is not a period: it is sent every time it is asked for.
                    digest.period = f"since-{int(digest.end)}"
                sent = digests.send(watch, digest)
            except Exception as exc:
                print(f"watching: sending the digest failed: {exc}", file=sys.stderr)
                return 2
            print(f"sent on {sent} channel(s)", file=sys.stderr)
        return 0
    finally:
        store.close()
