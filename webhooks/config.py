"""The one config schema, assembled from the sections each package owns, and its loader.

Every error names its path in the file (``links[1].direction``) and what was expected, and all
errors are reported at once, so an admin fixes the file in one pass.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, HttpUrl, ValidationError, model_validator
from pydantic_core import ErrorDetails

from bridges.configbase import Section
from bridges.discourse.discourse_config import DiscourseConfig
from bridges.link_tiers import boundary_problems
from bridges.links import LinkConfig, RelayConfig
from bridges.matrix.matrix_config import MatrixConfig
from bridges.model import LinkName
from bridges.moderation.moderation_config import ModerationConfig
from bridges.review.review_config import review_room_problems
from bridges.store.store_config import StoreConfig
from bridges.watching.watching_config import WatchingConfig
from policies.policy_config import PoliciesConfig


class OpsListenConfig(Section):
    """The operators' listener: ``/healthz``, ``/readyz`` and ``/metrics``, never the doors."""

    #: Loopback by default: the numbers and the readiness answer (which reaches the forum with
    #: porch's admin key) are for the operator's own tools, not for anyone who finds the port.
    host: str = "127.0.0.1"
    port: int = Field(default=9090, ge=0, le=65535)
    #: Seconds a ``/readyz`` answer about the forum is reused: every probe would otherwise spend
    #: one request of the forum's site-wide admin API budget (60 a minute by default).
    forum_check_interval: float = Field(default=30.0, ge=1, le=3600)


class ListenConfig(Section):
    """Where porch's HTTP face listens, and the limits its server holds every client to."""

    host: str = "0.0.0.0"
    port: int = Field(default=8090, ge=1, le=65535)
    #: The base URL people's browsers reach porch's web pages at (account linking); by default
    #: ``matrix.appservice.url``.
    public_url: HttpUrl | None = None
    #: Requests handled at once; a slow client never holds one (the server reads whole
    #: requests before a thread sees them).
    threads: int = Field(default=8, ge=1, le=256)
    #: Open connections at most; past it, new ones wait in the kernel's queue until one closes.
    connection_limit: int = Field(default=100, ge=1, le=10000)
    #: Seconds a connection may stay silent, and seconds a request may take to arrive whole
    #: (headers and body) from its first byte; then porch hangs up.
    read_timeout: int = Field(default=30, ge=1, le=3600)
    #: Largest request body; a larger ``Content-Length`` is answered 413 before the body is
    #: read, and a chunked body is cut off there. It must hold the homeserver's largest
    #: transaction (see the appservice door), so it is far above the forum's own limit
    #: (``discourse.max_body_bytes``, which applies on top of it to the forum's webhooks).
    max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    ops: OpsListenConfig = OpsListenConfig()


class PorchConfig(Section):
    """The whole config file."""

    discourse: DiscourseConfig
    matrix: MatrixConfig
    listen: ListenConfig = ListenConfig()
    store: StoreConfig = StoreConfig()
    relay: RelayConfig = RelayConfig()
    links: tuple[LinkConfig, ...] = Field(min_length=1)
    policies: PoliciesConfig = Field(default_factory=dict)
    watching: WatchingConfig = WatchingConfig()
    moderation: ModerationConfig = ModerationConfig()
    #: Names of links removed on purpose: their mappings stay in the store, unused, instead of
    #: porch refusing the config for orphaning them (:mod:`bridges.orphans`).
    retired_links: tuple[LinkName, ...] = ()

    @model_validator(mode="after")
    def _links_consistent(self) -> PorchConfig:
        errors: list[str] = []
        seen_names: set[str] = set()
        seen_rooms: dict[str, str] = {}
        for i, link in enumerate(self.links):
            if link.name in seen_names:
                errors.append(f"links[{i}].name: '{link.name}' is used by another link")
            seen_names.add(link.name)
            if link.room in seen_rooms:
                errors.append(
                    f"links[{i}].room: already linked by '{seen_rooms[link.room]}'; "
                    "a room carries one link"
                )
            seen_rooms.setdefault(link.room, link.name)
            if link.policy is not None and link.policy not in self.policies:
                known = ", ".join(sorted(self.policies)) or "none are defined"
                errors.append(f"links[{i}].policy: no policy named '{link.policy}' ({known})")
        for i, name in enumerate(self.retired_links):
            if name in seen_names:
                errors.append(f"retired_links[{i}]: '{name}' is still a link in links:")
        errors += boundary_problems(self.links, self.policies)
        errors += review_room_problems(self.moderation.review, [lk.room for lk in self.links])
        if errors:
            raise _CrossFieldErrors(errors)
        return self

    def link(self, name: str) -> LinkConfig:
        """The link called ``name``; KeyError when there is none."""
        for link in self.links:
            if link.name == name:
                return link
        raise KeyError(name)


