"""The one-step chat completion path (otel_llm.genai._fastchat) changes cost, not telemetry.

Every scenario runs twice in one process over an in-process transport, once with the
path on and once with every call sent through the official wrapper, and the spans must
match: names, kinds, statuses and their descriptions, attributes, events and parents
(the httpx2 client span under the GenAI span). The scenarios cover every request
parameter the official wrapper reads, the response fields it reads (usage details,
several choices, a missing finish reason, no usage), ``parse()``, ``with_raw_response``,
errors from the API and the transport, and the calls the path must leave to the official
wrapper (streams, an open inference, a conversation ID, events on), one of them with an
inner inference publishing into the call's context.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import httpx2
import openai
import pydantic
import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util.genai._conversation_context import with_conversation_id
from opentelemetry.util.genai.handler import TelemetryHandler

from otel_llm.config import Settings
from otel_llm.genai import _fastchat, _fastpath, instrument_llm_sdks, uninstrument_llm_sdks
from tests.unit.genai_parity import openai_client, publish_inner_inference, record

MODEL = "gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "hi"}]


def _completion(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_1",
        "service_tier": "default",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": '{"a": 1}'},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 20, "total_tokens": 32},
    }
    body.update(over)
    return body


DETAILED_USAGE = {
    "prompt_tokens": 100,
    "completion_tokens": 40,
    "total_tokens": 140,
    "prompt_tokens_details": {"cached_tokens": 64, "audio_tokens": 3},
    "completion_tokens_details": {"reasoning_tokens": 16, "audio_tokens": 0},
}
ZERO_USAGE = {
    "prompt_tokens": 0,
    "completion_tokens": 0,
    "total_tokens": 0,
    "prompt_tokens_details": {"cached_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0},
}
TWO_CHOICES = [
    {"index": 0, "message": {"role": "assistant", "content": "a"}, "finish_reason": "length"},
    {"index": 1, "message": {"role": "assistant", "content": "b"}, "finish_reason": None},
]

# x-case header -> (status, body)
CASES: dict[str, tuple[int, dict[str, Any]]] = {
    "plain": (200, _completion()),
    "detailed": (200, _completion(usage=DETAILED_USAGE, choices=TWO_CHOICES)),
    "zero": (200, _completion(usage=ZERO_USAGE, service_tier=None, system_fingerprint=None)),
    "no-usage": (200, _completion(usage=None, system_fingerprint="")),
    "no-choices": (200, _completion(choices=[])),
    "bad-request": (400, {"error": {"message": "bad model", "type": "invalid_request_error"}}),
    "rate-limited": (429, {"error": {"message": "slow down", "type": "rate_limit"}}),
    "server-error": (500, {"error": {"message": "boom", "type": "server_error"}}),
}

SSE = (
    b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
    b'"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}]}\n\n'
    b"data: [DONE]\n\n"
)

_inner_handler: TelemetryHandler | None = None
"""The test's own util-genai handler, for the inner inference."""


def _counted() -> tuple[Any, str]:
    """What runs once per call the cheaper path takes (owner, method)."""
    return (_fastchat._Call, "finish")


def _transport(request: Any) -> Any:
    case = request.headers.get("x-case", "plain")
    headers = {"content-type": "application/json", "x-request-id": f"req-{case}"}
    if case == "connect-error":
        raise httpx2.ConnectError("refused", request=request)
    if case == "inner-inference":
        assert _inner_handler is not None
        publish_inner_inference(_inner_handler)
        case = "plain"
    if b'"stream":true' in request.content.replace(b" ", b""):
        return httpx2.Response(200, content=SSE, headers={"content-type": "text/event-stream"})
    status, body = CASES[case]
    return httpx2.Response(status, content=json.dumps(body).encode(), headers=headers)


class Answer(pydantic.BaseModel):
    a: int


def _client() -> openai.OpenAI:
    client: openai.OpenAI = openai_client(_transport)
    return client


def _case(name: str) -> dict[str, Any]:
    return {"extra_headers": {"x-case": name}}


ALL_PARAMS: dict[str, Any] = {
    "temperature": 0.2,
    "top_p": 0.9,
    "max_tokens": 50,
    "presence_penalty": 0.1,
    "frequency_penalty": 0.3,
    "seed": 7,
    "stop": "END",
    "n": 2,
    "response_format": {"type": "json_object"},
    "service_tier": "flex",
}
OTHER_PARAMS: dict[str, Any] = {
    "max_completion_tokens": 30,
    "stop": ["a", "b"],
    "n": 1,
    "response_format": {
        "type": "json_schema",
        "json_schema": {"name": "x", "schema": {"type": "object"}},
    },
    "service_tier": "auto",
    "temperature": 0,
}
EXTRA_BODY: dict[str, Any] = {
    "extra_body": {"max_completion_tokens": 11, "service_tier": "priority"},
    "response_format": {"type": "text"},
}

