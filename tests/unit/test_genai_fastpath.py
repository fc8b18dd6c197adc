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
from otel_llm.genai import _common, _fastpath, instrument_llm_sdks, uninstrument_llm_sdks
from otel_llm.genai._fastpath import active

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


def _count_fast_calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count the calls of the fused chunk steps and of the end of call."""
    taken: dict[str, int] = {}
    for name in ("_chat_step", "_messages_process", "_apply_finish"):
        original = getattr(_fastpath, name)

        def counted(*args: Any, _name: str = name, _original: Any = original) -> Any:
            taken[_name] = taken.get(_name, 0) + 1
            return _original(*args)

        monkeypatch.setattr(_fastpath, name, counted)
    return taken


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
    taken = _count_fast_calls(monkeypatch)
    fast = _record(scenario, mock_llm, tracer_provider, span_exporter)
    assert seen and all(seen)  # every chat stream took the fast path
    assert set(taken) == {"_chat_step", "_messages_process", "_apply_finish"}, taken
    assert all(taken.values()), taken  # fused chunk steps and the end of call ran

    seen.clear()
    taken.clear()
    with monkeypatch.context() as m:
        m.setitem(_fastpath.PINNED, "opentelemetry-util-genai", "0.0.0")
        m.setattr(_common._Direct, "on", False)  # our attributes through set_attributes
        official = _record(scenario, mock_llm, tracer_provider, span_exporter)
    assert seen and not any(seen)
    assert not any(taken.values()), taken

    assert fast == official
    _check_parents(fast)
    names = [f[0] for f in fast]
    assert names.count("caller.between_chunks") == 1
    http = [f for f in fast if any(k in HTTP_METHOD for k, _ in f[4])]
    genai = [f for f in fast if any(k == sc.GEN_AI_OPERATION_NAME for k, _ in f[4])]
    assert len(http) == len(genai) >= 7  # one request per call, each under its GenAI span


def test_patched_only_while_instrumented(tracer_provider: TracerProvider) -> None:
    from opentelemetry.instrumentation.genai.anthropic.wrappers import (
        AsyncMessagesStreamWrapper,
        MessagesStreamWrapper,
    )

    assert not _fastpath.active()
    instrument_llm_sdks(Settings(), tracer_provider=tracer_provider)
    try:
        assert _fastpath.active()
        assert ChatStreamWrapper.__next__ is _fastpath._chat_next
        assert AsyncChatStreamWrapper.__anext__ is _fastpath._chat_anext
        assert MessagesStreamWrapper.__next__ is _fastpath._messages_next
        assert AsyncMessagesStreamWrapper.__anext__ is _fastpath._messages_anext
    finally:
        uninstrument_llm_sdks()
    assert not _fastpath.active()
    assert not _fastpath.active("anthropic") and not _fastpath.active("finish")
    assert "__next__" not in MessagesStreamWrapper.__dict__
    assert "__anext__" not in AsyncMessagesStreamWrapper.__dict__
    assert "__next__" not in ChatStreamWrapper.__dict__
    assert "__anext__" not in AsyncChatStreamWrapper.__dict__
    assert ChatStreamWrapper.__next__ is SyncStreamWrapper.__next__
    assert AsyncChatStreamWrapper.__anext__ is AsyncStreamWrapper.__anext__
    from opentelemetry.util.genai.invocation import InferenceInvocation

    assert InferenceInvocation._on_stream_chunk is _fastpath._ON_STREAM_CHUNK


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
    missing = "no-such-distribution-for-otel-llm"
    monkeypatch.setitem(_fastpath.PINNED, missing, "1.0")
    for group in ("openai", "anthropic"):
        monkeypatch.setitem(_fastpath.GROUPS, group, (*_fastpath.GROUPS[group], missing))
        assert not _fastpath.pinned_versions(group)
        assert not _fastpath.install(group)
        assert not _fastpath.active(group)
    assert not _fastpath.active("finish")


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
    """Without a meter, our chunk bookkeeping (called by our stream steps, or as the
    invocation's patched ``_on_stream_chunk`` by upstream's) leaves the invocation as
    upstream's does."""
    instrument_llm_sdks(Settings())  # sets the classes _on_chunk compares against
    try:
        from opentelemetry.util.genai.invocation import InferenceInvocation

        assert InferenceInvocation._on_stream_chunk is _fastpath._on_stream_chunk
        ours, theirs = _twins(NoOpMeterProvider())
        patched, _ = _twins(NoOpMeterProvider())
        patched._monotonic_start_s = theirs._monotonic_start_s = ours._monotonic_start_s
        start = ours._monotonic_start_s
        for at in (start + 0.25, start + 0.5, start + 0.5, start + 0.75):
            _fastpath._on_chunk(ours, at)
            patched._on_stream_chunk(at)
            _fastpath._ON_STREAM_CHUNK(theirs, at)  # upstream's own
            assert _timing(ours) == _timing(theirs) == _timing(patched)
        assert ours._ttfc_seconds == 0.25
        ours.stop()
        theirs.stop()
        patched.stop()
    finally:
        uninstrument_llm_sdks()


