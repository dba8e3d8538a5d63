"""The plugin interface for policy rules: conditions and transforms.

A rule package declares an entry point in the group ``porch.rules`` naming a module (or object)
that implements the hooks below with :data:`hookimpl`; porch's own rules register the same way
(see ``pyproject.toml``). A policy file then names a condition under ``when:`` or a transform
under ``transforms:`` by the rule's ``name``, and the rule's ``options`` type validates what the
file says there, so a mistake is reported with its path at startup.

Rules are pure like the rest of ``policies/``: a condition reads :class:`~policies.facts.Facts`,
a transform rewrites :class:`~policies.facts.Content`. Only :meth:`Rules.load` touches the
environment (it reads the installed packages' entry points), once, when the config is built.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Generic, TypeVar

import pluggy
from pydantic import BaseModel, ConfigDict

from policies.facts import Content, Facts

PROJECT = "porch"
#: The entry-point group rule packages register in.
ENTRY_POINT_GROUP = "porch.rules"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

Opt = TypeVar("Opt")


class RuleOptions(BaseModel):
    """A base for a rule's options: immutable, and unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True, slots=True)
class Change:
    """What a transform changed, for the audit detail. Never the removed data itself."""

    transform: str
    what: str
    count: int = 1

    def __str__(self) -> str:
        return f"{self.transform}: {self.what} x{self.count}"


@dataclass(frozen=True, slots=True)
class Rewrite:
    """A transform's result: the content after it, and what it changed."""

    content: Content
    changes: tuple[Change, ...] = ()


@dataclass(frozen=True, slots=True)
class Condition(Generic[Opt]):
    """A test on the facts of a crossing, named under ``when:`` in a policy.

    ``test(options, facts)`` returns ``True`` or ``False``, or ``None`` when a fact it needs is
    unknown: the decision then waits instead of guessing.
    """

    name: str
    options: Any
    test: Callable[[Opt, Facts], bool | None]
    doc: str = ""


def _needs_nothing(options: Any, facts: Facts) -> tuple[str, ...]:
    return ()


@dataclass(frozen=True, slots=True)
class Transform(Generic[Opt]):
    """A rewrite of the content that crosses, named under ``transforms:`` in a policy.

    ``apply(options, facts, content)`` returns the :class:`Rewrite`; ``needs(options, facts)``
    names the facts it needs that are unknown (the decision then waits). ``order`` places it
    among the others (lower first): those that drop whole parts run first, then personal-data
    removal (before anything inserts names that could split an address), then renaming.
    """

    name: str
    options: Any
    apply: Callable[[Opt, Facts, Content], Rewrite]
    needs: Callable[[Opt, Facts], tuple[str, ...]] = _needs_nothing
    order: int = 50
    doc: str = ""


class RuleSpec:
    """The hooks a rule package implements (each is optional)."""

    @hookspec
    def porch_conditions(self) -> Sequence[Condition[Any]]:  # type: ignore[empty-body]
        """The conditions this package provides."""

    @hookspec
    def porch_transforms(self) -> Sequence[Transform[Any]]:  # type: ignore[empty-body]
        """The transforms this package provides."""


class RuleError(Exception):
    """Two packages register a rule under one name, or a package's hook is malformed."""


@dataclass(frozen=True)
class Rules:
    """Every condition and transform available to policies, by name."""

    conditions: dict[str, Condition[Any]]
    transforms: dict[str, Transform[Any]]

    @classmethod
    def from_plugins(cls, plugins: Iterable[object]) -> Rules:
        """The rules of ``plugins`` (modules or objects implementing :class:`RuleSpec`)."""
        manager = _manager()
        for plugin in plugins:
            manager.register(plugin)
        return cls._collect(manager)

    @classmethod
    def load(cls) -> Rules:
        """The rules of every installed package registered under ``porch.rules``.

        porch's own rules come through the same entry point; when porch runs from a source tree
        whose metadata predates it, they are registered directly so that the floor never goes
        missing.
        """
        from policies import builtin

        manager = _manager()
        manager.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        if not manager.is_registered(builtin):
            manager.register(builtin)
        return cls._collect(manager)

    @classmethod
    def _collect(cls, manager: pluggy.PluginManager) -> Rules:
        conditions: dict[str, Condition[Any]] = {}
        transforms: dict[str, Transform[Any]] = {}
        for batch in manager.hook.porch_conditions():
            for condition in batch:
                _add(conditions, condition, "condition")
        for batch in manager.hook.porch_transforms():
            for transform in batch:
                _add(transforms, transform, "transform")
        ordered = dict(sorted(transforms.items(), key=lambda kv: (kv[1].order, kv[0])))
        return cls(conditions, ordered)


def _manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(PROJECT)
    manager.add_hookspecs(RuleSpec)
    return manager


def _add(into: dict[str, Any], rule: Condition[Any] | Transform[Any], kind: str) -> None:
    if not isinstance(rule, Condition | Transform):
        raise RuleError(f"a porch_{kind}s hook returned {rule!r}, not a {kind.capitalize()}")
    if rule.name in into:
        raise RuleError(f"two rule packages provide a {kind} named {rule.name!r}")
    into[rule.name] = rule


@cache
def default_rules() -> Rules:
    """The installed rules, loaded once per process."""
    return Rules.load()
