"""GenAISpanProcessor: stamping at start, cost and metrics at end, never raising."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from prometheus_client import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.parser import text_string_to_metric_families

from otel_llm import semconv
from otel_llm.config import Settings
from otel_llm.context import RequestState, request_state
from otel_llm.metrics import GenAIMetrics
from otel_llm.pricing import PriceBook, Usage
from otel_llm.processor import GenAISpanProcessor, RecordingSampler

CHAT = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
}


class Pipeline:
    def __init__(self, settings: Settings, sampler: Any = ALWAYS_ON, **kwargs: Any) -> None:
        self.exporter = InMemorySpanExporter()
        self.processor = GenAISpanProcessor(
            settings, downstream=SimpleSpanProcessor(self.exporter), **kwargs
        )
        self.provider = TracerProvider(sampler=sampler)
        self.provider.add_span_processor(self.processor)
        self.tracer = self.provider.get_tracer("test")

    def span(self, name: str = "chat gpt-4o-mini", attributes: dict | None = None, **usage: Any):
        with self.tracer.start_as_current_span(
            name, kind=SpanKind.CLIENT, attributes=attributes
        ) as span:
            for key, value in usage.items():
                span.set_attribute(key, value)
        return span

    def exported(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def samples(self) -> dict[tuple[str, tuple], float]:
        text = generate_latest(self.processor.metrics.registry).decode()
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text)
            for s in fam.samples
            if not s.name.endswith("_created")
        }

    def value(self, name: str, **labels: str) -> float | None:
        want = set(labels.items())
        found = [v for (n, lb), v in self.samples().items() if n == name and want <= set(lb)]
        return sum(found) if found else None


@pytest.fixture
def pipe() -> Iterator[Pipeline]:
    p = Pipeline(Settings(attribution_labels=("user", "tenant", "route")))
    yield p
    p.provider.shutdown()


@contextmanager
def captured(logger_name: str = "otel_llm.processor") -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    log = logging.getLogger(logger_name)
    handler, level = Keep(level=logging.DEBUG), log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


USAGE = {"gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 200}


def test_request_id_on_every_span_and_attribution(pipe: Pipeline) -> None:
    state = RequestState("req-123", {"user": "alice", "tenant": "acme", "plan": "pro"})
    with request_state(state):
        pipe.span("GET /x", attributes={"http.route": "/x"})
        pipe.span(attributes=CHAT, **USAGE)
    plain, chat = pipe.exported()
    for span in (plain, chat):
        assert span.attributes["request.id"] == "req-123"
        assert span.attributes["user.id"] == "alice"
        assert span.attributes["otel_llm.tenant"] == "acme"
        assert span.attributes["otel_llm.attribution.plan"] == "pro"
    assert plain.attributes["http.route"] == "/x"  # the instrumentation's route is kept
    assert "gen_ai.usage.cost.amount" not in plain.attributes


def test_route_from_context_when_span_has_none(pipe: Pipeline) -> None:
    with request_state(RequestState("r", {"route": "/chat/{id}"})):
        pipe.span(attributes=CHAT, **USAGE)
    (span,) = pipe.exported()
    assert span.attributes["http.route"] == "/chat/{id}"
    assert pipe.value(semconv.METRIC_COST, route="/chat/{id}") is not None


def test_request_id_from_baggage_outside_a_request(pipe: Pipeline) -> None:
    token = otel_context.attach(baggage.set_baggage("request.id", "from-upstream"))
    try:
        pipe.span("work")
    finally:
        otel_context.detach(token)
    assert pipe.exported()[0].attributes["request.id"] == "from-upstream"


def test_no_request_no_stamp(pipe: Pipeline) -> None:
    pipe.span("work")
    assert "request.id" not in pipe.exported()[0].attributes


def test_genai_span_is_priced_on_the_exported_span(pipe: Pipeline) -> None:
    span = pipe.span(attributes=CHAT, **USAGE)
    (exported,) = pipe.exported()
    expected = PriceBook.load(None).cost("openai", "gpt-4o-mini", Usage(input=1000, output=200))
    assert exported.attributes["gen_ai.usage.cost.amount"] == pytest.approx(expected)
    assert exported.attributes["gen_ai.usage.cost.currency"] == "USD"
    assert exported.attributes["gen_ai.usage.cost.source"] == "local"
    assert "gen_ai.usage.cost.amount" not in span.attributes  # the live span was not mutated
    assert exported.context == span.context and exported.end_time == span.end_time
    assert pipe.value(semconv.METRIC_COST) == pytest.approx(expected)
    assert pipe.value(semconv.METRIC_TOKEN_USAGE + "_sum", gen_ai_token_type="input") == 1000
    assert pipe.value(semconv.METRIC_DURATION + "_count", error_type="") == 1


def test_unknown_model_is_unpriced_counted_and_logged_once(pipe: Pipeline) -> None:
    attrs = {**CHAT, "gen_ai.request.model": "gpt-4o-mini-foo-unknown"}
    with captured() as records:
        for _ in range(3):
            pipe.span(attributes=attrs, **USAGE)
    for span in pipe.exported():
        assert span.attributes["otel_llm.cost.unpriced"] is True
        assert "gen_ai.usage.cost.amount" not in span.attributes
    assert pipe.value(semconv.METRIC_UNPRICED, gen_ai_request_model="gpt-4o-mini-foo-unknown") == 3
    assert pipe.value(semconv.METRIC_COST) is None
    assert pipe.value(semconv.METRIC_OPERATION_COST + "_count") is None
    warnings = [r for r in records if "no price" in r.getMessage()]
    assert len(warnings) == 1 and "gpt-4o-mini-foo-unknown" in warnings[0].getMessage()


def test_missing_usage_on_success_is_unpriced(pipe: Pipeline) -> None:
    pipe.span(attributes=CHAT)
    (span,) = pipe.exported()
    assert span.attributes["otel_llm.cost.unpriced"] is True
    assert pipe.value(semconv.METRIC_UNPRICED) == 1
    assert pipe.value(semconv.METRIC_TOKEN_USAGE + "_count") is None
    assert pipe.value(semconv.METRIC_OPERATION_COST + "_count") is None
    assert pipe.value(semconv.METRIC_DURATION + "_count") == 1


def test_error_span_gets_error_type_and_no_unpriced_flag(pipe: Pipeline) -> None:
    with pipe.tracer.start_as_current_span("chat gpt-4o-mini", attributes=CHAT) as span:
        span.set_attribute("error.type", "RateLimitError")
        span.set_status(Status(StatusCode.ERROR))
    with pipe.tracer.start_as_current_span("chat gpt-4o-mini", attributes=CHAT) as span:
        span.set_status(Status(StatusCode.ERROR))
    assert pipe.value(semconv.METRIC_DURATION + "_count", error_type="RateLimitError") == 1
    assert pipe.value(semconv.METRIC_DURATION + "_count", error_type="_OTHER") == 1
    assert pipe.value(semconv.METRIC_UNPRICED) is None
    assert all("otel_llm.cost.unpriced" not in s.attributes for s in pipe.exported())
    assert pipe.value(semconv.METRIC_OPERATION_COST + "_count") is None  # no usage, no cost


def test_exception_in_pricing_is_swallowed_counted_and_logged_once(
    pipe: Pipeline, monkeypatch
) -> None:
    def boom(*args: Any, **kwargs: Any) -> float:
        raise RuntimeError("price table exploded")

    monkeypatch.setattr(pipe.processor.pricebook, "cost", boom)
    with captured() as records:
        pipe.span(attributes=CHAT, **USAGE)
        pipe.span(attributes=CHAT, **USAGE)
    assert len(pipe.exported()) == 2  # spans still reach the exporter
    assert (
        pipe.value(semconv.METRIC_PROCESSOR_ERRORS, hook="on_end", error_type="RuntimeError") == 2
    )
    assert len([r for r in records if "RuntimeError" in r.getMessage()]) == 1


def test_exception_at_start_and_in_downstream_is_swallowed(pipe: Pipeline, monkeypatch) -> None:
    import otel_llm.processor as mod

    def bad_request_id(ctx: Any = None) -> str:
        raise ValueError("context broken")

    monkeypatch.setattr(mod, "current_request_id", bad_request_id)
    monkeypatch.setattr(pipe.processor.downstream, "on_end", lambda span: 1 / 0)
    pipe.span("work")
    assert pipe.value(semconv.METRIC_PROCESSOR_ERRORS, hook="on_start") == 1
    assert (
        pipe.value(
            semconv.METRIC_PROCESSOR_ERRORS, hook="downstream", error_type="ZeroDivisionError"
        )
        == 1
    )


def test_exemplar_carries_the_span_ids(pipe: Pipeline) -> None:
    span = pipe.span(attributes=CHAT, **USAGE)
    text = generate_openmetrics(pipe.processor.metrics.registry).decode()
    trace_id = f"{span.context.trace_id:032x}"
    span_id = f"{span.context.span_id:016x}"
    cost_line = next(x for x in text.splitlines() if x.startswith("gen_ai_client_cost_usd_total{"))
    assert f'trace_id="{trace_id}"' in cost_line and f'span_id="{span_id}"' in cost_line


def test_each_priced_call_is_observed_once_in_the_per_call_cost_histogram(
    pipe: Pipeline,
) -> None:
    """One observation per priced call, labelled by model only (attribution stays on the
    counter), with the span's IDs as the exemplar of the bucket it fell in."""
    cost = PriceBook.load(None).cost("openai", "gpt-4o-mini", Usage(input=1000, output=200))
    assert cost is not None and 0.0001 < cost <= 0.001
    spans = []
    for user in ("alice", "bob"):
        with request_state(RequestState("r", {"user": user, "tenant": "acme", "route": "/c"})):
            spans.append(pipe.span(attributes=CHAT, **USAGE))
    pipe.span(attributes={**CHAT, "gen_ai.request.model": "no-such-model-x"}, **USAGE)
    name = semconv.METRIC_OPERATION_COST
    series = {lb for (n, lb), _ in pipe.samples().items() if n == name + "_count"}
    assert series == {
        (
            ("gen_ai_operation_name", "chat"),
            ("gen_ai_provider_name", "openai"),
            ("gen_ai_request_model", "gpt-4o-mini"),
        )
    }
    assert pipe.value(name + "_count") == 2  # the unpriced call is not observed
    assert pipe.value(name + "_sum") == pytest.approx(2 * cost)
    assert pipe.value(name + "_bucket", le="0.0001") == 0
    assert pipe.value(name + "_bucket", le="0.001") == 2
    assert (
        len({dict(lb)["user"] for (n, lb), _ in pipe.samples().items() if n == semconv.METRIC_COST})
        == 2
    )

    text = generate_openmetrics(pipe.processor.metrics.registry).decode()
    (line,) = [x for x in text.splitlines() if x.startswith(name + "_bucket{") and " # {" in x]
    last = spans[-1].context
    assert 'le="0.001"}' in line
    assert f'trace_id="{last.trace_id:032x}"' in line and f'span_id="{last.span_id:016x}"' in line


