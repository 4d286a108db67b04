"""deploy/grafana: provisioning matches compose.yaml, and every dashboard query reads metrics that
a service (or RabbitMQ's plugin, or Prometheus itself) really exports."""

from __future__ import annotations

import pytest

from .inventory import (
    DEPLOY,
    EXPORTERS,
    RABBITMQ_METRICS,
    ROOT,
    dashboard_queries,
    dashboards,
    known_metrics,
    load_yaml,
    metric_names,
    panels,
)

GRAFANA = DEPLOY / "grafana"
DASHBOARDS = dashboards()


def test_every_service_of_the_devstack_has_its_metrics_registry_listed():
    from siar_devstack import SERVICES

    assert set(EXPORTERS) == set(SERVICES), "add the new service's registry to tests/deploy/inventory.py EXPORTERS"


def test_the_metric_name_reader_finds_metrics_and_only_metrics():
    expr = ('histogram_quantile(0.95, sum by (le, platform) (rate(siar_x_bucket{platform=~"$platform"}'
            '[$__rate_interval]))) / on(job) group_left(instance) siar_y offset 5m > 1e3 or vector(0)')
    assert metric_names(expr) == {"siar_x_bucket", "siar_y"}
    assert metric_names('sum(rabbitmq_queue_messages{queue=~"siar\\\\..+\\\\.dead"}) and up == 0') == {
        "rabbitmq_queue_messages", "up"}


def test_the_known_metrics_come_from_the_real_registries():
    known = known_metrics()
    assert {"siar_scheduler_targets_dispatched_total", "siar_publisher_published_total",
            "siar_publisher_publish_lateness_seconds_bucket", "siar_sandbox_posts_accepted_total",
            "siar_events_published_total"} <= known
    assert RABBITMQ_METRICS <= known
    assert "siar_publisher_published" not in known  # counters are read with _total


def test_provisioning_points_at_the_dashboards_compose_mounts():
    compose = load_yaml(ROOT / "compose.yaml")["services"]["grafana"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in compose["volumes"]}
    provider = load_yaml(GRAFANA / "provisioning" / "dashboards" / "siar.yml")["providers"][0]
    assert mounts[provider["options"]["path"]] == "./deploy/grafana/dashboards"
    assert mounts["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"
    home = compose["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith(provider["options"]["path"] + "/")
    assert (GRAFANA / "dashboards" / home.rsplit("/", 1)[1]).exists()
    source = load_yaml(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")["datasources"][0]
    assert (source["type"], source["url"]) == ("prometheus", "http://prometheus:9090")


def test_the_dashboards_exist_with_unique_ids():
    assert "operations.json" in DASHBOARDS
    uids = [d["uid"] for d in DASHBOARDS.values()]
    assert len(uids) == len(set(uids))


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_panel_uses_the_provisioned_data_source_and_lays_out_on_the_grid(name):
    uid = load_yaml(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")["datasources"][0]["uid"]
    ids = []
    for panel in panels(DASHBOARDS[name]):
        ids.append(panel["id"])
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == uid, panel["title"]
        assert panel["targets"], f"{panel['title']} has no query"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == uid
    assert len(ids) == len(set(ids)), "panel ids repeat"


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_query_reads_metrics_a_service_really_exports(name):
    known = known_metrics()
    for where, expr in dashboard_queries(DASHBOARDS[name]):
        names = metric_names(expr)
        assert names, f"{name} {where}: no metric in {expr!r}"
        assert names <= known, f"{name} {where} reads {sorted(names - known)}, which nothing exports"
