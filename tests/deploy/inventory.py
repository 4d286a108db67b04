"""What the deploy files are checked against: each service's settings (the environment variables
it reads), the metric names it really exports, and RabbitMQ's plugin metrics.

A new service is one entry in ``EXPORTERS`` (a test fails until it is there)."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import yaml
from prometheus_client import CollectorRegistry
from siar_runtime.metrics import ChassisMetrics
from siar_runtime.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SHARED = ROOT / ".." / "shared"


def _chassis(service: str, cls_path: str) -> CollectorRegistry:
    module, _, name = cls_path.rpartition(".")
    return getattr(importlib.import_module(module), name)(ChassisMetrics(service)).chassis.registry


def _sandbox() -> CollectorRegistry:
    from siar_sandbox.metrics import Metrics

    return Metrics().registry


EXPORTERS: dict[str, Callable[[], CollectorRegistry]] = {
    "scheduler": lambda: _chassis("scheduler", "siar_scheduler.metrics.SchedulerMetrics"),
    "publisher": lambda: _chassis("publisher", "siar_publisher.metrics.PublisherMetrics"),
    "metrics": lambda: _chassis("metrics", "siar_metrics.metrics.MetricsMetrics"),
    "feedback": lambda: _chassis("feedback", "siar_feedback.metrics.FeedbackMetrics"),
    "sandbox": _sandbox,
}
"""Each service's Prometheus registry, built the way its app builds it."""

# RabbitMQ's rabbitmq_prometheus plugin, /metrics/per-object (labels vhost, queue), as listed by
# RabbitMQ 3.10 on this machine and kept by 3.13 and 4.x.
RABBITMQ_METRICS = frozenset({
    "rabbitmq_identity_info",
    "rabbitmq_build_info",
    "rabbitmq_queue_messages",
    "rabbitmq_queue_messages_ready",
    "rabbitmq_queue_messages_unacked",
    "rabbitmq_queue_messages_bytes",
    "rabbitmq_queue_consumers",
    "rabbitmq_queue_consumer_utilisation",
    "rabbitmq_queue_process_memory_bytes",
})

PROMETHEUS_METRICS = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})
"""Series Prometheus itself writes for every target."""


_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
    "stateset": ("",),
    "enum": ("",),
    "unknown": ("",),
}


def sample_names(registry: CollectorRegistry) -> set[str]:
    """Every series name a registry exposes, labelled children or not."""
    names = set()
    for family in registry.collect():
        names |= {family.name + suffix for suffix in _SUFFIXES[family.type]}
    return names


def exported_metrics() -> dict[str, set[str]]:
    return {service: sample_names(build()) for service, build in EXPORTERS.items()}


def known_metrics() -> set[str]:
    names = set().union(*exported_metrics().values())
    return names | RABBITMQ_METRICS | PROMETHEUS_METRICS


# --- PromQL -------------------------------------------------------------------------------

_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool",
             "and", "or", "unless", "inf", "nan", "atan2"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords and labels left out)."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    s = re.sub(r"\boffset\s+-?\w+", " ", s)
    names = set()
    for match in re.finditer(r"(?<![\w.$])[A-Za-z_:][A-Za-z0-9_:]*", s):
        if s[match.end():].lstrip().startswith("(") or match.group(0).lower() in _KEYWORDS:
            continue
        names.add(match.group(0))
    return names


# --- deploy files -------------------------------------------------------------------------

def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def dashboards() -> dict[str, dict]:
    import json

    return {p.name: json.loads(p.read_text()) for p in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))}


def panels(dashboard: dict) -> Iterator[dict]:
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # panels of a collapsed row


def dashboard_queries(dashboard: dict) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable."""
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r} {target['refId']}", target["expr"]
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
            found = re.fullmatch(r"\s*label_values\((.+),\s*\w+\)\s*", query)
            yield f"variable {variable['name']}", found.group(1) if found else query


def alert_rules() -> Iterator[dict]:
    for path in sorted((DEPLOY / "prometheus" / "rules").glob("*.yml")):
        for group in load_yaml(path)["groups"]:
            yield from group["rules"]


# --- settings -----------------------------------------------------------------------------

class _Recording(dict):
    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def get(self, key, default=None):
        self.asked.add(key)
        return default


def settings_env(module: str) -> set[str]:
    """The SIAR_ variables the program ``python -m <module>`` reads."""
    if module == "siar_runtime.migrate":
        source = importlib.import_module(module).__file__
        return set(re.findall(r'"(SIAR_[A-Z_]+)"', Path(source).read_text()))  # type: ignore[arg-type]
    if module == "siar_devstack.demo":
        from siar_devstack.demo import DemoSettings

        return {f"SIAR_{name.upper()}" for name in DemoSettings.model_fields}
    if module == "siar_sandbox":
        from siar_sandbox.settings import Settings

        environ = _Recording()
        Settings.from_env(environ)
        return environ.asked
    settings = importlib.import_module(f"{module}.settings")
    classes = [c for c in vars(settings).values()
               if isinstance(c, type) and issubclass(c, ServiceSettings) and c is not ServiceSettings]
    assert len(classes) == 1, f"{module}.settings should hold one ServiceSettings subclass, found {classes}"
    return {f"SIAR_{name.upper()}" for name in classes[0].model_fields}


def default_port(module: str) -> int:
    if module == "siar_sandbox":
        from siar_sandbox.settings import Settings

        return Settings().http_port
    settings = importlib.import_module(f"{module}.settings")
    classes = [c for c in vars(settings).values()
               if isinstance(c, type) and issubclass(c, ServiceSettings) and c is not ServiceSettings]
    return classes[0].model_fields["http_port"].default
