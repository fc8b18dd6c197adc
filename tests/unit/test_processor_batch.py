"""GenAISpanProcessor.defer_measurement: GenAI spans priced and measured in batches, with
the same exported attributes and metrics as one by one, before any export or scrape."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import generate_latest

from otel_llm.config import Settings
from otel_llm.metrics import GenAIMetrics
from otel_llm.processor import MEASURE_BATCH, GenAISpanProcessor
from otel_llm.setup import ReportingExporter

USAGE = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
    "gen_ai.usage.input_tokens": 1200,
    "gen_ai.usage.output_tokens": 300,
}


class Pipeline:
    """What configure() builds: batch processor, reporting exporter, drain hooks."""

    def __init__(self, *, deferred: bool, delay_ms: int = 3_600_000) -> None:
        self.settings = Settings(attribution_labels=("user",), user_hash_key="k")
        self.metrics = GenAIMetrics(self.settings)
        self.exporter = InMemorySpanExporter()
        reporting = ReportingExporter(self.exporter, self.metrics, "memory")
        self.processor = GenAISpanProcessor(
            self.settings,
            metrics=self.metrics,
            downstream=BatchSpanProcessor(reporting, schedule_delay_millis=delay_ms),
        )
        if deferred:
            reporting.before_export = self.processor.drain
            self.processor.defer_measurement()
        self.provider = TracerProvider()
        self.provider.add_span_processor(self.processor)
        self.tracer = self.provider.get_tracer("test")

    def calls(self, n: int, **extra: Any) -> None:
        for i in range(n):
            start = 1_700_000_000_000_000_000 + i * 10**9  # fixed times: equal durations
            span = self.tracer.start_span(
                "chat gpt-4o-mini",
                kind=SpanKind.CLIENT,
                attributes={**USAGE, **extra},
                start_time=start,
            )
            if i % 7 == 3:
                span.set_status(Status(StatusCode.ERROR))
                span.set_attribute("error.type", "RateLimitError")
            span.end(end_time=start + (i % 5 + 1) * 300_000_000)
            self.tracer.start_span("GET /health").end()  # a span that is not measured

    def exported(self) -> list[tuple[str, dict[str, Any]]]:
        self.processor.force_flush()
        return [(s.name, dict(s.attributes or {})) for s in self.exporter.get_finished_spans()]

    def exposition(self) -> list[str]:
        # every value; not when a series was created, which differs between two pipelines
        text = generate_latest(self.metrics.registry).decode()
        return sorted(
            line
            for line in text.splitlines()
            if not line.startswith("#") and "_created" not in line
        )


def counted(pipeline: Pipeline) -> float:
    """Calls in the duration histogram, every series (a collection: it drains first)."""
    return sum(
        sample.value
        for family in pipeline.metrics.registry.collect()
        if family.name == "gen_ai_client_operation_duration_seconds"
        for sample in family.samples
        if sample.name.endswith("_count")
    )


@pytest.mark.parametrize("n", [1, MEASURE_BATCH - 1, MEASURE_BATCH, MEASURE_BATCH + 1, 200])
def test_batched_measurement_exports_and_exposes_what_one_by_one_does(n: int) -> None:
    one_by_one, batched = Pipeline(deferred=False), Pipeline(deferred=True)
    for pipeline in (one_by_one, batched):
        pipeline.calls(n)
    assert batched.processor._deferred and not one_by_one.processor._deferred
    # a scrape before any export or flush already counts every call
    assert batched.exposition() == one_by_one.exposition()
    exported = batched.exported()
    assert exported == one_by_one.exported()
    costs = [
        a.get("gen_ai.usage.cost.amount") for _, a in exported if "gen_ai.usage.input_tokens" in a
    ]
    assert len(costs) == n and all(c is not None and c > 0 for c in costs)


def test_a_scrape_counts_calls_that_have_not_reached_a_batch() -> None:
    pipeline = Pipeline(deferred=True)
    pipeline.calls(3)
    assert len(pipeline.processor._pending) == 3  # below MEASURE_BATCH: still waiting
    assert counted(pipeline) == 3
    assert not pipeline.processor._pending


def test_the_batch_thread_prices_spans_before_it_exports_them() -> None:
    # the export thread's own timer: the spans leave while fewer than a batch are waiting
    pipeline = Pipeline(deferred=True, delay_ms=50)
    pipeline.calls(5)
    deadline = time.monotonic() + 5
    while len(pipeline.exporter.get_finished_spans()) < 10 and time.monotonic() < deadline:
        time.sleep(0.02)
    spans = pipeline.exporter.get_finished_spans()
    genai = [s for s in spans if s.name.startswith("chat")]
    assert len(genai) == 5
    assert all("gen_ai.usage.cost.amount" in (s.attributes or {}) for s in genai)


def test_many_threads_every_span_priced_and_counted_once() -> None:
    pipeline = Pipeline(deferred=True, delay_ms=5)
    threads = [threading.Thread(target=pipeline.calls, args=(150,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    exported = pipeline.exported()
    genai = [a for name, a in exported if name.startswith("chat")]
    assert len(genai) == 1200
    assert all("gen_ai.usage.cost.amount" in a for a in genai)
    assert counted(pipeline) == 1200


def test_a_failing_measurement_is_counted_and_the_span_still_exported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipeline = Pipeline(deferred=True)

    def broken(span: ReadableSpan, attrs: dict[str, Any]) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(pipeline.processor, "_measure", broken)
    pipeline.calls(2)
    assert [name for name, _ in pipeline.exported()].count("chat gpt-4o-mini") == 2
    errors = pipeline.metrics.registry.get_sample_value(
        "otel_llm_processor_errors_total", {"hook": "on_end", "error_type": "RuntimeError"}
    )
    assert errors == 2


def test_without_a_batch_processor_downstream_spans_are_measured_as_they_end() -> None:
    metrics = GenAIMetrics(Settings())
    exporter = InMemorySpanExporter()

    class Direct:  # a downstream without the SDK batch queue
        def on_start(self, span: Any, parent_context: Any = None) -> None: ...

        def on_end(self, span: ReadableSpan) -> None:
            exporter.export([span])

        def shutdown(self) -> None: ...

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return True

    processor = GenAISpanProcessor(Settings(), metrics=metrics, downstream=Direct())  # type: ignore[arg-type]
    processor.defer_measurement()
    assert not processor._deferred
    provider = TracerProvider()
    provider.add_span_processor(processor)
    provider.get_tracer("t").start_span("chat", attributes=USAGE).end()
    (span,) = exporter.get_finished_spans()
    assert "gen_ai.usage.cost.amount" in (span.attributes or {})
