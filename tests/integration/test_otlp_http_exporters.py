"""Spans sent with the default exporter (OTLP/HTTP protobuf, no protocol variable set)
and with ``http/json`` reach the trace store through a real Collector.

The demo service (configure() with its defaults) answers one chat request with a chosen
request ID; its trace must be searchable in Jaeger with the server span and the priced
GenAI span, and the service must not have logged an export failure.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_llm import semconv
from otel_llm.store.base import SpanRecord, parse_otlp_json
from otel_llm.store.jaeger import JaegerStore
from tests.integration import backends
from tests.integration.backends import (
    CollectorInstance,
    JaegerInstance,
    ServiceProcess,
    chat,
    wait_until,
)

pytestmark = pytest.mark.integration

SEARCH_DEADLINE_S = 30.0  # as test_traces.py: request served -> trace searchable


@pytest.fixture(params=[None, "http/json"], ids=["default", "http-json"])
def service(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    mock_llm_service: ServiceProcess,
    otelcol: CollectorInstance,
) -> Iterator[ServiceProcess]:
    name = f"demo-exporter-{request.param or 'default'}".replace("/", "-")
    svc = backends.start_demo_app(
        tmp_path,
        llm_url=mock_llm_service.url,
        collector=otelcol,
        service_name=name,
        protocol=request.param,
    )
    try:
        yield svc
    finally:
        svc.stop()


def test_spans_reach_the_trace_store(service: ServiceProcess, jaeger: JaegerInstance) -> None:
    request_id = f"it-exporter-{uuid.uuid4().hex[:12]}"
    chat(service.url, request_id, prompt="Which exporter?", user="alice")
    store = JaegerStore(jaeger.url)
    (trace_id,) = wait_until(
        lambda: store.find_trace_ids(request_id),
        SEARCH_DEADLINE_S,
        interval=0.1,
        what=f"trace of {request_id} searchable in Jaeger",
    )

    def complete() -> list[SpanRecord] | None:
        spans = parse_otlp_json(store.get_trace(trace_id))
        genai = [s for s in spans if semconv.is_genai_span(s.attributes)]
        if any(s.kind == "SERVER" for s in spans) and genai:
            return spans
        return None

    spans: list[SpanRecord] = wait_until(complete, 15, what="complete trace")
    assert {s.service for s in spans} == {service.service_name}
    assert all(s.request_id == request_id for s in spans)
    (genai,) = [s for s in spans if semconv.is_genai_span(s.attributes)]
    assert genai.name == "chat gpt-4o-mini"
    assert genai.attributes[semconv.GEN_AI_USAGE_COST_AMOUNT] > 0
    # the IDs went over the wire as OTLP requires (hex in JSON, bytes in protobuf)
    assert len(trace_id) == 32 and genai.trace_id == trace_id
    log = service.process.log_path.read_text(errors="replace")
    assert "span export to" not in log, log[-2000:]
