"""The metrics path end to end: demo service /metrics -> Prometheus (scrape, OpenMetrics
with exemplars) -> PromQL / PrometheusStore / ``otel-llm report --prometheus``.

Also: exemplar trace IDs resolve in the trace store (Jaeger), the queried p95 lands in the
same bucket as the exact p95 of the latencies sent, the collector's own telemetry is
scraped, and OTLP metrics pushed to the collector come out of its prometheus exporter.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from typing import Any

import httpx
import pytest

from otel_llm import semconv
from otel_llm.store.base import SpanRecord, parse_otlp_json
from otel_llm.store.jaeger import JaegerStore
from otel_llm.store.prometheus import PrometheusError, PrometheusStore
from tests.integration.backends import (
    CollectorInstance,
    JaegerInstance,
    PrometheusInstance,
    ServiceProcess,
    chat,
    run_cli,
    wait_until,
)
from tests.integration.conftest import DEMO_JOB

pytestmark = pytest.mark.integration

# A model no other integration test calls, so its series hold only this module's calls.
P95_MODEL = "gpt-4.1-mini"
P95_CALLS = 40
DURATION = semconv.METRIC_DURATION


@pytest.fixture(scope="module")
def p95_traffic(
    demo_app: ServiceProcess, prometheus: PrometheusInstance, jaeger: JaegerInstance
) -> dict[str, Any]:
    """P95_CALLS calls of P95_MODEL; their GenAI spans read back from Jaeger."""
    prometheus.wait_for_target(DEMO_JOB)
    request_ids = [f"it-p95-{i}-{uuid.uuid4().hex[:8]}" for i in range(P95_CALLS)]
    users = ["alice", "bob"]
    for i, rid in enumerate(request_ids):
        chat(demo_app.url, rid, model=P95_MODEL, prompt=f"Count to {i % 7}.", user=users[i % 2])
    store = JaegerStore(jaeger.url)
    spans: list[SpanRecord] = []

    def genai_spans(rid: str) -> list[SpanRecord]:
        # Jaeger finds a trace by its first stored span; the GenAI span may be in a later batch
        ids = store.find_trace_ids(rid)
        if not ids:
            return []
        trace = parse_otlp_json(store.get_trace(ids[0]))
        return [s for s in trace if semconv.is_genai_span(s.attributes)]

    for rid in request_ids:
        spans.extend(wait_until(lambda rid=rid: genai_spans(rid), 30, what=f"GenAI span of {rid}"))
    assert len(spans) == P95_CALLS
    return {"request_ids": request_ids, "spans": spans}


def _bucket_index(value: float) -> int:
    """Index of the contract bucket (upper bounds, ``le`` inclusive) holding ``value``."""
    for i, upper in enumerate(semconv.DURATION_BUCKETS):
        if value <= upper:
            return i
    return len(semconv.DURATION_BUCKETS)


def _series(store: PrometheusStore, selector: str) -> list[dict[str, str]]:
    return [item["metric"] for item in store.query(selector)]


def test_contract_metrics_reach_prometheus_with_their_labels(
    p95_traffic: dict[str, Any], prometheus: PrometheusInstance, demo_app: ServiceProcess
) -> None:
    store = prometheus.store()
    sel = f'job="{DEMO_JOB}",gen_ai_request_model="{P95_MODEL}"'

    def counted() -> bool:
        got = store.query(f"sum({DURATION}_count{{{sel}}})")
        return bool(got) and float(got[0]["value"][1]) >= P95_CALLS

    wait_until(counted, 30, what="all calls counted in Prometheus")

    buckets = _series(store, f"{DURATION}_bucket{{{sel}}}")
    les = sorted({float(m["le"]) for m in buckets})
    assert les == sorted([*semconv.DURATION_BUCKETS, math.inf])
    for m in buckets:
        assert m["gen_ai_operation_name"] == "chat"
        assert m["gen_ai_provider_name"] == "openai"
        assert m["gen_ai_response_model"].startswith(P95_MODEL)
        assert "error_type" not in m  # successful calls carry no error type

    tokens = _series(store, f"{semconv.METRIC_TOKEN_USAGE}_count{{{sel}}}")
    assert {m["gen_ai_token_type"] for m in tokens} >= {"input", "output"}
    token_les = {
        float(m["le"]) for m in _series(store, f"{semconv.METRIC_TOKEN_USAGE}_bucket{{{sel}}}")
    }
    assert token_les == {*semconv.TOKEN_BUCKETS, math.inf}

    cost = _series(store, f"{semconv.METRIC_COST}{{{sel}}}")
    assert {m["user"] for m in cost} == {"alice", "bob"}  # OTEL_LLM_ATTRIBUTION_LABELS=user
    for m in cost:
        assert set(m) == {
            "__name__",
            "job",
            "instance",
            "gen_ai_operation_name",
            "gen_ai_provider_name",
            "gen_ai_request_model",
            "user",
        }

    # no label anywhere carries a request ID or trace ID
    request_ids = set(p95_traffic["request_ids"])
    trace_ids = {s.trace_id for s in p95_traffic["spans"]}
    for item in store.query(f'{{job="{DEMO_JOB}"}}'):
        values = set(item["metric"].values())
        assert not values & request_ids and not values & trace_ids, item["metric"]

    # the cost counter equals the sum of the span cost attributes (no loss, no double count)
    span_cost = sum(s.attributes[semconv.GEN_AI_USAGE_COST_AMOUNT] for s in p95_traffic["spans"])
    (total,) = store.query(f"sum({semconv.METRIC_COST}{{{sel}}})")
    assert float(total["value"][1]) == pytest.approx(span_cost, rel=1e-9)


def test_streaming_call_records_time_to_first_chunk(
    demo_app: ServiceProcess, prometheus: PrometheusInstance
) -> None:
    prometheus.wait_for_target(DEMO_JOB)
    chat(demo_app.url, f"it-stream-{uuid.uuid4().hex[:8]}", model="gpt-4o", stream=True)
    store = prometheus.store()
    got = wait_until(
        lambda: store.query(f'{semconv.METRIC_TTFC}_count{{job="{DEMO_JOB}"}}'),
        30,
        what="time-to-first-chunk histogram in Prometheus",
    )
    assert got[0]["metric"]["gen_ai_request_model"] == "gpt-4o"


def test_queried_p95_is_in_the_bucket_of_the_exact_p95(
    p95_traffic: dict[str, Any], prometheus: PrometheusInstance
) -> None:
    durations = sorted(s.duration_s for s in p95_traffic["spans"])
    # nearest-rank p95: the value histogram_quantile's bucket search lands on
    exact = durations[math.ceil(0.95 * len(durations)) - 1]
    store = prometheus.store()
    sel = f'job="{DEMO_JOB}",gen_ai_request_model="{P95_MODEL}"'
    wait_until(
        lambda: float(store.query(f"sum({DURATION}_count{{{sel}}})")[0]["value"][1]) >= P95_CALLS,
        30,
        what="all calls counted",
    )
    (item,) = store.query(f"histogram_quantile(0.95, sum by (le) ({DURATION}_bucket{{{sel}}}))")
    queried = float(item["value"][1])
    print(f"p95 exact {exact:.4f} s, histogram_quantile {queried:.4f} s")
    assert _bucket_index(queried) == _bucket_index(exact), (exact, queried, durations)
    # and the store's report agrees with the same windowed query at the same instant
    # (increase() over series born inside the window drops their first increment, so the
    # windowed figure can sit in a neighbouring bucket of the exact p95 near a boundary)
    at = time.time()
    rows = {r["model"]: r for r in store.usage_by_model("10m", at=at)}
    row = rows[P95_MODEL]
    assert row["provider"] == "openai"
    assert 0 < row["calls"] <= P95_CALLS * 1.5
    assert row["cost_usd"] > 0 and row["input_tokens"] > 0 and row["output_tokens"] > 0
    # the report aggregates every job's series of the model, as this query does
    model_sel = f'gen_ai_provider_name="openai",gen_ai_request_model="{P95_MODEL}"'
    (windowed,) = store.query(
        f"histogram_quantile(0.95, sum by (le) (increase({DURATION}_bucket{{{model_sel}}}[10m])))",
        at,
    )
    assert row["p95_latency_s"] == round(float(windowed["value"][1]), 4)
    assert abs(_bucket_index(row["p95_latency_s"]) - _bucket_index(exact)) <= 1


def test_exemplar_trace_ids_are_found_in_the_trace_store(
    p95_traffic: dict[str, Any], prometheus: PrometheusInstance, jaeger: JaegerInstance
) -> None:
    store = prometheus.store()
    now = time.time()

    def exemplars() -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for series in store.query_exemplars(
            f'{DURATION}_bucket{{job="{DEMO_JOB}",gen_ai_request_model="{P95_MODEL}"}}',
            now - 600,
            time.time() + 60,
        ):
            out.extend(series.get("exemplars") or [])
        return out

    found = wait_until(exemplars, 30, what="exemplars stored in Prometheus")
    trace_ids = {e["labels"]["trace_id"] for e in found}
    known = {s.trace_id for s in p95_traffic["spans"]}
    assert trace_ids and trace_ids <= known, trace_ids - known
    trace_store = JaegerStore(jaeger.url)
    for trace_id in sorted(trace_ids)[:5]:
        spans = parse_otlp_json(trace_store.get_trace(trace_id))
        assert any(semconv.is_genai_span(s.attributes) for s in spans)


def test_report_cli_reads_prometheus(
    p95_traffic: dict[str, Any], prometheus: PrometheusInstance
) -> None:
    proc = run_cli("report", "--prometheus", prometheus.url, "--since", "10m", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert P95_MODEL in {r["model"] for r in rows}
    with pytest.raises(ValueError, match="duration"):
        prometheus.store().usage_by_model("1h) or vector(1")
    with pytest.raises(PrometheusError):
        prometheus.store().query("sum(")


def test_freshness_request_served_to_metric_queryable(
    demo_app: ServiceProcess, prometheus: PrometheusInstance
) -> None:
    prometheus.wait_for_target(DEMO_JOB)
    store = prometheus.store()
    model = "gpt-4o"
    query = f'sum({DURATION}_count{{job="{DEMO_JOB}",gen_ai_request_model="{model}"}}) or vector(0)'

    def count() -> float:
        return float(store.query(query)[0]["value"][1])

    before = count()
    chat(demo_app.url, f"it-fresh-{uuid.uuid4().hex[:8]}", model=model)
    served = time.monotonic()
    wait_until(lambda: count() > before, 30, interval=0.05, what="new call visible in Prometheus")
    elapsed = time.monotonic() - served
    print(f"freshness: request served -> metric queryable in Prometheus: {elapsed:.2f} s")
    assert elapsed < 15  # scrape interval here is 1 s


def test_collector_self_telemetry_is_scraped(
    otelcol: CollectorInstance, prometheus: PrometheusInstance, p95_traffic: dict[str, Any]
) -> None:
    """The names the exporter-drop alerts use exist in Prometheus for our exporter."""
    prometheus.wait_for_target("otelcol")
    store = prometheus.store()
    sent = wait_until(
        lambda: store.query(
            '{__name__=~"otelcol_exporter_sent_spans(_total)?",exporter="otlp_grpc/traces"}'
        ),
        30,
        what="collector exporter metrics in Prometheus",
    )
    print("collector sent-spans series:", sorted({s["metric"]["__name__"] for s in sent}))
    assert float(sent[0]["value"][1]) >= P95_CALLS
    for name in ("otelcol_exporter_queue_size", "otelcol_exporter_queue_capacity"):
        (item,) = store.query(f'{name}{{exporter="otlp_grpc/traces"}}')
        assert item["metric"]["job"] == "otelcol"
    (cap,) = store.query('otelcol_exporter_queue_capacity{exporter="otlp_grpc/traces"}')
    assert float(cap["value"][1]) == 5000


def test_otlp_metrics_pushed_to_the_collector_reach_prometheus(
    otelcol: CollectorInstance, prometheus: PrometheusInstance
) -> None:
    value = 42.5
    now = time.time_ns()
    doc = {
        "resourceMetrics": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "probe"}}]
                },
                "scopeMetrics": [
                    {
                        "metrics": [
                            {
                                "name": "otel_llm_it_probe",
                                "gauge": {
                                    "dataPoints": [{"asDouble": value, "timeUnixNano": str(now)}]
                                },
                            }
                        ]
                    }
                ],
            }
        ]
    }
    resp = httpx.post(f"{otelcol.otlp_http}/v1/metrics", json=doc, timeout=10)
    assert resp.status_code == 200, resp.text
    store = prometheus.store()
    got = wait_until(
        lambda: store.query('otel_llm_it_probe{job="otelcol-exporter"}'),
        30,
        what="pushed OTLP metric in Prometheus",
    )
    assert float(got[0]["value"][1]) == value
