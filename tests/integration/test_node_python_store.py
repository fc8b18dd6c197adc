"""Cross-language trace through the real backends: Node gateway -> Python demo -> Jaeger.

The example Node gateway (``node --import @otel-llm/node/register``) calls the Python demo
service; both call the mock LLM and both export OTLP to the session's Collector (Node over
OTLP/HTTP protobuf, Python over OTLP/gRPC), which forwards to Jaeger.  One request with a
chosen ``X-Request-ID`` must then be one stored trace holding both services' spans, each
carrying that ``request.id``, with a priced GenAI span from each side, and
``otel-llm trace --jaeger`` must print it as one tree naming both services.

Fails (never skips) when Node or ``node/node_modules`` is missing, like
``test_node_python.py``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_llm import semconv
from otel_llm.store.base import SpanRecord, parse_otlp_json
from otel_llm.store.jaeger import JaegerStore
from tests.integration import backends
from tests.integration.backends import (
    GATEWAY,
    NODE_DIR,
    CollectorInstance,
    JaegerInstance,
    ManagedProcess,
    ServiceProcess,
    free_port,
    http_ok,
    node_package_ready,
    run_cli,
    wait_until,
)
from tests.integration.test_node_python import ask_gateway

pytestmark = pytest.mark.integration

NODE_SERVICE = "gateway-node-store"
PYTHON_SERVICE = "demo-python-store"
# request served -> trace searchable and complete (see test_traces.py), with CI headroom
SEARCH_DEADLINE_S = 30.0


@pytest.fixture
def gateway(
    tmp_path: Path,
    mock_llm_service: ServiceProcess,
    otelcol: CollectorInstance,
) -> Iterator[str]:
    """The Python demo service and the Node gateway in front of it, both exporting to
    ``otelcol``; yields the gateway's URL and stops both afterwards."""
    node_package_ready()
    demo = backends.start_demo_app(
        tmp_path, llm_url=mock_llm_service.url, collector=otelcol, service_name=PYTHON_SERVICE
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    node = ManagedProcess(
        "gateway-node",
        ["node", "--import", "@otel-llm/node/register", str(GATEWAY)],
        log_path=tmp_path / "gateway-node.log",
        cwd=NODE_DIR,
        env={
            "OTEL_SERVICE_NAME": NODE_SERVICE,
            "OTEL_LLM_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": otelcol.otlp_http,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            # Test-only: export finished spans after 200 ms instead of 5 s.
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "PORT": str(port),
            "DEMO_URL": demo.url,
            "OPENAI_BASE_URL": f"{mock_llm_service.url}/v1",
        },
        ready=lambda: http_ok(f"{url}/healthz"),
        start_timeout=60,
    )
    try:
        node.start()
        yield url
    finally:
        node.stop()
        demo.stop()


def _priced_genai(spans: list[SpanRecord], service: str) -> list[SpanRecord]:
    return [
        s
        for s in spans
        if s.service == service
        and semconv.is_genai_span(s.attributes)
        and isinstance(s.attributes.get(semconv.GEN_AI_USAGE_COST_AMOUNT), float)
    ]


def test_gateway_and_demo_form_one_stored_trace(gateway: str, jaeger: JaegerInstance) -> None:
    request_id = f"it-node-py-{uuid.uuid4().hex[:12]}"
    answer = ask_gateway(gateway, request_id)
    assert answer["answer"] and answer["summary"]
    served = time.monotonic()

    store = JaegerStore(jaeger.url)

    # Search may see the trace before the last spans of the other service arrived.
    def complete() -> tuple[str, list[SpanRecord]] | None:
        ids = store.find_trace_ids(request_id)
        if len(ids) != 1:
            return None
        spans = parse_otlp_json(store.get_trace(ids[0]))
        if _priced_genai(spans, NODE_SERVICE) and _priced_genai(spans, PYTHON_SERVICE):
            return ids[0], spans
        return None

    trace_id, spans = wait_until(
        complete, SEARCH_DEADLINE_S, interval=0.2, what=f"complete trace of {request_id}"
    )
    print(
        f"request served -> two-service trace complete in Jaeger: {time.monotonic() - served:.3f} s"
    )
    assert store.find_trace_ids(request_id) == [trace_id]
    assert {s.trace_id for s in spans} == {trace_id}
    assert {s.service for s in spans} == {NODE_SERVICE, PYTHON_SERVICE}
    assert all(s.request_id == request_id for s in spans), [
        (s.service, s.name, s.request_id) for s in spans
    ]

    # one tree: a single root, the gateway's server span; the Python side hangs below it
    ids = {s.span_id for s in spans}
    roots = [s for s in spans if s.parent_span_id not in ids]
    assert [(r.service, r.kind) for r in roots] == [(NODE_SERVICE, "SERVER")]
    by_id = {s.span_id: s for s in spans}
    python_entries = [
        s
        for s in spans
        if s.service == PYTHON_SERVICE
        and s.parent_span_id in by_id
        and by_id[s.parent_span_id].service == NODE_SERVICE
    ]
    assert python_entries and all(s.kind == "SERVER" for s in python_entries)

    for service in (NODE_SERVICE, PYTHON_SERVICE):
        for span in _priced_genai(spans, service):
            attrs = span.attributes
            assert span.name == "chat gpt-4o-mini"
            assert attrs[semconv.GEN_AI_USAGE_COST_AMOUNT] > 0
            assert attrs[semconv.GEN_AI_USAGE_COST_CURRENCY] == "USD"
            assert attrs[semconv.GEN_AI_USAGE_COST_SOURCE] == "local"
            tokens = semconv.int_attr(attrs, semconv.INPUT_TOKEN_KEYS)
            assert tokens is not None and tokens > 0

    proc = run_cli(
        "trace", request_id, "--jaeger", jaeger.url, env={"COLUMNS": "200", "NO_COLOR": "1"}
    )
    assert proc.returncode == 0, proc.stderr
    headers = [line for line in proc.stdout.splitlines() if line.startswith("trace ")]
    assert headers == [f"trace {trace_id}  request.id={request_id}"], proc.stdout
    assert NODE_SERVICE in proc.stdout and PYTHON_SERVICE in proc.stdout, proc.stdout
