"""OpenAI SDK instrumentation against the mock LLM over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gc
import uuid
from typing import Any

import anthropic  # imported: instrumented at once, not on a later import
import openai
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from otel_llm import semconv as sc
from otel_llm.config import Settings
from otel_llm.demo.mock_llm import MockLLMConfig, serve_in_thread
from otel_llm.genai import instrument_llm_sdks, uninstrument_llm_sdks
from otel_llm.genai import openai as genai_openai

REQUEST_ID = "otel_llm.provider.request_id"


def spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [
        s
        for s in exporter.get_finished_spans()
        if s.attributes and sc.GEN_AI_OPERATION_NAME in s.attributes
    ]


def one_span(exporter: InMemorySpanExporter) -> dict[str, Any]:
    found = spans(exporter)
    assert len(found) == 1, [s.name for s in found]
    return dict(found[0].attributes or {})


def prompt(text: str = "tell me something") -> list[dict[str, str]]:
    return [{"role": "user", "content": f"{text} {uuid.uuid4().hex}"}]


@pytest.fixture
def client(mock_llm: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=mock_llm.openai_base_url, api_key="test", max_retries=0)


@pytest.fixture
def aclient(mock_llm: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=mock_llm.openai_base_url, api_key="test", max_retries=0)


def test_instruments_both_sdks(llm_instrumentation: list[str]) -> None:
    assert llm_instrumentation == ["openai", "anthropic", "llm-wire"]
    # a second call changes nothing and reports the same
    assert instrument_llm_sdks(Settings()) == ["openai", "anthropic", "llm-wire"]


def test_chat_completion(
    llm_instrumentation: list[str],
    client: openai.OpenAI,
    span_exporter: InMemorySpanExporter,
    mock_llm: Any,
) -> None:
    result = client.chat.completions.create(model="gpt-4o-mini", messages=prompt())
    (span,) = spans(span_exporter)
    attrs = dict(span.attributes or {})
    assert span.name == "chat gpt-4o-mini"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is not StatusCode.ERROR
    assert attrs[sc.GEN_AI_PROVIDER_NAME] == "openai"
    assert attrs[sc.GEN_AI_REQUEST_MODEL] == attrs[sc.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini"
    assert attrs[sc.GEN_AI_RESPONSE_ID] == result.id
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert attrs[sc.SERVER_ADDRESS] == "127.0.0.1"
    assert attrs[sc.SERVER_PORT] == mock_llm.port
    assert result.usage is not None
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == result.usage.prompt_tokens
    assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == result.usage.completion_tokens
    assert attrs[REQUEST_ID] == result._request_id
    assert sc.GEN_AI_REQUEST_STREAM not in attrs
    assert sc.OTEL_LLM_TOKENS_ESTIMATED not in attrs


def test_reasoning_and_cached_tokens(
    llm_instrumentation: list[str], client: openai.OpenAI, span_exporter: InMemorySpanExporter
) -> None:
    system = {"role": "system", "content": f"You are terse. {uuid.uuid4().hex}"}
    client.chat.completions.create(model="o3", messages=[system, *prompt("first")])
    span_exporter.clear()
    result = client.chat.completions.create(model="o3", messages=[system, *prompt("second")])
    attrs = one_span(span_exporter)
    assert result.usage is not None
    details = result.usage.completion_tokens_details
    cached = result.usage.prompt_tokens_details
    assert details is not None and details.reasoning_tokens
    assert cached is not None and cached.cached_tokens
    assert attrs[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == details.reasoning_tokens
    assert attrs[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == cached.cached_tokens
    # input includes cached, output includes reasoning
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == result.usage.prompt_tokens
    assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == result.usage.completion_tokens


def _reference_usage(client: openai.OpenAI, messages: list[dict[str, str]], model: str) -> Any:
    chunks = list(
        client.chat.completions.create(
            model=model, messages=messages, stream=True, stream_options={"include_usage": True}
        )
    )
    return chunks[-1].usage


def test_stream_without_caller_usage_hides_usage_and_records_it(
    llm_instrumentation: list[str],
    client: openai.OpenAI,
    span_exporter: InMemorySpanExporter,
) -> None:
    messages = prompt()
    chunks = list(client.chat.completions.create(model="o4-mini", messages=messages, stream=True))
    attrs = one_span(span_exporter)
    # the caller sees exactly a stream without usage
    assert chunks and all(c.choices for c in chunks)
    assert all(c.usage is None and "usage" not in c.to_dict() for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert attrs[sc.GEN_AI_REQUEST_STREAM] is True
    assert attrs[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert sc.OTEL_LLM_TOKENS_ESTIMATED not in attrs
    span_exporter.clear()
    usage = _reference_usage(client, messages, "o4-mini")
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == usage.prompt_tokens
    assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == usage.completion_tokens
    assert (
        attrs[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS]
        == usage.completion_tokens_details.reasoning_tokens
    )
    assert attrs[REQUEST_ID].startswith("req_")


def test_stream_with_caller_usage_keeps_the_usage_chunk(
    llm_instrumentation: list[str], client: openai.OpenAI, span_exporter: InMemorySpanExporter
) -> None:
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=prompt(),
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    attrs = one_span(span_exporter)
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert all("usage" in c.to_dict() for c in chunks)
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == chunks[-1].usage.prompt_tokens
    assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == chunks[-1].usage.completion_tokens
    assert sc.OTEL_LLM_TOKENS_ESTIMATED not in attrs


def test_same_chunks_as_uninstrumented(
    tracer_provider: TracerProvider, client: openai.OpenAI, span_exporter: InMemorySpanExporter
) -> None:
    messages = prompt()
    plain = [
        c.to_dict()
        for c in client.chat.completions.create(model="gpt-4o", messages=messages, stream=True)
    ]
    instrument_llm_sdks(Settings(), tracer_provider=tracer_provider)
    try:
        seen = [
            c.to_dict()
            for c in client.chat.completions.create(model="gpt-4o", messages=messages, stream=True)
        ]
    finally:
        uninstrument_llm_sdks()

    def shape(chunk: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in chunk.items() if k not in ("id", "created")}

    assert [shape(c) for c in seen] == [shape(c) for c in plain]
    assert len(spans(span_exporter)) == 1


def test_provider_ignoring_include_usage_gives_estimate(
    llm_instrumentation: list[str], client: openai.OpenAI, span_exporter: InMemorySpanExporter
) -> None:
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "x" * 400}],
            stream=True,
            extra_headers={"x-mock-ignore-include-usage": "1"},
        )
    )
    attrs = one_span(span_exporter)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert attrs[sc.OTEL_LLM_TOKENS_ESTIMATED] is True
    # 400 chars / 4 + 3 per message + 3 for the reply
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == 106
    assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == -(-len(text) // 4)


def test_include_usage_setting_off(
    tracer_provider: TracerProvider, client: openai.OpenAI, span_exporter: InMemorySpanExporter
) -> None:
    instrument_llm_sdks(Settings(stream_include_usage=False), tracer_provider=tracer_provider)
    try:
        list(client.chat.completions.create(model="gpt-4o-mini", messages=prompt(), stream=True))
    finally:
        uninstrument_llm_sdks()
    attrs = one_span(span_exporter)
    assert attrs[sc.OTEL_LLM_TOKENS_ESTIMATED] is True


@pytest.mark.parametrize("how", ["close", "with", "break-in-with"])
def test_early_closed_stream_ends_span_once(
    how: str,
    llm_instrumentation: list[str],
    client: openai.OpenAI,
    span_exporter: InMemorySpanExporter,
) -> None:
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=prompt(), stream=True)
    if how == "close":
        for i, _ in enumerate(stream):
            if i == 2:
                break
        stream.close()
        stream.close()
    else:
        with stream:
            for i, _ in enumerate(stream):
                if i == 2:
                    break
    gc.collect()
    attrs = one_span(span_exporter)
    assert attrs[sc.OTEL_LLM_TOKENS_ESTIMATED] is True
    assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] >= 1
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] >= 1


def test_stream_broken_off_by_provider(
    llm_instrumentation: list[str], client: openai.OpenAI, span_exporter: InMemorySpanExporter
) -> None:
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=prompt(),
            stream=True,
            extra_headers={"x-mock-abort-after": "3"},
        )
    )
    assert len(chunks) == 4  # role chunk + 3 words, no finish, no usage
    attrs = one_span(span_exporter)
    assert attrs[sc.OTEL_LLM_TOKENS_ESTIMATED] is True


def test_rate_limit_error(
    llm_instrumentation: list[str], client: openai.OpenAI, span_exporter: InMemorySpanExporter
) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=prompt(), extra_headers={"x-mock-error": "429"}
        )
    (span,) = spans(span_exporter)
    attrs = dict(span.attributes or {})
    assert span.status.status_code is StatusCode.ERROR
    assert attrs[sc.ERROR_TYPE] == "openai.RateLimitError"
    assert attrs[REQUEST_ID] == caught.value.request_id


def test_stream_error_status(
    llm_instrumentation: list[str], client: openai.OpenAI, span_exporter: InMemorySpanExporter
) -> None:
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=prompt(),
            stream=True,
            extra_headers={"x-mock-error": "500"},
        )
    (span,) = spans(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})[sc.ERROR_TYPE] == "openai.InternalServerError"


def test_connection_error_and_timeout(
    llm_instrumentation: list[str], span_exporter: InMemorySpanExporter
) -> None:
    dead = openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="test", max_retries=0)
    with pytest.raises(openai.APIConnectionError):
        dead.chat.completions.create(model="gpt-4o-mini", messages=prompt())
    slow_server = serve_in_thread(
        MockLLMConfig(seed=1, latency_scale=1.0, default_median_s=2.0, latency_sigma=0)
    )
    try:
        slow = openai.OpenAI(
            base_url=slow_server.openai_base_url, api_key="t", max_retries=0, timeout=0.2
        )
        with pytest.raises(openai.APITimeoutError):
            slow.chat.completions.create(model="slow-model", messages=prompt())
    finally:
        slow_server.close(timeout_s=0.5)
    errors = sorted((s.attributes or {})[sc.ERROR_TYPE] for s in spans(span_exporter))
    assert errors == ["openai.APIConnectionError", "openai.APITimeoutError"]


def test_responses_api(
    llm_instrumentation: list[str], client: openai.OpenAI, span_exporter: InMemorySpanExporter
) -> None:
    result = client.responses.create(model="gpt-4o-mini", input=f"hello {uuid.uuid4().hex}")
    attrs = one_span(span_exporter)
    assert result.usage is not None
    assert attrs[sc.GEN_AI_RESPONSE_ID] == result.id
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == result.usage.input_tokens
    assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == result.usage.output_tokens
    assert attrs[REQUEST_ID] == result._request_id
    span_exporter.clear()

    events = list(
        client.responses.create(model="o3", input=f"hello {uuid.uuid4().hex}", stream=True)
    )
    attrs = one_span(span_exporter)
    final = events[-1].response
    assert events[-1].type == "response.completed"
    assert attrs[sc.GEN_AI_REQUEST_STREAM] is True
    assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == final.usage.output_tokens
    assert (
        attrs[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS]
        == final.usage.output_tokens_details.reasoning_tokens
    )
    assert attrs[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0
    assert sc.OTEL_LLM_TOKENS_ESTIMATED not in attrs
    span_exporter.clear()

    with client.responses.stream(model="gpt-4o-mini", input=f"hi {uuid.uuid4().hex}") as stream:
        final = stream.get_final_response()
    attrs = one_span(span_exporter)
    assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == final.usage.output_tokens
    assert attrs[REQUEST_ID].startswith("req_")


def test_responses_stream_broken_off_is_estimated(
    llm_instrumentation: list[str], client: openai.OpenAI, span_exporter: InMemorySpanExporter
) -> None:
    events = list(
        client.responses.create(
            model="gpt-4o-mini",
            input="y" * 40,
            instructions="z" * 40,
            stream=True,
            extra_headers={"x-mock-abort-after": "2"},
        )
    )
    assert events[-1].type == "response.output_text.delta"
    attrs = one_span(span_exporter)
    assert attrs[sc.OTEL_LLM_TOKENS_ESTIMATED] is True
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == 20 + 3 + 3


def test_embeddings(
    llm_instrumentation: list[str], client: openai.OpenAI, span_exporter: InMemorySpanExporter
) -> None:
    result = client.embeddings.create(model="text-embedding-3-small", input=["one two", "three"])
    (span,) = spans(span_exporter)
    attrs = dict(span.attributes or {})
    assert span.name == "embeddings text-embedding-3-small"
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == result.usage.prompt_tokens == 3
    assert attrs[REQUEST_ID] == result._request_id


def test_async_calls(
    llm_instrumentation: list[str], aclient: openai.AsyncOpenAI, span_exporter: InMemorySpanExporter
) -> None:
    async def run() -> list[Any]:
        await aclient.chat.completions.create(model="gpt-4o-mini", messages=prompt())
        stream = await aclient.chat.completions.create(
            model="gpt-4o-mini", messages=prompt(), stream=True
        )
        chunks = [c async for c in stream]
        early = await aclient.chat.completions.create(
            model="gpt-4o-mini", messages=prompt(), stream=True
        )
        async for _ in early:
            break
        await early.close()
        events = await aclient.responses.create(model="gpt-4o-mini", input="hi", stream=True)
        async for _ in events:
            pass
        await aclient.embeddings.create(model="text-embedding-3-small", input="x")
        return chunks

    chunks = asyncio.run(run())
    assert all(c.usage is None and c.choices for c in chunks)
    found = spans(span_exporter)
    assert [s.name for s in found] == [
        "chat gpt-4o-mini",
        "chat gpt-4o-mini",
        "chat gpt-4o-mini",
        "chat gpt-4o-mini",
        "embeddings text-embedding-3-small",
    ]
    streamed = dict(found[1].attributes or {})
    assert streamed[sc.GEN_AI_USAGE_OUTPUT_TOKENS] > 0
    assert sc.OTEL_LLM_TOKENS_ESTIMATED not in streamed
    assert (found[2].attributes or {})[sc.OTEL_LLM_TOKENS_ESTIMATED] is True


def test_errors_inside_our_layer_are_swallowed(
    llm_instrumentation: list[str],
    client: openai.OpenAI,
    span_exporter: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("bug in otel-llm")

    monkeypatch.setattr(genai_openai, "_on_result", boom)
    result = client.chat.completions.create(model="gpt-4o-mini", messages=prompt())
    assert isinstance(result, openai.types.chat.ChatCompletion)
    assert len(spans(span_exporter)) == 1
    monkeypatch.undo()

    monkeypatch.setattr(genai_openai, "_prepare", boom)
    assert client.chat.completions.create(model="gpt-4o-mini", messages=prompt()).choices
    monkeypatch.undo()

    monkeypatch.setattr(genai_openai._ChatTap, "on_end", boom)
    chunks = list(
        client.chat.completions.create(model="gpt-4o-mini", messages=prompt(), stream=True)
    )
    assert chunks and all(c.usage is None for c in chunks)
    assert len(spans(span_exporter)) == 3


def test_uninstrument_removes_everything(
    tracer_provider: TracerProvider, client: openai.OpenAI, span_exporter: InMemorySpanExporter
) -> None:
    instrument_llm_sdks(Settings(), tracer_provider=tracer_provider)
    uninstrument_llm_sdks()
    chunks = list(
        client.chat.completions.create(model="gpt-4o-mini", messages=prompt(), stream=True)
    )
    assert spans(span_exporter) == []
    assert all("usage" not in c.to_dict() for c in chunks)


def test_content_capture_is_opt_in_and_bounded(
    tracer_provider: TracerProvider,
    client: openai.OpenAI,
    span_exporter: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from otel_llm.genai import CONTENT_MAX_CHARS

    long_prompt = [{"role": "user", "content": "word " * 5000}]
    instrument_llm_sdks(Settings(), tracer_provider=tracer_provider)
    try:
        client.chat.completions.create(model="gpt-4o-mini", messages=long_prompt)
    finally:
        uninstrument_llm_sdks()
    assert "gen_ai.input.messages" not in one_span(span_exporter)
    span_exporter.clear()

    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    instrument_llm_sdks(Settings(capture_content=True), tracer_provider=tracer_provider)
    try:
        client.chat.completions.create(model="gpt-4o-mini", messages=long_prompt)
    finally:
        uninstrument_llm_sdks()
    attrs = one_span(span_exporter)
    captured = attrs["gen_ai.input.messages"]
    assert captured.startswith('[{"role":"user"')
    assert CONTENT_MAX_CHARS < len(captured) < CONTENT_MAX_CHARS + 64
    assert "truncated" in captured
    assert "gen_ai.output.messages" in attrs
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == 5000


def test_content_mode_follows_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from otel_llm.config import load_settings
    from otel_llm.genai import _content_mode

    var = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
    for raw, mode in [
        ("true", "SPAN_ONLY"),
        ("span_and_event", "SPAN_AND_EVENT"),
        ("", "NO_CONTENT"),
    ]:
        monkeypatch.setenv(var, raw)
        assert _content_mode(load_settings()) == mode
    monkeypatch.setenv(var, "span_only")
    assert _content_mode(Settings(capture_content=False)) == "NO_CONTENT"


def test_model_reads_match_getattr() -> None:
    """_fields reads SDK models as field() (getattr(obj, name, None)) does, without the
    failed lookups, for every name the usage readers look up (and the API's extras);
    mappings by key; any other object by getattr."""
    from openai.types import CompletionUsage
    from openai.types.responses import ResponseUsage

    from otel_llm.genai._common import field
    from otel_llm.genai.openai import _USAGE_NAMES, _fields

    chat = CompletionUsage.model_validate(
        {
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "total_tokens": 15,
            "prompt_tokens_details": {"audio_tokens": 2, "cache_write_tokens": 3},
            "completion_tokens_details": {"accepted_prediction_tokens": 1},
            "something_new": {"n": 1},  # an extra the API added
        }
    )
    responses = ResponseUsage.model_validate(
        {
            "input_tokens": 10,
            "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0},
            "output_tokens": 5,
            "output_tokens_details": {"reasoning_tokens": 1},
            "total_tokens": 15,
        }
    )
    names = [*_USAGE_NAMES, "something_new", "absent"]

    class Plain:  # neither a mapping nor a pydantic model
        prompt_tokens = 7

    for usage in (chat, responses, {"prompt_tokens": 1}, None, Plain()):
        read = _fields(usage)
        for name in names:
            assert read.get(name) == field(usage, name), (usage, name)
            if not isinstance(usage, dict):
                assert read.get(name) == getattr(usage, name, None), (usage, name)
    assert _fields(chat).get("something_new") == {"n": 1}
    assert _fields(responses) is responses.__dict__  # no extras: nothing allocated
    details = [
        chat.prompt_tokens_details,
        chat.completion_tokens_details,
        responses.input_tokens_details,
        responses.output_tokens_details,
    ]
    for detail in details:
        for name in names:
            assert _fields(detail).get(name) == getattr(detail, name, None), (detail, name)


@pytest.mark.parametrize("kind", ["chat", "chat-plain", "responses", "dict"])
def test_usage_kinds_match_the_pricing_reader(kind: str) -> None:
    from openai.types import CompletionUsage
    from openai.types.responses import ResponseUsage
    from opentelemetry.sdk.trace import TracerProvider

    from otel_llm.genai.openai import _add_cache_creation
    from otel_llm.pricing_units import openai_usage_attributes

    usage: Any = {
        "chat": lambda: CompletionUsage.model_validate(
            {
                "prompt_tokens": 10,
                "completion_tokens": 5,
                "total_tokens": 15,
                "prompt_tokens_details": {"audio_tokens": 2, "cache_write_tokens": 3},
                "completion_tokens_details": {"rejected_prediction_tokens": 1},
            }
        ),
        "chat-plain": lambda: CompletionUsage(prompt_tokens=1, completion_tokens=1, total_tokens=2),
        "responses": lambda: ResponseUsage.model_validate(
            {
                "input_tokens": 10,
                "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 6},
                "output_tokens": 5,
                "output_tokens_details": {"reasoning_tokens": 1},
                "total_tokens": 15,
            }
        ),
        "dict": lambda: {"prompt_tokens_details": {"audio_tokens": 7}},
    }[kind]()
    span: Any = TracerProvider().get_tracer("t").start_span("s")
    _add_cache_creation(span, usage)
    span.end()
    attrs = dict(span.attributes)
    created = attrs.pop("gen_ai.usage.cache_creation.input_tokens", None)
    assert created == {"chat": 3, "responses": 6}.get(kind)
    assert attrs == openai_usage_attributes(usage)
    assert bool(attrs) is (kind in ("chat", "dict"))


@pytest.mark.parametrize(
    ("extra", "sent_options", "sent_extra"),
    [
        ({}, {"include_usage": True}, {}),
        (
            {"stream_options": {"include_obfuscation": False}},
            {"include_obfuscation": False, "include_usage": True},
            {},
        ),
        ({"extra_body": {"user_tag": "x"}}, {"include_usage": True}, {"user_tag": "x"}),
    ],
    ids=["nothing-asked", "own-options", "own-extra-body"],
)
def test_usage_chunk_is_asked_for_in_the_body(
    llm_instrumentation: list[str],
    extra: dict[str, Any],
    sent_options: dict[str, Any],
    sent_extra: dict[str, Any],
) -> None:
    """However the caller passes its options, the body asks for usage once and keeps
    the caller's own fields."""
    import json

    import httpx2

    bodies: list[dict[str, Any]] = []

    def handler(request: Any) -> Any:
        bodies.append(json.loads(request.content))
        return httpx2.Response(
            200, content=b"data: [DONE]\n\n", headers={"content-type": "text/event-stream"}
        )

    client = openai.OpenAI(
        api_key="t",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )
    list(
        client.chat.completions.create(model="gpt-4o-mini", messages=prompt(), stream=True, **extra)
    )
    (body,) = bodies
    assert body["stream_options"] == sent_options
    assert {k: body[k] for k in sent_extra} == sent_extra
    assert body["stream"] is True and body["model"] == "gpt-4o-mini"


def test_span_lookup_is_shared_within_a_call_and_forgotten_after(
    llm_instrumentation: list[str],
    client: openai.OpenAI,
    span_exporter: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Our SDK layer looks the official span up once; the wire layer, inside the HTTP
    send of the same call, reuses it; nothing is held once the call returns."""
    from opentelemetry import context as otel_context
    from opentelemetry import trace

    from otel_llm.genai import _common

    looked: list[Any] = []
    original = otel_context.get_value

    def get_value(key: str, context: Any = None) -> Any:
        looked.append(key)
        return original(key, context)

    monkeypatch.setattr(otel_context, "get_value", get_value)
    client.chat.completions.create(model="gpt-4o-mini", messages=prompt())
    genai_keys = [k for k in looked if "genai" in str(k).lower()]
    assert len(genai_keys) == 1, looked
    assert _common._span_memo is _common._NO_MEMO
    (span,) = spans(span_exporter)
    assert span.attributes and span.attributes[sc.SERVER_PORT]  # the wire layer's read

    # another context is looked up afresh; an ended span is never handed out
    tracer = TracerProvider().get_tracer("t")
    ended = tracer.start_span("ended")
    with trace.use_span(ended, end_on_exit=True):
        assert _common.current_genai_span(remember=True) is None  # no official mark
    assert _common.current_genai_span() is None


def test_start_attributes_follow_the_client(
    llm_instrumentation: list[str],
    mock_llm: Any,
    span_exporter: InMemorySpanExporter,
) -> None:
    """The start attributes are remembered per client URL: a second client is read anew."""
    local = openai.OpenAI(base_url=mock_llm.openai_base_url, api_key="t", max_retries=0)
    default_port = openai.OpenAI(
        base_url=mock_llm.openai_base_url.replace(f":{mock_llm.port}", ""),
        api_key="t",
        max_retries=0,
    )
    from otel_llm.genai._common import default_port_attributes

    assert default_port_attributes(local.chat.completions) == {}
    assert default_port_attributes(default_port.chat.completions) == {sc.SERVER_PORT: 80}
    for streaming in (False, True):
        local.chat.completions.create(model="gpt-4o-mini", messages=prompt(), stream=streaming)
    (plain, streamed) = spans(span_exporter)
    assert plain.attributes and streamed.attributes
    assert plain.attributes[sc.SERVER_PORT] == streamed.attributes[sc.SERVER_PORT] == mock_llm.port
    assert sc.GEN_AI_REQUEST_STREAM not in plain.attributes
    assert streamed.attributes[sc.GEN_AI_REQUEST_STREAM] is True


def test_client_base_url_reads_what_the_property_returns() -> None:
    """The field is read only for a client class whose property was seen to return it."""
    from otel_llm.genai._common import _url_fields, client_base_url

    clients: list[tuple[Any, Any]] = []
    for sdk in (
        openai.OpenAI(api_key="t", base_url="http://127.0.0.1:1/v1"),
        openai.AsyncOpenAI(api_key="t"),
    ):
        clients.append((sdk, sdk.chat.completions))
    claude = anthropic.Anthropic(api_key="t")
    clients.append((claude, claude.messages))
    for sdk, resource in clients:
        for _ in range(2):  # first sight of the class, then the field
            assert client_base_url(resource) is sdk.base_url
        assert _url_fields[type(sdk)] is True

    class Computed:
        def __init__(self) -> None:
            self._base_url = "http://field"

        @property
        def base_url(self) -> str:
            return "http://property"

    class Resource:
        _client = Computed()

    for _ in range(2):
        assert client_base_url(Resource()) == "http://property"
    assert _url_fields[Computed] is False
    assert client_base_url(object()) is None
