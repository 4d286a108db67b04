"""compose.yaml, compose.override.yaml, .env.example, the Dockerfile and .dockerignore, checked
structurally: no Docker engine runs where the tests do."""

from __future__ import annotations

import importlib
import importlib.util
import re
from urllib.parse import urlsplit

import pytest
from siar_devstack import SERVICES

from .inventory import ROOT, SHARED, default_port, load_yaml, settings_env

COMPOSE = load_yaml(ROOT / "compose.yaml")
OVERRIDE = load_yaml(ROOT / "compose.override.yaml")
SERVICES_IN_COMPOSE = COMPOSE["services"]
SIAR_IMAGE = "siar:${SIAR_VERSION:-latest}"
OURS = {name: s for name, s in SERVICES_IN_COMPOSE.items() if s.get("image") == SIAR_IMAGE}
INFRA_DATA = {"postgres": "/var/lib/postgresql/data", "rabbitmq": "/var/lib/rabbitmq",
              "prometheus": "/prometheus", "alertmanager": "/alertmanager", "grafana": "/var/lib/grafana"}
VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)(?::?([?-])([^}]*))?\}")


def module_of(service: dict) -> str:
    command = service["command"]
    assert command[:2] == ["python", "-m"], f"command should be python -m <module>, not {command}"
    return command[2]


def env(service: dict) -> dict[str, str]:
    return {k: str(v) for k, v in (service.get("environment") or {}).items()}


def strings(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)
    elif isinstance(node, str):
        yield node


