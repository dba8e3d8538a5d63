"""The ``porch`` command: serve, check, registration, setup, status, retry, prune, demo, digest,
audit."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import re
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from webhooks import digest_cmd, sanctions_cmd
from webhooks.audit_cmd import add_arguments as audit_arguments
from webhooks.config import ConfigError, PorchConfig, load_config

if TYPE_CHECKING:
    from bridges.store.inbox import ConversationStats
    from bridges.store.store import Store

log = logging.getLogger("porch")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``porch`` console script; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    handler = logging.StreamHandler()
    handler.addFilter(_redact_tokens)
    if args.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=getattr(logging, args.log_level.upper()), handlers=[handler])
    # Their request logs would print every access token in query strings and headers at DEBUG.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    # matrix-nio logs every answer at DEBUG, a login's access token and whole syncs included.
    logging.getLogger("nio").setLevel(logging.WARNING)
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
    parser.add_argument(
        "--log-format",
        default="text",
        choices=["text", "json"],
        help="json: one JSON object per line (time, level, logger, message), for log shippers",
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
    p.add_argument(
        "--ops-port",
        type=int,
        metavar="PORT",
        help="serve /healthz, /readyz and /metrics on this port instead of listen.ops.port "
        "(for several porch processes sharing one config on one machine)",
    )
    _lifecycle_arguments(p)
    p.set_defaults(func=_serve)

    p = command("check", "validate the config file; exit 0 when it is usable")
    p.add_argument("--online", action="store_true", help="also reach the forum and the homeserver")
    p.add_argument(
        "--allow-orphans",
        action="store_true",
        help="report links that would orphan mappings in the store as warnings, not errors",
    )
    p.set_defaults(func=_check)

    p = command("registration", "print the appservice registration YAML for the homeserver")
    p.set_defaults(func=_registration)

    setup = sub.add_parser(
        "setup",
        help="connect porch to the forum or the homeserver, explaining each step",
        description="Connect porch to the forum (its webhook) or the homeserver (the "
        "registration file). Exit 0 when done or already so, 1 when something must be fixed "
        "first (printed).",
    )
    targets = setup.add_subparsers(required=True, metavar="target")
    p = targets.add_parser(
        "discourse",
        help="create or update porch's webhook on the forum (admin API)",
        description="Create or update porch's webhook on the forum through the admin API: "
        "payload URL, JSON, the secret, the events porch needs, the linked categories; and "
        "check the forum settings porch depends on. Idempotent.",
    )
    p.add_argument("-c", "--config", required=True, help="the porch YAML file")
    p.add_argument(
        "--no-category-filter",
        action="store_true",
        help="subscribe to every category (porch then also hears of topics moved out of a "
        "linked category), instead of the linked ones only",
    )
    p.set_defaults(func=_setup_discourse)
    p = targets.add_parser(
        "matrix",
        help="write the appservice registration file and say how to install it",
        description="Write the appservice registration file for the homeserver and say how "
        "to install it. Idempotent.",
    )
    p.add_argument("-c", "--config", required=True, help="the porch YAML file")
    p.add_argument(
        "-o",
        "--output",
        default="porch-registration.yaml",
        help="where to write it (default: porch-registration.yaml)",
    )
    p.set_defaults(func=_setup_matrix)

    p = command("status", "queue depth, oldest pending event and dead letters, per link")
    p.set_defaults(func=_status)

    p = command("retry", "put dead letters back in the queue")
    p.add_argument("--id", type=int, help="only this inbox event (see porch status)")
    p.set_defaults(func=_retry)

    p = command("prune", "forget what store.retention says is past its time, now")
    p.add_argument("--dry-run", action="store_true", help="only count what would be pruned")
    p.set_defaults(func=_prune)

    p = command("audit", "query the audit log; export it as CSV or JSON")
    audit_arguments(p)
    p.set_defaults(func=_audit)

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
    digest_cmd.register(sub)
    sanctions_cmd.register(sub)
    return parser


def _load(path: str) -> PorchConfig | None:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return None


def _load_to_run(path: str) -> PorchConfig | None:
    """The config, for ``check`` and ``serve``: also refused while it holds a placeholder
    secret or an example host (:mod:`webhooks.placeholders`)."""
    from webhooks.placeholders import placeholder_problems

    config = _load(path)
    if config is None:
        return None
    problems = placeholder_problems(config)
    if problems:
        print(ConfigError(path, tuple(problems)), file=sys.stderr)
        return None
    return config


def _warnings(config: PorchConfig) -> list[str]:
    """What a usable config does that its admin may not expect."""
    from bridges.moderation.moderation_config import protection_warnings
    from bridges.watching.watching_config import sink_warnings

    return protection_warnings(config.moderation) + sink_warnings(config.watching)


def _online_warnings(config: PorchConfig) -> list[str]:
    """What the platforms show that the admin may not expect: a moderators room more open
    than where held messages come from is only pointed to them (appservice mode)."""
    if config.matrix.mode != "appservice":
        return []
    from bridges.discourse.client import ForumClient
    from bridges.matrix.api import AppserviceAPI
    from bridges.review.room_check import review_room_warnings
    from webhooks.link_pages import public_base_url

    return review_room_warnings(
        ForumClient(config.discourse),
        AppserviceAPI(config.matrix),
        config.moderation.review,
        config.links,
        public_base_url(config),
    )


def _serve(args: argparse.Namespace) -> int:
    from webhooks.lifecycle import DEFAULT_GRACE
    from webhooks.service import Role, serve

    config = _load_to_run(args.config)
    if config is None:
        return 1
    for warning in _warnings(config):
        log.warning("%s: %s", args.config, warning)
    return serve(
        config,
        Role(args.role),
        ops_port=args.ops_port,
        config_path=args.config,
        grace=DEFAULT_GRACE if args.shutdown_grace is None else args.shutdown_grace,
        allow_orphans=args.allow_orphans,
    )


def _lifecycle_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--shutdown-grace",
        type=float,
        metavar="SECONDS",
        help="on SIGTERM, how long the worker may take to finish the event in hand (default 30)",
    )
    p.add_argument(
        "--allow-orphans",
        action="store_true",
        help="start (and reload) even when the config drops or moves a link the store still "
        "maps threads or events to; prefer retired_links: in the config",
    )


def _check(args: argparse.Namespace) -> int:
    config = _load_to_run(args.config)
    if config is None:
        return 1
    if args.online:
        from bridges.preflight import online_problems

        problems = online_problems(config.discourse, config.matrix, config.links, config.policies)
        if problems:
            print(f"{args.config}: {len(problems)} problem(s) online", file=sys.stderr)
            for problem in problems:
                print(f"  {problem}", file=sys.stderr)
            return 1
        for warning in _online_warnings(config):
            _stderr(f"{args.config}: warning: {warning}")
    from webhooks.lifecycle import refuse_orphans

    if not refuse_orphans(config, args.config, allow=args.allow_orphans, say=_stderr):
        return 1
    for warning in _warnings(config):
        _stderr(f"{args.config}: warning: {warning}")
    print(f"{args.config}: ok ({len(config.links)} link(s))")
    return 0


def _registration(args: argparse.Namespace) -> int:
    from bridges.matrix.registration import registration_yaml

    config = _load(args.config)
    if config is None:
        return 1
    if config.matrix.mode == "bot":
        from webhooks.matrix_sync import no_registration

        print("\n".join(no_registration(config)), file=sys.stderr)
        return 0
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
        links_by_conversation = _links_by_conversation(store, config, stats)
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


def _links_by_conversation(
    store: Store, config: PorchConfig, stats: Sequence[ConversationStats]
) -> dict[str, str]:
    """Name the link of each conversation where the store or the config tells it."""
    from webhooks.metrics_endpoint import links_by_conversation

    return links_by_conversation(store, config.links, stats)


def _setup_discourse(args: argparse.Namespace) -> int:
    from bridges.discourse.client import ForumClient
    from webhooks.setup import setup_discourse

    config = _load(args.config)
    if config is None:
        return 1
    return setup_discourse(
        config,
        ForumClient(config.discourse),
        _say,
        category_filter=not args.no_category_filter,
    )


def _setup_matrix(args: argparse.Namespace) -> int:
    from bridges.matrix.api import AppserviceAPI
    from bridges.matrix.matrix_errors import MatrixError
    from webhooks.setup import setup_matrix

    config = _load(args.config)
    if config is None:
        return 1
    if config.matrix.mode == "bot":
        from webhooks.matrix_sync import no_registration

        for line in no_registration(config):
            _say(line)
        return 0

    def token_accepted() -> str | None:
        quick = config.matrix.model_copy(update={"timeout": min(config.matrix.timeout, 5.0)})
        try:
            AppserviceAPI(quick).whoami()
        except MatrixError as exc:
            return str(exc)
        return None

    return setup_matrix(config, Path(args.output), _say, token_accepted=token_accepted)


def _say(line: str) -> None:
    print(line, flush=True)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _audit(args: argparse.Namespace) -> int:
    from webhooks.audit_cmd import main as audit_main

    config = _load(args.config)
    if config is None:
        return 1
    return audit_main(args, config.store.url)


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


def _prune(args: argparse.Namespace) -> int:
    from bridges.store.retention import prune
    from bridges.store.store import Store

    config = _load(args.config)
    if config is None:
        return 1
    retention = config.store.retention
    store = Store.open(config.store.url)
    try:
        report = prune(store.db, retention, time.time(), dry_run=args.dry_run)
    finally:
        store.close()
    verb = "would prune" if args.dry_run else "pruned"
    for what, count in report.items():
        print(f"{verb} {count} {what.replace('_', ' ')}")
    return 0


class DemoUnavailable(Exception):
    """``porch demo`` was asked for where there is no checkout holding the sandbox."""


#: Where this package sits; its parent is the checkout's root when porch runs from a clone.
_PACKAGE_DIR = Path(__file__).resolve().parent


def load_demo(package_dir: Path | None = None) -> Callable[..., int]:
    """The sandbox's ``run_demo``, from the checkout next to ``package_dir`` (this package).

    The sandbox (the Discourse double, the Synapse launcher, the demo script) is test and demo
    equipment kept out of the wheel and the image, so it is found beside the package, not
    imported: an editable install maps only the shipped packages, and the console script does
    not run from the checkout. Raises `DemoUnavailable` when there is no checkout there.
    """
    root = (package_dir or _PACKAGE_DIR).parent
    if not (root / "sandbox" / "demo.py").is_file() or not (root / "pyproject.toml").is_file():
        raise DemoUnavailable(
            "porch demo runs from a clone of the repository: the sandbox it starts is not "
            f"installed with porch (no sandbox/ in {root}); clone the repository and run "
            "pip install -e '.[demo]' && porch demo there"
        )
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    # By name, on purpose: the runtime packages never import the sandbox statically.
    demo = importlib.import_module("sandbox.demo")
    run_demo: Callable[..., int] = demo.run_demo
    return run_demo


def _demo(args: argparse.Namespace) -> int:
    try:
        run_demo = load_demo()
    except DemoUnavailable as exc:
        print(exc, file=sys.stderr)
        return 1
    return run_demo(workdir=args.workdir, exit_after_script=args.exit_after_script)


#: A token in a query string (``?access_token=...``, as homeservers' legacy appservice calls
#: send it) as a request log line would show it.
_QUERY_TOKEN = re.compile(r"((?:access_token|api_key)=)[^&\s\"']+")


def _redact_tokens(record: logging.LogRecord) -> bool:
    """Blank out tokens in query strings before any handler formats the record."""
    try:
        message = record.getMessage()
    except Exception:  # a malformed log call: the handler reports it, as without this filter
        return True
    if "access_token=" in message or "api_key=" in message:
        record.msg, record.args = _QUERY_TOKEN.sub(r"\1<redacted>", message), None
    return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``,
    and ``exception`` when there is one.

    Only the formatted message goes out, never the record's other attributes, so nothing
    reaches the log that porch's messages themselves do not say (they never name a secret).
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "thread": record.threadName,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


if __name__ == "__main__":
    sys.exit(main())
