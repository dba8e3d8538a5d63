"""Package layering: imports go one way only, webhooks -> bridges -> policies.

`policies/` decides from plain data, so besides never reaching up into `bridges`/`webhooks` it
must not import anything that talks to the outside world (network, database, processes) nor
read the clock, the random generator or files while deciding: a decision has to be
reproducible from its inputs. The rules are checked on the AST of every module, imports inside
functions included, so a lazy import cannot slip through.

Inside `bridges/`, the adapters (`discourse/`, `matrix/`, `store/`, `formatting/`) know no
feature: features import adapters, never the reverse. And no runtime package reaches for the
doubles (`sandbox/`) or the tests, which an installed porch does not have.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bridges", "policies", "webhooks")

# Modules whose mere import means I/O (or an I/O-bound runtime) in the pure layer.
IO_MODULES = (
    "aiohttp",
    "asyncio",
    "flask",
    "http",
    "httpx",
    "logging.handlers",
    "nio",
    "psycopg",
    "pydiscourse",
    "requests",
    "shutil",
    "smtplib",
    "socket",
    "sqlalchemy",
    "subprocess",
    "urllib.request",
)
# Calls that make a decision depend on when or where it runs rather than on its inputs.
IMPURE_CALLS = {
    ("time", "time"),
    ("time", "monotonic"),
    ("time", "sleep"),
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("os", "getenv"),
    ("random", "random"),
    ("random", "choice"),
    ("random", "randint"),
}
IMPURE_BUILTINS = {"open", "input", "print"}
DYNAMIC_IMPORTS = {("importlib", "import_module"), ("", "__import__")}

# The platform and storage adapters. Besides one another they may use only the shared kernel
# below (and `policies`): every other module of `bridges` is a feature or the relay.
ADAPTERS = ("bridges.discourse", "bridges.matrix", "bridges.store", "bridges.formatting")
# Named in the failure message; any `bridges` module outside the adapters and the kernel is
# refused, these or not.
FEATURES = (
    "bridges.moderation",
    "bridges.review",
    "bridges.watching",
    "bridges.membership",
    "bridges.identity",
    "bridges.relay",
)
# What the adapters legitimately share with the rest of `bridges` (and nothing more).
SHARED_KERNEL = (
    "bridges.model",  # neutral events and ids
    "bridges.codec",  # their encoding in the inbox
    "bridges.links",  # the `links:` config (which room goes with which category)
    "bridges.configbase",  # the config sections' base class
    "bridges.backoff",  # retry pacing
    "bridges.metrics",  # the Prometheus counters
)
# The Discourse double, the Synapse launcher, the demo script, and the tests: equipment an
# installed porch does not ship, so no runtime package may need them.
DOUBLES = ("sandbox", "webhooks.sandbox", "tests")
# `porch demo` loads the demo script by name, from a checkout, only when asked for it. That
# dynamic load is the one exception; a static import there would still be refused.
DEMO_LOADS = {("webhooks/cli.py", "sandbox.demo")}


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    what: str
    statement: str = ""

    def __str__(self) -> str:
        shown = f": {self.statement}" if self.statement else ""
        return f"{self.path}:{self.line}: {self.what}{shown}"


@dataclass(frozen=True)
class Import:
    """One module an import statement (or a by-name import call) brings in."""

    line: int
    name: str
    dynamic: bool  # importlib.import_module / __import__ rather than an import statement


def _call_name(node: ast.Call) -> tuple[str, str]:
    func = node.func
    if isinstance(func, ast.Name):
        return "", func.id
    if isinstance(func, ast.Attribute):
        owner = func.value
        if isinstance(owner, ast.Name):
            return owner.id, func.attr
        if isinstance(owner, ast.Attribute):
            return owner.attr, func.attr
    return "", ""


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def layering_violations(root: Path = ROOT) -> list[Violation]:
    """All import-direction and purity violations under `root`'s packages."""
    found: list[Violation] = []
    for package in ("bridges", "policies"):
        for path in sorted((root / package).rglob("*.py")):
            rel = str(path.relative_to(root))
            for line, name in imported_modules_at(path, root):
                if _within(name, "webhooks"):
                    found.append(Violation(rel, line, f"{package} imports {name}"))
                if package == "policies" and _within(name, "bridges"):
                    found.append(Violation(rel, line, f"policies imports {name}"))
                if package == "policies" and any(_within(name, io) for io in IO_MODULES):
                    found.append(Violation(rel, line, f"policies imports I/O module {name}"))
    for path in sorted((root / "policies").rglob("*.py")):
        rel = str(path.relative_to(root))
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            owner, name = _call_name(node)
            if (owner, name) in IMPURE_CALLS or (owner == "" and name in IMPURE_BUILTINS):
                shown = f"{owner}.{name}" if owner else name
                found.append(Violation(rel, node.lineno, f"policies calls impure {shown}()"))
    return found


