"""Responses API calls over the lean invocation (otel_llm.genai._lean) give the spans the
official invocation gives.

Each scenario runs twice in one process over an in-process transport, with the lean
invocation and with upstream's, and the spans must match: names, kinds, scopes,
statuses and descriptions, attributes, events and parents. The scenarios cover the
request parameters the official extractors read, usage details, a failed and an
incomplete response, ``parse()``, ``with_raw_response``, errors from the API and the
transport, an inner inference publishing into the call's context, and the calls left to
upstream's invocation (streams, an open inference, a conversation in the context or in
the request).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
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
from otel_llm.genai import _fastchat, _fastpath, _lean, instrument_llm_sdks, uninstrument_llm_sdks
from tests.unit.genai_parity import openai_client, publish_inner_inference, record

MODEL = "gpt-4o-mini"


def _response(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "resp_1",
        "object": "response",
        "created_at": 1,
        "status": "completed",
        "model": "gpt-4o-mini-2024-07-18",
        "output": [
            {
                "type": "message",
                "id": "msg_1",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": '{"a": 1}', "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "service_tier": "default",
        "usage": {
            "input_tokens": 12,
            "output_tokens": 20,
            "total_tokens": 32,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        },
    }
    body.update(over)
    return body


CASES: dict[str, tuple[int, dict[str, Any]]] = {
    "plain": (200, _response()),
    "detailed": (
        200,
        _response(
            usage={
                "input_tokens": 100,
                "output_tokens": 40,
                "total_tokens": 140,
                "input_tokens_details": {"cached_tokens": 64},
                "output_tokens_details": {"reasoning_tokens": 16},
            }
        ),
    ),
    "failed": (
        200,
        _response(status="failed", error={"code": "server_error", "message": "it broke"}),
    ),
    "incomplete": (
        200,
        _response(status="incomplete", incomplete_details={"reason": "max_output_tokens"}),
    ),
    "no-usage": (200, _response(usage=None, service_tier=None)),
    "bad-request": (400, {"error": {"message": "bad", "type": "invalid_request_error"}}),
    "rate-limited": (429, {"error": {"message": "slow down", "type": "rate_limit"}}),
}

SSE = (
    b"event: response.completed\n"
    b'data: {"type":"response.completed","sequence_number":1,"response":'
    + json.dumps(_response()).encode()
    + b"}\n\n"
)

_inner_handler: TelemetryHandler | None = None
"""The test's own util-genai handler, for the inner inference."""


def _counted() -> tuple[Any, str]:
    """What runs once per call the cheaper path takes (owner, method)."""
    return (_lean.LeanInference, "__init__")


def _transport(request: Any) -> Any:
    case = request.headers.get("x-case", "plain")
    if case == "connect-error":
        raise httpx2.ConnectError("refused", request=request)
    if case == "inner-inference":
        assert _inner_handler is not None
        publish_inner_inference(_inner_handler)
        case = "plain"
    if b'"stream":true' in request.content.replace(b" ", b""):
        return httpx2.Response(200, content=SSE, headers={"content-type": "text/event-stream"})
    status, body = CASES[case]
    headers = {"content-type": "application/json", "x-request-id": f"req-{case}"}
    return httpx2.Response(status, content=json.dumps(body).encode(), headers=headers)


class Answer(pydantic.BaseModel):
    a: int


def _case(name: str) -> dict[str, Any]:
    return {"extra_headers": {"x-case": name}}


PARAMS: dict[str, Any] = {
    "temperature": 0.2,
    "top_p": 0.9,
    "max_output_tokens": 50,
    "reasoning": {"effort": "low"},
    "previous_response_id": "resp_0",
    "instructions": "be brief",
    "text": {"format": {"type": "json_schema", "name": "x", "schema": {"type": "object"}}},
    "service_tier": "flex",
}

# name, kwargs beyond model/input, whether the lean invocation takes it
CALLS: list[tuple[str, dict[str, Any], bool]] = [
    ("plain", _case("plain"), True),
    ("params", {**PARAMS, **_case("detailed")}, True),
    ("failed", _case("failed"), True),
    ("incomplete", _case("incomplete"), True),
    ("no-usage", _case("no-usage"), True),
    ("bad-request", _case("bad-request"), True),
    ("rate-limited", _case("rate-limited"), True),
    ("connect-error", _case("connect-error"), True),
    ("stream", {"stream": True, **_case("plain")}, True),
    ("conversation", {"conversation": "conv_1", **_case("plain")}, False),
    ("inner-inference", _case("inner-inference"), True),
]


