"""deploy/ matches the code: every manifest, the compose file and the Dockerfile are parsed and
compared with the real CLI (Typer), settings (Settings, ShutdownSettings), routes and probes.

A renamed option, setting or route fails here instead of in a cluster at 3 a.m.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import shlex
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import typer
import yaml  # type: ignore[import-untyped]  # PyYAML comes with schemathesis, without stubs
from pydantic import ValidationError
from typer.core import TyperGroup

from shopdb.app import create_app
from shopdb.cli import app as cli_app
from shopdb.config import Settings
from shopdb.health.endpoints import CHECK_TIMEOUT_SECONDS
from shopdb.services import services_of
from shopdb.serving import ShutdownSettings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "docker-compose.yml"
ENV_EXAMPLE = DEPLOY / "shopdb.env.example"
K8S_FILES = sorted((DEPLOY / "k8s").glob("*.yaml"))

# Variables a shopdb container may set that are not shopdb settings, each documented by its
# owner: Python's (docs.python.org/3/using/cmdline.html#environment-variables) and pip's.
STANDARD_ENV = {
    "PATH",
    "PYTHONUNBUFFERED",
    "PYTHONDONTWRITEBYTECODE",
    "PIP_DISABLE_PIP_VERSION_CHECK",
    "PIP_NO_CACHE_DIR",
}
# The official images' documented variables (hub.docker.com/_/postgres).
THIRD_PARTY_ENV = {"postgres": {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "PGDATA"}}
SHOPDB_SERVICES = ("migrate", "api", "worker")
# A server in a container must listen on every interface: 127.0.0.1 answers nobody outside.
EVERY_INTERFACE = "0.0.0.0"  # noqa: S104 - what the manifests must say


def random_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


# --- reading the files --------------------------------------------------------------------


@dataclass
class Dockerfile:
    stages: list[str]
    env: dict[str, str]
    user: str
    uid: int
    expose: list[int]
    healthcheck: list[str]
    cmd: list[str]


def read_dockerfile() -> Dockerfile:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    instructions = [
        line.strip().split(None, 1)
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    stages = [rest for word, rest in instructions if word == "FROM"]
    final = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    runtime = instructions[final:]  # the build stage's ENV and USER do not reach the image
    env: dict[str, str] = {}
    for word, rest in runtime:
        if word == "ENV":
            for token in shlex.split(rest):
                name, _, value = token.partition("=")
                env[name] = value
    users = [rest for word, rest in runtime if word == "USER"]
    uid = re.search(r"useradd[^\n]*--uid (\d+)", text)
    healthchecks = [rest for word, rest in runtime if word == "HEALTHCHECK"]
    assert len(healthchecks) == 1, "the image has one HEALTHCHECK"
    return Dockerfile(
        stages=stages,
        env=env,
        user=users[-1] if users else "root",
        uid=int(uid.group(1)) if uid else 0,
        expose=[int(rest) for word, rest in runtime if word == "EXPOSE"],
        healthcheck=json.loads(healthchecks[0].split(" CMD ", 1)[1]),
        cmd=json.loads(next(rest for word, rest in reversed(runtime) if word == "CMD")),
    )


def read_compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def read_k8s() -> list[dict[str, Any]]:
    documents = []
    for path in K8S_FILES:
        documents += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return documents


def read_env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for doc in read_k8s() if doc["kind"] == kind]


def named(kind: str, name: str) -> dict[str, Any]:
    return next(doc for doc in of_kind(kind) if doc["metadata"]["name"] == name)


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def containers() -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(where, the container, its pod spec) for every container of every workload."""
    for doc in read_k8s():
        if doc["kind"] in ("Deployment", "Job"):
            spec = pod_spec(doc)
            for container in spec["containers"]:
                yield f"{doc['kind']}/{doc['metadata']['name']}", container, spec


def uncomment(path: Path) -> str:
    """The comments of a file, as one line of text (a sentence may span several lines)."""
    return " ".join(
        line.split("#", 1)[1].strip() for line in path.read_text().splitlines() if "#" in line
    )


def interpolated(value: str) -> str:
    """A compose value with its ${VAR...} references filled with a sample."""
    return re.sub(r"\$\{[^}]+\}", "sample", value)


