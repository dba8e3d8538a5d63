"""Package layering: imports go one way only, webhooks -> bridges -> policies.

`policies/` decides from plain data, so besides never reaching up into `bridges`/`webhooks` it
must not import anything that talks to the outside world (network, database, processes) nor
read the clock, the random generator or files while deciding: a decision has to be
reproducible from its inputs. The rules are checked on the AST of every module, imports inside
functions included, so a lazy import cannot slip through.
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


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


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
    parts = list(path.relative_to(root).with_suffix("").parts)
    module = ".".join(parts)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # `module` names the file itself; level 1 is its package.
                base = module.split(".")[: -node.level]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield node.lineno, target
            for alias in node.names:
                yield node.lineno, f"{target}.{alias.name}" if target else alias.name
        elif (
            isinstance(node, ast.Call)
            and _call_name(node) in DYNAMIC_IMPORTS
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            yield node.lineno, str(node.args[0].value)


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
