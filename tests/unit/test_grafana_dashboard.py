"""The Grafana dashboard of docker-compose.yml (infra/grafana/) queries metrics the worker exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from segstream.agents.metrics import Metrics

GRAFANA = Path(__file__).resolve().parents[2] / "infra" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "segstream.json"

# the series each metric type exposes (prometheus_client's text format)
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
    "stateset": ("",),
    "enum": ("",),
}
# labels every series has once scraped (Prometheus adds them), and histograms' bucket bound
TARGET_LABELS = {"job", "instance"}
METRIC = re.compile(r"\b(segstream_[a-zA-Z0-9_]+)\b")
SELECTOR = re.compile(r"\b(segstream_[a-zA-Z0-9_]+)\s*\{([^}]*)\}")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")


def exported_series() -> dict[str, set[str]]:
    """Series name -> label names, for every metric in a worker's registry."""
    metrics = Metrics()
    labels = {
        w._name: set(w._labelnames)  # the collectors' label names: not in an empty family
        for w in vars(metrics).values()
        if isinstance(w, MetricWrapperBase)
    }
    series: dict[str, set[str]] = {}
    for family in metrics.registry.collect():
        for suffix in SUFFIXES[family.type]:
            names = labels.get(family.name, set())
            series[family.name + suffix] = names | ({"le"} if suffix == "_bucket" else set())
    return series


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for p in dashboard["panels"]:
        if p["type"] == "row":
            out += p.get("panels", [])
        else:
            out.append(p)
    return out


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def test_every_panel_has_a_promql_query_on_the_provisioned_datasource(dashboard: dict[str, Any]) -> None:
    datasource = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    [source] = datasource["datasources"]
    assert (source["type"], source["uid"], source["url"]) == ("prometheus", "prometheus", "http://prometheus:9090")
    assert panels(dashboard)
    for p in panels(dashboard):
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert t["expr"].strip() and METRIC.search(t["expr"]), (p["title"], t)
            assert t.get("datasource", p["datasource"])["uid"] == source["uid"], p["title"]


def test_panel_ids_are_unique(dashboard: dict[str, Any]) -> None:
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids))


def test_every_metric_and_label_queried_is_exported_by_the_worker(dashboard: dict[str, Any]) -> None:
    series = exported_series()
    unknown, bad_labels = set(), []
    for p in panels(dashboard):
        for t in p["targets"]:
            expr = t["expr"]
            used = set(METRIC.findall(expr))
            unknown |= used - set(series)
            known = set().union(*(series.get(m, set()) for m in used)) | TARGET_LABELS
            for metric, matchers in SELECTOR.findall(expr):
                bad_labels += [(metric, lb) for lb in MATCHER.findall(matchers) if lb not in series.get(metric, ())]
            for group in GROUPING.findall(expr):
                bad_labels += [(expr, lb.strip()) for lb in group.split(",") if lb.strip() not in known]
    assert not unknown, f"not in segstream.agents.metrics.Metrics().registry: {sorted(unknown)}"
    assert not bad_labels, f"labels these metrics do not have: {bad_labels}"


def test_the_dashboards_the_provider_loads_are_the_ones_mounted() -> None:
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "segstream.yml").read_text())
    [files] = provider["providers"]
    assert files["type"] == "file" and files["options"]["path"] == "/var/lib/grafana/dashboards"
    compose = yaml.safe_load((GRAFANA.parents[1] / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert "./infra/grafana/dashboards:/var/lib/grafana/dashboards:ro" in mounts
    assert "./infra/grafana/provisioning:/etc/grafana/provisioning:ro" in mounts
