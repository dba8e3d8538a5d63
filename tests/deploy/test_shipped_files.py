"""The doubles stay out of what porch ships.

The Discourse double, the Synapse launcher and the demo script (``sandbox/``) are test and demo
equipment: they live in the repository next to the runtime packages, but neither the wheel
(``[tool.setuptools.packages.find]``) nor the image (``deploy/Dockerfile``'s COPY lines and its
``.dockerignore``) may carry them. Each check is also run on a deliberately wrong setup, so a
green run shows it could have failed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SANDBOX = ROOT / "sandbox"
#: The double's module names (``forum_api.py``, ``synapse.py`` ...): none may ship, in any folder.
DOUBLE_FILES = frozenset(p.name for p in SANDBOX.glob("*.py") if p.name != "__init__.py")


def double_files_in(names: set[str]) -> list[str]:
    """The paths among ``names`` that are (or look like) the sandbox's files."""
    return sorted(
        name
        for name in names
        if "sandbox" in name.split("/")[:-1] or name.rsplit("/", 1)[-1] in DOUBLE_FILES
    )


def test_the_double_is_where_these_checks_look() -> None:
    # Were the sandbox moved or renamed, the checks below would look for nothing.
    assert (SANDBOX / "__init__.py").is_file()
    assert {"forum.py", "forum_server.py", "synapse.py", "demo.py"} <= DOUBLE_FILES


# --- the wheel ---------------------------------------------------------------------------------