@pytest.mark.parametrize("name", ["compose.yaml", "compose.override.yaml"])
def test_the_compose_files_follow_the_compose_specification(name):
    jsonschema = pytest.importorskip("jsonschema")
    schema_path = SHARED / "schemas" / "compose-spec.json"
    if not schema_path.exists():
        pytest.skip(f"the Compose Specification schema is not at {schema_path.resolve()} (shared/ beside the checkout)")
    import json

    schema = json.loads(schema_path.read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(load_yaml(ROOT / name)), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_every_service_of_the_devstack_runs_in_compose_with_its_own_command():
    for name, (module, _) in SERVICES.items():
        assert name in SERVICES_IN_COMPOSE, f"compose.yaml has no {name} service"
        assert module_of(SERVICES_IN_COMPOSE[name]) == module


def test_every_command_of_the_image_is_a_module_that_exists():
    for name, service in OURS.items():
        module = module_of(service)
        assert importlib.util.find_spec(module) is not None, f"{name}: python -m {module} finds no module"


@pytest.mark.parametrize("name", sorted(OURS))
def test_environment_variables_are_settings_the_program_reads(name):
    service = OURS[name]
    known = settings_env(module_of(service))
    for key in env(service):
        assert key.startswith("SIAR_"), f"{name}: {key} is not a Siar setting"
        assert key in known, f"{name}: {key} is not read by python -m {module_of(service)} (it reads {sorted(known)})"
    override = OVERRIDE["services"].get(name, {})
    for key in env(override):
        assert key in known, f"compose.override.yaml {name}: {key} is not one of its settings"
    if env(override).get("SIAR_LOG_FORMAT") == "console":  # rendered so only on a terminal
        assert override.get("tty") is True, f"compose.override.yaml {name}: console logs need tty: true"


@pytest.mark.parametrize("name", ["scheduler", "publisher", "metrics", "feedback"])
def test_a_setting_passed_through_with_a_default_has_the_programs_default(name):
    """``SIAR_X: ${SIAR_X:-value}`` lets .env set a library's choice; the value Compose falls back
    to must be the one the program has without it, or Compose would quietly run another Siar."""
    settings = importlib.import_module(f"{module_of(OURS[name])}.settings")
    [cls] = [c for c in vars(settings).values() if isinstance(c, type) and c.__module__ == settings.__name__
             and hasattr(c, "model_fields") and "database_url" in c.model_fields]
    checked = 0
    for key, value in env(OURS[name]).items():
        m = VARIABLE.fullmatch(value)
        if not m or m.group(1) != key or m.group(2) != "-" or key == "SIAR_ENVIRONMENT":  # Compose: production
            continue
        field = cls.model_fields[key.removeprefix("SIAR_").lower()]
        default = field.get_default(call_default_factory=True)
        fallback = m.group(3)
        if isinstance(default, int | float) and not isinstance(default, bool):
            same = float(fallback) == default
        else:
            same = re.sub(r"\s", "", str(default)).lower() == re.sub(r"\s", "", fallback).lower()  # a list's spaces
        assert same, f"{name}: {key} falls back to {fallback!r}, the program to {default!r}"
        checked += 1
    assert name != "scheduler" or checked >= 9


def test_in_development_media_links_may_lead_to_the_sandbox_on_dockers_network_and_in_production_nowhere_private():
    """The README's sample media link (http://sandbox:8010/…) resolves to the sandbox's address on
    Compose's network: Docker's default pools are 172.17.0.0/16 onwards and 192.168.0.0/16. The
    services that fetch media (the scheduler's checks, the publisher) allow them in development,
    and an operator's own list in .env still wins; production allows nothing private."""
    from siar_runtime.egress import Egress, networks

    for name in ("scheduler", "publisher"):
        value = env(OVERRIDE["services"][name])["SIAR_ALLOWED_PRIVATE_ADDRESSES"]
        m = VARIABLE.fullmatch(value)
        assert m and m.group(1) == "SIAR_ALLOWED_PRIVATE_ADDRESSES" and m.group(2) == "-", value
        egress = Egress(networks(m.group(3)))
        for address in ("172.17.0.5", "172.18.0.3", "172.31.255.2", "192.168.16.4"):
            assert egress.why_not(address) is None, f"{name}: {address} refused in development"
        for address in ("127.0.0.1", "169.254.169.254", "10.0.0.5"):
            assert egress.why_not(address) is not None, f"{name}: {address} allowed in development"
        production = VARIABLE.fullmatch(env(OURS[name])["SIAR_ALLOWED_PRIVATE_ADDRESSES"])
        assert production and production.group(3) == "", "production must allow no private address by default"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_ports_and_healthchecks_agree_with_the_service_defaults(name):
    service = SERVICES_IN_COMPOSE[name]
    module, devstack_port = SERVICES[name]
    port = default_port(module)
    assert port == devstack_port, f"{name}: settings say {port}, siar_devstack.SERVICES says {devstack_port}"
    assert env(service)["SIAR_HTTP_PORT"] == str(port)
    assert env(service).get("SIAR_HTTP_HOST", "0.0.0.0") == "0.0.0.0"
    published = [str(p).rsplit(":", 2)[-2:] for p in service.get("ports", [])]
    assert [str(port), str(port)] in published, f"{name} should publish {port}:{port}, has {service.get('ports')}"
    test = service["healthcheck"]["test"]
    urls = [urlsplit(part) for part in test if part.startswith("http")]
    assert urls, f"{name}: the healthcheck asks no URL: {test}"
    assert (urls[0].port, urls[0].path) == (port, "/readyz"), f"{name}: healthcheck {test}"


def test_infrastructure_has_healthchecks_and_named_volumes():
    volumes = set(COMPOSE["volumes"])
    for name, path in INFRA_DATA.items():
        service = SERVICES_IN_COMPOSE[name]
        assert "healthcheck" in service, f"{name} has no healthcheck"
        mounts = {v.split(":")[1]: v.split(":")[0] for v in service["volumes"]}
        assert mounts.get(path) in volumes, f"{name} should keep {path} in a named volume"
    for name, service in SERVICES_IN_COMPOSE.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which is not in the repository"
            else:
                assert source in volumes, f"{name} uses volume {source}, not declared under volumes:"


def seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration))


@pytest.mark.parametrize("name", sorted(SERVICES_IN_COMPOSE))
def test_every_container_log_is_rotated(name):
    # Docker's default json-file log grows without limit until the disk is full.
    logging = SERVICES_IN_COMPOSE[name].get("logging")
    assert logging and logging["driver"] == "json-file", f"{name}: no logging options (x-logging)"
    assert re.fullmatch(r"\d+[km]", logging["options"]["max-size"]), logging
    assert int(logging["options"]["max-file"]) >= 2, logging