def test_provider_reported_cost_is_preferred(pipe: Pipeline) -> None:
    pipe.span(attributes={**CHAT, "gen_ai.usage.cost.amount": 0.25}, **USAGE)
    (span,) = pipe.exported()
    assert span.attributes["gen_ai.usage.cost.amount"] == 0.25
    assert span.attributes["gen_ai.usage.cost.source"] == "provider"
    assert span.attributes["gen_ai.usage.cost.currency"] == "USD"
    assert pipe.value(semconv.METRIC_COST) == 0.25
    assert pipe.value(semconv.METRIC_OPERATION_COST + "_sum") == 0.25
    assert pipe.value(semconv.METRIC_OPERATION_COST + "_bucket", le="0.25") == 1
    assert pipe.value(semconv.METRIC_OPERATION_COST + "_bucket", le="0.1") == 0


def test_agent_spans_are_not_priced_twice(pipe: Pipeline) -> None:
    with pipe.tracer.start_as_current_span(
        "invoke_agent planner", attributes={**CHAT, "gen_ai.operation.name": "invoke_agent"}
    ) as agent:
        for k, v in USAGE.items():
            agent.set_attribute(k, v)
        pipe.span(attributes=CHAT, **USAGE)
    cost = PriceBook.load(None).cost("openai", "gpt-4o-mini", Usage(input=1000, output=200))
    assert pipe.value(semconv.METRIC_COST) == pytest.approx(cost)
    assert pipe.value(semconv.METRIC_DURATION + "_count", gen_ai_operation_name="invoke_agent") == 1
    assert pipe.value(semconv.METRIC_OPERATION_COST + "_count") == 1  # the chat call only