class _CrossFieldErrors(ValueError):
    """Errors found after each field validated on its own; each already carries its path."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class ConfigError(Exception):
    """The config file cannot be used. ``errors`` are ``path: what is wrong`` lines."""

    source: str
    errors: tuple[str, ...]

    def __str__(self) -> str:
        lines = "\n".join(f"  {e}" for e in self.errors)
        return f"{self.source}: {len(self.errors)} error(s)\n{lines}"


_NOT_A_PATH = re.compile(r"[\[(]|^function-")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> PorchConfig:
    """Read, expand and validate the config file at ``path``.

    Raises:
        ConfigError: with every problem found, each naming its path in the file.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, (f"cannot read the file: {exc.strerror}",)) from exc
    return parse_config(text, source=source, environ=environ)


def parse_config(
    text: str, *, source: str = "<config>", environ: Mapping[str, str] | None = None
) -> PorchConfig:
    """Validate config ``text``; see :func:`load_config`."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f"line {mark.line + 1}, column {mark.column + 1}: "
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(source, (f"{where}not valid YAML: {problem}",)) from exc
    if not isinstance(data, dict):
        raise ConfigError(
            source, ("the file must be a mapping of sections (discourse, matrix, ...)",)
        )
    env_errors: list[str] = []
    data = _expand(data, os.environ if environ is None else environ, (), env_errors)
    try:
        config = PorchConfig.model_validate(data)
    except ValidationError as exc:
        details = _innermost(exc.errors())
        unset = {line.split(":", 1)[0] for line in env_errors}
        errors = env_errors + [
            line for e in details for line in _describe(e) if line.split(":", 1)[0] not in unset
        ]
        raise ConfigError(source, tuple(_unique(errors))) from None
    if env_errors:
        raise ConfigError(source, tuple(env_errors))
    return config


def _expand(
    value: Any, environ: Mapping[str, str], path: tuple[Any, ...], errors: list[str]
) -> Any:
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in environ:
                return environ[name]
            if default is not None:
                return default
            errors.append(f"{_path(path)}: environment variable {name} is not set")
            return ""

        return _VAR.sub(substitute, value)
    if isinstance(value, dict):
        return {k: _expand(v, environ, (*path, k), errors) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, environ, (*path, i), errors) for i, v in enumerate(value)]
    return value


def _path(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _describe(error: ErrorDetails) -> list[str]:
    # pydantic appends the union member or validator name to the location; it is not a path.
    loc = [
        p
        for p in error["loc"]
        if not (isinstance(p, str) and ("[" in p or p.startswith("function-")))
    ]
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "value_error" and isinstance(ctx.get("error"), _CrossFieldErrors):
        return list(ctx["error"].errors)
    if kind == "missing":
        message = "is required"
    elif kind == "extra_forbidden":
        message = "is not a known setting"
    elif kind in ("literal_error", "enum"):
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        message = f"must be one of {expected}"
    elif kind in ("too_short", "string_too_short") and "min_length" in ctx:
        unit = "characters" if isinstance(error.get("input"), str) else "item(s)"
        message = f"must have at least {ctx['min_length']} {unit}"
    elif kind == "value_error":
        message = str(ctx.get("error", error["msg"]))
    else:
        message = error["msg"][0].lower() + error["msg"][1:]
    return [f"{_path(loc)}: {message}"]


def _innermost(errors: list[ErrorDetails]) -> list[ErrorDetails]:
    """Drop an error on a container when an error inside it explains it already."""
    locs = [tuple(e["loc"]) for e in errors]
    return [
        e
        for e, loc in zip(errors, locs, strict=True)
        if not any(other != loc and other[: len(loc)] == loc for other in locs)
    ]


def _unique(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return list(seen)
