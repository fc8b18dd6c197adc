"""Runs every case of spec/vectors/wire/ through the wire layer and the span processor.

Each case's request goes through a real ``httpx.Client`` (and ``httpx2.Client``) whose
transport answers with the case's response; the caller must get exactly those bytes, and
the one GenAI span must carry what the case expects (see spec/vectors/wire/README.md).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry

from otel_llm import providers
from otel_llm.config import Settings
from otel_llm.genai import wire
from otel_llm.metrics import GenAIMetrics
from otel_llm.pricing import PriceBook
from otel_llm.processor import GenAISpanProcessor

WIRE_DIR = Path(__file__).parents[2] / "spec" / "vectors" / "wire"
CASES = {p.stem: json.loads(p.read_text()) for p in sorted(WIRE_DIR.glob("*.json"))}
PRICEBOOK = PriceBook.load(None)


def response_bytes(spec: dict[str, Any]) -> bytes:
    """The response body's bytes as the README defines them."""
    if "body" in spec:
        return json.dumps(spec["body"]).encode()
    if "sse" in spec:
        text = "".join(event + "\n\n" for event in spec["sse"]) + spec.get("sse_tail", "")
        return text.encode()
    return str(spec.get("body_text", "")).encode()


@pytest.fixture
def traced() -> Iterator[tuple[InMemorySpanExporter, CollectorRegistry]]:
    exporter = InMemorySpanExporter()
    registry = CollectorRegistry()
    settings = Settings()
    processor = GenAISpanProcessor(
        settings,
        metrics=GenAIMetrics(settings, registry=CollectorRegistry()),
        pricebook=PRICEBOOK,
        downstream=SimpleSpanProcessor(exporter),
    )
    tp = TracerProvider()
    tp.add_span_processor(processor)
    wire.install(tracer_provider=tp, registry=registry)
    try:
        yield exporter, registry
    finally:
        wire.uninstall()
        providers.reset()


def _reference(attrs: dict[str, Any], when: datetime) -> float | None:
    """genai-prices' own price of the span's usage at ``when``."""
    import genai_prices

    model = attrs.get("gen_ai.response.model") or attrs.get("gen_ai.request.model")
    usage = genai_prices.Usage(
        input_tokens=attrs.get("gen_ai.usage.input_tokens"),
        output_tokens=attrs.get("gen_ai.usage.output_tokens"),
        cache_read_tokens=attrs.get("gen_ai.usage.cache_read.input_tokens"),
    )
    try:
        price = genai_prices.calc_price(
            usage,
            str(model),
            provider_id=providers.price_id(attrs.get("gen_ai.provider.name")),
            genai_request_timestamp=when,
        )
    except LookupError:
        return None
    return float(price.total_price)


def _expected_cost(expect: dict[str, Any], attrs: dict[str, Any], span: Any) -> float:
    """The vector's ``cost_usd`` holds at its ``priced_at``; a span is priced at its own
    start, so where genai-prices prices the usage differently then (a time-of-day or a
    dated price), the vector's figure is checked at its instant and the span's against
    genai-prices at the span's start."""
    expected = float(expect["cost_usd"])
    when = expect.get("priced_at")
    if when is None:
        return expected
    at_vector = _reference(attrs, datetime.fromisoformat(when.replace("Z", "+00:00")))
    at_span = _reference(attrs, datetime.fromtimestamp(span.start_time / 1e9, UTC))
    if at_vector is None or at_span is None or _same(at_span, at_vector):
        return expected
    assert _same(at_vector, expected), f"the vector's cost at {when}: {at_vector} != {expected}"
    return at_span


def _same(actual: Any, expected: Any) -> bool:
    if isinstance(expected, float) and not isinstance(actual, bool):
        return isinstance(actual, int | float) and math.isclose(
            actual, expected, rel_tol=1e-9, abs_tol=1e-12
        )
    if isinstance(actual, tuple):
        actual = list(actual)
    return bool(actual == expected)