def compose_environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {name: interpolated(str(value)) for name, value in env.items()}


# --- the commands ------------------------------------------------------------------------


@dataclass
class Invocation:
    where: str
    argv: list[str]
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def subcommand(self) -> str:
        return " ".join(word for word in self.argv[1:] if not word.startswith("-")).split()[0]


def parse_cli(argv: list[str]) -> dict[str, Any]:
    """Parse `argv` as the installed `shopdb` would, without running it: an unknown command,
    an unknown option or a value of the wrong type raises the CLI's usage error."""
    assert argv[0] == "shopdb", f"{argv}: not the shopdb command"
    command: Any = typer.main.get_command(cli_app)
    args = list(argv[1:])
    name = "shopdb"
    while isinstance(command, TyperGroup):
        assert args, f"{argv}: a subcommand is missing"
        name, *args = args
        found = command.get_command(typer.Context(command), name)
        assert found is not None, f"{argv}: `shopdb {name}` does not exist"
        command = found
    context = command.make_context(name, args)
    return dict(context.params)


def invocations() -> list[Invocation]:
    found = []
    dockerfile = read_dockerfile()
    found.append(Invocation("Dockerfile CMD", dockerfile.cmd))
    for name, service in read_compose()["services"].items():
        if "command" in service and name in SHOPDB_SERVICES:
            found.append(Invocation(f"compose {name}", list(service["command"])))
    for where, container, _ in containers():
        argv = [*container.get("command", dockerfile.cmd), *container.get("args", [])]
        found.append(Invocation(where, argv))
    for invocation in found:
        invocation.params = parse_cli(invocation.argv)
    return found


