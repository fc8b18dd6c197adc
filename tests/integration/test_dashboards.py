"""Every query of every dashboard returns data after demo traffic, on the real backends.

The demo service (``otel-llm demo-app``, real SDKs against ``otel-llm mock-llm``) is scraped
by the real Prometheus running the shipped recording rules (test copy: 1 s evaluation);
its traces go through the real Collector to Jaeger, where the request-lookup dashboard's
Jaeger search must find a request by its X-Request-ID.  (Its Tempo panels run TraceQL,
checked for their shape in tests/unit/test_dashboards_schema.py: the suite runs no Tempo.)
"""

from __future__ import annotations

import json
import shlex
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from otel_llm.demo.traffic import drive
from tests.integration import backends
from tests.integration.backends import CollectorInstance, JaegerInstance, PrometheusInstance
from tests.integration.test_alerts import gen

REPO = Path(__file__).resolve().parents[2]
DASH_DIR = REPO / "grafana" / "dashboards"
# Grafana's own variables, as Grafana would expand them for a 1-hour view.
GRAFANA_VARS = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}
VARIABLES = {"$job": ".*", "$model": ".*"}


def panel_queries() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path in sorted(DASH_DIR.glob("*.json")):
        dash = json.loads(path.read_text())
        for panel in dash["panels"]:
            for target in panel.get("targets", []):
                found.append((dash["uid"], panel["title"], target))
    return found


def expand(expr: str, extra: dict[str, str] | None = None) -> str:
    for name, value in {**GRAFANA_VARS, **VARIABLES, **(extra or {})}.items():
        expr = expr.replace(name, value)
    return expr


DASH_JOB = "otel-llm-dashboards"
# Series that need days of recorded history (the spend anomaly baseline: the same hour on
# past days); a fresh Prometheus has none, so their panels are only checked to parse.
NEEDS_HISTORY = ("_baseline7d",)


@pytest.fixture(scope="module")
def loaded(
    tmp_path_factory: pytest.TempPathFactory,
    prometheus: PrometheusInstance,
    otelcol: CollectorInstance,
) -> Iterator[dict[str, Any]]:
    """Shipped rules loaded and demo traffic sent over a few scrapes.

    Its own mock LLM fails 15 % of calls and reports cached prompt tokens (the session's
    mock does neither), so error and cache panels have something to show.
    """
    workdir = tmp_path_factory.mktemp("dashboards")
    rules_dir = workdir / "rules"
    gen.write_test_copy(rules_dir, budgets=gen.load_budgets(), targets={})
    prometheus.configure(
        rule_files=[
            rules_dir / "recording.yml",
            rules_dir / "budgets.yml",
            rules_dir / "alerts.yml",
        ]
    )
    mock = backends.start_mock_llm(
        workdir, latency_scale=0.05, extra_args=["--error-rate", "0.15", "--cache-share", "0.3"]
    )
    app = backends.start_demo_app(
        workdir, llm_url=mock.url, collector=otelcol, service_name=DASH_JOB
    )
    address = f"127.0.0.1:{app.port}"
    try:
        prometheus.add_target(DASH_JOB, address)
        prometheus.wait_for_target(DASH_JOB)
        started = time.monotonic()
        request_id = ""
        for _ in range(10):  # the mock fails some calls on purpose
            candidate = f"dash-{uuid.uuid4()}"
            try:
                backends.chat(app.url, candidate, model="gpt-4o-mini", user="alice", stream=True)
            except backends.BackendError:
                continue
            request_id = candidate
            break
        assert request_id, "no successful /chat in 10 tries"
        sent = 0
        for round_ in range(3):  # counters must grow across several scrapes for rate()
            sent += len(drive(app.url, 40, concurrency=4, seed=11 + round_, timeout_s=60))
            time.sleep(2)
        time.sleep(4)  # last scrape plus a few rule evaluations
        yield {"request_id": request_id, "sent": sent, "traffic_s": time.monotonic() - started}
    finally:
        prometheus.remove_target(DASH_JOB, address)
        app.stop()
        mock.stop()


@pytest.mark.parametrize(
    ("uid", "title", "target"),
    [q for q in panel_queries() if "expr" in q[2]],
    ids=[f"{q[0]}:{q[1]}:{q[2].get('refId')}" for q in panel_queries() if "expr" in q[2]],
)
def test_promql_panel_returns_data(
    loaded: dict[str, Any],
    prometheus: PrometheusInstance,
    uid: str,
    title: str,
    target: dict[str, Any],
) -> None:
    expr = expand(target["expr"])

    def result() -> list[dict[str, Any]]:
        body = httpx.get(
            f"{prometheus.url}/api/v1/query", params={"query": expr}, timeout=10
        ).json()
        assert body["status"] == "success", body
        data: list[dict[str, Any]] = body["data"]["result"]
        return data

    if any(series in expr for series in NEEDS_HISTORY):
        result()  # valid PromQL and known series; empty until the rules ran a day
        return
    rows = backends.wait_until(result, 20, what=f"data for {uid} / {title}: {expr}")
    assert rows


def test_latency_and_cost_exemplars_carry_trace_ids(
    loaded: dict[str, Any], prometheus: PrometheusInstance
) -> None:
    for _, title, target in panel_queries():
        if not target.get("exemplar"):
            continue
        end = time.time()
        body = httpx.get(
            f"{prometheus.url}/api/v1/query_exemplars",
            params={"query": expand(target["expr"]), "start": end - 600, "end": end},
            timeout=10,
        ).json()
        exemplars = [e for series in body["data"] for e in series["exemplars"]]
        assert exemplars, f"no exemplars for {title}"
        assert all(len(e["labels"]["trace_id"]) == 32 for e in exemplars)


def _jaeger_search_params(target: dict[str, Any], variables: dict[str, str]) -> dict[str, str]:
    """The ``/api/traces`` parameters Grafana's Jaeger data source sends for a search
    query: the service, and the logfmt ``tags`` turned into a JSON object."""
    tags = {}
    for pair in shlex.split(expand(target["tags"], variables)):
        key, _, value = pair.partition("=")
        tags[key] = value
    return {
        "service": expand(target["service"], variables),
        "tags": json.dumps(tags),
        "limit": str(target.get("limit", 20)),
        "lookback": "1h",
    }


def test_request_lookup_jaeger_search_finds_the_request(
    loaded: dict[str, Any], jaeger: JaegerInstance
) -> None:
    queries = [t for _, _, t in panel_queries() if t["datasource"]["type"] == "jaeger"]
    assert queries
    variables = {"$request_id": loaded["request_id"], "$service": DASH_JOB}
    for target in queries:
        params = _jaeger_search_params(target, variables)
        assert json.loads(params["tags"]) == {"request.id": loaded["request_id"]}

        def traces(params: dict[str, str] = params) -> list[dict[str, Any]]:
            resp = httpx.get(f"{jaeger.url}/api/traces", params=params, timeout=10)
            assert resp.status_code == 200, (params, resp.text)
            found: list[dict[str, Any]] = resp.json().get("data") or []
            return found

        (trace,) = backends.wait_until(traces, 60, what=f"Jaeger search {params}")
        tags = {tag["key"]: tag["value"] for span in trace["spans"] for tag in span.get("tags", [])}
        assert tags["request.id"] == loaded["request_id"]
    # and a request ID nobody sent finds nothing
    params = _jaeger_search_params(queries[0], {**variables, "$request_id": "never-sent"})
    resp = httpx.get(f"{jaeger.url}/api/traces", params=params, timeout=10)
    assert resp.json().get("data") in (None, [])
