"""The span processor's pinned fast paths give what the SDK's public calls give."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_llm import processor
from otel_llm.config import Settings
from otel_llm.context import RequestState, request_state
from otel_llm.processor import GenAISpanProcessor, _fields

SETTINGS = Settings(attribution_labels=("user", "tenant", "plan"), user_hash_key="k")


@pytest.fixture(params=[True, False], ids=["fast", "public"])
def fast(request: pytest.FixtureRequest) -> Iterator[bool]:
    saved = processor._fast_attributes
    processor._fast_attributes = request.param
    yield request.param
    processor._fast_attributes = saved


def _spans(limits: SpanLimits | None = None) -> list[tuple[str, dict[str, object], int]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(span_limits=limits)
    provider.add_span_processor(
        GenAISpanProcessor(SETTINGS, downstream=SimpleSpanProcessor(exporter))
    )
    tracer = provider.get_tracer("t")
    state = RequestState("rid-1", {"user": "alice", "tenant": "acme-" + "x" * 40, "plan": "p"})
    with request_state(state):
        tracer.start_span("plain", attributes={"a": 1}).end()
        tracer.start_span("has user", attributes={"user.id": "preset"}).end()
        tracer.start_span("full", attributes={f"k{i}": i for i in range(6)}).end()
    with request_state(RequestState("rid-2")):
        tracer.start_span("id only").end()
    return [
        (s.name, dict(s.attributes or {}), s.dropped_attributes)
        for s in exporter.get_finished_spans()
    ]


@pytest.mark.parametrize(
    "limits",
    [None, SpanLimits(max_span_attributes=7, max_span_attribute_length=12)],
    ids=["no limits", "count and length limits"],
)
def test_stamped_attributes_equal_the_public_path(fast: bool, limits: SpanLimits | None) -> None:
    got = _spans(limits)
    processor._fast_attributes = False
    want = _spans(limits)
    assert [(n, list(a.items()), d) for n, a, d in got] == [
        (n, list(a.items()), d) for n, a, d in want
    ]
    assert got[0][1]["request.id"] == "rid-1"


def test_field_read_takes_older_spellings_only_without_newer() -> None:
    fields = _fields(())
    new = fields.read({"gen_ai.provider.name": "openai", "gen_ai.system": "old"})
    old = fields.read({"gen_ai.system": "old", "gen_ai.usage.prompt_tokens": 3})
    assert new[1] == "openai" and old[1] == "old" and old[6] == 3
