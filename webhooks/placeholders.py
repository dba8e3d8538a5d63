"""Placeholder secrets and example hosts: what a config copied from an example still holds.

``porch check`` and ``porch serve`` refuse a config whose secrets look like a template's
(``replace-with-...``, ``changeme``, too short or made of few characters) or whose platforms
sit on a host reserved for documentation (``example.org``, ``*.example``, ``*.invalid``;
RFC 2606 §2-3, https://www.rfc-editor.org/rfc/rfc2606): a quick start must never run with a
guessable ``hs_token`` or webhook secret. Loading the config (:func:`webhooks.config.load_config`)
does not refuse them, so tools that only read a config (``porch registration``, tests of the
schema) keep working with an example.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from pydantic import AnyUrl, BaseModel, SecretStr

from webhooks.config import PorchConfig

#: Secrets shorter than this are refused: a token porch or ``openssl rand -hex 32`` makes has
#: 48 or 64 characters; Discourse makes API keys of 64.
MIN_SECRET_CHARS = 16
#: A secret made of fewer distinct characters than this is not random (``aaaa...``, ``1234...``).
MIN_DISTINCT_CHARS = 8
#: Words that mark a value someone was meant to replace. Compared without case; none of them
#: is likely inside a random token of hex or base64 characters.
PLACEHOLDER_WORDS = (
    "replace",
    "changeme",
    "change-me",
    "change_me",
    "example",
    "placeholder",
    "dummy",
    "sample",
    "your-",
    "your_",
    "insert-",
    "fill-in",
    "xxxxx",
)
#: Passwords a template puts in a database URL.
_WEAK_PASSWORDS = frozenset({"password", "passwd", "secret", "changeme", "porch", "postgres"})
#: Domains reserved for documentation and testing that can never be a real forum or
#: homeserver (RFC 2606).
_EXAMPLE_DOMAINS = ("example.com", "example.net", "example.org")
_EXAMPLE_TLDS = ("example", "invalid")


def placeholder_problems(config: PorchConfig) -> list[str]:
    """Every secret that looks like a placeholder and every example host, each as
    ``path: what is wrong`` (the path in the file; the secret itself is never shown)."""
    problems = [
        f"{path}: {why}; generate one, e.g. `openssl rand -hex 32`"
        for path, secret in _secrets(config, ())
        if (why := secret_weakness(secret.get_secret_value())) is not None
    ]
    hosts: list[tuple[str, str | None]] = [
        ("discourse.url", config.discourse.url.host),
        ("matrix.homeserver", config.matrix.homeserver.host),
        ("matrix.server_name", config.matrix.server_name),
    ]
    if config.discourse.webhook_url is not None:
        hosts.append(("discourse.webhook_url", config.discourse.webhook_url.host))
    if config.matrix.appservice is not None:
        hosts.append(("matrix.appservice.url", config.matrix.appservice.url.host))
    if config.listen.public_url is not None:
        hosts.append(("listen.public_url", config.listen.public_url.host))
    problems += [
        f"{path}: {host} is an example host (reserved for documentation); "
        "write your own forum's and homeserver's names"
        for path, host in hosts
        if host is not None and is_example_host(host)
    ]
    problems += _store_problems(config.store.url)
    return problems


def secret_weakness(value: str) -> str | None:
    """Why ``value`` cannot be a real secret, or ``None`` when it may be one."""
    lowered = value.lower()
    for word in PLACEHOLDER_WORDS:
        if word in lowered:
            return f"looks like a placeholder (it contains {word!r})"
    if len(value) < MIN_SECRET_CHARS:
        return f"too short for a secret ({len(value)} characters; at least {MIN_SECRET_CHARS})"
    if len(set(value)) < MIN_DISTINCT_CHARS:
        return "too few different characters to be random"
    return None


def is_example_host(host: str) -> bool:
    """Whether ``host`` (a name, possibly with a port) is reserved for documentation."""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    name = name.lower().rstrip(".")
    if any(name == d or name.endswith("." + d) for d in _EXAMPLE_DOMAINS):
        return True
    return name.rsplit(".", 1)[-1] in _EXAMPLE_TLDS


def _store_problems(url: str) -> list[str]:
    try:
        parts = urlsplit(url)
        host, password = parts.hostname, parts.password
    except ValueError:
        return []  # the schema's own check names a malformed URL
    problems = []
    if password is not None and (
        password.lower() in _WEAK_PASSWORDS or secret_weakness(password) is not None
    ):
        problems.append("store.url: the database password looks like a placeholder or is weak")
    if host is not None and is_example_host(host):
        problems.append(f"store.url: {host} is an example host (reserved for documentation)")
    return problems


def _secrets(value: Any, path: tuple[str | int, ...]) -> Iterator[tuple[str, SecretStr]]:
    """Every secret in the config, with its path in the file."""
    if isinstance(value, SecretStr):
        yield _path(path), value
    elif isinstance(value, BaseModel) and not isinstance(value, AnyUrl):
        for name in type(value).model_fields:
            yield from _secrets(getattr(value, name), (*path, name))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _secrets(item, (*path, str(key)))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _secrets(item, (*path, index))


def _path(parts: tuple[str | int, ...]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out
