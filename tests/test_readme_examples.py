"""The README, the manual's pages under ``docs/`` and ``deploy/porch.example.yaml`` say what porch
really accepts and does.

- every YAML example in the README and the manual is a valid part of a porch config (read by
  the real loader);
- the example config is valid as shipped, with every optional block turned on, and in bot mode;
- the configuration reference lists every key of the real config, no key that does not exist,
  and the real defaults;
- the commands table names every ``porch`` command and only options the commands have;
- the screenshots the pages show exist, under relative paths;
- every link between the README and the pages names a page and a heading that exist, and the
  README leads to every page.
"""

from __future__ import annotations

import contextlib
import functools
import io
import re
import secrets
import subprocess
import sys
import typing
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from tests.docs_pages import DOCS, REPO, Page, fenced_blocks, page, pages, section
from webhooks import cli
from webhooks.config import ConfigError, PorchConfig, load_config, parse_config

EXAMPLE = REPO / "deploy" / "porch.example.yaml"

#: The variables the documentation's and the example's optional blocks name without a default.
ENVIRON = {
    name: secrets.token_hex(24)
    for name in (
        "DISCOURSE_API_KEY",
        "DISCOURSE_WEBHOOK_SECRET",
        "DISCOURSE_CONNECT_SECRET",
        "PORCH_AS_TOKEN",
        "PORCH_HS_TOKEN",
        "PORCH_BOT_PASSWORD",
        "PORCH_BOT_TOKEN",
        "PORCH_REVIEW_TOKEN_MONA",
        "PORCH_WATCH_WEBHOOK_SECRET",
    )
}


def valid(text: str, source: str) -> PorchConfig:
    """The config ``text`` as porch reads it; the test fails with every error porch names."""
    try:
        return parse_config(text, source=source, environ=ENVIRON)
    except ConfigError as exc:
        # ConfigError is frozen: pytest cannot attach a traceback to it, so report it as text.
        message = str(exc)
    pytest.fail(message)


# --- YAML examples ------------------------------------------------------------------------------


def readme_yaml_blocks() -> list[str]:
    """Every YAML example of the README and the manual."""
    return fenced_blocks("yaml")


def base_config() -> dict[str, Any]:
    """The shipped example, as the base a documented fragment's sections replace."""
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize(
    "block", readme_yaml_blocks(), ids=lambda b: b.splitlines()[0].strip(" :")[:30]
)
def test_every_readme_yaml_example_is_valid(block: str) -> None:
    fragment = yaml.safe_load(block)
    assert isinstance(fragment, dict), block
    data = base_config()
    data.update(fragment)  # the fragment's sections replace the base's whole sections
    valid(yaml.safe_dump(data), "README example")


def test_the_policies_example_is_valid_with_every_option_turned_on() -> None:
    block = section("Policies").split("```yaml\n", 1)[1].split("```", 1)[0]
    assert "\n        # drop_restricted_quotes" in block  # the options shown commented out
    data = base_config()
    data.update(yaml.safe_load(uncommented(block)))
    config = valid(yaml.safe_dump(data), "README Policies example, uncommented")
    rule = config.policies["publish-tagged"].direction("forum-to-chat")
    assert rule is not None
    assert [c.name for c, _ in rule.when.named()] == [
        "tags",
        "groups",
        "trust_level",
        "category",
        "staff",
    ]
    assert len(rule.transforms.named()) == 5


def test_the_readme_has_yaml_examples_for_every_optional_section() -> None:
    top_keys = {key for block in readme_yaml_blocks() for key in yaml.safe_load(block)}
    assert {"links", "policies", "moderation", "watching", "relay", "retired_links"} <= top_keys
    assert any("mode: bot" in block for block in readme_yaml_blocks())


# --- deploy/porch.example.yaml ------------------------------------------------------------------


def uncommented(text: str) -> str:
    """The example with every optional ``# `` line turned on (``##`` lines explain)."""
    return re.sub(r"(?m)^(\s*)# ", r"\1", text)


