"""Runs every case of spec/vectors/genai_spans.json through the real span processor.

The Node package runs the same file; see spec/vectors/README.md for the format.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from otel_llm.config import Settings
from otel_llm.context import RequestState, request_state
from otel_llm.metrics import GenAIMetrics
from otel_llm.pricing import PriceBook
from otel_llm.processor import GenAISpanProcessor

VECTORS = json.loads(
    (Path(__file__).parents[2] / "spec" / "vectors" / "genai_spans.json").read_text()
)
SETTINGS = Settings(
    attribution_labels=tuple(VECTORS["settings"]["attribution_labels"]),
    attribution_limit=VECTORS["settings"]["attribution_limit"],
    user_hash_key=VECTORS["settings"]["user_hash_key"],
)
PRICEBOOK = PriceBook.load(None)
CASES = {case["name"]: case for case in VECTORS["cases"]}


def _ns(rfc3339: str) -> int:
    when = datetime.fromisoformat(rfc3339.replace("Z", "+00:00"))
    return int(when.timestamp()) * 1_000_000_000


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _same(actual: Any, expected: Any) -> bool:
    if isinstance(expected, float) and not isinstance(actual, bool):
        return isinstance(actual, int | float) and math.isclose(
            actual, expected, rel_tol=1e-9, abs_tol=1e-12
        )
    return _plain(actual) == expected


def _run(case: dict[str, Any]) -> tuple[dict[str, Any], dict[tuple[str, tuple], float]]:
    exporter = InMemorySpanExporter()
    metrics = GenAIMetrics(SETTINGS, registry=CollectorRegistry())
    processor = GenAISpanProcessor(
        SETTINGS, metrics=metrics, pricebook=PRICEBOOK, downstream=SimpleSpanProcessor(exporter)
    )
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("vectors")
    spec = case["span"]
    start = _ns(spec["start_time"])
    end = start + round(spec["duration_s"] * 1e9)

    def emit() -> None:
        span = tracer.start_span(
            spec["name"],
            kind=SpanKind[spec["kind"].upper()],
            attributes=spec["attributes"],
            start_time=start,
        )
        if spec["status"] == "error":
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=end)

    request = case.get("request")
    if request:
        state = RequestState(request["request_id"], dict(request.get("attribution", {})))
        with request_state(state):
            emit()
    else:
        emit()
    provider.shutdown()
    (exported,) = exporter.get_finished_spans()
    text = generate_latest(metrics.registry).decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.endswith(("_count", "_sum", "_total"))
    }
    return dict(exported.attributes or {}), samples


def test_vectors_cover_the_required_situations() -> None:
    names = set(CASES)
    for required in (
        "openai_chat_cached_reasoning",
        "anthropic_cache_read_and_creation",
        "old_spellings",
        "openai_streaming_time_to_first_chunk",
        "error_span",
        "unknown_model",
        "missing_usage",
        "http_server_span",
        "provider_reported_cost",
    ):
        assert required in names


@pytest.mark.parametrize("name", sorted(CASES))
def test_vector(name: str) -> None:
    case = CASES[name]
    expected = case["expected"]
    attributes, samples = _run(case)
    given = case["span"]["attributes"]

    added = {k: v for k, v in attributes.items() if k not in given}
    assert set(added) == set(expected["span_attributes"]), "attributes the processor added"
    for key, want in expected["span_attributes"].items():
        assert _same(added[key], want), (key, added[key], want)

    amount = attributes.get("gen_ai.usage.cost.amount")
    if expected["cost_micro_usd"] is None:
        assert amount is None
    else:
        assert amount is not None and round(amount * 1e6) == expected["cost_micro_usd"]
    assert bool(attributes.get("otel_llm.cost.unpriced", False)) is expected["unpriced"]

    want_samples = {
        (m["name"], tuple(sorted(m["labels"].items()))): m["value"] for m in expected["metrics"]
    }
    assert set(samples) == set(want_samples), "metric series"
    for key, want in want_samples.items():
        assert math.isclose(samples[key], want, rel_tol=1e-9, abs_tol=1e-12), (key, samples[key])
