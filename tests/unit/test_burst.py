"""A burst from many threads into a small export queue: every span the exporter does not
get is in otel_llm_spans_dropped_total, exactly, and the SDK's per-span warning is logged
once rather than once per span."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from otel_llm.config import Settings
from otel_llm.metrics import GenAIMetrics
from otel_llm.processor import GenAISpanProcessor


class SlowExporter(SpanExporter):
    """Takes its time per batch, so a burst overflows the queue; counts what it got."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.received = 0
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        time.sleep(self.delay)
        with self._lock:
            self.received += len(spans)
        return SpanExportResult.SUCCESS


def dropped(metrics: GenAIMetrics) -> dict[str, float]:
    out: dict[str, float] = {}
    for sample in metrics.metric("spans_dropped").samples:
        if sample.name.endswith("_total"):
            out[sample.labels["reason"]] = sample.value
    return out


@pytest.mark.parametrize(
    ("delay", "shutdown_timeout"),
    [(0.002, 30_000), (0.05, 10)],  # the second leaves spans in the queue at shutdown
)
def test_burst_drops_are_counted_exactly(
    delay: float, shutdown_timeout: int, caplog: pytest.LogCaptureFixture
) -> None:
    exporter = SlowExporter(delay=delay)
    batch = BatchSpanProcessor(
        exporter, max_queue_size=16, max_export_batch_size=8, schedule_delay_millis=1
    )
    metrics = GenAIMetrics(Settings())
    processor = GenAISpanProcessor(Settings(), metrics=metrics, downstream=batch)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("burst")
    threads, per_thread = 8, 400
    start = threading.Barrier(threads)

    def burst() -> None:
        start.wait()
        for i in range(per_thread):
            span = tracer.start_span("chat gpt-4o-mini")
            span.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.usage.input_tokens": i,
                    "gen_ai.usage.output_tokens": 1,
                }
            )
            span.end()

    with caplog.at_level(logging.WARNING, logger="opentelemetry.sdk._shared_internal"):
        workers = [threading.Thread(target=burst) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        batch._batch_processor.shutdown(timeout_millis=shutdown_timeout)
        provider.shutdown()  # -> GenAISpanProcessor.shutdown: counts what is left queued
        batch._batch_processor._worker_thread.join(5)  # an export still under way ends

    created = threads * per_thread
    counted = dropped(metrics)
    assert counted.get("queue_full", 0) > 0, counted  # the burst did overflow the queue
    assert exporter.received > 0
    assert sum(counted.values()) == created - exporter.received, (counted, exporter.received)
    queue_full_lines = [r for r in caplog.records if r.getMessage().startswith("Queue full")]
    assert len(queue_full_lines) <= 1
    if shutdown_timeout < 100:
        assert counted.get("shutdown", 0) > 0, counted


class StuckExporter(SpanExporter):
    """An exporter retrying a dead endpoint: ``export`` blocks until ``finish`` lets it
    return ``outcome``; its shutdown does not interrupt it (a request in mid-flight)."""

    def __init__(self, outcome: SpanExportResult) -> None:
        self.outcome = outcome
        self.entered = threading.Event()
        self.finish = threading.Event()
        self.calls = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.calls += 1
        self.entered.set()
        self.finish.wait(30)
        return self.outcome

    def shutdown(self) -> None:
        pass


@pytest.mark.parametrize("outcome", [SpanExportResult.FAILURE, SpanExportResult.SUCCESS])
def test_a_batch_still_in_export_at_shutdown_is_counted_once(
    outcome: SpanExportResult, caplog: pytest.LogCaptureFixture
) -> None:
    from otel_llm.setup import ReportingExporter

    metrics = GenAIMetrics(Settings())
    stuck = StuckExporter(outcome)
    reporting = ReportingExporter(stuck, metrics, "OTLP http://127.0.0.1:9")
    batch = BatchSpanProcessor(
        reporting, max_queue_size=64, max_export_batch_size=8, schedule_delay_millis=1
    )
    processor = GenAISpanProcessor(Settings(), metrics=metrics, downstream=batch)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("burst")
    created = 40
    for _ in range(created):
        tracer.start_span("chat gpt-4o-mini").end()
    assert stuck.entered.wait(5)  # the worker is inside export() with the first batch

    # the process is about to exit: shutdown gives up on the worker after its timeout
    batch._batch_processor.shutdown(timeout_millis=50)
    provider.shutdown()
    right_after = dropped(metrics)
    # what a process exiting now reports: every span, the one in export included
    assert right_after == {"shutdown": created}, right_after
    assert any("still under way at shutdown, 8 spans" in r.getMessage() for r in caplog.records)

    # the process lives on and the export ends after all: not counted a second time
    stuck.finish.set()
    batch._batch_processor._worker_thread.join(5)
    assert not batch._batch_processor._worker_thread.is_alive()
    assert stuck.calls == 1
    assert dropped(metrics) == right_after
    late = [r for r in caplog.records if "sent after all" in r.getMessage()]
    assert len(late) == (1 if outcome is SpanExportResult.SUCCESS else 0)
