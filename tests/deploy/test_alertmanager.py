"""deploy/alertmanager: the Alertmanager that compose runs reads this configuration, every route
names a receiver that exists, and the receiver the operator fills in is explained in the guide.
`amtool check-config` (Debian's prometheus-alertmanager package) checks it where it is installed."""

from __future__ import annotations

import subprocess

from tests.tools import require

from .inventory import DEPLOY, ROOT, alert_rules, load_yaml

CONFIG = DEPLOY / "alertmanager" / "alertmanager.yml"
COMPOSE = load_yaml(ROOT / "compose.yaml")


def routes(route: dict):
    yield route
    for child in route.get("routes", []):
        yield from routes(child)


def test_compose_runs_alertmanager_with_this_configuration():
    service = COMPOSE["services"]["alertmanager"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in service["volumes"]}
    flags = dict(arg.removeprefix("--").split("=", 1) for arg in service["command"])
    folder, _, name = flags["config.file"].rpartition("/")
    assert (ROOT / mounts[folder] / name).resolve() == CONFIG.resolve()
    assert mounts[flags["storage.path"]] in COMPOSE["volumes"], "silences and notification state survive"
    assert service["restart"] == "unless-stopped" and "logging" in service


def test_every_route_names_a_receiver_that_exists_and_alerts_are_not_dropped():
    config = load_yaml(CONFIG)
    receivers = {r["name"]: r for r in config["receivers"]}
    for route in routes(config["route"]):
        assert route.get("receiver", config["route"]["receiver"]) in receivers
    default = receivers[config["route"]["receiver"]]
    assert any(key.endswith("_configs") for key in default), "the default receiver sends to no one"
    severities = {rule["labels"]["severity"] for rule in alert_rules() if "alert" in rule}
    matched = {m.split("=")[1].strip('"') for r in routes(config["route"]) for m in r.get("matchers", [])
               if m.startswith("severity=")}
    assert matched <= severities, f"routes match severities no rule has: {matched - severities}"


def test_the_guide_says_how_to_set_the_receiver():
    guide = (ROOT / "docs" / "operations.md").read_text()
    assert "deploy/alertmanager/alertmanager.yml" in guide
    assert "restart alertmanager" in guide


def test_amtool_accepts_the_configuration():
    require("amtool", "prometheus-alertmanager")
    result = subprocess.run(["amtool", "check-config", str(CONFIG)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