def build_wheel(tmp_path: Path, extra_include: tuple[str, ...] = ()) -> set[str]:
    """The file names in a wheel built from a copy of the checkout (sandbox/ included), with
    ``extra_include`` added to the packages setuptools looks for."""
    source = tmp_path / "source"
    source.mkdir()
    pyproject = (ROOT / "pyproject.toml").read_text()
    if extra_include:
        listed = 'include = ["bridges*", "policies*", "webhooks*"'
        assert listed in pyproject, "the package list changed; update this test"
        extra = "".join(f', "{name}"' for name in extra_include)
        pyproject = pyproject.replace(listed, listed + extra, 1)
    (source / "pyproject.toml").write_text(pyproject)
    shutil.copy2(ROOT / "README.md", source / "README.md")
    # Every top-level package of the checkout, so that the include list alone keeps them out.
    for package in sorted(p.parent for p in ROOT.glob("*/__init__.py")):
        shutil.copytree(
            package, source / package.name, ignore=shutil.ignore_patterns("__pycache__")
        )
    assert (source / "sandbox" / "forum.py").is_file()
    # The environment's own setuptools builds it: no index needed.
    result = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"),
            *("-w", str(tmp_path), str(source)),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "PIP_NO_INDEX": "1"},
    )
    if result.returncode != 0 and "No module named 'setuptools'" in result.stderr:
        pytest.skip("this environment has no setuptools to build the wheel with")
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("porch-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def test_the_wheel_holds_porch_and_not_the_double(tmp_path: Path) -> None:
    names = build_wheel(tmp_path)
    assert "webhooks/cli.py" in names
    assert "bridges/model.py" in names
    assert double_files_in(names) == []
    assert not any(name.startswith(("sandbox/", "tests/")) for name in names)


def test_the_wheel_check_sees_the_double_when_it_is_packaged(tmp_path: Path) -> None:
    names = build_wheel(tmp_path, extra_include=("sandbox*",))
    assert "sandbox/forum.py" in double_files_in(names)


# --- the image ---------------------------------------------------------------------------------


def copy_sources(dockerfile: str) -> list[str]:
    """The build-context paths the Dockerfile's COPY lines take (not ``--from`` a stage)."""
    sources: list[str] = []
    for line in re.sub(r"\\\n", " ", dockerfile).splitlines():
        words = line.split()
        if words and words[0].upper() == "COPY":
            if any(w.startswith("--from") for w in words[1:]):
                continue
            arguments = [w for w in words[1:] if not w.startswith("--")]
            sources += arguments[:-1]
    return sources


def _pattern(text: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go's filepath.Match plus ``**``) as a regular expression."""
    out = ""
    i = 0
    while i < len(text):
        if text.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif text.startswith("**", i):
            out += ".*"
            i += 2
        elif text[i] == "*":
            out += "[^/]*"
            i += 1
        elif text[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(text[i])
            i += 1
    return re.compile(out + r"\Z")


def ignore_rules(dockerignore: str) -> list[tuple[bool, re.Pattern[str]]]:
    """``(re-included, pattern)`` per line, in order (the last match decides)."""
    rules = []
    for line in dockerignore.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        rules.append((negated, _pattern(line.lstrip("!").strip("/"))))
    return rules


def excluded(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether the build context leaves ``path`` out: a pattern matching the path or one of
    its parent folders applies to it, and the last one that applies wins."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    out = False
    for negated, pattern in rules:
        if any(pattern.match(prefix) for prefix in prefixes):
            out = not negated
    return out


def _local_only(folder: str) -> bool:
    """Folders of this machine's checkout a fresh clone does not have (the virtualenv, caches,
    build output): not what a build context would hold, and slow to walk."""
    return folder in _LOCAL_ONLY or folder.endswith(".egg-info")


_LOCAL_ONLY = {".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
_LOCAL_ONLY |= {".hypothesis", "build", "dist"}


def image_files(dockerfile: str, dockerignore: str) -> set[str]:
    """The repository files the image's build stage copies, after the .dockerignore."""
    rules = ignore_rules(dockerignore)
    files: set[str] = set()
    for source in copy_sources(dockerfile):
        origin = (ROOT / source).resolve()
        if origin.is_file():
            candidates = [origin]
        else:
            candidates = []
            for folder, dirs, names in os.walk(origin):
                dirs[:] = [d for d in dirs if not _local_only(d)]
                candidates += [Path(folder) / name for name in names]
        for path in candidates:
            rel = path.relative_to(ROOT).as_posix()
            if "__pycache__" not in rel and not excluded(rel, rules):
                files.add(rel)
    return files


def shipped_image_files() -> set[str]:
    return image_files(
        (DEPLOY / "Dockerfile").read_text(), (DEPLOY / "Dockerfile.dockerignore").read_text()
    )


def test_the_image_holds_porch_and_not_the_double() -> None:
    files = shipped_image_files()
    assert {"pyproject.toml", "webhooks/cli.py", "bridges/model.py"} <= files
    assert double_files_in(files) == []
    assert not any(name.startswith(("sandbox/", "tests/")) for name in files)


def test_the_dockerignore_keeps_the_double_out_even_of_a_whole_context_copy() -> None:
    # Should the Dockerfile ever copy the whole context, the .dockerignore still holds it back.
    dockerfile = "FROM python:3.11-slim AS build\nCOPY . ./\n"
    files = image_files(dockerfile, (DEPLOY / "Dockerfile.dockerignore").read_text())
    assert "webhooks/cli.py" in files
    assert double_files_in(files) == []


@pytest.mark.parametrize(
    ("dockerfile", "dockerignore"),
    [
        ("COPY webhooks ./webhooks\nCOPY sandbox ./sandbox\n", "*\n!webhooks/\n!sandbox/\n"),
        ("COPY . ./\n", "*\n!webhooks/\n!sandbox/\n"),
        ("COPY . ./\n", "**/__pycache__\n"),
    ],
)
def test_the_image_check_sees_the_double_when_it_is_copied(
    dockerfile: str, dockerignore: str
) -> None:
    files = image_files(dockerfile, dockerignore)
    assert "sandbox/forum.py" in double_files_in(files)


def test_the_dockerignore_rules_follow_docker() -> None:
    rules = ignore_rules("*\n!webhooks/\nsandbox/\n**/__pycache__\n")
    assert excluded("tests/conftest.py", rules)
    assert not excluded("webhooks/cli.py", rules)
    assert excluded("webhooks/__pycache__/cli.cpython-311.pyc", rules)
    assert excluded("sandbox/forum.py", rules)
