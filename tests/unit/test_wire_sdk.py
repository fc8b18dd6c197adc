"""The wire layer beside the official SDK instrumentations, over real HTTP to the mock LLM.

Clients keep the provider's real host name: a transport below ``send`` (where the wire
layer reads the URL) sends the bytes to the mock on 127.0.0.1.
"""

from __future__ import annotations

import json
import logging
import math
import uuid
from typing import Any

import httpx2
import openai
import pytest
from genai_prices import Usage, calc_price
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from otel_llm import providers
from otel_llm import semconv as sc
from otel_llm.config import Settings, load_settings
from otel_llm.genai import _versions, instrument_llm_sdks, uninstrument_llm_sdks
from otel_llm.metrics import GenAIMetrics
from otel_llm.pricing import PriceBook
from otel_llm.processor import GenAISpanProcessor


class Rewrite(httpx2.HTTPTransport):
    """Sends every request to the mock, keeping URL host and Host header for the layers above."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self.port = port
        self.bodies: list[dict[str, Any]] = []

    def handle_request(self, request: Any) -> Any:
        if request.content:
            self.bodies.append(json.loads(request.content))
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self.port)
        return super().handle_request(request)


@pytest.fixture
def priced() -> Any:
    exporter = InMemorySpanExporter()
    settings = Settings()
    tp = TracerProvider()
    tp.add_span_processor(
        GenAISpanProcessor(
            settings,
            metrics=GenAIMetrics(settings, registry=CollectorRegistry()),
            pricebook=PriceBook.load(None),
            downstream=SimpleSpanProcessor(exporter),
        )
    )
    instrument_llm_sdks(settings, tracer_provider=tp)
    providers.reset({})
    try:
        yield exporter
    finally:
        uninstrument_llm_sdks()
        providers.reset()


def client_at(base_url: str, mock: Any) -> tuple[openai.OpenAI, Rewrite]:
    transport = Rewrite(mock.port)
    http = httpx2.Client(transport=transport)
    return openai.OpenAI(base_url=base_url, api_key="k", http_client=http, max_retries=0), transport


def genai_spans(exporter: InMemorySpanExporter) -> list[dict[str, Any]]:
    return [
        dict(s.attributes or {})
        for s in exporter.get_finished_spans()
        if s.attributes and sc.GEN_AI_OPERATION_NAME in s.attributes
    ]


def prompt() -> list[dict[str, str]]:
    return [{"role": "user", "content": f"tell me something {uuid.uuid4().hex}"}]


def test_openai_sdk_at_xai_is_xai(priced: InMemorySpanExporter, mock_llm: Any) -> None:
    client, _ = client_at("https://api.x.ai/v1", mock_llm)
    resp = client.chat.completions.create(model="grok-4", messages=prompt())
    (attrs,) = genai_spans(priced)
    assert attrs[sc.GEN_AI_PROVIDER_NAME] == "x_ai"
    assert attrs[sc.SERVER_ADDRESS] == "api.x.ai"
    assert attrs[sc.SERVER_PORT] == 443
    assert providers.UNRESOLVED not in attrs
    usage = resp.usage
    assert usage is not None
    expected = calc_price(
        Usage(
            input_tokens=usage.prompt_tokens,
            output_tokens=usage.completion_tokens,
            output_reasoning_tokens=attrs.get(sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, 0),
        ),
        "grok-4",
        provider_id="x-ai",
    ).total_price
    assert math.isclose(attrs[sc.GEN_AI_USAGE_COST_AMOUNT], float(expected), rel_tol=1e-9)


def test_openai_sdk_at_cerebras_priced_at_cerebras(
    priced: InMemorySpanExporter, mock_llm: Any
) -> None:
    client, _ = client_at("https://api.cerebras.ai/v1", mock_llm)
    resp = client.chat.completions.create(model="gpt-oss-120b", messages=prompt())
    (attrs,) = genai_spans(priced)
    assert attrs[sc.GEN_AI_PROVIDER_NAME] == "cerebras"
    assert resp.usage is not None
    usage = Usage(input_tokens=resp.usage.prompt_tokens, output_tokens=resp.usage.completion_tokens)
    cerebras = float(calc_price(usage, "gpt-oss-120b", provider_id="cerebras").total_price)
    openai_rate = float(calc_price(usage, "gpt-oss-120b", provider_id="openai").total_price)
    assert cerebras != openai_rate
    assert math.isclose(attrs[sc.GEN_AI_USAGE_COST_AMOUNT], cerebras, rel_tol=1e-9)


def test_openrouter_cost_is_the_providers(priced: InMemorySpanExporter, mock_llm: Any) -> None:
    client, _ = client_at("https://openrouter.ai/api/v1", mock_llm)
    resp = client.chat.completions.create(model="openai/gpt-4o", messages=prompt())
    (attrs,) = genai_spans(priced)
    assert attrs[sc.GEN_AI_PROVIDER_NAME] == "openrouter"
    reported = (resp.model_extra or {}).get("usage", {}) or resp.usage.model_extra  # type: ignore[union-attr]
    cost = reported.get("cost") if isinstance(reported, dict) else None
    assert cost is not None
    assert attrs[sc.GEN_AI_USAGE_COST_SOURCE] == "provider"
    assert math.isclose(attrs[sc.GEN_AI_USAGE_COST_AMOUNT], cost, rel_tol=1e-9)


def test_unknown_host_unresolved_unpriced(priced: InMemorySpanExporter, mock_llm: Any) -> None:
    client, _ = client_at("https://llm.example.net/v1", mock_llm)
    client.chat.completions.create(model="gpt-4o-mini", messages=prompt())
    (attrs,) = genai_spans(priced)
    assert attrs[sc.GEN_AI_PROVIDER_NAME] == "openai"
    assert attrs[providers.UNRESOLVED] is True
    assert sc.GEN_AI_USAGE_COST_AMOUNT not in attrs
    assert attrs[sc.OTEL_LLM_UNPRICED] is True


def test_include_usage_auto_only_where_accepted(
    priced: InMemorySpanExporter, mock_llm: Any
) -> None:
    known, t_known = client_at("https://api.groq.com/openai/v1", mock_llm)
    for _ in known.chat.completions.create(
        model="llama-3.3-70b-versatile", messages=prompt(), stream=True
    ):
        pass
    unknown, t_unknown = client_at("https://llm.example.net/v1", mock_llm)
    for _ in unknown.chat.completions.create(model="gpt-4o-mini", messages=prompt(), stream=True):
        pass
    assert t_known.bodies[0].get("stream_options") == {"include_usage": True}
    assert "stream_options" not in t_unknown.bodies[0]
    spans = genai_spans(priced)
    assert len(spans) == 2
    by_provider = {s[sc.GEN_AI_PROVIDER_NAME]: s for s in spans}
    assert sc.OTEL_LLM_TOKENS_ESTIMATED not in by_provider["groq"]
    # the unknown host got no include_usage: estimated from the stream
    assert by_provider["openai"][sc.OTEL_LLM_TOKENS_ESTIMATED] is True


def test_raw_response_stream_gets_usage(priced: InMemorySpanExporter, mock_llm: Any) -> None:
    client, _ = client_at("https://api.openai.com/v1", mock_llm)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=prompt(), stream=True
    )
    for _ in raw.parse():
        pass
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=prompt(), stream=True
    ) as response:
        for _ in response.iter_lines():
            pass
    spans = genai_spans(priced)
    assert len(spans) == 2
    for attrs in spans:
        assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] > 0
        assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] > 0
        assert attrs[sc.OTEL_LLM_TOKENS_ESTIMATED] is True
        assert attrs[sc.GEN_AI_USAGE_COST_AMOUNT] > 0


def test_legacy_completions_get_a_span(priced: InMemorySpanExporter, mock_llm: Any) -> None:
    client, _ = client_at("https://api.openai.com/v1", mock_llm)
    resp = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hi")
    (attrs,) = genai_spans(priced)
    assert attrs[sc.GEN_AI_OPERATION_NAME] == "text_completion"
    assert resp.usage is not None
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == resp.usage.prompt_tokens
    assert attrs[sc.GEN_AI_USAGE_COST_SOURCE] == "local"


# --- providers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "sdk", "provider", "price_id", "unresolved"),
    [
        ("https://api.openai.com/v1", "openai", "openai", "openai", False),
        ("https://api.x.ai/v1", "openai", "x_ai", "x-ai", False),
        ("https://api.groq.com/openai/v1", "openai", "groq", "groq", False),
        ("https://api.mistral.ai/v1", "openai", "mistral_ai", "mistral", False),
        ("https://openrouter.ai/api/v1", "openai", "openrouter", "openrouter", False),
        ("https://api.together.xyz/v1", "openai", "together", "together", False),
        ("https://x.openai.azure.com/openai", "openai", "azure.ai.openai", "azure", False),
        (
            "https://bedrock-runtime.us-east-1.amazonaws.com/model",
            "anthropic",
            "aws.bedrock",
            "aws",
            False,
        ),
        (
            "https://generativelanguage.googleapis.com/v1beta",
            "gcp.gemini",
            "gcp.gemini",
            "google",
            False,
        ),
        (
            "https://europe-west4-aiplatform.googleapis.com/v1",
            "gcp.gemini",
            "gcp.vertex_ai",
            "google",
            False,
        ),
        ("https://aiplatform.googleapis.com/v1", "anthropic", "gcp.vertex_ai", "google", False),
        ("http://localhost:8000/v1", "openai", "openai", "openai", False),
        ("http://[::1]:8000/v1", "anthropic", "anthropic", "anthropic", False),
        ("https://gateway.corp/v1", "openai", "openai", None, True),
        ("not a url", "openai", "openai", None, True),
    ],
)
def test_provider_from_endpoint(
    url: str, sdk: str, provider: str, price_id: str | None, unresolved: bool
) -> None:
    providers.reset({})
    try:
        found = providers.resolve(url, sdk)
    finally:
        providers.reset()
    assert (found.provider, found.price_id, found.unresolved) == (provider, price_id, unresolved)


def test_provider_hosts_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        providers.ENV_HOSTS, "gw.internal=x_ai, localhost:11434=ollama,bad-pair, vllm.lan=together"
    )
    providers.reset()
    try:
        assert providers.resolve("https://gw.internal/v1", "openai") == providers.Endpoint(
            "x_ai", "x-ai"
        )
        assert providers.resolve("http://localhost:11434/v1", "openai") == providers.Endpoint(
            "ollama", None
        )
        # the port decides: another local port is a loopback stand-in
        assert providers.resolve("http://localhost:8000/v1", "openai").provider == "openai"
        assert providers.resolve("http://vllm.lan/v1", "openai") == providers.Endpoint(
            "together", "together"
        )
    finally:
        providers.reset()


def test_stream_include_usage_setting() -> None:
    assert load_settings({}).stream_include_usage == "auto"
    assert load_settings({"OTEL_LLM_STREAM_INCLUDE_USAGE": "true"}).stream_include_usage is True
    assert load_settings({"OTEL_LLM_STREAM_INCLUDE_USAGE": "0"}).stream_include_usage is False
    with pytest.raises(ValueError, match="auto, true or false"):
        load_settings({"OTEL_LLM_STREAM_INCLUDE_USAGE": "sometimes"})


def test_unsupported_client_version_logged_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import importlib.metadata

    real = importlib.metadata.version

    def fake(dist: str) -> str:
        return "2.0.0" if dist == "cohere" else real(dist)

    monkeypatch.setattr(importlib.metadata, "version", fake)
    monkeypatch.setattr(_versions, "_checked", False)
    with caplog.at_level(logging.WARNING, logger="otel_llm.genai"):
        _versions.check_once()
        _versions.check_once()
    lines = [r.getMessage() for r in caplog.records if "cohere 2.0.0" in r.getMessage()]
    assert len(lines) == 1, lines
    assert "outside the tested range" in lines[0]


def test_sdk_span_over_unread_route_gets_endpoint_provider(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """AnthropicBedrock posts to ``/model/{id}/invoke``, a route no format reads: the SDK
    span's provider still comes from the endpoint (aws.bedrock, priced under aws)."""
    import httpx

    from otel_llm.genai import wire

    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = tp.get_tracer("sdk")
    wire.install(tracer_provider=tp)
    providers.reset({})
    try:
        with tracer.start_as_current_span(
            "chat anthropic.claude", attributes={sc.GEN_AI_PROVIDER_NAME: "anthropic"}
        ) as span:
            monkeypatch.setattr(wire, "current_genai_span", lambda embedding=False: span)
            client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200)))
            client.post(
                "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude/invoke",
                json={},
            )
    finally:
        wire.uninstall()
        providers.reset()
    (done,) = exporter.get_finished_spans()
    assert done.attributes is not None
    assert done.attributes[sc.GEN_AI_PROVIDER_NAME] == "aws.bedrock"