@pytest.mark.parametrize("name", sorted(set(SERVICES) - {"sandbox"}))
def test_services_get_time_to_finish_on_stop_as_on_kubernetes(name):
    """Docker's default is 10 s before SIGKILL; the publisher may be in a platform call for its
    whole HTTP timeout. Any drain or shutdown timeout a service has must fit in the grace too."""
    import yaml

    from .inventory import DEPLOY

    module, _ = SERVICES[name]
    grace = seconds(SERVICES_IN_COMPOSE[name].get("stop_grace_period", "10s"))
    assert grace >= 30, f"{name}: stop_grace_period {grace}s"
    [deployment] = [d for d in yaml.safe_load_all((DEPLOY / "k8s" / "base" / f"{name}.yaml").read_text())
                    if d and d["kind"] == "Deployment"]
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == grace, name
    settings = importlib.import_module(f"{module}.settings")
    for cls in vars(settings).values():
        for field, info in getattr(cls, "model_fields", {}).items():
            if field.endswith("_seconds") and re.search(r"http_timeout|drain|shutdown|stop", field):
                assert isinstance(info.default, (int, float)) and info.default < grace, (
                    f"{name}: {field} = {info.default}s does not fit in the stop grace of {grace}s")


def test_depends_on_names_services_that_exist_with_the_right_condition():
    for name, service in {**SERVICES_IN_COMPOSE, **OVERRIDE["services"]}.items():
        for target, rule in (service.get("depends_on") or {}).items():
            assert target in SERVICES_IN_COMPOSE, f"{name} depends on {target}, which is no service"
            other = SERVICES_IN_COMPOSE[target]
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in other, f"{name} waits for {target} to be healthy; it has no healthcheck"
            if rule["condition"] == "service_completed_successfully":
                assert other.get("restart") == "no", f"{target} is a one-shot: restart must be 'no'"
    for name, service in OURS.items():
        if "SIAR_DATABASE_URL" in env(service) and name != "migrate":
            assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name
            assert service["depends_on"]["rabbitmq"] == {"condition": "service_healthy"}, name
    assert SERVICES_IN_COMPOSE["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert module_of(SERVICES_IN_COMPOSE["migrate"]) == "siar_runtime.migrate"
    assert module_of(SERVICES_IN_COMPOSE["demo"]) == "siar_devstack.demo"


def test_the_demo_waits_for_what_it_uses_and_points_accounts_at_the_sandbox():
    demo = SERVICES_IN_COMPOSE["demo"]
    assert set(demo["depends_on"]) == {"scheduler", "publisher", "sandbox", "feedback"}
    for name in ("scheduler", "publisher", "sandbox", "feedback"):
        url = urlsplit(env(demo)[f"SIAR_{name.upper()}_URL"])
        assert (url.hostname, url.port) == (name, SERVICES[name][1])
    assert demo["profiles"] == SERVICES_IN_COMPOSE["sandbox"]["profiles"] == ["demo"]


def test_secrets_are_required_never_defaulted():
    secret = re.compile(r"PASSWORD|SECRET|TOKENS|_KEY$")
    required, defaulted = set(), set()
    for text in strings({k: v for k, v in COMPOSE.items()}):
        for match in VARIABLE.finditer(text):
            name, kind, _ = match.groups()
            assert kind in ("?", "-"), f"${{{name}}} has neither :? nor :- (an unset variable would be empty)"
            (required if kind == "?" else defaulted).add(name)
    assert {"POSTGRES_PASSWORD", "RABBITMQ_PASSWORD", "GRAFANA_ADMIN_PASSWORD", "SIAR_API_TOKENS",
            "SIAR_CREDENTIALS_KEY"} <= required
    assert not {n for n in defaulted if secret.search(n)}, "a secret has a default in compose.yaml"
    for name, service in OURS.items():
        for key, value in env(service).items():
            if secret.search(key):
                assert re.search(r"\$\{[A-Z0-9_]+:\?", value), f"{name}: {key} must come from ${{VAR:?}}"
    for key in ("SIAR_DATABASE_URL", "SIAR_AMQP_URL"):
        for name, service in OURS.items():
            if key in env(service):
                assert ":?" in env(service)[key], f"{name}: the password in {key} must be required"


def test_env_example_names_every_required_variable():
    example = dict(
        line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    required = {m.group(1) for text in strings(COMPOSE) for m in VARIABLE.finditer(text) if m.group(2) == "?"}
    assert required <= set(example), f".env.example lacks {sorted(required - set(example))}"
    assert example["COMPOSE_PROFILES"] == "demo"


def test_the_example_secrets_are_refused_in_production():
    """compose.yaml alone runs as production: Siar must refuse .env.example's development values."""
    from siar_publisher.settings import PublisherSettings
    from siar_scheduler.settings import SchedulerSettings

    example = dict(
        line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert "${SIAR_ENVIRONMENT:-production}" in env(OURS["scheduler"])["SIAR_ENVIRONMENT"]
    with pytest.raises(ValueError, match="development token"):
        SchedulerSettings(environment="production", api_tokens=example["SIAR_API_TOKENS"])
    with pytest.raises(ValueError, match="development key"):
        PublisherSettings(environment="production", api_tokens="a-real-token-0123456789abcdefghij:admin",
                          credentials_key=example["SIAR_CREDENTIALS_KEY"])
    for name in OVERRIDE["services"]:
        if name in OURS and "SIAR_ENVIRONMENT" in env(OURS[name]):
            assert env(OVERRIDE["services"][name])["SIAR_ENVIRONMENT"] == "development", name


def test_rabbitmq_loads_the_user_and_the_committed_definitions_at_boot():
    rabbitmq = SERVICES_IN_COMPOSE["rabbitmq"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in rabbitmq["volumes"]}
    conf = (ROOT / mounts["/etc/rabbitmq/conf.d/20-siar.conf"]).read_text()
    directory = re.search(r"^load_definitions\s*=\s*(\S+)", conf, re.M).group(1)
    assert mounts[f"{directory}/20-siar.json"] == "./deploy/rabbitmq/definitions.json"
    user_file = {c["target"]: c["source"] for c in rabbitmq["configs"]}[f"{directory}/10-user.json"]
    content = COMPOSE["configs"][user_file]["content"]
    assert "${RABBITMQ_PASSWORD:?" in content
    assert "amqp://siar:${RABBITMQ_PASSWORD:?" in env(OURS["scheduler"])["SIAR_AMQP_URL"]
    plugins = (ROOT / mounts["/etc/rabbitmq/enabled_plugins"]).read_text()
    for plugin in ("rabbitmq_management", "rabbitmq_prometheus", "rabbitmq_shovel_management"):
        assert plugin in plugins


def test_the_dockerfile_builds_from_the_lock_file_in_stages_and_runs_unprivileged():
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, re.M | re.I)
    assert len(stages) >= 3, "multi-stage: uv, build, runtime"
    final = text[text.rfind("\nFROM "):]
    assert re.search(r"uv sync --frozen --no-dev --no-install-workspace", text)
    assert re.search(r"uv sync --frozen --no-dev --no-editable", text)
    user = re.findall(r"^USER\s+(\S+)", final, re.M)
    assert user and user[-1].split(":")[0] not in ("0", "root"), "the runtime stage must not run as root"
    assert "COPY --from=build" in final and "/bin/uv" not in final, "the runtime stage ships no build tools"
    assert "SIAR_MIGRATIONS_ROOT=/app" in final
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignore[ignore.index("*")] == "*" and {"!uv.lock", "!pyproject.toml", "!packages/", "!services/"} <= set(ignore)
    for name, service in OURS.items():
        assert service["build"] == {"context": ".", "dockerfile": "Dockerfile"}, name
