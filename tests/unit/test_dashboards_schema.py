"""Grafana dashboards: committed JSON is the generator's output, and every query is sound."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafana_foundation_sdk.models.dashboard import Dashboard

from tests.integration.backends import load_script

REPO = Path(__file__).resolve().parents[2]
DASH_DIR = REPO / "grafana" / "dashboards"


gen = load_script(REPO / "grafana" / "generate.py", "otel_llm_grafana_generate")


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(DASH_DIR.glob("*.json"))}


def targets(dash: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(panel, t) for panel in dash["panels"] for t in panel.get("targets", [])]


def recorded_series() -> set[str]:
    names: set[str] = set()
    for path in (REPO / "prometheus" / "rules").glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            names |= {r["record"] for r in group["rules"] if "record" in r}
    return names


def test_committed_json_equals_generator_output() -> None:
    assert set(dashboards()) == set(gen.DASHBOARDS)
    for name in gen.DASHBOARDS:
        assert (DASH_DIR / f"{name}.json").read_text() == gen.render(name), (
            f"{name}.json is stale: run python grafana/generate.py"
        )


@pytest.mark.parametrize("name", sorted(gen.DASHBOARDS))
def test_dashboard_loads_into_the_sdk_model(name: str) -> None:
    data = dashboards()[name]
    model = Dashboard.from_json(data)
    assert model.uid == data["uid"] and model.title == data["title"]
    assert model.panels and all(p is not None for p in model.panels)


def test_uids_and_panel_ids_are_unique() -> None:
    uids = [d["uid"] for d in dashboards().values()]
    assert len(uids) == len(set(uids))
    for dash in dashboards().values():
        ids = [p["id"] for p in dash["panels"]]
        assert len(ids) == len(set(ids)), dash["uid"]


def test_datasources_are_the_provisioned_ones() -> None:
    ds = yaml.safe_load(
        (REPO / "grafana" / "provisioning" / "datasources" / "datasources.yaml").read_text()
    )
    provisioned = {(d["type"], d["uid"]) for d in ds["datasources"]}
    for dash in dashboards().values():
        for panel, target in targets(dash):
            ref = target.get("datasource") or panel.get("datasource")
            assert (ref["type"], ref["uid"]) in provisioned, panel["title"]


def test_prometheus_exemplars_link_to_the_chosen_trace_store_by_trace_id() -> None:
    ds = yaml.safe_load(
        (REPO / "grafana" / "provisioning" / "datasources" / "datasources.yaml").read_text()
    )
    prom = next(d for d in ds["datasources"] if d["type"] == "prometheus")
    # one destination, the data source OTEL_LLM_TRACE_STORE names (tempo or jaeger)
    assert prom["jsonData"]["exemplarTraceIdDestinations"] == [
        {"name": "trace_id", "datasourceUid": "${OTEL_LLM_TRACE_STORE}"}
    ]
    tempo = next(d for d in ds["datasources"] if d["type"] == "tempo")
    jaeger = next(d for d in ds["datasources"] if d["type"] == "jaeger")
    assert (tempo["uid"], jaeger["uid"]) == ("tempo", "jaeger")
    assert tempo["jsonData"]["serviceMap"]["datasourceUid"] == "prometheus"
    for store in (tempo, jaeger):
        assert store["jsonData"]["tracesToMetrics"]["datasourceUid"] == "prometheus"


def test_panels_use_recorded_series_or_say_why_not() -> None:
    """Raw series only where exemplars (or a $__rate_interval over raw data) are the point."""
    recorded = recorded_series()
    used: set[str] = set()
    for dash in dashboards().values():
        for panel, target in targets(dash):
            expr = target.get("expr")
            if expr is None:
                continue
            names = set(re.findall(r"\b[a-z_]+:[a-z0-9_:]+", expr))
            assert names <= recorded, f"{panel['title']}: not recorded {names - recorded}"
            used |= names
            if not names:
                assert "$__rate_interval" in expr, f"{panel['title']}: raw query without reason"
    assert {
        "model:gen_ai_client_operation_duration_seconds:p95_5m",
        "model:gen_ai_client_operation_time_to_first_chunk_seconds:p95_5m",
        "global:gen_ai_client_cost_usd:month_forecast",
        "user:gen_ai_client_cost_usd:increase24h",
        "model:gen_ai_client_token_usage:cache_read_ratio_rate5m",
    } <= used


def test_exemplars_on_latency_and_cost() -> None:
    with_exemplars = [
        panel["title"]
        for dash in dashboards().values()
        for panel, target in targets(dash)
        if target.get("exemplar")
    ]
    assert any("p95 latency" in t for t in with_exemplars)
    assert any("Spend rate" in t for t in with_exemplars)


def test_variables_used_are_defined() -> None:
    for dash in dashboards().values():
        defined = {v["name"] for v in dash.get("templating", {}).get("list", [])}
        text = json.dumps(dash["panels"])
        used = set(re.findall(r"\$(?!__)([a-z_]+)", text))
        assert used <= defined, f"{dash['uid']}: undefined {used - defined}"


def test_request_lookup_searches_tempo_and_jaeger_for_the_request_id() -> None:
    dash = dashboards()["request-lookup"]
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert set(variables) == {"request_id", "service"}
    assert {v["type"] for v in variables.values()} == {"textbox"}
    by_store: dict[str, list[dict[str, Any]]] = {}
    for _, t in targets(dash):
        by_store.setdefault(t["datasource"]["type"], []).append(t)
    tempo = [t for t in by_store["tempo"] if t.get("queryType") == "traceql"]
    assert any(t["query"] == '{ span.request.id = "$request_id" }' for t in tempo)
    (jaeger,) = by_store["jaeger"]
    assert jaeger["queryType"] == "search"
    assert jaeger["service"] == "$service"
    assert jaeger["tags"] == 'request.id="$request_id"'