def test_pseudonymised_user_on_span_and_metric() -> None:
    p = Pipeline(Settings(attribution_labels=("user",), user_hash_key="k"))
    with request_state(RequestState("r", {"user": "alice@example.com"})):
        p.span(attributes=CHAT, **USAGE)
    (span,) = p.exported()
    pseudonym = p.processor.metrics.pseudonymize_user("alice@example.com")
    assert span.attributes["user.id"] == pseudonym != "alice@example.com"
    assert p.value(semconv.METRIC_COST, user=pseudonym) is not None


def test_label_overflow_folds_to_other() -> None:
    p = Pipeline(Settings(attribution_labels=("tenant",), attribution_limit=2))
    for tenant in ("a", "b", "c", "d"):
        with request_state(RequestState("r", {"tenant": tenant})):
            p.span(attributes=CHAT, **USAGE)
    tenants = {dict(lb)["tenant"] for (n, lb), _ in p.samples().items() if n == semconv.METRIC_COST}
    assert tenants == {"a", "b", "other"}


def test_unsampled_spans_are_measured_but_not_exported_with_recording_sampler() -> None:
    p = Pipeline(Settings(), sampler=RecordingSampler(ALWAYS_OFF))
    p.span(attributes=CHAT, **USAGE)
    assert p.exported() == []
    assert p.value(semconv.METRIC_DURATION + "_count") == 1
    text = generate_openmetrics(p.processor.metrics.registry).decode()
    assert "trace_id" not in text  # no exemplar for a trace nobody can open