@pytest.mark.usefixtures("tracer_provider")
def test_real_meter_still_gets_chunk_metrics() -> None:
    """With real instruments, our steps and the patched method record every chunk."""
    readers = [InMemoryMetricReader(), InMemoryMetricReader()]
    instrument_llm_sdks(Settings())
    try:
        start = time.perf_counter()
        for way, reader in enumerate(readers):
            invocation, _ = _twins(MeterProvider(metric_readers=[reader]))
            for i in range(4):
                if way == 0:
                    _fastpath._on_chunk(invocation, start + i * 0.01)
                else:  # upstream's wrappers, through the patched method
                    invocation._on_stream_chunk(start + i * 0.01)
            invocation.stop()
    finally:
        uninstrument_llm_sdks()
    for reader in readers:
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


@pytest.mark.usefixtures("tracer_provider")
def test_real_meter_still_gets_call_metrics() -> None:
    """The end-of-call fast path steps aside for real instruments: duration and tokens."""
    reader = InMemoryMetricReader()
    instrument_llm_sdks(Settings())
    try:
        handler = TelemetryHandler(
            tracer_provider=TracerProvider(),
            meter_provider=MeterProvider(metric_readers=[reader]),
        )
        invocation = handler.inference("openai", request_model="m")
        invocation.input_tokens = 3
        invocation.output_tokens = 4
        invocation.stop()
    finally:
        uninstrument_llm_sdks()
    data = reader.get_metrics_data()
    assert data is not None
    names = {m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    assert {"gen_ai.client.operation.duration", "gen_ai.client.token.usage"} <= names


def _finished_invocations(publish: bool, error: bool) -> list[tuple[Any, ...]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    from opentelemetry.context import get_value
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.util.genai.invocation import CLIENT_INFERENCE_CONTEXT_KEY

    provider.add_span_processor(SimpleSpanProcessor(exporter))
    handler = TelemetryHandler(tracer_provider=provider, meter_provider=NoOpMeterProvider())
    invocation = handler.inference("openai", request_model="m", server_address="h", server_port=1)
    invocation.output_tokens = 4
    if publish:  # what an inner (suppressed) invocation leaves in the context
        data: Any = get_value(CLIENT_INFERENCE_CONTEXT_KEY, context=invocation._span_context)
        data.response_model = "inner-model"
        data.usage_input_tokens = 7
        data.output_tokens = 99  # not a field: ignored by both
        data.attributes["inner.attr"] = "x"
    if error:
        invocation.fail(RuntimeError("boom"))
    else:
        invocation.stop()
    return _normalized(exporter.get_finished_spans())


@pytest.mark.parametrize("publish", [False, True], ids=["untouched", "published"])
@pytest.mark.parametrize("error", [False, True], ids=["stop", "fail"])
def test_end_of_call_matches_upstream(publish: bool, error: bool) -> None:
    instrument_llm_sdks(Settings())
    try:
        assert active("openai")
        fast = _finished_invocations(publish, error)
    finally:
        uninstrument_llm_sdks()
    official = _finished_invocations(publish, error)
    assert fast == official
    attrs = dict(fast[0][4])
    assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 4
    assert (attrs.get(sc.GEN_AI_RESPONSE_MODEL) == "inner-model") is publish


def _chunks() -> list[Any]:
    from openai.types.chat import ChatCompletionChunk

    def chunk(i: int, choices: list[dict[str, Any]], **extra: Any) -> Any:
        return ChatCompletionChunk.model_validate(
            {
                "id": f"c-{i}" if i else "",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "gpt-4o-mini-2024" if i > 1 else "",
                "choices": choices,
                **extra,
            }
        )

    tool = {"index": 1, "id": "t1", "type": "function", "function": {"name": "f", "arguments": ""}}
    more_arguments = {"index": 1, "function": {"arguments": "{}"}}
    return [
        chunk(0, [{"index": 0, "delta": {"role": "assistant", "content": ""}}]),
        chunk(1, [{"index": 1, "delta": {"content": "two"}}], service_tier="default"),
        chunk(2, [{"index": 0, "delta": {"refusal": "no"}}, {"index": 1, "delta": {}}]),
        chunk(3, [{"index": 0, "delta": {"tool_calls": [tool]}}]),
        chunk(4, [{"index": 0, "delta": {"tool_calls": [more_arguments]}}]),
        chunk(5, [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]),
        chunk(6, [], usage={"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}),
    ]


def _chat_state(wrapper: Any) -> tuple[Any, ...]:
    buffers = [
        (
            b.index,
            b.finish_reason,
            b.text_content,
            b.refusal,
            [vars(t) if t is not None else None for t in b.tool_calls_buffers],
        )
        for b in wrapper._self_choice_buffers
    ]
    return (
        buffers,
        wrapper._self_response_id,
        wrapper._self_service_tier,
        wrapper._self_usage,
        wrapper._self_invocation.data.response_model,
    )


@pytest.mark.usefixtures("tracer_provider")
def test_fused_chat_chunk_step_matches_upstream() -> None:
    handler = TelemetryHandler(tracer_provider=TracerProvider(), meter_provider=NoOpMeterProvider())
    instrument_llm_sdks(Settings())
    try:
        ours = ChatStreamWrapper(iter(()), handler.inference("openai"), True)  # type: ignore[arg-type]
        theirs = ChatStreamWrapper(iter(()), handler.inference("openai"), True)  # type: ignore[arg-type]
        for chunk in _chunks():
            _fastpath._chat_process(ours, chunk)
            theirs._process_chunk(chunk)
            assert _chat_state(ours) == _chat_state(theirs)
        _fastpath._chat_process(ours, {"not": "a chunk"})  # handed to upstream, which skips it
        assert _chat_state(ours) == _chat_state(theirs)
    finally:
        uninstrument_llm_sdks()
    buffers = _chat_state(ours)[0]
    assert buffers[0][1] == "tool_calls" and buffers[0][3] == ["no"] and buffers[1][2] == ["two"]


def _usage_chunk(i: int, *, with_choice: bool) -> Any:
    from openai.types.chat import ChatCompletionChunk

    choices = [{"index": 0, "delta": {"content": "tail"}}] if with_choice else []
    return ChatCompletionChunk.model_validate(
        {
            "id": f"c-{i}",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4o-mini-2024",
            "choices": choices,
            "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
        }
    )


@pytest.mark.usefixtures("tracer_provider")
@pytest.mark.parametrize("hide_usage", [False, True], ids=["caller-usage", "our-usage"])
def test_fused_tap_and_chunk_step_matches_the_three_steps(hide_usage: bool) -> None:
    """_chat_step = our tap's on_item, then (for a chunk it keeps) upstream's
    _process_chunk and _on_stream_chunk: same wrapper, tap, invocation and chunk state
    after every chunk, and the same chunks hidden."""
    from otel_llm.genai.openai import _ChatTap

    handler = TelemetryHandler(tracer_provider=TracerProvider(), meter_provider=NoOpMeterProvider())
    instrument_llm_sdks(Settings())
    try:
        invocations = [handler.inference("openai"), handler.inference("openai")]
        for invocation in invocations:
            invocation.suspend()
        invocations[1]._monotonic_start_s = invocations[0]._monotonic_start_s
        ours = ChatStreamWrapper(iter(()), invocations[0], True)  # type: ignore[arg-type]
        theirs = ChatStreamWrapper(iter(()), invocations[1], True)  # type: ignore[arg-type]
        span = trace.INVALID_SPAN
        our_tap = _ChatTap(span, None, hide_usage)
        their_tap = _ChatTap(span, None, hide_usage)
        twins = [
            *zip(_chunks(), _chunks(), strict=True),
            (_usage_chunk(7, with_choice=True), _usage_chunk(7, with_choice=True)),
            (_usage_chunk(8, with_choice=False), _usage_chunk(8, with_choice=False)),
        ]
        clock = iter(range(1000))
        for mine, upstream in twins:
            at = float(next(clock))
            with pytest.MonkeyPatch.context() as m:
                m.setattr(_fastpath, "default_timer", lambda at=at: at)
                kept = _fastpath._chat_step(ours, our_tap, mine)
            expected = their_tap.on_item(upstream)
            if expected:
                theirs._process_chunk(upstream)
                invocations[1]._on_stream_chunk(at)
            assert kept == expected
            assert _chat_state(ours) == _chat_state(theirs)
            assert _timing(invocations[0]) == _timing(invocations[1])
            assert (our_tap.usage, our_tap.chars) == (their_tap.usage, their_tap.chars)
            assert mine.model_dump(exclude_unset=True) == upstream.model_dump(exclude_unset=True)
    finally:
        uninstrument_llm_sdks()
    assert our_tap.chars == len("two") + len("{}") + len("tail")
    assert our_tap.usage is not None
    assert (ours._self_usage is None) == hide_usage


def _anthropic_events() -> list[Any]:
    from anthropic.types import RawMessageStreamEvent
    from pydantic import TypeAdapter

    adapter: Any = TypeAdapter(RawMessageStreamEvent)
    usage = {"input_tokens": 5, "output_tokens": 1}
    raw = [
        {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": CLAUDE,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": usage,
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "!"}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 2},
        },
        {"type": "message_stop"},
    ]
    return [adapter.validate_python(event) for event in raw]


@pytest.mark.usefixtures("tracer_provider")
@pytest.mark.parametrize("tapped", [False, True], ids=["sdk-stream", "tapped"])
def test_fused_anthropic_chunk_step_matches_upstream(
    tapped: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from anthropic import Stream
    from opentelemetry.instrumentation.genai.anthropic.wrappers import MessagesStreamWrapper

    from otel_llm.genai._streams import TappedStream

    class NoTap:
        def on_item(self, item: Any) -> bool:
            return True

        def on_end(self) -> None:
            pass

    def stream() -> Any:
        sdk = Stream.__new__(Stream)  # never read: the events are handed in directly
        return TappedStream(sdk, NoTap()) if tapped else sdk

    handler = TelemetryHandler(tracer_provider=TracerProvider(), meter_provider=NoOpMeterProvider())
    instrument_llm_sdks(Settings())
    calls: list[Any] = []
    try:
        ours = MessagesStreamWrapper(stream(), handler.inference("anthropic"), False)
        theirs = MessagesStreamWrapper(stream(), handler.inference("anthropic"), False)
        upstream = MessagesStreamWrapper._process_chunk

        def counted(self: Any, chunk: Any) -> None:
            if self is ours:
                calls.append(chunk)
            upstream(self, chunk)

        monkeypatch.setattr(MessagesStreamWrapper, "_process_chunk", counted)
        for event in _anthropic_events():
            _fastpath._messages_process(ours, event)
            theirs._process_chunk(event)
            assert ours._self_message == theirs._self_message
    finally:
        uninstrument_llm_sdks()
    assert not calls  # every event took the fused step
    message: Any = ours._self_message
    assert [block.text for block in message.content] == ["Hi!"]


def test_each_sdk_group_is_pinned_on_its_own(
    monkeypatch: pytest.MonkeyPatch, tracer_provider: TracerProvider
) -> None:
    from opentelemetry.instrumentation.genai.anthropic.wrappers import MessagesStreamWrapper
    from opentelemetry.util.genai.invocation import InferenceInvocation

    monkeypatch.setitem(_fastpath.PINNED, "opentelemetry-instrumentation-genai-anthropic", "0.0.0")
    instrument_llm_sdks(Settings(), tracer_provider=tracer_provider)
    try:
        assert active("openai") and not active("anthropic")
        assert "__next__" not in MessagesStreamWrapper.__dict__
        assert InferenceInvocation.__dict__["_apply_finish"] is _fastpath._apply_finish
    finally:
        uninstrument_llm_sdks()
    assert "_apply_finish" in InferenceInvocation.__dict__  # upstream's own, back in place
    assert InferenceInvocation.__dict__["_apply_finish"] is not _fastpath._apply_finish


def _attribute_twins(limits: Any = None) -> tuple[Any, Any]:
    tracer = TracerProvider(span_limits=limits).get_tracer("t")
    first = {"gen_ai.operation.name": "chat", "server.address": "api.openai.com"}
    return tracer.start_span("a", attributes=first), tracer.start_span("b", attributes=first)


def _attribute_state(span: Any) -> tuple[Any, ...]:
    return (list(span.attributes.items()), span.dropped_attributes)


@pytest.mark.parametrize(
    ("limits", "writes"),
    [
        (None, [{sc.SERVER_PORT: 443, sc.GEN_AI_REQUEST_STREAM: True}, {"req": "r-1"}]),
        (None, [{sc.SERVER_PORT: 443}, {sc.SERVER_PORT: 8443, "x": 1.5}]),  # existing key
        ("count", [{sc.SERVER_PORT: 443}, {"req": "r-1", "x": 2}]),  # evicts the oldest
        ("count0", [{sc.SERVER_PORT: 443}]),  # every attribute dropped
        ("length", [{"req": "a long request id"}, {sc.SERVER_PORT: 443}]),
    ],
    ids=["new-keys", "existing-key", "count-limit", "no-attributes", "length-limit"],
)
def test_direct_attribute_writes_match_set_attributes(limits: Any, writes: Any) -> None:
    from opentelemetry.sdk.trace import SpanLimits

    span_limits = {
        None: None,
        "count": SpanLimits(max_span_attributes=3),
        "count0": SpanLimits(max_span_attributes=0),
        "length": SpanLimits(max_attribute_length=4),
    }[limits]
    ours, theirs = _attribute_twins(span_limits)
    assert _common._Direct.on
    for attrs in writes:
        _common.put_attributes(ours, dict(attrs))
        theirs.set_attributes(dict(attrs))
        assert _attribute_state(ours) == _attribute_state(theirs)
    ours.end()
    theirs.end()
    _common.put_attributes(ours, {"late": 1})  # ended: refused (and warned) as upstream
    theirs.set_attributes({"late": 1})
    assert _attribute_state(ours) == _attribute_state(theirs)


def test_direct_attribute_writes_skip_the_sdk_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """On the SDK's span the values go into its dict without ``set_attributes``; any other
    span (or a missing private field) takes the public path."""
    ours, _ = _attribute_twins()
    called: list[Any] = []
    monkeypatch.setattr(type(ours), "set_attributes", lambda self, a: called.append(a))
    _common.put_attributes(ours, {sc.SERVER_PORT: 443})
    assert not called and ours.attributes[sc.SERVER_PORT] == 443

    class Other:
        def set_attributes(self, attrs: Any) -> None:
            called.append(attrs)

    _common.put_attributes(Other(), {sc.SERVER_PORT: 443})  # type: ignore[arg-type]
    assert called == [{sc.SERVER_PORT: 443}]

    monkeypatch.setattr(_common._Direct, "on", True)
    broken, _ = _attribute_twins()
    del broken._attributes._dict  # another SDK layout
    _common.put_attributes(broken, {"k": 1})
    assert called[-1] == {"k": 1}
    assert not _common._Direct.on  # off for good after a missing field