# name, kwargs beyond model/messages, whether the one-step path takes it
SYNC_CALLS: list[tuple[str, dict[str, Any], bool]] = [
    ("plain", _case("plain"), True),
    ("all-params", {**ALL_PARAMS, **_case("detailed")}, True),
    ("other-params", {**OTHER_PARAMS, **_case("zero")}, True),
    ("extra-body", {**EXTRA_BODY, **_case("no-usage")}, True),
    ("no-choices", _case("no-choices"), True),
    ("omitted", {"temperature": openai.omit, "seed": None, **_case("plain")}, True),
    ("bad-request", _case("bad-request"), True),
    ("rate-limited", _case("rate-limited"), True),
    ("server-error", _case("server-error"), True),
    ("connect-error", _case("connect-error"), True),
    ("stream", {"stream": True, **_case("plain")}, False),
    ("inner-inference", _case("inner-inference"), True),
]


def _run_sync(client: openai.OpenAI) -> None:
    tracer = trace.get_tracer("test.caller")
    with tracer.start_as_current_span("caller"):
        for name, kwargs, _ in SYNC_CALLS:
            try:
                result = client.chat.completions.create(model=MODEL, messages=MESSAGES, **kwargs)
                if name == "stream":
                    list(result)
            except openai.APIError:
                pass
        client.chat.completions.parse(
            model=MODEL, messages=MESSAGES, response_format=Answer, **_case("plain")
        )
        raw = client.chat.completions.with_raw_response.create(
            model=MODEL, messages=MESSAGES, **_case("detailed")
        )
        raw.parse()
        # calls the official wrapper must trace: an inference already open, a
        # conversation ID in the context
        assert _inner_handler is not None
        outer = _inner_handler.inference("outer", request_model="outer-model")
        try:
            client.chat.completions.create(model=MODEL, messages=MESSAGES, **_case("plain"))
        finally:
            outer.stop()
        token = otel_context.attach(with_conversation_id("conv-1"))
        try:
            client.chat.completions.create(model=MODEL, messages=MESSAGES, **_case("detailed"))
        finally:
            otel_context.detach(token)


def _run_async(client: openai.AsyncOpenAI) -> None:
    tracer = trace.get_tracer("test.caller")

    async def run() -> None:
        with tracer.start_as_current_span("caller"):
            for name, kwargs, _ in SYNC_CALLS:
                if name == "inner-inference":
                    continue
                try:
                    result = await client.chat.completions.create(
                        model=MODEL, messages=MESSAGES, **kwargs
                    )
                    if name == "stream":
                        async for _ in result:
                            pass
                except openai.APIError:
                    pass
            await client.chat.completions.parse(
                model=MODEL, messages=MESSAGES, response_format=Answer, **_case("plain")
            )

            async def cancelled() -> None:
                await client.chat.completions.create(
                    model=MODEL, messages=MESSAGES, **_case("plain")
                )

            task = asyncio.ensure_future(cancelled())
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(run())


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.usefixtures("http_spans")
def test_same_spans_as_the_official_wrapper(
    mode: str,
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
    genai_handler: TelemetryHandler,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys.modules[__name__], "_inner_handler", genai_handler)
    instrument_llm_sdks(Settings(), tracer_provider=tracer_provider)
    try:
        assert _fastpath.active("openai")
        if mode == "sync":
            client: Any = openai_client(_transport)

            def run() -> None:
                _run_sync(client)

            expected = sum(1 for _, _, fast in SYNC_CALLS if fast) + 2  # parse, raw
        else:
            client = openai_client(_transport, asynchronous=True)

            def run() -> None:
                _run_async(client)

            # the cancelled task never starts its call
            expected = sum(1 for n, _, fast in SYNC_CALLS if fast and n != "inner-inference") + 1
        fast, taken_on = record(run, span_exporter, True, _counted)
        official, taken_off = record(run, span_exporter, False, _counted)
    finally:
        uninstrument_llm_sdks()
    assert taken_off == 0
    assert taken_on == expected
    assert fast == official
    genai = [f for f in fast if any(k == "gen_ai.operation.name" for k, _ in f[5])]
    http = [f for f in fast if any(k == "http.request.method" for k, _ in f[5])]
    assert len(genai) >= expected
    assert all(h[7] in {g[0] for g in genai} for h in http)  # each request under a GenAI span
    by_name: dict[str, list[dict[str, Any]]] = {}
    for f in genai:
        by_name.setdefault(f[0], []).append(dict(f[5]))
    chats = by_name[f"chat {MODEL}"]
    # what the matrix must have exercised, so the equality above means something
    assert any(a.get("gen_ai.request.stop_sequences") == ("a", "b") for a in chats)
    assert any(a.get("gen_ai.request.choice.count") == 2 for a in chats)
    assert any(a.get("openai.request.service_tier") == "flex" for a in chats)
    assert any(a.get("gen_ai.output.type") == "json" for a in chats)
    assert any(a.get("gen_ai.response.finish_reasons") == ("length", "error") for a in chats)
    assert any(a.get("gen_ai.usage.cache_read.input_tokens") == 64 for a in chats)
    assert any(a.get("gen_ai.usage.reasoning.output_tokens") == 16 for a in chats)
    assert any(a.get("error.type") == "openai.RateLimitError" for a in chats)
    assert any(a.get("gen_ai.request.max_tokens") == 11 for a in chats)
    if mode == "sync":
        assert any(a.get("inner.attribute") == "kept" for a in chats)
        assert any(a.get("gen_ai.request.top_k") == 5 for a in chats)
        assert any(a.get("gen_ai.conversation.id") == "conv-1" for a in chats)


