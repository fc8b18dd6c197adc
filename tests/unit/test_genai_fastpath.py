"""The stream fast path (otel_llm.genai._fastpath) changes cost, not telemetry.

Every scenario runs twice against the mock LLM on 127.0.0.1, once with the fast path and
once with the official code untouched (the version guard made to fail), and the spans
must match: names, kinds, statuses, attributes (timing values and per-request IDs only
checked for presence), events and parents, including httpx2 client spans and spans the
caller opens between chunks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.genai.openai.chat_wrappers import (
    AsyncChatStreamWrapper,
    ChatStreamWrapper,
)
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util.genai.handler import TelemetryHandler
from opentelemetry.util.genai.stream import AsyncStreamWrapper, SyncStreamWrapper

from otel_llm import semconv as sc
from otel_llm.config import Settings
from otel_llm.genai import _fastpath, instrument_llm_sdks, uninstrument_llm_sdks

VOLATILE = {
    sc.GEN_AI_RESPONSE_ID,  # drawn per request by the mock
    "otel_llm.provider.request_id",
    sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,  # a duration
}
HTTP_METHOD = {"http.method", "http.request.method"}  # old and new HTTP semconv
CHAT_MODEL = "gpt-4o-mini"
CLAUDE = "claude-haiku-4-5"


def messages(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


@pytest.fixture
def fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend another util-genai version is installed: the fast path must stay off."""
    monkeypatch.setitem(_fastpath.PINNED, "opentelemetry-util-genai", "0.0.0")


@pytest.fixture
def http_spans(tracer_provider: TracerProvider) -> Iterator[None]:
    """httpx2 client spans (what openai 3.x and anthropic 2.x send requests with)."""
    from opentelemetry.instrumentation.httpx import HTTPX2ClientInstrumentor

    instrumentor = HTTPX2ClientInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    try:
        yield
    finally:
        instrumentor.uninstrument()


def _normalized(finished: tuple[ReadableSpan, ...]) -> list[tuple[Any, ...]]:
    names = {s.context.span_id: s.name for s in finished if s.context is not None}
    out = []
    for s in finished:
        attrs = dict(s.attributes or {})
        for key in VOLATILE & attrs.keys():
            value = attrs[key]
            assert value is not None and value != ""
            attrs[key] = type(value).__name__
        parent = names.get(s.parent.span_id) if s.parent is not None else None
        out.append(
            (
                s.name,
                s.kind,
                s.status.status_code,
                s.status.description,
                sorted(attrs.items()),
                [e.name for e in s.events],
                parent,
            )
        )
    return out