class BlockingExporter(SpanExporter):
    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.entered.set()
        self.release.wait(10)
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.release.set()


def test_spans_dropped_by_the_batch_queue_are_counted() -> None:
    exporter = BlockingExporter()
    batch = BatchSpanProcessor(
        exporter, max_queue_size=1, max_export_batch_size=1, schedule_delay_millis=60_000
    )
    metrics = GenAIMetrics(Settings())
    processor = GenAISpanProcessor(Settings(), metrics=metrics, downstream=batch)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("t")
    tracer.start_span("first").end()
    assert exporter.entered.wait(5)  # the worker is now stuck in export
    for i in range(9):
        tracer.start_span(f"s{i}").end()
    exporter.release.set()
    provider.shutdown()
    tracer.start_span("after shutdown").end()
    lost = 10 - len(exporter.spans)
    text = generate_latest(metrics.registry).decode()
    assert f'otel_llm_spans_dropped_total{{reason="queue_full"}} {float(lost)}' in text
    assert 'otel_llm_spans_dropped_total{reason="shutdown"} 1.0' in text


def test_flush_and_shutdown_reach_downstream(pipe: Pipeline) -> None:
    calls: list[str] = []
    pipe.processor.downstream.force_flush = lambda timeout_millis=0: calls.append("flush") or True
    assert pipe.processor.force_flush(100) is True
    pipe.processor.downstream.shutdown = lambda: calls.append("shutdown")
    pipe.processor.shutdown()
    assert calls == ["flush", "shutdown"]


def test_without_downstream_metrics_still_recorded() -> None:
    processor = GenAISpanProcessor(Settings())
    provider = TracerProvider()
    provider.add_span_processor(processor)
    with provider.get_tracer("t").start_as_current_span("chat", attributes=CHAT) as span:
        for k, v in USAGE.items():
            span.set_attribute(k, v)
    text = generate_latest(processor.metrics.registry).decode()
    assert "gen_ai_client_cost_usd_total{" in text


# --- the hot path's own readers and copy ---------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        0,
        7,
        -1,
        True,
        False,
        3.0,
        3.5,
        -2.0,
        float("nan"),
        float("inf"),
        "12",
        "1.5",
        "",
        "x",
        None,
        (1,),
    ],
)
def test_token_count_reading_matches_semconv(value: Any) -> None:
    from otel_llm.processor import _as_count

    assert _as_count(value) == semconv.int_attr({"k": value}, ("k",))


_SPELLINGS = [
    key
    for keys in (
        semconv.PROVIDER_KEYS,
        semconv.INPUT_TOKEN_KEYS,
        semconv.CACHE_CREATION_KEYS,
        semconv.USER_KEYS,
    )
    for key in keys
] + ["gen_ai.operation.name", "otel_llm.tenant", "server.address"]


