"""deploy/prometheus: the scrape configurations cover every service, the rules are valid and
each alert is unit-tested (promtool, from Debian's prometheus package) and answered in the docs."""

from __future__ import annotations

import re
import subprocess

import pytest
from siar_devstack import SERVICES

from tests.tools import require

from .inventory import DEPLOY, ROOT, alert_rules, known_metrics, load_yaml, metric_names

PROMETHEUS = DEPLOY / "prometheus"
CONFIGS = ("prometheus.yml", "prometheus.local.yml")
RULE_TESTS = sorted((PROMETHEUS / "tests").glob("*.yml"))



@pytest.fixture
def promtool_installed() -> None:
    require("promtool", "prometheus")


promtool = pytest.mark.usefixtures("promtool_installed")


def run_promtool(*args: str) -> str:
    result = subprocess.run(["promtool", *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@promtool
@pytest.mark.parametrize("config", CONFIGS)
def test_promtool_accepts_the_configuration(config):
    run_promtool("check", "config", config)


@promtool
def test_promtool_accepts_the_rules():
    run_promtool("check", "rules", *[str(p) for p in sorted((PROMETHEUS / "rules").glob("*.yml"))])


@promtool
def test_the_alert_unit_tests_pass():
    run_promtool("test", "rules", *[str(p) for p in RULE_TESTS])


def targets_of(job: dict) -> list[str]:
    """host:port of each target, static or found by name in DNS."""
    static = [t for group in job.get("static_configs", []) for t in group["targets"]]
    return static + [f"{name}:{sd['port']}" for sd in job.get("dns_sd_configs", []) for name in sd["names"]]


@pytest.mark.parametrize("config", CONFIGS)
def test_every_service_is_scraped_on_its_port_as_a_job_named_after_it(config):
    jobs = {job["job_name"]: job for job in load_yaml(PROMETHEUS / config)["scrape_configs"]}
    for name, (_, port) in SERVICES.items():
        assert name in jobs, f"{config} has no job {name!r}"
        targets = targets_of(jobs[name])
        assert [t.rsplit(":", 1)[1] for t in targets] == [str(port)], f"{config} job {name}: {targets}"
    assert jobs["rabbitmq"]["metrics_path"] == "/metrics/per-object"
    assert [t for g in jobs["rabbitmq"]["static_configs"] for t in g["targets"]][0].endswith(":15692")


def test_every_alert_has_a_unit_test_that_fires_it():
    fired = set()
    for path in RULE_TESTS:
        for test in load_yaml(path)["tests"]:
            for case in test.get("alert_rule_test", []):
                if case.get("exp_alerts"):
                    fired.add(case["alertname"])
    alerts = {rule["alert"] for rule in alert_rules() if "alert" in rule}
    assert alerts - fired == set(), "alerts no unit test fires"


def test_every_alert_has_a_severity_and_an_answer_in_the_operations_guide():
    guide = (ROOT / "docs" / "operations.md").read_text()
    anchors = {re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-") for h in re.findall(r"^#+ (.+)$", guide, re.M)}
    for rule in alert_rules():
        if "alert" not in rule:
            continue
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), rule["alert"]
        runbook = rule["annotations"]["runbook"]
        assert runbook == f"docs/operations.md#{rule['alert'].lower()}", runbook
        assert rule["alert"].lower() in anchors, f"docs/operations.md has no section {rule['alert']}"


def test_rules_only_read_metrics_that_exist():
    known = known_metrics()
    for rule in alert_rules():
        unknown = metric_names(rule["expr"]) - known
        assert not unknown, f"{rule.get('alert', rule.get('record'))} reads {sorted(unknown)}, which nothing exports"


def test_compose_scrapes_the_sandbox_only_where_the_demo_profile_runs_it():
    # A static target would be a sandbox down forever (red on "Services up") in production, where
    # the demo profile is off: found in Docker's DNS, it is no target at all there.
    compose = load_yaml(ROOT / "compose.yaml")["services"]
    assert compose["sandbox"]["profiles"] == ["demo"]
    job = {j["job_name"]: j for j in load_yaml(PROMETHEUS / "prometheus.yml")["scrape_configs"]}["sandbox"]
    assert "static_configs" not in job
    [sd] = job["dns_sd_configs"]
    assert sd["names"] == ["sandbox"] and sd["type"] == "A"
    [relabel] = job["relabel_configs"]
    assert relabel["target_label"] == "instance" and relabel["replacement"] == "${1}:8010"


def test_prometheus_sends_its_alerts_to_the_compose_alertmanager():
    compose = load_yaml(ROOT / "compose.yaml")["services"]
    [group] = load_yaml(PROMETHEUS / "prometheus.yml")["alerting"]["alertmanagers"]
    [target] = [t for g in group["static_configs"] for t in g["targets"]]
    host, port = target.rsplit(":", 1)
    alertmanager = compose[host]
    assert alertmanager["image"].startswith("prom/alertmanager:v"), "pinned, like the other images"
    assert any(p.endswith(f":{port}:{port}") for p in alertmanager["ports"])
    assert f"http://127.0.0.1:{port}/-/ready" in alertmanager["healthcheck"]["test"]
