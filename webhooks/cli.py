"""The ``porch`` command: serve, check, registration, status, retry, demo."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from webhooks.config import ConfigError, PorchConfig, load_config

log = logging.getLogger("porch")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``porch`` console script; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Their request logs would print every access token in query strings and headers at DEBUG.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    # Alembic narrates its own start-up at INFO; porch logs each migration it applies itself.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    command: int = args.func(args)
    return command


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="porch", description="A policy-aware bridge between Discourse and Matrix."
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    sub = parser.add_subparsers(required=True, metavar="command")

    def command(name: str, help_text: str, needs_config: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        if needs_config:
            p.add_argument("-c", "--config", required=True, help="the porch YAML file")
        return p

    p = command("serve", "run the webhook service and the relay worker")
    p.add_argument(
        "--role",
        choices=["all", "web", "worker"],
        default="all",
        help="all (default): both in one process; web or worker: one part, to scale out",
    )
    p.set_defaults(func=_serve)

    p = command("check", "validate the config file; exit 0 when it is usable")
    p.add_argument("--online", action="store_true", help="also reach the forum and the homeserver")
    p.set_defaults(func=_check)

    p = command("registration", "print the appservice registration YAML for the homeserver")
    p.set_defaults(func=_registration)

    p = command("status", "queue depth, oldest pending event and dead letters, per link")
    p.set_defaults(func=_status)

    p = command("retry", "put dead letters back in the queue")
    p.add_argument("--id", type=int, help="only this inbox event (see porch status)")
    p.set_defaults(func=_retry)

    p = command(
        "demo", "run a local sandbox: homeserver, forum, porch and a scripted exchange", False
    )
    p.add_argument("--workdir", help="where the sandbox keeps its files (default: a temp dir)")
    p.add_argument(
        "--exit-after-script",
        action="store_true",
        help="stop once the scripted exchange is done instead of waiting for Ctrl-C",
    )
    p.set_defaults(func=_demo)
    return parser


def _load(path: str) -> PorchConfig | None:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return None


def _serve(args: argparse.Namespace) -> int:
    from webhooks.service import Role, serve

    config = _load(args.config)
    if config is None:
        return 1
    return serve(config, Role(args.role))


def _check(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if config is None:
        return 1
    if args.online:
        from bridges.preflight import online_problems

        problems = online_problems(config.discourse, config.matrix, config.links)
        if problems:
            print(f"{args.config}: {len(problems)} problem(s) online", file=sys.stderr)
            for problem in problems:
                print(f"  {problem}", file=sys.stderr)
            return 1
    print(f"{args.config}: ok ({len(config.links)} link(s))")
    return 0


def _registration(args: argparse.Namespace) -> int:
    from bridges.matrix.registration import registration_yaml

    config = _load(args.config)
    if config is None:
        return 1
    print(registration_yaml(config.matrix), end="")
    return 0


def _status(args: argparse.Namespace) -> int:
    from bridges.store.store import Store

    config = _load(args.config)
    if config is None:
        return 1
    store = Store.open(config.store.url)
    try:
        stats = store.inbox.stats()
        links_by_conversation = _links_by_conversation(store, config)
        dead = store.inbox.rows(status="dead")
    finally:
        store.close()
    console = Console()
    now = time.time()
    table = Table(title="Inbox")
    for column in ("link", "conversation", "pending", "oldest pending", "dead letters"):
        table.add_column(column)
    for s in stats:
        age = "-" if s.oldest_pending_at is None else f"{now - s.oldest_pending_at:.0f}s ago"
        link = links_by_conversation.get(s.conversation, "?")
        table.add_row(link, s.conversation, str(s.pending), age, str(s.dead))
    if not stats:
        table.add_row("-", "(empty)", "0", "-", "0")
    console.print(table)
    if dead:
        failures = Table(title="Dead letters (porch retry --id N puts one back)")
        for column in ("id", "kind", "conversation", "attempts", "last error"):
            failures.add_column(column)
        for row in dead:
            failures.add_row(
                str(row.id),
                row.kind.value,
                row.conversation,
                str(row.attempts),
                row.last_error or "",
            )
        console.print(failures)
    return 0


def _links_by_conversation(store: object, config: PorchConfig) -> dict[str, str]:
    """Name the link of each conversation where the store or the config tells it."""
    from bridges.store.store import Store

    assert isinstance(store, Store)
    names: dict[str, str] = {}
    for s in store.inbox.stats():
        kind, _, ident = s.conversation.partition(":")
        if kind == "discourse" and ident.startswith("topic:"):
            topic = int(ident.removeprefix("topic:"))
            linked = [t.link for t in store.mapping.threads_for_topic(topic)]  # type: ignore[arg-type]
            if linked:
                names[s.conversation] = ", ".join(linked)
        elif kind == "matrix" and ident.startswith("room:"):
            room = ident.removeprefix("room:")
            linked = [link.name for link in config.links if link.room == room]
            if linked:
                names[s.conversation] = ", ".join(linked)
    return names


def _retry(args: argparse.Namespace) -> int:
    from bridges.store.store import Store

    config = _load(args.config)
    if config is None:
        return 1
    store = Store.open(config.store.url)
    try:
        count = store.inbox.requeue_dead(time.time(), args.id)
    finally:
        store.close()
    print(f"{count} dead letter(s) back in the queue")
    return 0 if count or args.id is None else 1


def _demo(args: argparse.Namespace) -> int:
    from webhooks.sandbox.demo import run_demo

    return run_demo(workdir=args.workdir, exit_after_script=args.exit_after_script)


if __name__ == "__main__":
    sys.exit(main())