def _sync_scenario(mock_llm: Any) -> None:
    tracer = trace.get_tracer("test.caller")
    oa = openai.OpenAI(base_url=mock_llm.openai_base_url, api_key="test", max_retries=0)
    an = anthropic.Anthropic(base_url=mock_llm.base_url, api_key="test", max_retries=0)
    with tracer.start_as_current_span("caller"):
        oa.chat.completions.create(model=CHAT_MODEL, messages=messages("plain chat"))
        for i, _ in enumerate(
            oa.chat.completions.create(
                model=CHAT_MODEL, messages=messages("drained stream"), stream=True
            )
        ):
            if i == 1:
                with tracer.start_as_current_span("caller.between_chunks"):
                    pass
        list(
            oa.chat.completions.create(
                model=CHAT_MODEL,
                messages=messages("caller asks for usage"),
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        with oa.chat.completions.create(
            model=CHAT_MODEL, messages=messages("closed by with"), stream=True
        ) as stream:
            next(iter(stream))
        early = oa.chat.completions.create(
            model=CHAT_MODEL, messages=messages("closed early"), stream=True
        )
        next(early)
        early.close()
        list(
            oa.chat.completions.create(
                model=CHAT_MODEL,
                messages=messages("broken off"),
                stream=True,
                extra_headers={"x-mock-abort-after": "3"},
            )
        )
        with pytest.raises(openai.RateLimitError):
            oa.chat.completions.create(
                model=CHAT_MODEL,
                messages=messages("rate limited"),
                stream=True,
                extra_headers={"x-mock-error": "429"},
            )
        oa.responses.create(model=CHAT_MODEL, input="responses plain")
        list(oa.responses.create(model="o3", input="responses stream", stream=True))
        oa.embeddings.create(model="text-embedding-3-small", input="embed me")
        an.messages.create(model=CLAUDE, max_tokens=64, messages=messages("claude plain"))
        list(
            an.messages.create(
                model=CLAUDE, max_tokens=64, messages=messages("claude stream"), stream=True
            )
        )
        with an.messages.stream(
            model=CLAUDE, max_tokens=64, messages=messages("claude helper")
        ) as helper:
            helper.get_final_message()


def _async_scenario(mock_llm: Any) -> None:
    tracer = trace.get_tracer("test.caller")

    async def run() -> None:
        oa = openai.AsyncOpenAI(base_url=mock_llm.openai_base_url, api_key="test", max_retries=0)
        an = anthropic.AsyncAnthropic(base_url=mock_llm.base_url, api_key="test", max_retries=0)
        with tracer.start_as_current_span("caller"):
            await oa.chat.completions.create(model=CHAT_MODEL, messages=messages("async chat"))
            stream = await oa.chat.completions.create(
                model=CHAT_MODEL, messages=messages("async stream"), stream=True
            )
            i = 0
            async for _ in stream:
                if i == 1:
                    with tracer.start_as_current_span("caller.between_chunks"):
                        pass
                i += 1
            early = await oa.chat.completions.create(
                model=CHAT_MODEL, messages=messages("async early"), stream=True
            )
            async for _ in early:
                break
            await early.close()
            async with await oa.chat.completions.create(
                model=CHAT_MODEL, messages=messages("async with"), stream=True
            ) as managed:
                await anext(aiter(managed))
            broken = await oa.chat.completions.create(
                model=CHAT_MODEL,
                messages=messages("async broken off"),
                stream=True,
                extra_headers={"x-mock-abort-after": "2"},
            )
            async for _ in broken:
                pass
            events = await oa.responses.create(
                model=CHAT_MODEL, input="async responses", stream=True
            )
            async for _ in events:
                pass
            claude = await an.messages.create(
                model=CLAUDE, max_tokens=64, messages=messages("async claude"), stream=True
            )
            async for _ in claude:
                pass

    asyncio.run(run())


def _record(
    scenario: Any,
    mock_llm: Any,
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
) -> list[tuple[Any, ...]]:
    span_exporter.clear()
    instrument_llm_sdks(Settings(), tracer_provider=tracer_provider)
    try:
        scenario(mock_llm)
    finally:
        uninstrument_llm_sdks()
    finished = span_exporter.get_finished_spans()
    span_exporter.clear()
    return _normalized(finished)


def _check_parents(found: list[tuple[Any, ...]]) -> None:
    genai = {f[0] for f in found if any(k == sc.GEN_AI_OPERATION_NAME for k, _ in f[4])}
    assert genai, found
    for name, kind, _, _, attrs, _, parent in found:
        keys = {k for k, _ in attrs}
        if sc.GEN_AI_OPERATION_NAME in keys:
            assert parent == "caller", name
        elif keys & HTTP_METHOD:
            assert kind is trace.SpanKind.CLIENT
            assert parent in genai, (name, parent)
        elif name == "caller.between_chunks":
            assert parent == "caller"


@pytest.mark.parametrize("scenario", [_sync_scenario, _async_scenario], ids=["sync", "async"])
def test_same_spans_with_and_without_fast_path(
    scenario: Any,
    mock_llm: Any,
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
    http_spans: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[bool] = []
    original = _fastpath.use_for_new_stream

    def spy() -> bool:
        seen.append(original())
        return seen[-1]

    monkeypatch.setattr(_fastpath, "use_for_new_stream", spy)
    fast = _record(scenario, mock_llm, tracer_provider, span_exporter)
    assert seen and all(seen)  # every chat stream took the fast path

    seen.clear()
    with monkeypatch.context() as m:
        m.setitem(_fastpath.PINNED, "opentelemetry-util-genai", "0.0.0")
        official = _record(scenario, mock_llm, tracer_provider, span_exporter)
    assert seen and not any(seen)

    assert fast == official
    _check_parents(fast)
    names = [f[0] for f in fast]
    assert names.count("caller.between_chunks") == 1
    http = [f for f in fast if any(k in HTTP_METHOD for k, _ in f[4])]
    genai = [f for f in fast if any(k == sc.GEN_AI_OPERATION_NAME for k, _ in f[4])]
    assert len(http) == len(genai) >= 7  # one request per call, each under its GenAI span


def test_patched_only_while_instrumented(tracer_provider: TracerProvider) -> None:
    assert not _fastpath.active()
    instrument_llm_sdks(Settings(), tracer_provider=tracer_provider)
    try:
        assert _fastpath.active()
        assert ChatStreamWrapper.__next__ is _fastpath._chat_next
        assert AsyncChatStreamWrapper.__anext__ is _fastpath._chat_anext
    finally:
        uninstrument_llm_sdks()
    assert not _fastpath.active()
    assert "__next__" not in ChatStreamWrapper.__dict__
    assert "__anext__" not in AsyncChatStreamWrapper.__dict__
    assert ChatStreamWrapper.__next__ is SyncStreamWrapper.__next__
    assert AsyncChatStreamWrapper.__anext__ is AsyncStreamWrapper.__anext__


@pytest.mark.usefixtures("fallback")
def test_other_versions_keep_the_official_code(
    tracer_provider: TracerProvider,
    mock_llm: Any,
    span_exporter: InMemorySpanExporter,
) -> None:
    assert not _fastpath.pinned_versions()
    instrument_llm_sdks(Settings(), tracer_provider=tracer_provider)
    try:
        assert not _fastpath.active()
        assert not _fastpath.use_for_new_stream()
        assert "__next__" not in ChatStreamWrapper.__dict__
        client = openai.OpenAI(base_url=mock_llm.openai_base_url, api_key="t", max_retries=0)
        chunks = list(
            client.chat.completions.create(
                model=CHAT_MODEL, messages=messages("fallback"), stream=True
            )
        )
    finally:
        uninstrument_llm_sdks()
    assert chunks
    (span,) = [s for s in span_exporter.get_finished_spans() if s.name.startswith("chat")]
    attrs = dict(span.attributes or {})
    assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] > 0
    assert attrs[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] >= 0


def test_missing_distribution_keeps_the_official_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(_fastpath.PINNED, "no-such-distribution-for-otel-llm", "1.0")
    assert not _fastpath.pinned_versions()
    assert not _fastpath.install()
    assert not _fastpath.active()


def test_debug_logging_of_body_reads_keeps_the_span_current(
    tracer_provider: TracerProvider,
    mock_llm: Any,
    span_exporter: InMemorySpanExporter,
) -> None:
    """With httpcore2 DEBUG on, its body-read records still see the GenAI span."""
    seen: list[tuple[str, int]] = []

    class Grab(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            span_id = trace.get_current_span().get_span_context().span_id
            seen.append((record.getMessage(), span_id))

    log = logging.getLogger("httpcore2.http11")
    handler = Grab(level=logging.DEBUG)
    old_level = log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    instrument_llm_sdks(Settings(), tracer_provider=tracer_provider)
    try:
        assert _fastpath.reads_are_logged()
        assert not _fastpath.use_for_new_stream()
        client = openai.OpenAI(base_url=mock_llm.openai_base_url, api_key="t", max_retries=0)
        list(
            client.chat.completions.create(
                model=CHAT_MODEL, messages=messages("debug logged"), stream=True
            )
        )
    finally:
        uninstrument_llm_sdks()
        log.removeHandler(handler)
        log.setLevel(old_level)
    (span,) = [s for s in span_exporter.get_finished_spans() if s.name.startswith("chat")]
    assert span.context is not None
    body_reads = [sid for msg, sid in seen if msg.startswith("receive_response_body")]
    assert body_reads and set(body_reads) == {span.context.span_id}


def _twins(meter_provider: Any) -> tuple[Any, Any]:
    handler = TelemetryHandler(tracer_provider=TracerProvider(), meter_provider=meter_provider)
    a = handler.inference("openai", request_model="m")
    b = handler.inference("openai", request_model="m")
    a.suspend()
    b.suspend()
    b._monotonic_start_s = a._monotonic_start_s
    return a, b


def _timing(invocation: Any) -> tuple[Any, ...]:
    return (
        invocation._ttfc_seconds,
        invocation._stream_last_chunk_at,
        invocation.data.request_stream,
        invocation.data.response_time_to_first_chunk,
    )


@pytest.mark.usefixtures("tracer_provider")
def test_chunk_clock_matches_upstream() -> None:
    """Without a meter, our chunk bookkeeping leaves the invocation as upstream's does."""
    instrument_llm_sdks(Settings())  # sets the classes _on_chunk compares against
    try:
        ours, theirs = _twins(NoOpMeterProvider())
        start = ours._monotonic_start_s
        for at in (start + 0.25, start + 0.5, start + 0.5, start + 0.75):
            _fastpath._on_chunk(ours, at)
            theirs._on_stream_chunk(at)
            assert _timing(ours) == _timing(theirs)
        assert ours._ttfc_seconds == 0.25
        ours.stop()
        theirs.stop()
    finally:
        uninstrument_llm_sdks()


@pytest.mark.usefixtures("tracer_provider")
def test_real_meter_still_gets_chunk_metrics() -> None:
    reader = InMemoryMetricReader()
    instrument_llm_sdks(Settings())
    try:
        invocation, _ = _twins(MeterProvider(metric_readers=[reader]))
        start = time.perf_counter()
        for i in range(4):
            _fastpath._on_chunk(invocation, start + i * 0.01)
        invocation.stop()
    finally:
        uninstrument_llm_sdks()
    data = reader.get_metrics_data()
    assert data is not None
    counts = {
        metric.name: sum(p.count for p in metric.data.data_points)  # type: ignore[union-attr]
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
    }
    assert counts["gen_ai.client.operation.time_to_first_chunk"] == 1
    assert counts["gen_ai.client.operation.time_per_output_chunk"] == 3