def run_case(case: dict[str, Any], module: Any, stream: bool) -> tuple[bytes, list[Any]]:
    req, resp = case["request"], case["response"]
    body = response_bytes(resp)
    chunks = [body[i : i + 7] for i in range(0, len(body), 7)] if stream else [body]

    def handler(request: Any) -> Any:
        return module.Response(
            resp["status"], headers=resp["headers"], stream=_Stream(module, chunks)
        )

    client = module.Client(transport=module.MockTransport(handler))
    request = client.build_request(
        req["method"], req["url"], headers=req["headers"], content=json.dumps(req["body"])
    )
    response = client.send(request, stream=True)
    try:
        got = b"".join(response.iter_raw())
    finally:
        response.close()
    return got, chunks


def _Stream(module: Any, chunks: list[bytes]) -> Any:
    class S(module.SyncByteStream):  # type: ignore[misc, name-defined]
        def __iter__(self) -> Iterator[bytes]:
            yield from chunks

    return S()


@pytest.mark.parametrize("module_name", ["httpx", "httpx2"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_wire_vector(
    name: str,
    module_name: str,
    traced: tuple[InMemorySpanExporter, CollectorRegistry],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exporter, _registry = traced
    module = pytest.importorskip(module_name)
    case = CASES[name]
    env = case.get("env", {})
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    if not env:
        monkeypatch.delenv(providers.ENV_HOSTS, raising=False)
    providers.reset()

    got, _ = run_case(case, module, stream=True)
    assert got == response_bytes(case["response"]), "the caller's bytes must be unchanged"

    spans = exporter.get_finished_spans()
    assert len(spans) == 1, [s.name for s in spans]
    span = spans[0]
    expect = case["expect"]
    assert span.name == expect["span_name"]
    assert span.kind is SpanKind.CLIENT
    attrs = dict(span.attributes or {})
    for key, value in expect["attributes"].items():
        assert key in attrs, f"{key} missing; span has {sorted(attrs)}"
        assert _same(attrs[key], value), f"{key}: {attrs[key]!r} != {value!r}"
    for key in expect["absent"]:
        assert key not in attrs, f"{key} should be absent, is {attrs[key]!r}"
    if expect["cost_usd"] is None:
        assert "gen_ai.usage.cost.amount" not in attrs
    else:
        assert _same(attrs.get("gen_ai.usage.cost.amount"), _expected_cost(expect, attrs, span))
        assert attrs["gen_ai.usage.cost.source"] == expect["cost_source"]
    if expect["status"] == "error":
        assert span.status.status_code is StatusCode.ERROR
    else:
        assert span.status.status_code is not StatusCode.ERROR


def test_wire_vectors_exist() -> None:
    assert len(CASES) >= 25


def test_read_body_path_matches_streamed(traced: Any) -> None:
    """A body ``send`` reads itself (non-streaming call) gives the same span."""
    exporter, _ = traced
    providers.reset()
    case = CASES["xai_chat_json"]
    req, resp = case["request"], case["response"]
    client = httpx.Client(
        transport=httpx.MockTransport(
            lambda r: httpx.Response(200, headers=resp["headers"], json=resp["body"])
        )
    )
    client.post(req["url"], json=req["body"])
    (span,) = exporter.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes["gen_ai.usage.output_tokens"] == 340
    assert math.isclose(
        float(span.attributes["gen_ai.usage.cost.amount"]),  # type: ignore[arg-type]
        case["expect"]["cost_usd"],
        rel_tol=1e-9,
    )


def test_parse_errors_counted(traced: Any) -> None:
    _exporter, registry = traced
    providers.reset()
    case = CASES["bad_truncated_json"]
    run_case(case, httpx, stream=False)
    value = registry.get_sample_value(
        "otel_llm_wire_parse_errors_total", {"format": "openai_chat", "reason": "not_json"}
    )
    assert value == 1.0


def test_other_routes_untouched(traced: Any) -> None:
    exporter, _ = traced
    client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, json={})))
    client.post("https://api.openai.com/v1/files", json={})
    client.get("https://api.openai.com/v1/chat/completions")
    assert exporter.get_finished_spans() == ()