def test_events_on_leave_calls_to_the_official_wrapper(
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = _client()
    instrument_llm_sdks(Settings(), tracer_provider=tracer_provider)
    try:
        monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT", "true")
        _, taken = record(
            lambda: client.chat.completions.create(model=MODEL, messages=MESSAGES),
            span_exporter,
            True,
            _counted,
        )
        assert taken == 0
        monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT", "false")
        spans, taken = record(
            lambda: client.chat.completions.create(model=MODEL, messages=MESSAGES),
            span_exporter,
            True,
            _counted,
        )
        assert taken == 1 and len(spans) == 1
    finally:
        uninstrument_llm_sdks()


def test_content_capture_keeps_the_official_wrapper(
    tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter
) -> None:
    client = _client()
    instrument_llm_sdks(Settings(capture_content=True), tracer_provider=tracer_provider)
    try:
        spans, taken = record(
            lambda: client.chat.completions.create(model=MODEL, messages=MESSAGES),
            span_exporter,
            True,
            _counted,
        )
    finally:
        uninstrument_llm_sdks()
    assert taken == 0
    assert any(k == "gen_ai.input.messages" for k, _ in spans[0][5])


def test_factories_restored_on_uninstrument(tracer_provider: TracerProvider) -> None:
    import opentelemetry.instrumentation.genai.openai as official
    from opentelemetry.instrumentation.genai.openai import patch

    instrument_llm_sdks(Settings(), tracer_provider=tracer_provider)
    try:
        assert official.chat_completions_create_v_new is not patch.chat_completions_create_v_new
    finally:
        uninstrument_llm_sdks()
    assert official.chat_completions_create_v_new is patch.chat_completions_create_v_new
    assert official.async_chat_completions_create_v_new is patch.async_chat_completions_create_v_new


def test_a_failure_of_ours_never_reaches_the_caller(
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = _client()

    def broken(*args: Any) -> None:
        raise RuntimeError("bug")

    instrument_llm_sdks(Settings(), tracer_provider=tracer_provider)
    try:
        monkeypatch.setattr(_fastchat, "_response_fields", broken)
        result = client.chat.completions.create(model=MODEL, messages=MESSAGES)
        assert result.id == "chatcmpl-1"
        monkeypatch.setattr(_fastchat, "_server", broken)  # before the span: official path
        result = client.chat.completions.create(model=MODEL, messages=MESSAGES)
        assert result.id == "chatcmpl-1"
    finally:
        uninstrument_llm_sdks()
    spans = span_exporter.get_finished_spans()
    assert [s.name for s in spans] == [f"chat {MODEL}"] * 2
    assert "gen_ai.usage.input_tokens" in (spans[1].attributes or {})
    assert otel_context.get_current().get("otel_llm_request_state") is None


def test_raw_response_checks_answered_from_the_class_agree_with_the_protocols() -> None:
    from openai.types.chat import ChatCompletion
    from openai.types.responses import Response
    from opentelemetry.instrumentation.genai.openai._raw_response import (
        ParsableResponse,
        RawResponseLike,
    )

    from otel_llm.genai._streams import TappedStream

    _fastchat.bind()
    body = _completion()
    plain = ChatCompletion.model_validate(body)
    odd = ChatCompletion.model_validate({**body, "parse": "x", "http_response": "y"})
    response = Response.model_construct(**{"id": "r", "model": "m", "output": []})
    client = _client()
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)

    class Tap:
        def on_item(self, item: Any) -> bool:
            return True

        def on_end(self) -> None:
            pass

    tapped = TappedStream(stream, Tap())
    known = [plain, response, stream, tapped]
    for result in (*known, odd, raw):
        if _fastchat.lacks_raw_members(result):
            assert not isinstance(result, RawResponseLike)
            assert not isinstance(result, ParsableResponse)
    assert all(_fastchat.lacks_raw_members(r) for r in known)
    assert not _fastchat.lacks_raw_members(odd)  # its extras could answer: ask the protocol
    assert isinstance(odd, ParsableResponse)
    assert not _fastchat.lacks_raw_members(raw) and isinstance(raw, RawResponseLike)