def _run_sync(client: openai.OpenAI) -> None:
    tracer = trace.get_tracer("test.caller")
    with tracer.start_as_current_span("caller"):
        for name, kwargs, _ in CALLS:
            try:
                result = client.responses.create(model=MODEL, input="hi", **kwargs)
                if name == "stream":
                    list(result)
            except openai.APIError:
                pass
        client.responses.parse(model=MODEL, input="hi", text_format=Answer, **_case("plain"))
        raw = client.responses.with_raw_response.create(
            model=MODEL, input="hi", **_case("detailed")
        )
        raw.parse()
        assert _inner_handler is not None
        outer = _inner_handler.inference("outer", request_model="outer-model")
        try:
            client.responses.create(model=MODEL, input="hi", **_case("plain"))
        finally:
            outer.stop()
        token = otel_context.attach(with_conversation_id("conv-2"))
        try:
            client.responses.create(model=MODEL, input="hi", **_case("detailed"))
        finally:
            otel_context.detach(token)


def _run_async(client: openai.AsyncOpenAI) -> None:
    tracer = trace.get_tracer("test.caller")

    async def run() -> None:
        with tracer.start_as_current_span("caller"):
            for name, kwargs, _ in CALLS:
                if name == "inner-inference":
                    continue
                try:
                    result = await client.responses.create(model=MODEL, input="hi", **kwargs)
                    if name == "stream":
                        async for _ in result:
                            pass
                except openai.APIError:
                    pass
            await client.responses.parse(
                model=MODEL, input="hi", text_format=Answer, **_case("plain")
            )

    asyncio.run(run())


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.usefixtures("http_spans")
def test_same_spans_as_upstreams_invocation(
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
        run: Callable[[], None]
        if mode == "sync":
            client: Any = openai_client(_transport)

            def run() -> None:
                _run_sync(client)

            expected = sum(1 for _, _, lean in CALLS if lean) + 2  # parse, raw
        else:
            client = openai_client(_transport, asynchronous=True)

            def run() -> None:
                _run_async(client)

            expected = sum(1 for n, _, lean in CALLS if lean and n != "inner-inference") + 1
        lean, made_on = record(run, span_exporter, True, _counted)
        official, made_off = record(run, span_exporter, False, _counted)
    finally:
        uninstrument_llm_sdks()
    assert made_off == 0
    assert made_on == expected
    assert lean == official
    genai = [dict(f[5]) for f in lean if any(k == "gen_ai.operation.name" for k, _ in f[5])]
    assert len(genai) >= expected
    # what the matrix must have exercised, so the equality above means something
    assert any(a.get("gen_ai.request.max_tokens") == 50 for a in genai)
    assert any(a.get("gen_ai.usage.cache_read.input_tokens") == 64 for a in genai)
    assert any(a.get("error.type") == "server_error" for a in genai)
    assert any(a.get("error.type") == "openai.RateLimitError" for a in genai)
    assert any(a.get("gen_ai.conversation.id") == "conv_1" for a in genai)
    statuses = [f[3] for f in lean]
    assert trace.StatusCode.ERROR in statuses
    if mode == "sync":
        assert any(a.get("inner.attribute") == "kept" for a in genai)
        assert any(a.get("gen_ai.request.top_k") == 5 for a in genai)
        assert any(a.get("gen_ai.conversation.id") == "conv-2" for a in genai)


def test_lean_invocation_sets_upstreams_fields() -> None:
    """Checked at install; here against a fresh upstream invocation once more."""
    from opentelemetry.trace import NoOpTracer
    from opentelemetry.util.genai.invocation import InferenceInvocation

    _fastchat.bind()
    _lean.bind()
    assert issubclass(_lean.LeanInference, InferenceInvocation)

    class Handler:
        _tracer = NoOpTracer()
        _instruments = None
        _logger = None
        _completion_hook = None
        _content_capturing_mode = None

    before = otel_context.get_current()
    lean = _lean.LeanInference(Handler, "openai", "m", "h", 8443, before)
    lean.suspend()
    upstream = InferenceInvocation(
        Handler._tracer,
        None,
        None,
        None,
        "openai",
        request_model="m",
        server_address="h",
        server_port=8443,
    )
    upstream.suspend()
    assert otel_context.get_current() is before
    assert set(vars(lean)) == set(vars(upstream))
    assert lean._start_attributes == upstream._start_attributes
    assert vars(lean.data) == vars(upstream.data)
