"""Bytes each finished GenAI span holds while it waits in the export queue.

A ``BatchSpanProcessor`` keeps up to 2048 finished spans until its exporter takes them.
This measures, with ``tracemalloc``, what one such span keeps alive once the live ``Span``
is gone: ``--spans`` chat spans with the attributes the OpenAI instrumentation and
otel-llm write (about 20, cost included), ended through a ``TracerProvider`` into a
keeping processor that stands for the queue, per configuration:

- ``sdk``: the SDK's own ``ReadableSpan`` queued as is (what any exporting pipeline holds);
- ``otel-llm``: ``GenAISpanProcessor`` in front of the queue, as ``configure()`` sets it up
  (the queued span is its copy with the cost attributes).

    uv run python bench/bench_queued_span.py [--spans 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tracemalloc
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.trace import SpanKind, Status, StatusCode

START = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.request.temperature": 0.2,
    "gen_ai.request.max_tokens": 256,
    "server.address": "api.openai.com",
    "server.port": 443,
}


def _end_attributes(i: int) -> dict[str, Any]:
    return {
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.response.id": f"chatcmpl-{i:024d}",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 1000 + i % 7,
        "gen_ai.usage.output_tokens": 200 + i % 11,
        "gen_ai.openai.response.service_tier": "default",
        "request.id": f"req-{i:012d}",
        "http.route": "/chat",
    }


class Keep(SpanProcessor):
    """The export queue, without an exporter: keeps every span it is handed."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.spans.append(span)


def measure(config: str, spans: int) -> float:
    keep = Keep()
    provider = TracerProvider()
    if config == "sdk":
        provider.add_span_processor(keep)
    else:
        from otel_llm.config import Settings
        from otel_llm.processor import GenAISpanProcessor

        provider.add_span_processor(GenAISpanProcessor(Settings(), downstream=keep))
    tracer = provider.get_tracer("bench")
    ends = [_end_attributes(i) for i in range(spans)]  # allocated before the measure
    for warm in ends[:50]:  # plans, caches, interned keys: once per process
        span = tracer.start_span("chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes=START)
        span.set_attributes(warm)
        span.end()
    keep.spans.clear()
    keep.spans = [None] * spans  # type: ignore[list-item]  # the queue's slots, preallocated
    keep.spans.clear()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for end in ends:
        span = tracer.start_span("chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes=START)
        span.set_attributes(end)
        span.set_status(Status(StatusCode.OK))
        span.end()
    del span
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(keep.spans) == spans
    return (after - before) / spans


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    results = {c: [measure(c, args.spans) for _ in range(args.repeat)] for c in ("sdk", "otel-llm")}
    base = statistics.median(results["sdk"])
    print(f"bytes per queued GenAI span, median of {args.repeat} x {args.spans} spans")
    for config, values in results.items():
        med = statistics.median(values)
        print(f"  {config:10s} {med:8.0f} B  ({med / base:.2f}x sdk)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
