"""A running porch's life, with real processes: SIGTERM drains, SIGHUP reloads, a config that
would orphan mappings is refused, and the bot joins every linked room at start."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from bridges.store.inbox import DONE, PENDING, inbox
from bridges.store.store import Store
from sandbox.forum import SandboxForum
from tests.e2e.conftest import BOT, Linked, is_text
from tests.rig.matrix import ChatUser
from tests.rig.porch import PorchProcess
from tests.rig.wait import wait_until

TOPICS = 4
REPLIES = 8
GRACE = 20.0


@contextmanager
def opened(porch: PorchProcess) -> Iterator[Store]:
    store = Store.open(porch.config.store.url)
    try:
        yield store
    finally:
        store.close()


def reloaded(porch: PorchProcess, outcome: str, count: int = 1) -> None:
    """Send SIGHUP and wait until porch has logged ``count`` reloads ending in ``outcome``."""
    assert porch.proc is not None
    porch.proc.send_signal(signal.SIGHUP)
    marker = {
        "applied": "reloaded links and policies",
        "invalid": "reload refused, the running config stays: ",
        "refused": "reload refused, the running config stays: it would orphan",
    }[outcome]

    def seen() -> bool:
        return porch.log_path.read_text(errors="replace").count(marker) >= count

    wait_until(seen, 20, f"porch to log a reload ({outcome})")


def reloads(porch: PorchProcess, outcome: str) -> float:
    text = requests.get(f"{porch.ops_url}/metrics", timeout=5).text
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "porch_config_reloads_total" and s.labels.get("outcome") == outcome
    )


def inbox_settled(porch: PorchProcess) -> Callable[[], bool]:
    def settled() -> bool:
        with opened(porch) as store:
            rows = store.inbox.rows()
        return bool(rows) and all(r.status != PENDING for r in rows)

    return settled


# --- SIGTERM -----------------------------------------------------------------------------------


def test_sigterm_drains_and_a_restart_delivers_every_post_exactly_once(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    town = linked(start=False)
    town.porch.start("--shutdown-grace", str(GRACE))
    topics = [
        forum.create_topic(
            "alice", "town-square", f"Drain topic number {t}", f"The opening of drain topic {t}."
        )
        for t in range(TOPICS)
    ]
    for n in range(REPLIES):
        for t, first in enumerate(topics):
            forum.reply("bob", first["topic_id"], f"Drain {t} reply {n:02d}, in its turn.")
    forum.flush_webhooks()

    with opened(town.porch) as store:
        wait_until(
            lambda: any(r.status == DONE for r in store.inbox.rows()), 30, "a first delivery"
        )
        assert town.porch.proc is not None
        started = time.monotonic()
        town.porch.proc.send_signal(signal.SIGTERM)
        code = town.porch.proc.wait(GRACE + 10)
        took = time.monotonic() - started
        assert code == 0, town.porch.log_tail()
        assert took < GRACE, f"porch took {took:.1f}s to stop"
        rows = store.inbox.rows()
        with store.db.read() as conn:
            claimed = conn.execute(
                sa.select(inbox.c.id).where(
                    inbox.c.status == PENDING, inbox.c.claimed_by.is_not(None)
                )
            ).all()
    pending = [r for r in rows if r.status == PENDING]
    assert pending, "everything was delivered before SIGTERM: nothing was in flight"
    assert not claimed, f"events still claimed by the stopped worker: {claimed}"
    assert "porch: stopped" in town.porch.log_tail()

    town.porch.start()
    total = TOPICS * (REPLIES + 1)

    def carried() -> list[str]:
        return [
            str(e["content"]["body"])
            for e in town.dana.room_messages(town.room, limit=200)
            if is_text("Drain ")(e) or is_text("The opening of")(e)
        ]

    wait_until(lambda: len(carried()) >= total, 90, f"all {total} posts in the room")
    wait_until(inbox_settled(town.porch), 30, "the inbox to settle")
    bodies = Counter(carried())
    twice = {body: n for body, n in bodies.items() if n > 1}
    assert not twice, f"delivered more than once: {twice}"
    for t in range(TOPICS):
        for n in range(REPLIES):
            assert any(f"Drain {t} reply {n:02d}, in its turn." in b for b in bodies), (t, n)


# --- SIGHUP ------------------------------------------------------------------------------------


def test_sighup_adds_a_link_and_joins_its_room(
    linked: Callable[..., Linked],
    forum: SandboxForum,
    matrix_user_factory: Callable[..., ChatUser],
) -> None:
    town = linked()
    forum.add_category("market", "Market")
    erin = matrix_user_factory()
    market = erin.create_room(name="Market", preset="public_chat")
    erin.invite(market, BOT)

    town.porch.data["links"].append(
        {"name": "market", "forum": {"category": "market"}, "room": market}
    )
    town.porch.write()
    reloaded(town.porch, "applied")
    assert "added: market" in town.porch.log_tail()

    def bot_joined() -> bool:
        member = erin.room_state(market, "m.room.member", BOT)
        return member is not None and member.get("membership") == "join"

    # Joined at the reload, before any event of the new link asked for it.
    wait_until(bot_joined, 20, "porch's bot to join the new link's room")
    forum.create_topic("alice", "market", "Fresh apples on Saturday", "Bring your own bags.")
    erin.wait_for_text(market, "Fresh apples on Saturday", timeout=20)
    # The old link still works.
    forum.create_topic(
        "alice", "town-square", "Street party on the 21st", "On the 21st, from noon."
    )
    town.dana.wait_for_text(town.room, "Street party", timeout=20)
    assert reloads(town.porch, "applied") == 1


def test_sighup_changes_a_policy(linked: Callable[..., Linked], forum: SandboxForum) -> None:
    town = linked(start=False, policy="gate")
    town.porch.data["policies"] = {"gate": {"forum-to-chat": {"action": "deny"}}}
    town.porch.write()
    town.porch.start()
    forum.create_topic(
        "alice", "town-square", "Held back by the gate", "Not for the chat room yet."
    )
    forum.flush_webhooks()
    wait_until(inbox_settled(town.porch), 20, "the denied post to be settled")
    assert not any(is_text("Held back")(e) for e in town.dana.room_messages(town.room))

    town.porch.data["policies"]["gate"]["forum-to-chat"]["action"] = "allow"
    town.porch.write()
    reloaded(town.porch, "applied")
    forum.create_topic(
        "alice", "town-square", "Through the open gate", "Now it crosses into the room."
    )
    town.dana.wait_for_text(town.room, "Through the open gate", timeout=20)


def test_sighup_with_a_broken_config_keeps_the_running_one(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    town = linked()
    good = town.porch.config_path.read_text()
    town.porch.data["links"][0]["direction"] = "sideways"
    town.porch.write()
    reloaded(town.porch, "invalid")
    log = town.porch.log_tail()
    assert "links[0].direction" in log, log
    assert reloads(town.porch, "invalid") == 1

    forum.create_topic(
        "alice", "town-square", "Still carried after a bad reload", "The old config runs on."
    )
    town.dana.wait_for_text(town.room, "Still carried after a bad reload", timeout=20)

    town.porch.config_path.write_text("links: [unclosed\n")
    reloaded(town.porch, "invalid", count=2)
    assert "not valid YAML" in town.porch.log_tail()
    town.porch.config_path.write_text(good)
    reloaded(town.porch, "applied")
    assert town.porch.proc is not None and town.porch.proc.poll() is None


# --- orphans -----------------------------------------------------------------------------------


def carry_one(town: Linked, forum: SandboxForum) -> None:
    """Make the store map a thread to the link ``town``."""
    forum.create_topic(
        "alice", "town-square", "A mapped topic in the store", "This thread is in the store."
    )
    town.dana.wait_for_text(town.room, "A mapped topic in the store", timeout=20)
    # The mapping is recorded just after the message is sent.
    wait_until(inbox_settled(town.porch), 20, "the topic's event to be settled")


def test_sighup_refuses_to_orphan_a_link_until_it_is_retired(
    linked: Callable[..., Linked], forum: SandboxForum
) -> None:
    town = linked()
    carry_one(town, forum)
    town.porch.data["links"][0]["name"] = "plaza"
    town.porch.write()
    reloaded(town.porch, "refused")
    log = town.porch.log_tail()
    assert "links: link 'town' is gone, but the store maps 1 thread(s)" in log, log
    assert "retired_links:" in log
    assert reloads(town.porch, "refused") == 1
    # The old config runs on.
    topic = forum.create_topic(
        "alice", "town-square", "A second topic, still as town", "Still linked as town."
    )
    town.dana.wait_for_text(town.room, "A second topic, still as town", timeout=20)

    town.porch.data["retired_links"] = ["town"]
    town.porch.write()
    reloaded(town.porch, "applied")
    log = town.porch.log_tail()
    assert "added: plaza; removed: town" in log, log
    forum.reply("bob", topic["topic_id"], "Carried under the new name.")
    town.dana.wait_for_text(town.room, "Carried under the new name", timeout=20)


def test_a_room_change_is_refused_at_start_and_by_check(
    linked: Callable[..., Linked],
    forum: SandboxForum,
    matrix_user_factory: Callable[..., ChatUser],
) -> None:
    town = linked()
    carry_one(town, forum)
    town.porch.stop()
    other = matrix_user_factory().create_room(name="Elsewhere", preset="public_chat")
    town.porch.data["links"][0]["room"] = other
    town.porch.write()

    checked = town.porch.cli("check")
    assert checked.returncode == 1
    assert f"links[0].room: link 'town' changed room from {town.room} to {other}" in (
        checked.stderr
    ), checked.stderr
    with pytest.raises(AssertionError, match="porch exited with 1"):
        town.porch.start()
    assert "links[0].room: link 'town' changed room" in town.porch.log_tail()

    allowed = town.porch.cli("check", "--allow-orphans")
    assert allowed.returncode == 0, allowed.stderr
    assert "--allow-orphans" in allowed.stderr

    # The way an admin moves a link: a new name, and the old one retired.
    town.porch.data["links"][0]["name"] = "town-moved"
    town.porch.data["retired_links"] = ["town"]
    town.porch.write()
    assert town.porch.cli("check").returncode == 0
    town.porch.start()


def test_retired_links_must_not_name_a_live_link(linked: Callable[..., Linked]) -> None:
    town = linked(start=False)
    town.porch.data["retired_links"] = ["town"]
    town.porch.write()
    checked = town.porch.cli("check")
    assert checked.returncode == 1
    assert "retired_links[0]: 'town' is still a link in links:" in checked.stderr


# --- joining at start ---------------------------------------------------------------------------


def test_the_bot_joins_every_linked_room_at_start(
    porch_factory: Callable[..., PorchProcess],
    matrix_user_factory: Callable[..., ChatUser],
) -> None:
    dana = matrix_user_factory()
    invited = dana.create_room(name="Invited while porch was down", preset="public_chat")
    dana.invite(invited, BOT)
    locked = dana.create_room(name="Never invited", preset="private_chat")
    porch = porch_factory(
        links=[
            {"name": "open", "forum": {"category": "town-square"}, "room": invited},
            {"name": "locked", "forum": {"category": 999}, "room": locked},
        ]
    )
    porch.start()

    def bot_joined() -> bool:
        member: dict[str, Any] | None = dana.room_state(invited, "m.room.member", BOT)
        return member is not None and member.get("membership") == "join"

    wait_until(bot_joined, 20, "porch's bot to accept the invitation")
    wait_until(
        lambda: "links: locked: porch's bot cannot join room" in porch.log_tail(),
        20,
        "porch to log the room it cannot join",
    )
    # /readyz shows it, without holding back the link that works.
    ready = requests.get(f"{porch.ops_url}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    notes = ready.json()["notes"]["rooms_not_joined"]
    assert list(notes) == ["locked"] and "M_FORBIDDEN" in notes["locked"], notes

    # Invited later: a reload tries the room again.
    dana.invite(locked, BOT)
    reloaded(porch, "applied")

    def locked_joined() -> bool:
        member: dict[str, Any] | None = dana.room_state(locked, "m.room.member", BOT)
        return member is not None and member.get("membership") == "join"

    wait_until(locked_joined, 20, "porch's bot to join the room it was invited to later")
    wait_until(
        lambda: "notes" not in requests.get(f"{porch.ops_url}/readyz", timeout=10).json(),
        10,
        "/readyz to drop the room's note",
    )


# --- signals while porch is still starting ------------------------------------------------------


@contextmanager
def migrations_held(pg_url: str) -> Iterator[Callable[[], bool]]:
    """Hold the store's migration lock, so a starting porch waits in ``Store.open``; yields a
    check that some process is waiting for it."""
    engine = sa.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        key = conn.execute(
            sa.text("SELECT hashtext('porch:migrate:' || current_schema())")
        ).scalar_one()
        conn.execute(sa.text("SELECT pg_advisory_lock(:id)"), {"id": key})
        conn.commit()

        def waited_for() -> bool:
            with engine.connect() as other:
                return bool(
                    other.execute(
                        sa.text(
                            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                            "AND NOT granted AND objid = (:id)::oid"
                        ),
                        {"id": key & 0xFFFFFFFF},
                    ).scalar_one()
                )

        try:
            yield waited_for
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:id)"), {"id": key})
            conn.commit()
    engine.dispose()


def start_blocked(porch: PorchProcess, waited_for: Callable[[], bool]) -> list[BaseException]:
    """Start porch in the background; returns once it waits for the migration lock. The list
    receives what ``porch.start`` raised (porch died before answering ``/healthz``)."""
    errors: list[BaseException] = []

    def start() -> None:
        try:
            porch.start(timeout=60)
        except BaseException as exc:
            errors.append(exc)

    threading.Thread(target=start, name="start-porch", daemon=True).start()
    wait_until(waited_for, 30, "porch to wait for the store's migration lock")
    return errors


def test_a_sighup_while_starting_is_applied_once_started(
    pg_url: str, linked: Callable[..., Linked]
) -> None:
    porch = linked(start=False, store_url=pg_url).porch
    with migrations_held(pg_url) as waited_for:
        errors = start_blocked(porch, waited_for)
        assert porch.proc is not None
        porch.proc.send_signal(signal.SIGHUP)
        # Caught, not the default action (which ends the process); acted on after start.
        assert porch.proc.poll() is None, porch.log_tail()
    wait_until(
        lambda: errors or "reloaded links and policies" in porch.log_tail(200),
        60,
        "the SIGHUP to be applied after start",
    )
    assert not errors, f"{errors[0]}\n{porch.log_tail()}"
    assert porch.proc.poll() is None
    assert requests.get(f"{porch.url}/healthz", timeout=5).status_code == 200


def test_a_sigterm_while_starting_exits_cleanly_once_started(
    pg_url: str, linked: Callable[..., Linked]
) -> None:
    porch = linked(start=False, store_url=pg_url).porch
    with migrations_held(pg_url) as waited_for:
        start_blocked(porch, waited_for)
        assert porch.proc is not None
        porch.proc.send_signal(signal.SIGTERM)
        wait_until(lambda: "SIGTERM received" in porch.log_tail(), 10, "porch to note SIGTERM")
        assert porch.proc.poll() is None, porch.log_tail()
    code = porch.proc.wait(60)
    assert code == 0, porch.log_tail()
    assert "porch: stopped" in porch.log_tail()
