"""``porch sanctions list -c FILE [--active]`` and ``porch sanctions undo ID -c FILE [--by WHO]``.

Every sanction porch carried across (:mod:`bridges.moderation.sanctions`) with who asked for it,
why, where from and what was done; ``undo`` reverses one (unban, unmute, unsilence, unhide,
restore) and records the undo in the sanctions table and the audit log.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from datetime import UTC, datetime
from typing import Any


def register(sub: Any) -> None:
    """Add the ``sanctions`` command (``list``, ``undo``) to the ``porch`` parser."""
    help_text = "list the sanctions porch carried across, or undo one"
    sanctions = sub.add_parser("sanctions", help=help_text, description=help_text)
    actions = sanctions.add_subparsers(required=True, metavar="action")
    p = actions.add_parser("list", help="the latest sanctions, newest first")
    p.add_argument("-c", "--config", required=True, help="the porch YAML file")
    p.add_argument("--active", action="store_true", help="only those not undone")
    p.add_argument("--limit", type=int, default=50, help="how many (default 50)")
    p.set_defaults(func=list_sanctions)
    p = actions.add_parser(
        "undo", help="reverse one sanction (unban, unmute, unsilence, unhide, restore)"
    )
    p.add_argument("id", type=int, help="the sanction's number (see porch sanctions list)")
    p.add_argument("-c", "--config", required=True, help="the porch YAML file")
    p.add_argument(
        "--by", help="who undoes it, for the record (default: the operator's login name)"
    )
    p.set_defaults(func=undo_sanction)


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S")


def list_sanctions(args: argparse.Namespace) -> int:
    """Print the sanctions; exit 0, or 1 when the config is wrong."""
    from bridges.store.store import Store
    from webhooks.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    store = Store.open(config.store.url)
    try:
        found = store.sanctions.recent(active_only=args.active, limit=args.limit)
    finally:
        store.close()
    if not found:
        print("no sanctions")
        return 0
    for s in found:
        state = "active" if s.active else f"undone {_when(s.undone_at or 0)} by {s.undone_by}"
        print(
            f"#{s.id} {_when(s.at)} {s.kind} target={s.target} source={s.source}"
            f"{' (' + s.source_ref + ')' if s.source_ref else ''} moderator={s.moderator} "
            f"reason={s.reason or '-'} [{state}]"
        )
        for action in s.actions:
            print(f"    {action.describe()}")
    return 0


def undo_sanction(args: argparse.Namespace) -> int:
    """Undo one sanction; exit 0 when done, 1 when there is no such (active) sanction or the
    config is wrong, 2 when a platform refused or could not be reached (nothing recorded)."""
    from bridges.discourse.client import ForumClient
    from bridges.discourse.forum_errors import ForumError
    from bridges.matrix.api import AppserviceAPI
    from bridges.matrix.matrix_errors import MatrixError
    from bridges.moderation.sanctions import Enforcer, undo
    from bridges.store.store import Store
    from webhooks.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    if config.matrix.appservice is None:
        print("matrix.appservice: undoing a sanction needs porch's appservice", file=sys.stderr)
        return 1
    by = args.by or f"operator:{getpass.getuser()}"
    store = Store.open(config.store.url)
    try:
        enforcer = Enforcer(
            store,
            AppserviceAPI(config.matrix),
            ForumClient(config.discourse),
            config.discourse.api_username,
        )
        try:
            done = undo(enforcer, args.id, by, time.time())
        except KeyError:
            print(f"no sanction #{args.id}", file=sys.stderr)
            return 1
        except ValueError as exc:
            print(str(exc), file=sys.stderr)
            return 1
        except (ForumError, MatrixError) as exc:
            print(f"sanction #{args.id} not undone: {exc}", file=sys.stderr)
            return 2
    finally:
        store.close()
    print(f"undone #{done.id} ({done.kind} of {done.target}) by {by}")
    for action in done.actions:
        print(f"    reversed: {action.describe()}")
    return 0