def test_the_example_ships_no_secret_each_one_is_a_variable_to_set() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(EXAMPLE, environ={})
    assert set(caught.value.errors) == {
        "discourse.api_key: environment variable DISCOURSE_API_KEY is not set",
        "discourse.webhook_secret: environment variable DISCOURSE_WEBHOOK_SECRET is not set",
        "matrix.appservice.as_token: environment variable PORCH_AS_TOKEN is not set",
        "matrix.appservice.hs_token: environment variable PORCH_HS_TOKEN is not set",
    }
    config = load_config(EXAMPLE, environ=ENVIRON)
    assert config.matrix.mode == "appservice"
    assert config.watching.watches == () and config.policies == {}


def test_porch_check_accepts_the_example_once_its_hosts_are_ones_own(tmp_path: Path) -> None:
    def check(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "webhooks.cli", "check", "-c", str(path)],
            cwd=REPO,
            capture_output=True,
            text=True,
            env={"PATH": "/usr/bin:/bin", **ENVIRON},
            timeout=60,
        )

    shipped = check(EXAMPLE)
    assert shipped.returncode == 1
    assert "discourse.url: forum.example.org is an example host" in shipped.stderr
    own = tmp_path / "porch.yaml"
    own.write_text(EXAMPLE.read_text(encoding="utf-8").replace("example.org", "town.test"))
    result = check(own)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok (1 link(s))" in result.stdout


def test_every_optional_block_of_the_example_is_valid() -> None:
    text = uncommented(EXAMPLE.read_text(encoding="utf-8"))
    config = valid(text, "example, uncommented")
    # Every section the example shows an optional block for is really turned on.
    assert config.links[0].policy == "publish-tagged"
    assert config.links[0].membership.manage
    assert config.moderation.review.room == "#moderators:example.org"
    assert config.moderation.policy_lists and config.moderation.words
    assert config.watching.watches[0].name == "housing"
    assert config.matrix.bot is not None
    assert config.discourse.connect_secret is not None
    assert config.retired_links == ("old-town-square",)


def test_the_example_in_bot_mode_is_valid() -> None:
    text = uncommented(EXAMPLE.read_text(encoding="utf-8"))
    text = re.sub(r"(?m)^  mode: appservice", "  mode: bot", text)
    config = valid(text, "example, bot mode")
    assert config.matrix.mode == "bot"


# --- the configuration reference ----------------------------------------------------------------


def _models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if typing.get_origin(annotation) is dict:
        return []  # a mapping of names (policies, moderators) is documented as one key
    return [m for arg in typing.get_args(annotation) for m in _models(arg)]


def config_keys(model: type[BaseModel] = PorchConfig, prefix: str = "") -> dict[str, Any]:
    """Every leaf key of the config, ``links[].forum.category`` style, with its default."""
    keys: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        inner = _models(field.annotation)
        if inner:
            many = typing.get_origin(field.annotation) in (tuple, list)
            for sub in inner:
                keys.update(config_keys(sub, key + ("[]." if many else ".")))
            continue
        if field.default is PydanticUndefined:
            keys[key] = "required" if field.default_factory is None else None
        else:
            keys[key] = field.default
    return keys


def reference_rows() -> Iterator[tuple[list[str], str]]:
    """The reference tables' rows: the keys a row names, and its default cell."""
    for line in section("Configuration reference").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("| `") or len(cells) < 3:
            continue
        names = re.findall(r"`([^`]+)`", cells[0])
        first = names[0]
        parent = first.rsplit(".", 1)[0] + "." if "." in first else ""
        yield [first] + [n if "." in n else parent + n for n in names[1:]], cells[1]


def shown(default: Any) -> str | None:
    """How the README writes a default; ``None`` when it describes it in words."""
    if isinstance(default, Enum):
        default = default.value
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    if isinstance(default, int | float | str):
        return str(default)
    if isinstance(default, tuple):
        return "[" + ", ".join(str(d) for d in default) + "]"
    return None


def test_the_reference_lists_every_config_key_and_only_real_ones() -> None:
    real = config_keys()
    documented = [key for keys, _ in reference_rows() for key in keys]
    assert len(documented) == len(set(documented)), "a key is listed twice"
    assert sorted(set(real) - set(documented)) == [], "keys missing from the reference"
    assert sorted(set(documented) - set(real)) == [], "keys the config does not have"


