"""Bot mode's config, the line that names a post's author, and the stored session."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from bridges.matrix.bot_format import author_line, name_author
from bridges.matrix.matrix_config import MatrixConfig
from bridges.model import Author, ForumUsername, UserID
from bridges.store.store import Store
from bridges.store.sync_state import SyncState
from tests.webhooks.configs import config_data, make_config
from webhooks.config import PorchConfig
from webhooks.health import NotReady
from webhooks.matrix_sync import STALL_MARGIN, sync_check

BASE = {"homeserver": "https://matrix.example.org", "server_name": "example.org"}


def bot_section(**extra: Any) -> dict[str, Any]:
    return {"user_id": "@porch:example.org", "password": "hunter2hunter2", **extra}


def test_bot_mode_needs_the_bot_section() -> None:
    with pytest.raises(ValidationError, match="mode 'bot' needs a 'bot' section"):
        MatrixConfig.model_validate({**BASE, "mode": "bot"})


def test_bot_mode_needs_no_appservice_section() -> None:
    config = MatrixConfig.model_validate({**BASE, "mode": "bot", "bot": bot_section()})
    assert config.appservice is None
    assert config.bot is not None and config.bot.device_id == "PORCH"


def test_the_account_needs_a_password_or_a_token() -> None:
    with pytest.raises(ValidationError, match="'password' or an 'access_token'"):
        MatrixConfig.model_validate(
            {**BASE, "mode": "bot", "bot": {"user_id": "@porch:example.org"}}
        )
    token = {"user_id": "@porch:example.org", "access_token": "syt_abc"}
    assert MatrixConfig.model_validate({**BASE, "mode": "bot", "bot": token}).bot is not None


def test_the_user_id_must_be_a_full_user_id() -> None:
    with pytest.raises(ValidationError, match="user_id"):
        MatrixConfig.model_validate({**BASE, "mode": "bot", "bot": bot_section(user_id="porch")})


def test_the_author_template_may_use_known_fields_only() -> None:
    with pytest.raises(ValidationError, match=r"\{name\}, \{username\} and \{profile_url\}"):
        MatrixConfig.model_validate(
            {**BASE, "mode": "bot", "bot": bot_section(author_template="{displayname}:")}
        )


def test_secrets_are_not_shown() -> None:
    config = MatrixConfig.model_validate({**BASE, "mode": "bot", "bot": bot_section()})
    assert "hunter2" not in repr(config)


ALICE = Author(
    username=ForumUsername("alice"),
    user_id=7,
    name="Alice <Smith>",
    avatar_template=None,
    staff=False,
    trust_level=1,
    primary_group_name=None,
)


def test_the_default_line_names_the_author_in_bold() -> None:
    plain, html = author_line(ALICE, "**{name}** (forum):", "https://forum.example.org")
    assert plain == "Alice <Smith> (forum):"
    assert html == "<strong>Alice &lt;Smith&gt;</strong> (forum):"


def test_a_name_is_text_not_markdown() -> None:
    mallory = Author(ForumUsername("mallory"), 8, "[click](https://evil.example)*x*")
    _, html = author_line(mallory, "**{name}**:", "https://forum.example.org")
    assert "<a" not in html and "<em>" not in html


def test_the_profile_link_points_at_the_forum() -> None:
    _, html = author_line(
        ALICE, "**{name}** ([@{username}]({profile_url})):", "https://forum.example.org/"
    )
    assert '<a href="https://forum.example.org/u/alice">@alice</a>' in html


def test_the_line_goes_in_front_of_plain_and_formatted_text() -> None:
    plain = name_author({"msgtype": "m.text", "body": "Hi <all>"}, ALICE, "**{name}**:", "")
    assert plain["body"] == "Alice <Smith>: Hi <all>"
    assert plain["formatted_body"] == "<p><strong>Alice &lt;Smith&gt;</strong>:</p>Hi &lt;all&gt;"
    formatted = name_author(
        {
            "msgtype": "m.text",
            "body": "Hi",
            "format": "org.matrix.custom.html",
            "formatted_body": "<p>Hi <em>all</em></p><p>Bye</p>",
        },
        ALICE,
        "**{name}**:",
        "",
    )
    assert formatted["formatted_body"] == (
        "<p><strong>Alice &lt;Smith&gt;</strong>: Hi <em>all</em></p><p>Bye</p>"
    )


# --- the stored session (SQLite and PostgreSQL) ------------------------------------------------

BOT = UserID("@porch:example.org")


def test_a_login_and_the_sync_position_are_kept(store: Store) -> None:
    sessions = SyncState(store.db)
    assert sessions.session(BOT) is None
    sessions.save_login(BOT, "PORCH", "syt_secret", 1.0)
    sessions.save_batch(BOT, "s1_2", 2.0)
    session = sessions.session(BOT)
    assert session is not None
    assert (session.device_id, session.access_token, session.next_batch) == (
        "PORCH",
        "syt_secret",
        "s1_2",
    )
    assert session.synced_at == 2.0
    assert "syt_secret" not in repr(session)


def test_a_new_login_keeps_the_sync_position(store: Store) -> None:
    sessions = SyncState(store.db)
    sessions.save_login(BOT, "PORCH", "syt_one", 1.0)
    sessions.save_batch(BOT, "s5", 2.0)
    assert not sessions.forget_token(BOT, "syt_older", 3.0), "a newer login was forgotten"
    kept = sessions.session(BOT)
    assert kept is not None and kept.access_token == "syt_one"
    assert sessions.forget_token(BOT, "syt_one", 3.0)
    forgotten = sessions.session(BOT)
    assert forgotten is not None and forgotten.access_token is None
    sessions.save_login(BOT, "PORCH", "syt_two", 4.0)
    session = sessions.session(BOT)
    assert session is not None
    assert (session.access_token, session.next_batch) == ("syt_two", "s5")


def test_a_failure_stays_until_the_next_good_sync(store: Store) -> None:
    sessions = SyncState(store.db)
    sessions.save_failure(BOT, "the homeserver refused the login", 1.0)
    failed = sessions.session(BOT)
    assert failed is not None and failed.failure == "the homeserver refused the login"
    sessions.save_batch(BOT, "s9", 2.0)
    recovered = sessions.session(BOT)
    assert recovered is not None and recovered.failure is None


# --- readiness in bot mode -----------------------------------------------------------------


def bot_mode_config() -> PorchConfig:
    data = config_data()
    data["matrix"] = {
        "homeserver": "http://127.0.0.1:9",
        "server_name": "porch.test",
        "mode": "bot",
        "bot": {"user_id": "@porch:example.org", "access_token": "syt_x", "sync_timeout": 10},
    }
    return PorchConfig.model_validate(data)


def test_appservice_mode_adds_no_sync_check(store: Store) -> None:
    assert sync_check(make_config(), store) == {}


def test_readiness_follows_the_sync(store: Store) -> None:
    now = [1000.0]
    check = sync_check(bot_mode_config(), store, clock=lambda: now[0])["matrix_sync"]
    with pytest.raises(NotReady, match="has not synced yet"):
        check()
    sessions = SyncState(store.db)
    sessions.save_batch(BOT, "s1", 1000.0)
    check()
    now[0] = 1000.0 + 2 * 10 + STALL_MARGIN + 1
    with pytest.raises(NotReady, match="has not synced for 81s"):
        check()
    sessions.save_failure(BOT, "could not sync 8 times in a row", now[0])
    with pytest.raises(NotReady, match="stopped syncing: could not sync 8 times"):
        check()