@given(
    st.lists(
        st.tuples(st.sampled_from(_SPELLINGS), st.sampled_from([None, 0, 5, "a", "b"])),
        max_size=12,
    )
)
def test_single_pass_reads_what_first_attr_reads(items: list[tuple[str, Any]]) -> None:
    """Any mix and order of old and new spellings, None values included."""
    from otel_llm.processor import _attribute_keys, _fields

    attrs = dict(items)
    fields = _fields([_attribute_keys("user"), _attribute_keys("tenant")])
    assert fields.read(attrs) == [semconv.first_attr(attrs, keys) for keys in fields.slots]


def test_exported_copy_is_the_span_plus_cost_attributes() -> None:
    exporter = InMemorySpanExporter()
    processor = GenAISpanProcessor(Settings(), downstream=SimpleSpanProcessor(exporter))
    provider = TracerProvider(
        span_limits=SpanLimits(max_span_attributes=6, max_events=1, max_links=1)
    )
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("test", "1.2")
    with tracer.start_as_current_span("parent"):
        link = Link(tracer.start_span("linked").get_span_context())
        span = tracer.start_span(
            "chat gpt-4o-mini",
            kind=SpanKind.CLIENT,
            attributes={"x.a": 1, "x.b": 2, **CHAT},  # x.a is dropped
            links=[link, link],
        )
        span.add_event("one")
        span.add_event("two")
        span.set_attributes(USAGE)
        span.set_status(Status(StatusCode.OK))
        span.end()
    exported = next(s for s in exporter.get_finished_spans() if s.name == "chat gpt-4o-mini")
    assert exported is not span and "gen_ai.usage.cost.amount" in exported.attributes
    assert {
        k: v for k, v in exported.attributes.items() if not k.startswith("gen_ai.usage.cost")
    } == dict(span.attributes)
    for name in (
        "name",
        "context",
        "parent",
        "resource",
        "events",
        "links",
        "kind",
        "status",
        "start_time",
        "end_time",
        "instrumentation_scope",
        "dropped_attributes",
        "dropped_events",
        "dropped_links",
    ):
        assert getattr(exported, name) == getattr(span, name), name
    assert (span.dropped_attributes, span.dropped_events, span.dropped_links) == (1, 1, 1)
    assert '"gen_ai.usage.cost.source": "local"' in exported.to_json()
    provider.shutdown()


def test_span_of_another_readable_class_is_copied_through_its_properties() -> None:
    class Recorded(ReadableSpan):  # properties computed, not read from the SDK's fields
        @property
        def name(self) -> str:
            return "recorded " + self._name

        @property
        def dropped_events(self) -> int:
            return 3

    received: list[ReadableSpan] = []

    class Keep(SimpleSpanProcessor):
        def on_end(self, span: ReadableSpan) -> None:
            received.append(span)

    processor = GenAISpanProcessor(Settings(), downstream=Keep(InMemorySpanExporter()))
    original = Recorded("chat", attributes={**CHAT, **USAGE}, start_time=1, end_time=2_000_001)
    processor.on_end(original)
    (copy,) = received
    assert copy.name == "recorded chat" and copy.end_time == 2_000_001 and copy.dropped_events == 3
    assert copy.attributes["gen_ai.usage.cost.source"] == "local"
    assert "gen_ai.usage.cost.source" not in original.attributes


def test_spans_ended_in_several_threads_are_all_counted() -> None:
    p = Pipeline(Settings(attribution_labels=("tenant",)))
    per_thread, threads = 200, 4
    cost = PriceBook.load(None).cost("openai", "gpt-4o-mini", Usage(input=1000, output=200))

    def work(t: int) -> None:
        with request_state(RequestState(f"r{t}", {"tenant": f"t{t}"})):
            for _ in range(per_thread):
                p.span(attributes=CHAT, **USAGE)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    total = per_thread * threads
    assert len(p.exported()) == total
    assert p.value(semconv.METRIC_DURATION + "_count") == total
    assert p.value(semconv.METRIC_TOKEN_USAGE + "_sum", gen_ai_token_type="input") == total * 1000
    for t in range(threads):
        assert p.value(semconv.METRIC_COST, tenant=f"t{t}") == pytest.approx(per_thread * cost)
    p.provider.shutdown()