class TestCommands:
    def test_every_command_parses_with_the_real_cli(self) -> None:
        # parse_cli raises on an unknown subcommand, option or ill-typed value.
        seen = {(inv.where, inv.subcommand) for inv in invocations()}

        assert seen == {
            ("Dockerfile CMD", "serve"),
            ("compose migrate", "migrate"),
            ("compose api", "serve"),
            ("compose worker", "worker"),
            ("Deployment/shopdb-api", "serve"),
            ("Deployment/shopdb-worker", "worker"),
            ("Job/shopdb-migrate", "migrate"),
        }

    def test_a_renamed_option_would_be_caught(self) -> None:
        with pytest.raises(Exception, match="No such option: --listen"):
            parse_cli(["shopdb", "serve", "--listen", EVERY_INTERFACE])
        with pytest.raises(typer.BadParameter, match="valid integer"):
            parse_cli(["shopdb", "serve", "--port", "http"])
        with pytest.raises(Exception, match="Got unexpected extra argument"):
            parse_cli(["shopdb", "worker", "now"])
        with pytest.raises(AssertionError, match="does not exist"):
            parse_cli(["shopdb", "server"])

    def test_servers_in_containers_listen_on_every_interface(self) -> None:
        servers = [inv for inv in invocations() if inv.subcommand == "serve"]

        assert [inv.params["host"] for inv in servers] == [EVERY_INTERFACE] * len(servers)

    def test_the_migration_runs_once_before_the_api_and_the_worker(self) -> None:
        services = read_compose()["services"]
        job = named("Job", "shopdb-migrate")

        assert services["migrate"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
        for name in ("api", "worker"):
            assert services[name]["depends_on"]["migrate"] == {
                "condition": "service_completed_successfully"
            }
        assert services["migrate"]["restart"] == "no"
        assert pod_spec(job)["restartPolicy"] == "Never"


# --- ports --------------------------------------------------------------------------------


def serve_port(where: str) -> int:
    port: int = next(inv for inv in invocations() if inv.where == where).params["port"]
    return port


class TestPorts:
    def test_the_image_exposes_and_checks_the_port_it_serves(self) -> None:
        dockerfile = read_dockerfile()
        port = serve_port("Dockerfile CMD")

        assert dockerfile.expose == [port]
        assert urlsplit(health_url(dockerfile.healthcheck)).port == port

    def test_compose_publishes_the_api_port(self) -> None:
        published = read_compose()["services"]["api"]["ports"]

        assert [int(str(p).rsplit(":", 1)[1]) for p in published] == [serve_port("compose api")]

    def test_the_pod_port_probes_and_service_agree(self) -> None:
        api = named("Deployment", "shopdb-api")
        container = pod_spec(api)["containers"][0]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        service = named("Service", "shopdb-api")

        assert list(ports.values()) == [serve_port("Deployment/shopdb-api")]
        for probe in ("livenessProbe", "readinessProbe"):
            port = container[probe]["httpGet"]["port"]
            assert ports.get(port, port) == serve_port("Deployment/shopdb-api")
        for port in service["spec"]["ports"]:
            target = port["targetPort"]
            assert ports.get(target, target) == serve_port("Deployment/shopdb-api")


# --- environment variables ---------------------------------------------------------------


def setting_names() -> set[str]:
    fields = {
        *Settings.model_fields,
        *(f"shutdown_{name}" for name in ShutdownSettings.model_fields),
    }
    return {f"SHOPDB_{name.upper()}" for name in fields}


def config_map() -> dict[str, str]:
    data: dict[str, str] = named("ConfigMap", "shopdb-config")["data"]
    return data


def shopdb_environments(*, with_image: bool = True) -> dict[str, dict[str, str | None]]:
    """Every shopdb process's environment (the image's ENV, then what its orchestrator sets),
    by process; None: the value comes from a secret."""
    image: dict[str, str | None] = dict(read_dockerfile().env) if with_image else {}
    found: dict[str, dict[str, str | None]] = {}
    compose = read_compose()
    for name, service in compose["services"].items():
        if name in SHOPDB_SERVICES:
            assert service["env_file"] == [ENV_EXAMPLE.name.removesuffix(".example")]
            found[f"compose {name}"] = {
                **image,
                **read_env_example(),
                **compose_environment(service),
            }
    maps = {doc["metadata"]["name"]: doc["data"] for doc in of_kind("ConfigMap")}
    for where, container, _ in containers():
        env = dict(image)
        for source in container.get("envFrom", []):
            assert "configMapRef" in source, f"{where}: secrets are named one by one (env)"
            env.update(maps[source["configMapRef"]["name"]])
        for variable in container.get("env", []):
            env[variable["name"]] = variable.get("value")
        found[where] = env
    return found


class TestEnvironment:
    def test_every_shopdb_variable_is_a_setting(self) -> None:
        known = setting_names()
        unknown = {
            (where, name)
            for where, env in shopdb_environments().items()
            for name in env
            if name.startswith("SHOPDB_") and name not in known
        }

        assert unknown == set()

    def test_every_other_variable_is_a_documented_standard_one(self) -> None:
        others = {
            (where, name)
            for where, env in shopdb_environments().items()
            for name in env
            if not name.startswith("SHOPDB_") and name not in STANDARD_ENV
        }
        services = read_compose()["services"]
        for image, allowed in THIRD_PARTY_ENV.items():
            assert set(compose_environment(services[image])) <= allowed

        assert others == set()

    def test_settings_named_in_comments_and_docs_exist_too(self) -> None:
        known = setting_names()
        paths = [DOCKERFILE, COMPOSE, ENV_EXAMPLE, *K8S_FILES]
        mentioned = {
            (path.name, name)
            for path in paths
            for name in re.findall(r"SHOPDB_[A-Z0-9_]*[A-Z0-9]", path.read_text())
        }

        assert {(where, name) for where, name in mentioned if name not in known} == set()

    def test_production_accepts_the_values_set_and_refuses_the_placeholders(
        self, tmp_path: Path
    ) -> None:
        key_file = tmp_path / "jwt-signing.pem"  # production checks where it is, not yet what
        secrets_ = {
            "database_url": "postgresql://shopdb:sample@postgres:5432/shopdb",
            "pii_keys": [f"k1:{random_key()}"],
            "pii_blind_index_key": random_key(),
            "jwt_private_key_files": [key_file],
        }
        for where, env in shopdb_environments().items():
            values = {
                name.removeprefix("SHOPDB_").lower(): value
                for name, value in env.items()
                if name.startswith("SHOPDB_") and value is not None and "REPLACE_ME" not in value
            }
            shutdown = {k: values.pop(k) for k in list(values) if k.startswith("shutdown_")}
            values.pop("jwt_private_key_files", None)
            settings = Settings.model_validate({**values, **secrets_})
            ShutdownSettings.model_validate(
                {k.removeprefix("shutdown_"): v for k, v in shutdown.items()}
            )
            assert settings.env.value == "production", where
        placeholders = read_env_example()
        with pytest.raises(ValidationError, match="SHOPDB_PII_KEYS key 'k1'"):
            Settings(pii_keys=[placeholders["SHOPDB_PII_KEYS"]])
        with pytest.raises(ValidationError, match="SHOPDB_PII_BLIND_INDEX_KEY"):
            Settings(pii_blind_index_key=placeholders["SHOPDB_PII_BLIND_INDEX_KEY"])

    def test_api_worker_and_migration_read_the_same_settings(self) -> None:
        environments = shopdb_environments(with_image=False)
        api = environments["Deployment/shopdb-api"]
        worker = environments["Deployment/shopdb-worker"]
        job = environments["Job/shopdb-migrate"]

        assert api == worker
        assert set(job) <= set(api)
        # The migration writes: never a replica, and it needs the keys that seal emails.
        assert "SHOPDB_DATABASE_REPLICA_URLS" not in job
        assert {"SHOPDB_DATABASE_URL", "SHOPDB_PII_KEYS", "SHOPDB_PII_BLIND_INDEX_KEY"} <= set(job)


# --- probes and health checks -------------------------------------------------------------


def health_url(command: list[str]) -> str:
    match = re.search(r"https?://[^'\" ]+", " ".join(command))
    assert match, f"no URL in {command}"
    return match.group(0)


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The app as the image builds it (default settings on a scratch SQLite file)."""
    settings = Settings(
        var_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'probe.sqlite3'}", redis_url=None
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
        yield client
    await services_of(app).database.dispose()


class TestProbes:
    async def test_liveness_probes_reach_the_liveness_route(self, http: httpx.AsyncClient) -> None:
        paths = [urlsplit(health_url(read_dockerfile().healthcheck)).path]
        for _, container, _ in containers():
            if "livenessProbe" in container:
                paths.append(container["livenessProbe"]["httpGet"]["path"])

        answers = [(await http.get(path)) for path in paths]

        assert len(paths) == 2
        # Liveness's answer: no dependency checked, so none named.
        assert [(a.status_code, a.json()) for a in answers] == [(200, {"status": "ok"})] * 2

    async def test_readiness_probes_reach_the_readiness_route(
        self, http: httpx.AsyncClient
    ) -> None:
        probes = [c["readinessProbe"] for _, c, _ in containers() if "readinessProbe" in c]

        answers = [(await http.get(p["httpGet"]["path"])) for p in probes]

        assert [(a.status_code, a.json()) for a in answers] == [
            (200, {"status": "ok", "checks": {"database": "ok"}})
        ]
        # The probe must wait for the database check's own deadline, or a slow database
        # times the probe out instead of answering 503 with the reason.
        assert all(p["timeoutSeconds"] > CHECK_TIMEOUT_SECONDS for p in probes)

    def test_every_stop_deadline_outlasts_the_drain_and_the_grace(self) -> None:
        configured = config_map()
        in_k8s = ShutdownSettings.model_validate(
            {
                "drain_seconds": configured["SHOPDB_SHUTDOWN_DRAIN_SECONDS"],
                "grace_seconds": configured["SHOPDB_SHUTDOWN_GRACE_SECONDS"],
            }
        )
        api_pod = pod_spec(named("Deployment", "shopdb-api"))
        compose_api = read_compose()["services"]["api"]
        compose_env = compose_environment(compose_api)
        in_compose = ShutdownSettings.model_validate(
            {
                name.removeprefix("SHOPDB_SHUTDOWN_").lower(): value
                for name, value in compose_env.items()
                if name.startswith("SHOPDB_SHUTDOWN_")
            }
        )

        assert api_pod["terminationGracePeriodSeconds"] > in_k8s.stop_seconds
        assert seconds(compose_api["stop_grace_period"]) > in_compose.stop_seconds


def seconds(duration: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)([smh])", duration))


# --- images, users, secrets, topology -----------------------------------------------------


class TestImageAndPods:
    def test_the_image_is_multi_stage_slim_and_not_root(self) -> None:
        dockerfile = read_dockerfile()

        assert len(dockerfile.stages) >= 2
        assert all("slim" in stage for stage in dockerfile.stages)
        assert dockerfile.user.split(":")[0] in {str(dockerfile.uid), "shopdb"}
        assert dockerfile.uid >= 1000

    def test_pods_run_as_the_image_user_on_one_image(self) -> None:
        uid = read_dockerfile().uid
        images = set()
        for where, container, spec in containers():
            context = spec["securityContext"]
            assert (context["runAsNonRoot"], context["runAsUser"]) == (True, uid), where
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, where
            images.add(container["image"])

        assert len(images) == 1

    def test_selectors_match_the_pods_they_name(self) -> None:
        deployments = {d["metadata"]["name"]: d for d in of_kind("Deployment")}
        labels = {
            name: d["spec"]["template"]["metadata"]["labels"] for name, d in deployments.items()
        }

        def selected(selector: dict[str, str]) -> list[str]:
            return [n for n, pod in labels.items() if selector.items() <= pod.items()]

        for name, deployment in deployments.items():
            assert selected(deployment["spec"]["selector"]["matchLabels"]) == [name]
        assert selected(named("Service", "shopdb-api")["spec"]["selector"]) == ["shopdb-api"]
        budgets = {p["metadata"]["name"]: p for p in of_kind("PodDisruptionBudget")}
        assert {n: selected(p["spec"]["selector"]["matchLabels"]) for n, p in budgets.items()} == {
            "shopdb-api": ["shopdb-api"],
            "shopdb-worker": ["shopdb-worker"],
        }
        (autoscaler,) = of_kind("HorizontalPodAutoscaler")
        target = autoscaler["spec"]["scaleTargetRef"]
        assert (target["kind"], target["name"]) == ("Deployment", "shopdb-api")
        api = deployments["shopdb-api"]
        assert api["spec"]["replicas"] == 3 == autoscaler["spec"]["minReplicas"]
        assert budgets["shopdb-api"]["spec"]["minAvailable"] < api["spec"]["replicas"]
        # The autoscaler's CPU target is a share of the request: there must be one.
        assert pod_spec(api)["containers"][0]["resources"]["requests"]["cpu"]

    def test_every_secret_referenced_is_documented_with_its_keys(self) -> None:
        comments = " ".join(uncomment(path) for path in K8S_FILES)
        referenced: dict[str, set[str]] = {}
        for _, container, spec in containers():
            for variable in container.get("env", []):
                ref = variable.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    referenced.setdefault(ref["name"], set()).add(ref["key"])
            for volume in spec.get("volumes", []):
                if "secret" in volume:
                    referenced.setdefault(volume["secret"]["secretName"], set())

        assert set(referenced) == {"shopdb-secrets", "shopdb-signing-keys"}
        for name, keys in referenced.items():
            assert f"kubectl create secret generic {name}" in comments, name
            for key in keys:
                assert re.search(rf"(^| ){re.escape(key)} +SHOPDB_", comments), key

    def test_compose_secrets_are_declared(self) -> None:
        compose = read_compose()
        declared = set(compose["secrets"])
        for name in SHOPDB_SERVICES:
            assert set(compose["services"][name]["secrets"]) <= declared


class TestReadmeReferences:
    def test_every_readme_section_named_in_deploy_exists(self) -> None:
        headings = readme_sections()
        cited = set()
        for path in [DOCKERFILE, COMPOSE, ENV_EXAMPLE, *K8S_FILES]:
            for chain in re.findall(r'README, ((?:"[^"]+"(?: > )?)+)', uncomment(path)):
                cited.add(tuple(re.findall(r'"([^"]+)"', chain)))

        assert ("Deployment", "Secrets") in cited
        assert {chain for chain in cited if chain not in headings} == set()


def readme_sections() -> set[tuple[str, ...]]:
    """("Top",) and ("Top", "Sub") for every ## and ### heading of README.md."""
    found: set[tuple[str, ...]] = set()
    top = ""
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith("## "):
            top = line[3:].strip()
            found.add((top,))
        elif line.startswith("### "):
            found.add((top, line[4:].strip()))
    return found