def imported_modules_at(path: Path, root: Path) -> Iterator[tuple[int, str]]:
    for found in imports_at(path, root):
        yield found.line, found.name


def imports_at(path: Path, root: Path) -> Iterator[Import]:
    """Every module `path` imports, anywhere in it: `from a.b import c` names both `a.b` and
    `a.b.c` (c may be a module), relative imports are resolved against the file's package."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    module = ".".join(parts)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(node.lineno, alias.name, dynamic=False)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # `module` names the file itself; level 1 is its package.
                base = module.split(".")[: -node.level]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield Import(node.lineno, target, dynamic=False)
            for alias in node.names:
                name = f"{target}.{alias.name}" if target else alias.name
                yield Import(node.lineno, name, dynamic=False)
        elif (
            isinstance(node, ast.Call)
            and _call_name(node) in DYNAMIC_IMPORTS
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            yield Import(node.lineno, str(node.args[0].value), dynamic=True)


def _statement(path: Path, line: int) -> str:
    """The source line of an import, for the failure message."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return lines[line - 1].strip() if 0 < line <= len(lines) else ""


def adapter_violations(root: Path = ROOT) -> list[Violation]:
    """Imports by an adapter module of anything in `bridges` beyond the adapters and the
    shared kernel: a feature, the relay, or a top-level module outside the kernel."""
    found: dict[tuple[str, int, str], Violation] = {}
    for adapter in ADAPTERS:
        for path in sorted((root / Path(*adapter.split("."))).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            for imported in imports_at(path, root):
                name = imported.name
                if not _within(name, "bridges") or name == "bridges":
                    continue  # `from bridges import codec` also names `bridges.codec`
                if any(_within(name, ok) for ok in (*ADAPTERS, *SHARED_KERNEL)):
                    continue
                unit = ".".join(name.split(".")[:2])  # the package or top-level module
                kind = "feature" if unit in FEATURES else "non-kernel module"
                what = f"adapter {adapter} imports {kind} {unit} ({name})"
                # `from x import a, b` names x, x.a and x.b: one violation per line and unit.
                found.setdefault(
                    (rel, imported.line, unit),
                    Violation(rel, imported.line, what, _statement(path, imported.line)),
                )
    return list(found.values())


def double_imports(root: Path = ROOT) -> list[Violation]:
    """Imports of the doubles (`sandbox`, `webhooks.sandbox`) or the tests by a runtime
    package."""
    found: dict[tuple[str, int, str], Violation] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            for imported in imports_at(path, root):
                double = next((d for d in DOUBLES if _within(imported.name, d)), None)
                if double is None:
                    continue
                if imported.dynamic and (rel, imported.name) in DEMO_LOADS:
                    continue
                what = f"{package} imports {double} ({imported.name})"
                found.setdefault(
                    (rel, imported.line, double),
                    Violation(rel, imported.line, what, _statement(path, imported.line)),
                )
    return list(found.values())


def test_packages_exist() -> None:
    for package in PACKAGES:
        assert _sources(package), f"no modules found under {package}/"


def test_imports_go_one_way_and_policies_stay_pure() -> None:
    violations = layering_violations()
    assert not violations, "layering violations:\n" + "\n".join(map(str, violations))


@pytest.mark.parametrize(
    ("package", "source", "expected"),
    [
        ("bridges", "from webhooks.config import PorchConfig\n", "bridges imports webhooks"),
        ("bridges", "def f():\n    import webhooks.app\n", "bridges imports webhooks"),
        ("policies", "from bridges.model import UserID\n", "policies imports bridges"),
        ("policies", "from .. import webhooks\n", "policies imports webhooks"),
        ("policies", "import requests\n", "I/O module requests"),
        ("policies", "from sqlalchemy import select\n", "I/O module sqlalchemy"),
        ("policies", "import time\nx = time.time()\n", "impure time.time()"),
        ("policies", "from datetime import datetime\nx = datetime.now()\n", "impure datetime.now"),
        (
            "policies",
            "import importlib\nimportlib.import_module('bridges.x')\n",
            "imports bridges",
        ),
    ],
)
def test_checker_catches(tmp_path: Path, package: str, source: str, expected: str) -> None:
    """The checker itself must be able to fail, or a green run proves nothing."""
    for name in ("bridges", "policies"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("")
    (tmp_path / package / "bad.py").write_text(source)
    violations = layering_violations(tmp_path)
    assert any(expected in str(v) for v in violations), violations


def test_checker_allows_the_sanctioned_direction(tmp_path: Path) -> None:
    for name in ("bridges", "policies"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("")
    (tmp_path / "bridges" / "ok.py").write_text(
        "import requests\nfrom policies.engine import decide\nfrom . import model\n"
    )
    (tmp_path / "policies" / "ok.py").write_text(
        "from datetime import datetime, timedelta\nfrom .decision import Decision\n"
        "def f(now: datetime) -> datetime:\n    return now + timedelta(1)\n"
    )
    assert layering_violations(tmp_path) == []


def test_adapters_know_no_feature() -> None:
    violations = adapter_violations()
    assert not violations, "adapters importing features:\n" + "\n".join(map(str, violations))


def test_runtime_packages_never_import_the_doubles_or_the_tests() -> None:
    violations = double_imports()
    assert not violations, "runtime importing doubles/tests:\n" + "\n".join(map(str, violations))


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    """A scratch checkout: the given files, each package with an `__init__.py`."""
    for rel, source in files.items():
        path = tmp_path / rel
        for parent in reversed(path.relative_to(tmp_path).parents[:-1]):
            init = tmp_path / parent / "__init__.py"
            init.parent.mkdir(parents=True, exist_ok=True)
            if not init.exists():
                init.write_text("")
        path.write_text(source)
    return tmp_path


@pytest.mark.parametrize(
    ("rel", "source", "expected"),
    [
        (
            "bridges/discourse/payloads.py",
            "from bridges.moderation.sanctions import user_event\n",
            "adapter bridges.discourse imports feature bridges.moderation",
        ),
        (
            "bridges/matrix/events.py",
            "def f():\n    from bridges.review.webhook import EVENTS\n",
            "adapter bridges.matrix imports feature bridges.review",
        ),
        (
            "bridges/store/x.py",
            "import bridges.watching.digest\n",
            "adapter bridges.store imports feature bridges.watching",
        ),
        (
            "bridges/formatting/x.py",
            "from ...bridges import membership\n",
            "imports feature bridges.membership",
        ),
        (
            "bridges/formatting/x.py",
            "from ..identity.links import Linker\n",
            "adapter bridges.formatting imports feature bridges.identity",
        ),
        (
            "bridges/matrix/x.py",
            "from bridges import relay\n",
            "adapter bridges.matrix imports feature bridges.relay",
        ),
        (
            "bridges/matrix/x.py",
            "from bridges.relay.router import Relay\n",
            "imports feature bridges.relay",
        ),
        (
            "bridges/discourse/x.py",
            "from bridges.to_forum import ToForum\n",
            "imports non-kernel module bridges.to_forum",
        ),
        (
            "bridges/store/x.py",
            "from .. import facts\n",
            "imports non-kernel module bridges.facts",
        ),
        (
            "bridges/discourse/x.py",
            "import importlib\nimportlib.import_module('bridges.reactions')\n",
            "imports non-kernel module bridges.reactions",
        ),
    ],
)
def test_adapter_checker_catches(tmp_path: Path, rel: str, source: str, expected: str) -> None:
    """The adapter rule must be able to fail, and say where: file, line and statement."""
    violations = adapter_violations(_tree(tmp_path, {rel: source}))
    assert any(expected in str(v) for v in violations), violations
    (violation,) = violations
    assert str(violation).startswith(f"{rel}:{source.count(chr(10))}: ")
    assert str(violation).endswith(source.splitlines()[-1].strip())


def test_adapter_checker_allows_adapters_kernel_and_policies(tmp_path: Path) -> None:
    source = (
        "import bridges\n"
        "from bridges import codec, metrics\n"
        "from bridges.model import RoomID\n"
        "from bridges.links import LinkConfig\n"
        "from bridges.configbase import Section\n"
        "from bridges.backoff import backoff\n"
        "from bridges.store.inbox import NewEvent\n"
        "from bridges.formatting import escape_markdown\n"
        "from .errors import MatrixError\n"
        "from ..discourse.media_paths import forum_file\n"
        "from policies.linear import Linear\n"
    )
    # A feature importing an adapter is the sanctioned direction.
    feature = "from bridges.matrix.api import AppserviceAPI\n"
    root = _tree(tmp_path, {"bridges/matrix/ok.py": source, "bridges/moderation/f.py": feature})
    assert adapter_violations(root) == []


@pytest.mark.parametrize(
    ("rel", "source", "expected"),
    [
        ("webhooks/x.py", "from sandbox.forum import SandboxForum\n", "webhooks imports sandbox"),
        ("webhooks/x.py", "import webhooks.sandbox.demo\n", "imports webhooks.sandbox"),
        ("webhooks/x.py", "from .sandbox import demo\n", "imports webhooks.sandbox"),
        ("bridges/x.py", "def f():\n    import sandbox\n", "bridges imports sandbox"),
        ("policies/x.py", "from tests.rig.forum import WebhookSink\n", "policies imports tests"),
        ("bridges/store/x.py", "from tests import conftest\n", "bridges imports tests"),
        (
            "webhooks/x.py",
            "import importlib\nimportlib.import_module('sandbox.demo')\n",
            "webhooks imports sandbox",
        ),
        # The demo loader's exception covers its by-name load only, not an import statement.
        ("webhooks/cli.py", "from sandbox.demo import run_demo\n", "webhooks imports sandbox"),
        (
            "webhooks/cli.py",
            "import importlib\nimportlib.import_module('sandbox.forum')\n",
            "webhooks imports sandbox",
        ),
    ],
)
def test_double_checker_catches(tmp_path: Path, rel: str, source: str, expected: str) -> None:
    """The doubles rule must be able to fail, and say where: file, line and statement."""
    violations = double_imports(_tree(tmp_path, {rel: source}))
    assert any(expected in str(v) for v in violations), violations
    (violation,) = violations
    assert str(violation).startswith(f"{rel}:{source.count(chr(10))}: ")
    assert str(violation).endswith(source.splitlines()[-1].strip())


def test_double_checker_allows_the_demo_loader_and_lookalikes(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "webhooks/cli.py": "import importlib\nimportlib.import_module('sandbox.demo')\n",
            "webhooks/sandboxing.py": "import testsuite\nfrom bridges.sandboxed import x\n",
            "bridges/x.py": "",
            "policies/x.py": "",
        },
    )
    assert double_imports(root) == []


def repeated_module_names(root: Path = ROOT) -> dict[str, list[str]]:
    """Module file names found in more than one place in the runtime packages and the sandbox
    (package ``__init__`` files and the numbered migrations aside)."""
    places: dict[str, list[str]] = {}
    for package in (*PACKAGES, "sandbox"):
        for path in sorted((root / package).rglob("*.py")):
            if path.name == "__init__.py" or "migrations" in path.parts:
                continue
            places.setdefault(path.name, []).append(path.relative_to(root).as_posix())
    return {name: where for name, where in places.items() if len(where) > 1}


def test_a_module_name_leads_to_one_file() -> None:
    # A search for a file name finds the one module meant, not a `config.py` among nine.
    assert repeated_module_names() == {}


def test_repeated_module_names_are_found(tmp_path: Path) -> None:
    for rel in ("bridges/store/tiers.py", "policies/tiers.py", "webhooks/__init__.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("", encoding="utf-8")
    (tmp_path / "sandbox").mkdir()
    assert repeated_module_names(tmp_path) == {
        "tiers.py": ["bridges/store/tiers.py", "policies/tiers.py"]
    }
