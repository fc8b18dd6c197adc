"""Anthropic SDK instrumentation against the mock LLM over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import anthropic
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from otel_llm import semconv as sc
from otel_llm.config import Settings
from otel_llm.genai import anthropic as genai_anthropic
from otel_llm.genai import instrument_llm_sdks, uninstrument_llm_sdks

MODEL = "claude-haiku-4-5"
REQUEST_ID = "otel_llm.provider.request_id"


def genai_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [
        s
        for s in exporter.get_finished_spans()
        if s.attributes
        and (sc.GEN_AI_OPERATION_NAME in s.attributes or sc.GEN_AI_PROVIDER_NAME in s.attributes)
    ]


def one_span(exporter: InMemorySpanExporter) -> dict[str, Any]:
    found = genai_spans(exporter)
    assert len(found) == 1, [s.name for s in found]
    return dict(found[0].attributes or {})


def user(text: str = "hello") -> list[dict[str, Any]]:
    return [{"role": "user", "content": f"{text} {uuid.uuid4().hex}"}]


def cached_system() -> list[dict[str, Any]]:
    text = f"You are a careful assistant who answers briefly. {uuid.uuid4().hex}"
    return [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}]


@pytest.fixture
def client(mock_llm: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=mock_llm.base_url, api_key="test", max_retries=0)


@pytest.fixture
def aclient(mock_llm: Any) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=mock_llm.base_url, api_key="test", max_retries=0)


def test_sdk_tracing_is_on_by_default_and_duplicates_without_us(
    tracer_provider: TracerProvider,
    client: anthropic.Anthropic,
    span_exporter: InMemorySpanExporter,
) -> None:
    """Why we suppress it: with a global SDK provider, anthropic 2.12 traces by itself."""
    from opentelemetry.instrumentation.genai.anthropic import AnthropicInstrumentor

    AnthropicInstrumentor().instrument(tracer_provider=tracer_provider)
    try:
        client.messages.create(model=MODEL, max_tokens=50, messages=user())
    finally:
        AnthropicInstrumentor().uninstrument()
    names = sorted(s.name for s in genai_spans(span_exporter))
    assert names == ["anthropic.messages.create", f"chat {MODEL}"]


def test_messages_create_with_cache_creation_then_read(
    llm_instrumentation: list[str],
    client: anthropic.Anthropic,
    span_exporter: InMemorySpanExporter,
    mock_llm: Any,
) -> None:
    system = cached_system()
    first = client.messages.create(model=MODEL, max_tokens=200, system=system, messages=user())
    (span,) = genai_spans(span_exporter)  # no anthropic.messages.create duplicate
    attrs = dict(span.attributes or {})
    assert span.name == f"chat {MODEL}"
    assert span.kind is SpanKind.CLIENT
    assert attrs[sc.GEN_AI_PROVIDER_NAME] == "anthropic"
    assert attrs[sc.GEN_AI_RESPONSE_ID] == first.id
    assert attrs[sc.GEN_AI_RESPONSE_MODEL] == MODEL
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert attrs[sc.SERVER_PORT] == mock_llm.port
    usage = first.usage
    assert usage.cache_creation_input_tokens and not usage.cache_read_input_tokens
    assert attrs[sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] == usage.cache_creation_input_tokens
    # the contract's input tokens include cache writes and reads
    assert (
        attrs[sc.GEN_AI_USAGE_INPUT_TOKENS]
        == usage.input_tokens + usage.cache_creation_input_tokens
    )
    assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == usage.output_tokens
    assert attrs[REQUEST_ID] == first._request_id
    span_exporter.clear()

    second = client.messages.create(model=MODEL, max_tokens=200, system=system, messages=user())
    attrs = one_span(span_exporter)
    usage = second.usage
    assert usage.cache_read_input_tokens and not usage.cache_creation_input_tokens
    assert attrs[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == usage.cache_read_input_tokens
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == usage.input_tokens + usage.cache_read_input_tokens
    assert sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS not in attrs


def test_create_stream(
    llm_instrumentation: list[str], client: anthropic.Anthropic, span_exporter: InMemorySpanExporter
) -> None:
    events = list(
        client.messages.create(
            model=MODEL, max_tokens=200, system=cached_system(), messages=user(), stream=True
        )
    )
    attrs = one_span(span_exporter)
    delta = events[-2]
    assert delta.type == "message_delta"
    assert attrs[sc.GEN_AI_REQUEST_STREAM] is True
    assert attrs[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0
    assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == delta.usage.output_tokens
    assert (
        attrs[sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS]
        == delta.usage.cache_creation_input_tokens
    )
    assert (
        attrs[sc.GEN_AI_USAGE_INPUT_TOKENS]
        == delta.usage.input_tokens + delta.usage.cache_creation_input_tokens
    )
    assert attrs[REQUEST_ID].startswith("req_")
    assert sc.OTEL_LLM_TOKENS_ESTIMATED not in attrs


def test_stream_helper_text_stream_gets_time_to_first_chunk(
    llm_instrumentation: list[str], client: anthropic.Anthropic, span_exporter: InMemorySpanExporter
) -> None:
    with client.messages.stream(model=MODEL, max_tokens=200, messages=user()) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    attrs = one_span(span_exporter)
    assert text == final.content[0].text
    assert attrs[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0
    assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == final.usage.output_tokens
    assert attrs[sc.GEN_AI_RESPONSE_ID] == final.id
    assert attrs[REQUEST_ID].startswith("req_")


def test_stream_helper_events_and_early_exit(
    llm_instrumentation: list[str], client: anthropic.Anthropic, span_exporter: InMemorySpanExporter
) -> None:
    with client.messages.stream(model=MODEL, max_tokens=200, messages=user()) as stream:
        kinds = [event.type for event in stream]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    one_span(span_exporter)
    span_exporter.clear()
    with client.messages.stream(model=MODEL, max_tokens=200, messages=user()) as stream:
        for i, _ in enumerate(stream):
            if i == 3:
                break
    attrs = one_span(span_exporter)
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] >= 1


def test_overloaded_error(
    llm_instrumentation: list[str], client: anthropic.Anthropic, span_exporter: InMemorySpanExporter
) -> None:
    with pytest.raises(anthropic.OverloadedError) as caught:
        client.messages.create(
            model=MODEL, max_tokens=20, messages=user(), extra_headers={"x-mock-error": "529"}
        )
    (span,) = genai_spans(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    attrs = dict(span.attributes or {})
    assert attrs[sc.ERROR_TYPE] == "anthropic.OverloadedError"
    assert attrs[REQUEST_ID] == caught.value.request_id


def test_async_messages(
    llm_instrumentation: list[str],
    aclient: anthropic.AsyncAnthropic,
    span_exporter: InMemorySpanExporter,
) -> None:
    async def run() -> str:
        await aclient.messages.create(model=MODEL, max_tokens=50, messages=user())
        stream = await aclient.messages.create(
            model=MODEL, max_tokens=50, messages=user(), stream=True
        )
        async for _ in stream:
            pass
        async with aclient.messages.stream(model=MODEL, max_tokens=50, messages=user()) as helper:
            parts = [t async for t in helper.text_stream]
            await helper.get_final_message()
        return "".join(parts)

    text = asyncio.run(run())
    assert text
    found = genai_spans(span_exporter)
    assert [s.name for s in found] == [f"chat {MODEL}"] * 3
    for span in found[1:]:
        attrs = dict(span.attributes or {})
        assert attrs[sc.GEN_AI_REQUEST_STREAM] is True
        assert attrs[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0
        assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] > 0


def test_errors_inside_our_layer_are_swallowed(
    llm_instrumentation: list[str],
    client: anthropic.Anthropic,
    span_exporter: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("bug in otel-llm")

    monkeypatch.setattr(genai_anthropic, "_create_result", boom)
    message = client.messages.create(model=MODEL, max_tokens=20, messages=user())
    assert isinstance(message, anthropic.types.Message)
    monkeypatch.setattr(genai_anthropic._MessagesTap, "on_item", boom)
    monkeypatch.undo()
    monkeypatch.setattr(genai_anthropic._MessagesTap, "on_item", boom)
    events = list(client.messages.create(model=MODEL, max_tokens=20, messages=user(), stream=True))
    assert events[-1].type == "message_stop"
    assert len(genai_spans(span_exporter)) == 2


def test_sdk_spans_for_untraced_calls_survive(
    tracer_provider: TracerProvider,
    client: anthropic.Anthropic,
    span_exporter: InMemorySpanExporter,
) -> None:
    """Outside an official GenAI span the SDK's own tracing is untouched."""
    instrument_llm_sdks(Settings(), tracer_provider=tracer_provider)
    try:
        from otel_llm.genai._common import current_genai_span

        assert current_genai_span() is None
        assert genai_anthropic._suppress_sdk_span(lambda: "sdk-span", None, (), {}) == "sdk-span"
    finally:
        uninstrument_llm_sdks()
