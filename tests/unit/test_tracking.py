"""The manual tracking API and usage beyond text tokens, against spec/vectors/manual_spans.json.

The Node package runs the same vectors (node/test/manual.test.mjs); see
spec/vectors/README.md for the format.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from genai_prices import types as gp_types
from genai_prices.data_snapshot import get_snapshot
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import otel_llm
from otel_llm.config import Settings
from otel_llm.context import RequestState, request_state
from otel_llm.metrics import GenAIMetrics
from otel_llm.pricing import PriceBook, PricingFileError, Usage, parse_pricing
from otel_llm.pricing_units import ExtendedUsage
from otel_llm.processor import GenAISpanProcessor
from otel_llm.tracking import TrackingError

VECTOR_DIR = Path(__file__).parents[2] / "spec" / "vectors"
VECTORS = json.loads((VECTOR_DIR / "manual_spans.json").read_text())
SETTINGS = Settings(
    attribution_labels=tuple(VECTORS["settings"]["attribution_labels"]),
    attribution_limit=VECTORS["settings"]["attribution_limit"],
    pricing_file=str(VECTOR_DIR / VECTORS["settings"]["pricing_file"]),
)
PRICEBOOK = PriceBook.load(SETTINGS.pricing_file)
TRACK_CASES = {c["name"]: c for c in VECTORS["track_cases"]}
SPAN_CASES = {c["name"]: c for c in VECTORS["span_cases"]}
BAD_CASES = {c["name"]: c for c in VECTORS["bad_input_cases"]}


class Pipeline:
    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.metrics = GenAIMetrics(SETTINGS, registry=CollectorRegistry())
        self.processor = GenAISpanProcessor(
            SETTINGS,
            metrics=self.metrics,
            pricebook=PRICEBOOK,
            downstream=SimpleSpanProcessor(self.exporter),
        )
        self.provider = TracerProvider()
        self.provider.add_span_processor(self.processor)

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def samples(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        text = generate_latest(self.metrics.registry).decode()
        out = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return out

    def sample_sum(self, name: str, **match: str) -> float:
        return sum(
            v
            for (n, labels), v in self.samples().items()
            if n == name and all(dict(labels).get(k) == m for k, m in match.items())
        )


def _close(actual: Any, expected: float) -> bool:
    return isinstance(actual, int | float) and math.isclose(actual, expected, abs_tol=1e-9)


def _check_attributes(span: ReadableSpan, expected: dict[str, Any]) -> None:
    attrs = dict(span.attributes or {})
    for key, value in expected["attributes"].items():
        assert attrs.get(key) == value, (key, attrs.get(key), value)
    for key in expected.get("absent", []):
        assert key not in attrs, key
    cost = expected["cost_usd"]
    if cost is None:
        assert "gen_ai.usage.cost.amount" not in attrs
    else:
        assert _close(attrs.get("gen_ai.usage.cost.amount"), cost), attrs
        assert attrs["gen_ai.usage.cost.currency"] == "USD"


def _check_metrics(pipe: Pipeline, case: dict[str, Any]) -> None:
    exp = case["expected"]
    model = (
        case["track"]["model"] if "track" in case else case["attributes"]["gen_ai.request.model"]
    )
    cost = pipe.sample_sum("gen_ai_client_cost_usd_total", gen_ai_request_model=model)
    assert _close(cost, exp.get("metrics_cost_usd", exp["cost_usd"]) or 0.0), cost
    if "cost_labels" in exp:
        key = ("gen_ai_client_cost_usd_total", tuple(sorted(exp["cost_labels"].items())))
        assert _close(pipe.samples().get(key), exp["cost_usd"])
    unpriced = pipe.sample_sum("otel_llm_unpriced_operations_total", gen_ai_request_model=model)
    assert unpriced == exp.get("unpriced_count", 1 if exp["cost_usd"] is None else 0)
    for token_type, total in exp["tokens"].items():
        got = pipe.sample_sum(
            "gen_ai_client_token_usage_sum",
            gen_ai_request_model=model,
            gen_ai_token_type=token_type,
        )
        assert got == total, (token_type, got, total)
    calls = pipe.sample_sum(
        "gen_ai_client_operation_duration_seconds_count", gen_ai_request_model=model
    )
    assert calls == 1  # a nested manual span is not a second call
    if "error_type_label" in exp:
        assert (
            pipe.sample_sum(
                "gen_ai_client_operation_duration_seconds_count", error_type=exp["error_type_label"]
            )
            == 1
        )


_ERRORS: dict[str, type[BaseException]] = {
    "TimeoutError": TimeoutError,
    "RuntimeError": RuntimeError,
}


def _run_track(pipe: Pipeline, case: dict[str, Any]) -> None:
    spec = case["track"]
    tracer = pipe.provider.get_tracer("instrumentation")

    def body() -> None:
        with otel_llm.track(
            spec["operation"],
            spec["provider"],
            spec["model"],
            tracer_provider=pipe.provider,
            **spec["attribution"],
        ) as call:
            for update in case["updates"]:
                call.update(**update)
            if "raise" in case:
                raise _ERRORS[case["raise"]]("failed")

    def maybe_raise() -> None:
        if "raise" in case:
            with pytest.raises(_ERRORS[case["raise"]]):
                body()
        else:
            body()

    if "parent_genai_span" in case:
        with tracer.start_as_current_span(
            "chat parent", kind=SpanKind.CLIENT, attributes=case["parent_genai_span"]
        ):
            maybe_raise()
    else:
        maybe_raise()


@pytest.mark.parametrize("name", list(TRACK_CASES))
def test_track_vector(name: str) -> None:
    case = TRACK_CASES[name]
    pipe = Pipeline()
    _run_track(pipe, case)
    spans = [s for s in pipe.spans() if (s.attributes or {}).get("otel_llm.manual")]
    assert len(spans) == 1
    span = spans[0]
    exp = case["expected"]
    assert span.name == exp["span_name"]
    assert span.kind is SpanKind.CLIENT
    assert (span.status.status_code is StatusCode.ERROR) == (exp["status"] == "error")
    assert span.attributes and span.attributes.get("request.id")
    _check_attributes(span, exp)
    _check_metrics(pipe, case)


@pytest.mark.parametrize("name", list(SPAN_CASES))
def test_span_vector(name: str) -> None:
    case = SPAN_CASES[name]
    pipe = Pipeline()
    tracer = pipe.provider.get_tracer("instrumentation")
    attrs = case["attributes"]
    tracer.start_span(
        f"chat {attrs['gen_ai.request.model']}", kind=SpanKind.CLIENT, attributes=attrs
    ).end()
    (span,) = pipe.spans()
    exp = case["expected"]
    got = (span.attributes or {}).get("gen_ai.usage.cost.amount")
    if exp["cost_usd"] is None:
        assert got is None
        assert (span.attributes or {}).get("otel_llm.cost.unpriced_reason") == exp[
            "unpriced_reason"
        ]
    else:
        assert _close(got, exp["cost_usd"]), got
    _check_metrics(pipe, case)


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("OTEL_LLM_STRICT", raising=False)
    yield


def _bad(case: dict[str, Any], pipe: Pipeline) -> Any:
    with otel_llm.track(
        "speech_to_text", "gcp.vertex_ai", "chirp-2", tracer_provider=pipe.provider
    ) as call:
        for update in case["updates"]:
            call.update(**update)
    for update in case.get("after_end", []):
        call.update(**update)
    return call


@pytest.mark.parametrize("name", list(BAD_CASES))
def test_bad_input_production_ignored_counted_logged_once(
    name: str, production: None, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = BAD_CASES[name]
    pipe = Pipeline()

    class _Telemetry:
        processor = pipe.processor

    monkeypatch.setattr("otel_llm.setup._current", _Telemetry())
    monkeypatch.setattr("otel_llm.tracking._logged", set())
    with caplog.at_level(logging.WARNING, logger="otel_llm.tracking"):
        call = _bad(case, pipe)
        _bad(case, pipe)  # a second time: counted again, not logged again
    assert call.usage == case["usage_after"]
    errors = pipe.sample_sum(
        "otel_llm_processor_errors_total", hook="track", error_type=case["kind"]
    )
    assert errors == 2
    assert len([r for r in caplog.records if "otel-llm track" in r.getMessage()]) == 1
    (span, _) = pipe.spans()
    assert (span.attributes or {}).get("otel_llm.usage.seconds") == case["usage_after"].get(
        "seconds"
    )


@pytest.mark.parametrize("name", list(BAD_CASES))
def test_bad_input_strict_raises(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_LLM_STRICT", "true")
    case = BAD_CASES[name]
    with pytest.raises(ValueError) as info:
        _bad(case, Pipeline())
    assert isinstance(info.value, TrackingError)


def test_decorator_sync_and_async_and_current_call() -> None:
    pipe = Pipeline()

    @otel_llm.track("translation", "deepl", "deepl-pro", tracer_provider=pipe.provider)
    def translate(text: str) -> str:
        call = otel_llm.current_call()
        assert call is not None
        call.update(characters=len(text))
        return text.upper()

    @otel_llm.track("speech_to_text", "gcp.vertex_ai", "chirp-2", tracer_provider=pipe.provider)
    async def transcribe(seconds: float) -> str:
        call = otel_llm.current_call()
        assert call is not None
        call.update(seconds=seconds)
        await asyncio.sleep(0)
        return "text"

    async def nested_async_with() -> None:
        async with otel_llm.track(
            "search", "acme", "web-search", tracer_provider=pipe.provider, source="kb"
        ) as call:
            call.update(requests=2)

    assert translate("x" * 1000) == "X" * 1000
    assert asyncio.run(transcribe(60)) == "text"
    asyncio.run(nested_async_with())
    assert otel_llm.current_call() is None
    costs = {s.name: (s.attributes or {}).get("gen_ai.usage.cost.amount") for s in pipe.spans()}
    assert _close(costs["translation deepl-pro"], 0.025)
    assert _close(costs["speech_to_text chirp-2"], 0.016)
    assert _close(costs["search web-search"], 0.01)


def test_decorator_reraises_and_marks_error() -> None:
    pipe = Pipeline()

    @otel_llm.track("ocr", "acme", "vision-ocr", tracer_provider=pipe.provider)
    async def ocr() -> None:
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        asyncio.run(ocr())
    (span,) = pipe.spans()
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "ConnectionError"


def test_request_id_and_attribution_inherited_from_request_and_scoped() -> None:
    pipe = Pipeline()
    tracer = pipe.provider.get_tracer("app")
    with request_state(RequestState("req-42", {"user": "carol", "tenant": "acme"})):
        with otel_llm.track(
            "speech_to_text",
            "gcp.vertex_ai",
            "chirp-2",
            tracer_provider=pipe.provider,
            source="meeting-notes",
        ) as call:
            tracer.start_span("inner").end()  # spans inside the block get the source too
            call.update(seconds=6)
        tracer.start_span("after").end()
    by_name = {s.name: dict(s.attributes or {}) for s in pipe.spans()}
    manual = by_name["speech_to_text chirp-2"]
    assert manual["request.id"] == "req-42" and call.request_id == "req-42"
    assert manual["user.id"] == "carol" and manual["otel_llm.tenant"] == "acme"
    assert by_name["inner"]["otel_llm.attribution.source"] == "meeting-notes"
    assert "otel_llm.attribution.source" not in by_name["after"]


def test_outside_a_request_a_request_id_is_minted() -> None:
    pipe = Pipeline()
    with otel_llm.track("search", "acme", "web-search", tracer_provider=pipe.provider) as call:
        pass
    (span,) = pipe.spans()
    assert call.request_id and (span.attributes or {})["request.id"] == call.request_id


def test_audio_cost_equals_genai_prices_calc_price() -> None:
    openai = next(p for p in get_snapshot().providers if p.id == "openai")
    for model_id in ("gpt-audio", "gpt-audio-mini", "gpt-realtime"):
        model = next(m for m in openai.models if m.id == model_id)
        assert isinstance(model.prices, gp_types.ModelPrice)
        want = model.prices.calc_price(
            gp_types.Usage(
                input_tokens=5000,
                input_audio_tokens=1200,
                output_tokens=900,
                output_audio_tokens=700,
            )
        )["total_price"]
        got, reason = PriceBook.load(None).cost_extended(
            "openai",
            model_id,
            Usage(5000, 900),
            ExtendedUsage(audio_input=1200, audio_output=700),
        )
        assert reason is None
        assert _close(got, float(want)), (model_id, got, want)


def test_pricing_file_rejects_bad_unit_prices() -> None:
    with pytest.raises(PricingFileError, match="unknown keys"):
        parse_pricing({"models": [{"model": "m", "prices": {"per_fortnight": 1}}]})
    with pytest.raises(PricingFileError, match="non-negative"):
        parse_pricing({"models": [{"model": "m", "prices": {"per_second": -1}}]})
    with pytest.raises(PricingFileError, match="not both"):
        parse_pricing(
            {"models": [{"model": "m", "prices": {"per_request": 1, "requests_kcount": 2}}]}
        )


def test_track_never_raises_into_host_without_configure(production: None) -> None:
    # no tracer provider configured: the API's no-op tracer; bad values are ignored
    with otel_llm.track("ocr", "acme", "vision-ocr") as call:
        call.update(pages=-1, widgets=3)
        call.update(pages=2)
    assert call.usage == {"pages": 2}


# --- the OpenAI SDK path: audio and prediction tokens recorded and priced ------------------


def _openai_response(model: str, usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-audio",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "audio": {"id": "audio_1", "data": "", "expires_at": 1, "transcript": "hi"},
                },
                "finish_reason": "stop",
            }
        ],
        "usage": usage,
    }


@pytest.fixture
def openai_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A loopback HTTP server answering /v1/chat/completions with queued JSON bodies."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    queue: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            body = json.dumps(queue.pop(0)).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", queue
    finally:
        server.shutdown()
        server.server_close()


def test_openai_audio_and_prediction_calls_priced_at_their_rates(
    openai_server: tuple[str, list[dict[str, Any]]],
) -> None:
    import openai

    from otel_llm.genai import instrument_llm_sdks, uninstrument_llm_sdks

    base_url, queue = openai_server
    pipe = Pipeline()
    instrument_llm_sdks(Settings(), tracer_provider=pipe.provider)
    try:
        client = openai.OpenAI(base_url=base_url, api_key="test", max_retries=0)
        audio_usage = {
            "prompt_tokens": 1000,
            "completion_tokens": 500,
            "total_tokens": 1500,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 400},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 200,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }
        queue.append(_openai_response("gpt-audio", audio_usage))
        queue.append(_openai_response("gpt-4o-audio-preview-2025-06-03", audio_usage))
        queue.append(_openai_response("gpt-4o-mini-audio-preview", audio_usage))
        for model in ("gpt-audio", "gpt-4o-audio-preview", "gpt-4o-mini-audio-preview"):
            client.chat.completions.create(
                model=model,
                modalities=["text", "audio"],
                audio={"voice": "alloy", "format": "wav"},
                messages=[{"role": "user", "content": "hello"}],
            )
        queue.append(
            _openai_response(
                "gpt-4o",
                {
                    "prompt_tokens": 100,
                    "completion_tokens": 300,
                    "total_tokens": 400,
                    "completion_tokens_details": {
                        "accepted_prediction_tokens": 50,
                        "rejected_prediction_tokens": 40,
                    },
                },
            )
        )
        client.chat.completions.create(
            model="gpt-4o",
            prediction={"type": "content", "content": "draft"},
            messages=[{"role": "user", "content": "edit"}],
        )
    finally:
        uninstrument_llm_sdks()
    by_model = {
        (s.attributes or {})["gen_ai.request.model"]: dict(s.attributes or {}) for s in pipe.spans()
    }
    audio = by_model["gpt-audio"]
    assert audio["otel_llm.usage.audio.input_tokens"] == 400
    assert audio["otel_llm.usage.audio.output_tokens"] == 200
    assert _close(audio["gen_ai.usage.cost.amount"], 0.0301)  # bundled audio rates
    assert _close(by_model["gpt-4o-audio-preview"]["gen_ai.usage.cost.amount"], 0.0365)  # file
    unpriced = by_model["gpt-4o-mini-audio-preview"]
    assert "gen_ai.usage.cost.amount" not in unpriced  # no audio rate: never priced as text
    assert unpriced["otel_llm.cost.unpriced_reason"] == "no_price_for:audio_input_tokens"
    predicted = by_model["gpt-4o"]
    assert predicted["otel_llm.usage.prediction.accepted_tokens"] == 50
    assert predicted["otel_llm.usage.prediction.rejected_tokens"] == 40
    assert _close(predicted["gen_ai.usage.cost.amount"], 0.00325)
    assert "otel_llm.usage.audio.input_tokens" not in predicted  # zeros are not recorded
    assert pipe.sample_sum("gen_ai_client_token_usage_sum", gen_ai_token_type="audio_input") == 1200


def test_one_tracked_object_entered_from_many_threads() -> None:
    import threading

    pipe = Pipeline()
    shared = otel_llm.track("search", "acme", "web-search", tracer_provider=pipe.provider)
    barrier = threading.Barrier(8)

    def work(n: int) -> None:
        with shared as call:
            barrier.wait()
            call.update(requests=n)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(1, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = sorted((s.attributes or {})["otel_llm.usage.requests"] for s in pipe.spans())
    assert got == list(range(1, 9))
