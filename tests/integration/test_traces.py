"""The trace path end to end: demo service -> Collector -> Jaeger -> JaegerStore / CLI.

The request ID chosen by the client must find exactly its trace by the ``request.id``
tag, the trace must hold the HTTP server span and the GenAI client span with tokens and
cost, the collector must have stripped credentials, and ``otel-llm trace --jaeger`` must
print it.  It also measures request served -> trace searchable (printed with ``-s``).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest

from otel_llm import semconv
from otel_llm.store.base import SpanRecord, parse_otlp_json
from otel_llm.store.jaeger import JaegerError, JaegerStore
from tests.integration import backends
from tests.integration.backends import (
    CollectorInstance,
    JaegerInstance,
    ServiceProcess,
    chat,
    run_cli,
    wait_until,
)

pytestmark = pytest.mark.integration

# Upper bound for "request served -> trace searchable": 0.2 s SDK batch delay + 0.2 s
# collector batch (Jaeger stores before it acknowledges), with room for a loaded CI machine.
SEARCH_DEADLINE_S = 30.0
FRESHNESS_RUNS = 20


def _genai_span(spans: list[SpanRecord]) -> SpanRecord:
    found = [s for s in spans if semconv.is_genai_span(s.attributes)]
    assert len(found) == 1, [(s.name, s.kind) for s in spans]
    return found[0]


def test_request_id_finds_its_trace_with_server_and_genai_spans(
    demo_app: ServiceProcess, jaeger: JaegerInstance
) -> None:
    request_id = f"it-trace-{uuid.uuid4().hex[:12]}"
    served = time.monotonic()
    resp = chat(demo_app.url, request_id, prompt="Tell me about tracing.", user="alice")
    served = time.monotonic()
    assert resp.headers["X-Request-ID"] == request_id
    body = resp.json()

    store = JaegerStore(jaeger.url)
    trace_ids = wait_until(
        lambda: store.find_trace_ids(request_id),
        SEARCH_DEADLINE_S,
        interval=0.1,
        what=f"trace of {request_id} searchable in Jaeger",
    )
    search_s = time.monotonic() - served
    print(f"freshness: request served -> trace searchable in Jaeger: {search_s:.3f} s")
    assert len(trace_ids) == 1
    trace_id = trace_ids[0]
    assert len(trace_id) == 32

    # The trace may still be receiving its last spans when search first sees it.
    def complete() -> list[SpanRecord] | None:
        spans = parse_otlp_json(store.get_trace(trace_id))
        kinds = {s.kind for s in spans}
        genai = [s for s in spans if semconv.is_genai_span(s.attributes)]
        if (
            "SERVER" in kinds
            and genai
            and genai[0].attributes.get(semconv.GEN_AI_USAGE_COST_AMOUNT)
        ):
            return spans
        return None

    spans: list[SpanRecord] = wait_until(complete, 15, what="complete trace")
    assert {s.trace_id for s in spans} == {trace_id}
    # every span of the trace carries the request ID (contract)
    assert all(s.request_id == request_id for s in spans), [(s.name, s.request_id) for s in spans]
    assert all(s.service == demo_app.service_name for s in spans)

    server = [s for s in spans if s.kind == "SERVER"]
    assert server, [s.name for s in spans]
    assert any("/chat" in s.name for s in server), [s.name for s in server]

    genai = _genai_span(spans)
    attrs = genai.attributes
    assert genai.kind == "CLIENT"
    assert genai.name == "chat gpt-4o-mini"
    assert attrs[semconv.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
    inp = semconv.int_attr(attrs, semconv.INPUT_TOKEN_KEYS)
    out = semconv.int_attr(attrs, semconv.OUTPUT_TOKEN_KEYS)
    assert inp == body["input_tokens"] and inp is not None and inp > 0
    assert out == body["output_tokens"] and out is not None and out > 0
    cost = attrs[semconv.GEN_AI_USAGE_COST_AMOUNT]
    assert isinstance(cost, float) and cost > 0
    assert attrs[semconv.GEN_AI_USAGE_COST_CURRENCY] == "USD"
    assert attrs[semconv.GEN_AI_USAGE_COST_SOURCE] == "local"
    # the GenAI span sits inside the server span's trace tree
    by_id = {s.span_id: s for s in spans}
    parent = genai.parent_span_id
    ancestors = []
    while parent in by_id:
        ancestors.append(by_id[parent])
        parent = by_id[parent].parent_span_id
    assert any(a.kind == "SERVER" for a in ancestors)


def test_freshness_request_served_to_searchable(
    demo_app: ServiceProcess, jaeger: JaegerInstance
) -> None:
    """Request served -> its trace found by request ID in Jaeger, over FRESHNESS_RUNS
    sequential requests (printed with ``-s``).  The path: the SDK's batch delay (200 ms
    here, OTEL_BSP_SCHEDULE_DELAY), the Collector's batch timeout (200 ms), then Jaeger
    stores before it acknowledges; polled every 10 ms."""
    store = JaegerStore(jaeger.url)
    seconds: list[float] = []
    for i in range(FRESHNESS_RUNS):
        request_id = f"it-fresh-{i}-{uuid.uuid4().hex[:8]}"
        chat(demo_app.url, request_id, user="erin")
        served = time.monotonic()
        wait_until(
            lambda rid=request_id: store.find_trace_ids(rid),
            SEARCH_DEADLINE_S,
            interval=0.01,
            what=f"trace of {request_id} searchable",
        )
        seconds.append(time.monotonic() - served)
    seconds.sort()
    p50 = seconds[len(seconds) // 2]
    p95 = seconds[min(len(seconds) - 1, round(0.95 * (len(seconds) - 1)))]
    print(
        f"freshness over {len(seconds)} requests, served -> searchable in Jaeger: "
        f"min {seconds[0]:.3f} s, p50 {p50:.3f} s, p95 {p95:.3f} s, max {seconds[-1]:.3f} s"
    )
    assert len(seconds) == FRESHNESS_RUNS


def test_unknown_request_id_finds_nothing(jaeger: JaegerInstance) -> None:
    assert JaegerStore(jaeger.url).find_trace_ids(f"never-sent-{uuid.uuid4().hex}") == []


def test_trace_cli_prints_the_trace_from_jaeger(
    demo_app: ServiceProcess, jaeger: JaegerInstance
) -> None:
    request_id = f"it-cli-{uuid.uuid4().hex[:12]}"
    chat(demo_app.url, request_id, model="gpt-4o", user="bob")
    store = JaegerStore(jaeger.url)
    wait_until(lambda: store.find_trace_ids(request_id), SEARCH_DEADLINE_S, what="searchable")

    def cli_json() -> list[dict[str, Any]] | None:
        proc = run_cli("trace", request_id, "--jaeger", jaeger.url, "--json")
        assert proc.returncode == 0, proc.stderr
        traces: list[dict[str, Any]] = json.loads(proc.stdout)
        names = [s["name"] for t in traces for s in t["spans"]]
        return traces if "chat gpt-4o" in names else None

    traces = wait_until(cli_json, 20, interval=0.5, what="trace with its GenAI span via the CLI")
    assert len(traces) == 1
    genai = next(s for s in traces[0]["spans"] if s["name"] == "chat gpt-4o")
    assert genai["attributes"][semconv.REQUEST_ID] == request_id
    assert genai["attributes"][semconv.GEN_AI_USAGE_COST_AMOUNT] > 0

    # the human-readable tree names the request, the model and the cost
    proc = run_cli(
        "trace", request_id, "--jaeger", jaeger.url, env={"COLUMNS": "200", "NO_COLOR": "1"}
    )
    assert proc.returncode == 0, proc.stderr
    assert request_id in proc.stdout
    assert "chat gpt-4o" in proc.stdout


def test_collector_strips_credentials_before_the_store(
    otelcol: CollectorInstance, jaeger: JaegerInstance
) -> None:
    """Spans sent straight to the collector lose secret attributes; token counts stay."""
    request_id = f"it-redact-{uuid.uuid4().hex[:12]}"
    trace_id = uuid.uuid4().hex
    now = time.time_ns()

    def kv(key: str, value: Any) -> dict[str, Any]:
        if isinstance(value, list):
            return {
                "key": key,
                "value": {"arrayValue": {"values": [{"stringValue": v} for v in value]}},
            }
        if isinstance(value, int):
            return {"key": key, "value": {"intValue": str(value)}}
        return {"key": key, "value": {"stringValue": value}}

    secret = "sk-proj-" + "A1b2C3d4" * 4
    attrs = [
        kv(semconv.REQUEST_ID, request_id),
        kv("http.request.header.authorization", [f"Bearer {secret}"]),
        kv("http.request.header.x-api-key", ["k-123456"]),
        kv("http.request.header.cookie", ["session=abc"]),
        kv("openai.api_key", secret),
        kv("db.password", "hunter2"),
        kv("note", f"retried with Authorization: Bearer {secret} ok"),
        kv("url.full", "https://llm.invalid/v1/models?api_key=s3cr3t&page=2"),
        kv(semconv.GEN_AI_USAGE_INPUT_TOKENS, 12),
        kv(semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, 3),
        kv(semconv.GEN_AI_REQUEST_MODEL, "gpt-4o-mini"),
    ]
    doc = {
        "resourceSpans": [
            {
                "resource": {"attributes": [kv("service.name", "redaction-check")]},
                "scopeSpans": [
                    {
                        "scope": {"name": "it"},
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": uuid.uuid4().hex[:16],
                                "name": "chat gpt-4o-mini",
                                "kind": 3,
                                "startTimeUnixNano": str(now - 1_000_000),
                                "endTimeUnixNano": str(now),
                                "attributes": attrs,
                            }
                        ],
                    }
                ],
            }
        ]
    }
    resp = httpx.post(f"{otelcol.otlp_http}/v1/traces", json=doc, timeout=10)
    assert resp.status_code == 200, resp.text
    store = JaegerStore(jaeger.url)
    assert wait_until(lambda: store.find_trace_ids(request_id), SEARCH_DEADLINE_S) == [trace_id]
    (span,) = parse_otlp_json(store.get_trace(trace_id))
    stored = span.attributes
    for key in (
        "http.request.header.authorization",
        "http.request.header.x-api-key",
        "http.request.header.cookie",
        "openai.api_key",
        "db.password",
    ):
        assert key not in stored
    flat = json.dumps(stored)
    assert secret not in flat and "s3cr3t" not in flat
    assert stored["note"] == "retried with Authorization: Bearer [REDACTED] ok"
    assert stored["url.full"] == "https://llm.invalid/v1/models?api_key=[REDACTED]&page=2"
    assert stored[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 12
    assert stored[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 3
    assert stored[semconv.REQUEST_ID] == request_id


def test_get_trace_of_unknown_id_is_a_clear_error(jaeger: JaegerInstance) -> None:
    with pytest.raises(JaegerError, match="not found"):
        JaegerStore(jaeger.url).get_trace(uuid.uuid4().hex)
    with pytest.raises(JaegerError, match="cannot reach"):
        JaegerStore(f"http://127.0.0.1:{backends.free_port()}", timeout=1).get_trace(
            uuid.uuid4().hex
        )
