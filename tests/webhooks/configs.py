"""A small valid porch config for tests of the HTTP face (and anything else that needs one)."""

from __future__ import annotations

import copy
from typing import Any

import yaml

from webhooks.config import PorchConfig, parse_config

WEBHOOK_SECRET = "webhook-secret-for-tests"
AS_TOKEN = "as-token-for-tests-0123456789"
HS_TOKEN = "hs-token-for-tests-0123456789"
SERVER_NAME = "porch.test"
BOT = f"@porch:{SERVER_NAME}"
GHOST_PREFIX = "forum_"

BASE: dict[str, Any] = {
    "discourse": {
        "url": "http://127.0.0.1:9",
        "api_key": "forum-api-key",
        "api_username": "porch",
        "relay_username": "chat-relay",
        "webhook_secret": WEBHOOK_SECRET,
    },
    "matrix": {
        "homeserver": "http://127.0.0.1:9",
        "server_name": SERVER_NAME,
        "mode": "appservice",
        "appservice": {
            "id": "porch",
            "url": "http://127.0.0.1:8090",
            "as_token": AS_TOKEN,
            "hs_token": HS_TOKEN,
            "bot_localpart": "porch",
            "ghost_prefix": GHOST_PREFIX,
        },
    },
    "store": {"url": "sqlite:///porch.db"},
    "links": [{"name": "town-square", "forum": {"category": "town-square"}, "room": "!town:x"}],
}


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def config_data(**overrides: Any) -> dict[str, Any]:
    """The config as YAML data: ``BASE`` with each section's ``overrides`` merged in deeply."""
    return _merge(BASE, overrides)


def make_config(**overrides: Any) -> PorchConfig:
    """A validated config; e.g. ``make_config(discourse={"max_body_bytes": 1024})``."""
    return parse_config(yaml.safe_dump(config_data(**overrides)), source="<test config>")
