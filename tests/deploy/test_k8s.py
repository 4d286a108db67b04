"""deploy/k8s (kustomize): every service as a Deployment with probes, limits, the image, ports and
environment consistent with the service itself; a migration Job; overlays that build."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from siar_devstack import SERVICES

from .inventory import DEPLOY, ROOT, default_port, settings_env

K8S = DEPLOY / "k8s"
OPERATOR_SECRETS = {"siar-db-app", "siar-rabbitmq-default-user"}


def documents(folder: Path) -> list[dict]:
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    docs = []
    for resource in kustomization.get("resources", []):
        path = folder / resource
        if path.is_dir():
            continue
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


BASE = documents(K8S / "base")
SANDBOX = documents(K8S / "components" / "sandbox")
ALL = BASE + SANDBOX
CONFIG = next(d for d in BASE if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "siar-config")["data"]
DEPLOYMENTS = {d["metadata"]["name"]: d for d in ALL if d["kind"] == "Deployment"}


def of_kind(kind: str) -> list[dict]:
    return [d for d in ALL if d["kind"] == kind]


def test_every_resource_listed_by_a_kustomization_exists():
    for kustomization in K8S.rglob("kustomization.yaml"):
        spec = yaml.safe_load(kustomization.read_text())
        for entry in spec.get("resources", []) + spec.get("components", []):
            assert (kustomization.parent / entry).exists(), f"{kustomization}: {entry} does not exist"


def test_every_service_has_a_deployment_and_a_service():
    for name in SERVICES:
        assert f"siar-{name}" in DEPLOYMENTS, f"deploy/k8s has no Deployment siar-{name}"
        assert any(s["metadata"]["name"] == f"siar-{name}" for s in of_kind("Service"))
    base = {d["metadata"]["name"] for d in BASE if d["kind"] == "Deployment"}
    assert "siar-sandbox" not in base, "the sandbox belongs in components/sandbox, not in production"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_the_deployment_runs_the_service_as_it_expects(name):
    deployment = DEPLOYMENTS[f"siar-{name}"]
    module, _ = SERVICES[name]
    port = default_port(module)
    pod = deployment["spec"]["template"]
    spec = pod["spec"]
    container = spec["containers"][0]

    assert container["image"] == "siar", "the base names the image siar; overlays say where it is"
    assert container["command"] == ["python", "-m", module]
    assert container["ports"] == [{"name": "http", "containerPort": port}]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()

    # Probes: liveness on /healthz, readiness on /readyz, both on the service's port.
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}

    # Limits: every container says what it needs and may use.
    for c in spec["containers"] + spec.get("initContainers", []):
        assert {"cpu", "memory"} <= set(c["resources"]["requests"]), c["name"]
        assert "memory" in c["resources"]["limits"], c["name"]
        assert c["securityContext"]["allowPrivilegeEscalation"] is False

    # The image's user, never root.
    dockerfile_user = re.findall(r"^USER\s+(\d+)", (ROOT / "Dockerfile").read_text(), re.M)[-1]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert str(spec["securityContext"]["runAsUser"]) == dockerfile_user

    # Environment: every SIAR_ variable is one of the service's settings; the others only feed
    # $(…) references; secrets come from the operator's Secrets or siar-secrets.
    env = {e["name"]: e for e in container.get("env", [])}
    from_config = set(CONFIG) if any(s.get("configMapRef", {}).get("name") == "siar-config"
                                     for s in container.get("envFrom", [])) else set()
    known = settings_env(module)
    for key in set(env) | from_config:
        if key.startswith("SIAR_"):
            assert key in known, f"siar-{name}: {key} is not a setting of {module}"
        else:
            assert any(f"$({key})" in str(e.get("value", "")) for e in env.values()), f"{key} is unused"
    assert env["SIAR_HTTP_PORT"]["value"] == str(port)
    for e in env.values():
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            assert ref["name"] in OPERATOR_SECRETS | {"siar-secrets"}, ref
    annotations = pod["metadata"].get("annotations", {})
    assert annotations.get("prometheus.io/port") == str(port)
    assert annotations.get("prometheus.io/path") == "/metrics"

    service = next(s for s in of_kind("Service") if s["metadata"]["name"] == f"siar-{name}")
    assert service["spec"]["ports"][0]["port"] == port
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()

    if name != "sandbox":
        assert {"SIAR_DATABASE_URL", "SIAR_AMQP_URL", "SIAR_API_TOKENS"} <= set(env)
        assert from_config and CONFIG["SIAR_ENVIRONMENT"] == "production"
        assert env["SIAR_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "siar-db-app", "key": "uri"}
        waits = spec["initContainers"][0]
        assert waits["command"][-1].startswith(f"until python -m siar_runtime.migrate --check {name};")
        assert waits["image"] == "siar"


def test_the_operators_secrets_and_hosts_match_the_clusters_declared():
    (postgres,) = [d for d in BASE if d["kind"] == "Cluster"]
    (rabbitmq,) = [d for d in BASE if d["kind"] == "RabbitmqCluster"]
    assert postgres["apiVersion"].startswith("postgresql.cnpg.io/")
    assert rabbitmq["apiVersion"].startswith("rabbitmq.com/")
    assert postgres["spec"]["bootstrap"]["initdb"]["database"] == "siar"
    assert postgres["spec"]["instances"] >= 3 and rabbitmq["spec"]["replicas"] >= 3, "replicated in the base"
    assert OPERATOR_SECRETS == {f"{postgres['metadata']['name']}-app", f"{rabbitmq['metadata']['name']}-default-user"}
    for deployment in DEPLOYMENTS.values():
        for e in deployment["spec"]["template"]["spec"]["containers"][0].get("env", []):
            if e["name"] == "SIAR_AMQP_URL":
                assert f"@{rabbitmq['metadata']['name']}:5672/" in e["value"]


def test_the_migrations_run_as_a_job():
    (job,) = of_kind("Job")
    spec = job["spec"]["template"]["spec"]
    assert spec["containers"][0]["command"] == ["python", "-m", "siar_runtime.migrate"]
    assert spec["containers"][0]["image"] == "siar"
    assert spec["restartPolicy"] in ("OnFailure", "Never")
    assert spec["securityContext"]["runAsNonRoot"] is True


def test_production_runs_several_replicas_of_each_service():
    overlay = yaml.safe_load((K8S / "overlays" / "production" / "kustomization.yaml").read_text())
    replicas = {r["name"]: r["count"] for r in overlay["replicas"]}
    assert replicas["siar-scheduler"] >= 2 and replicas["siar-publisher"] >= 3
    assert set(replicas) == {f"siar-{n}" for n in SERVICES if n != "sandbox"}
    assert [i["name"] for i in overlay["images"]] == ["siar"]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (for `kubectl kustomize`) is not installed")
@pytest.mark.parametrize("overlay", ["production", "staging"])
def test_the_overlays_build(overlay):
    result = subprocess.run(["kubectl", "kustomize", str(K8S / "overlays" / overlay)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    rendered = [d for d in yaml.safe_load_all(result.stdout) if d]
    images = {c["image"] for d in rendered if d["kind"] in ("Deployment", "Job")
              for c in d["spec"]["template"]["spec"]["containers"]}
    assert images and all("/siar:" in i for i in images), f"the overlay must say where the image is: {images}"
    assert all(d["metadata"].get("namespace") for d in rendered)


def test_the_broker_gets_the_policies_of_the_committed_definitions(monkeypatch):
    """The migrate Job's broker-policies container puts siar_runtime.definitions' policies (the
    dead-letter queues' unlimited delivery limit) through RabbitMQ's management API: run its script
    against a stand-in of that API and compare what arrived with deploy/rabbitmq/definitions.json."""
    import base64
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    (job,) = of_kind("Job")
    [container] = [c for c in job["spec"]["template"]["spec"]["containers"] if c["name"] == "broker-policies"]
    assert container["image"] == "siar" and container["command"][:2] == ["python", "-c"]
    env = {e["name"]: e for e in container["env"]}
    rabbitmq = next(d for d in BASE if d["kind"] == "RabbitmqCluster")["metadata"]["name"]
    assert env["RABBITMQ_MANAGEMENT_URL"]["value"] == f"http://{rabbitmq}:15672"
    for key, secret_key in (("RABBITMQ_USERNAME", "username"), ("RABBITMQ_PASSWORD", "password")):
        assert env[key]["valueFrom"]["secretKeyRef"] == {"name": f"{rabbitmq}-default-user", "key": secret_key}

    received: list[tuple[str, str, dict]] = []

    class Management(BaseHTTPRequestHandler):
        def do_PUT(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            received.append((self.path, self.headers["authorization"], body))
            self.send_response(201)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Management)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("RABBITMQ_MANAGEMENT_URL", f"http://127.0.0.1:{server.server_port}")
        monkeypatch.setenv("RABBITMQ_USERNAME", "siar")
        monkeypatch.setenv("RABBITMQ_PASSWORD", "p@ss")
        exec(compile(container["command"][2], "broker-policies", "exec"), {})
    finally:
        server.shutdown()
    committed = json.loads((DEPLOY / "rabbitmq" / "definitions.json").read_text())["policies"]
    assert committed, "deploy/rabbitmq/definitions.json has no policy"
    assert received == [
        (f"/api/policies/%2F/{p['name']}", "Basic " + base64.b64encode(b"siar:p@ss").decode(),
         {k: v for k, v in p.items() if k not in ("vhost", "name")})
        for p in committed
    ]