def test_the_reference_gives_the_real_defaults() -> None:
    real = config_keys()
    wrong = []
    for keys, cell in reference_rows():
        values = re.findall(r"`([^`]*)`", cell)
        for i, key in enumerate(keys):
            default = real.get(key)
            if default == "required":
                if "required" not in cell:
                    wrong.append(f"{key}: required, the README says {cell!r}")
                continue
            expected = shown(default)
            if default is None or expected is None:
                continue
            if len(values) == len(keys):
                value = values[i]
            elif len(values) == 1:
                value = values[0]
            else:
                wrong.append(f"{key}: default {expected!r}, the README says {cell!r}")
                continue
            if value != expected:
                wrong.append(f"{key}: default {expected!r}, the README says {value!r}")
    assert wrong == []


# --- commands -----------------------------------------------------------------------------------


@functools.cache
def porch_help(*words: str) -> str:
    """What ``porch WORDS --help`` prints (the real command line, in this process)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exited:
        cli.main([*words, "--help"])
    assert exited.value.code == 0, words
    return out.getvalue()


def subcommands(usage: str) -> list[str]:
    """The sub-commands an argparse help lists under its positional argument; none for a
    command that has no sub-commands."""
    listed = re.search(r"positional arguments:\n  \w+\n((?:\s{4}\S.*\n|\s{8,}.*\n)+)", usage)
    return [] if listed is None else re.findall(r"^\s{4}(\w+)", listed.group(1), re.M)


def test_the_commands_table_names_every_command_and_only_real_options() -> None:
    rows = [line for line in section("Commands").splitlines() if line.startswith("| `porch ")]
    named = {tuple(m.split()[:3]) for row in rows for m in re.findall(r"`(porch [^`]+)`", row)}
    commands = subcommands(porch_help())
    assert "serve" in commands and "check" in commands, commands
    for command in commands:
        nested = subcommands(porch_help(command))
        pairs = [(command, sub) for sub in nested] if nested else [(command,)]
        for pair in pairs:
            assert any(n[1 : 1 + len(pair)] == pair for n in named), f"porch {' '.join(pair)}"
            text = porch_help(*pair)
            for row in rows:
                for mention in re.findall(r"`(porch [^`]+)`", row):
                    words = mention.split()
                    if tuple(words[1 : 1 + len(pair)]) != pair:
                        continue
                    for flag in re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", mention):
                        known = re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text)
                        assert known, f"{mention}: porch {' '.join(pair)} has no {flag}"


# --- screenshots and links -----------------------------------------------------------------------


def test_the_screenshots_exist_under_relative_paths() -> None:
    images = [
        (doc, image)
        for doc in pages()
        for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", doc.prose())
    ]
    assert images, "the documentation shows no screenshot"
    for doc, image in images:
        assert not re.match(r"\w+://|/", image), f"{doc.name}: {image} is not a relative path"
        assert (doc.path.parent / image).is_file(), f"{doc.name}: {image} does not exist"


def links(doc: Page) -> list[str]:
    """The targets of the page's links that stay inside the repository (not images)."""
    targets = re.findall(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)", doc.prose())
    return [t for t in targets if not re.match(r"\w+:", t)]


def test_every_link_inside_the_docs_names_a_page_and_heading() -> None:
    wrong = []
    in_page = 0
    for doc in pages():
        for target in links(doc):
            file, _, anchor = target.partition("#")
            path = (doc.path.parent / file).resolve() if file else doc.path
            if not path.exists() or REPO not in path.parents:
                wrong.append(f"{doc.name}: {target}: no such file in the repository")
                continue
            in_page += not file
            if anchor and anchor not in Page(path, path.read_text(encoding="utf-8")).anchors():
                wrong.append(f"{doc.name}: {target}: no such heading")
    assert in_page, "the pages link none of their own sections"
    assert wrong == []


def test_the_readme_and_the_home_page_lead_to_every_page_of_the_manual() -> None:
    for home in (page("README.md"), page("docs/index.md")):
        linked = {(home.path.parent / t.partition("#")[0]).resolve() for t in links(home)}
        missing = [
            doc.name
            for doc in pages()
            if doc.path.parent == DOCS and doc.path.stem != "index" and doc.path not in linked
        ]
        assert missing == [], f"{home.name} does not link {missing}"
