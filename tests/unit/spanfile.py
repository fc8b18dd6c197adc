"""Helpers that write real OTLP JSON span files with the SDK's own file exporter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from opentelemetry.exporter.otlp.json.file import FileSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode


def genai_attrs(
    model: str,
    *,
    request_id: str,
    input_tokens: int = 100,
    output_tokens: int = 20,
    cost: float | None = 0.001,
    user: str = "alice",
    provider: str = "openai",
    cache_read: int = 0,
    reasoning: int = 0,
) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        "gen_ai.response.model": model,
        "gen_ai.usage.input_tokens": input_tokens,
        "gen_ai.usage.output_tokens": output_tokens,
        "request.id": request_id,
        "user.id": user,
        "gen_ai.conversation.id": f"{user}-session",
    }
    if cache_read:
        attrs["gen_ai.usage.cache_read.input_tokens"] = cache_read
    if reasoning:
        attrs["gen_ai.usage.reasoning.output_tokens"] = reasoning
    if cost is None:
        attrs["otel_llm.cost.unpriced"] = True
    else:
        attrs["gen_ai.usage.cost.amount"] = cost
        attrs["gen_ai.usage.cost.currency"] = "USD"
        attrs["gen_ai.usage.cost.source"] = "local"
    return attrs


def write_trace(
    path: Path,
    request_id: str,
    calls: list[dict[str, Any]],
    *,
    service: str = "svc",
    error: bool = False,
    durations_s: list[float] | None = None,
) -> str:
    """One server span with one child GenAI span per call; returns the trace ID (hex)."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(FileSpanExporter(str(path))))
    tracer = provider.get_tracer("test")
    start = 1_700_000_000_000_000_000
    with tracer.start_as_current_span(
        "POST /chat",
        kind=SpanKind.SERVER,
        attributes={"request.id": request_id, "http.route": "/chat"},
        start_time=start,
        end_on_exit=False,
    ) as server:
        trace_id = format(server.get_span_context().trace_id, "032x")
        t = start
        for i, attrs in enumerate(calls):
            d = int((durations_s[i] if durations_s else 0.5) * 1e9)
            span = tracer.start_span(
                f"chat {attrs['gen_ai.request.model']}",
                kind=SpanKind.CLIENT,
                attributes=attrs,
                start_time=t,
            )
            if error:
                span.set_status(Status(StatusCode.ERROR))
                span.set_attribute("error.type", "RateLimitError")
            span.end(end_time=t + d)
            t += d
        server.end(end_time=t + 1000)
    provider.shutdown()
    return trace_id
