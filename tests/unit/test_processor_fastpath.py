"""The span processor's pinned fast paths give what the SDK's public calls give."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
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


# --- the end-of-span plan and the remembered stamp against the general path -----------

_CHAT = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
}
_DONE = {
    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
    "gen_ai.usage.input_tokens": 1200,
    "gen_ai.usage.output_tokens": 300,
    "gen_ai.usage.cache_read.input_tokens": 1024,
}
# (name, attributes at start, attributes at end, failed): every branch of _measure
_CASES: list[tuple[str, dict[str, object], dict[str, object], bool]] = [
    ("priced", _CHAT, _DONE, False),
    ("priced again", _CHAT, {**_DONE, "gen_ai.usage.input_tokens": 7}, False),
    ("stream", _CHAT, {**_DONE, "gen_ai.response.time_to_first_chunk": 0.25}, False),
    ("bad ttfc", _CHAT, {**_DONE, "gen_ai.response.time_to_first_chunk": True}, False),
    ("failed", _CHAT, {}, True),
    ("failed, typed", _CHAT, {"error.type": "RateLimitError"}, True),
    ("failed with usage", _CHAT, _DONE, True),
    ("error type, not failed", _CHAT, {**_DONE, "error.type": "timeout"}, False),
    ("output only", _CHAT, {"gen_ai.usage.output_tokens": 5}, False),
    (
        "embeddings",
        {
            **_CHAT,
            "gen_ai.operation.name": "embeddings",
            "gen_ai.request.model": "text-embedding-3-small",
        },
        {"gen_ai.usage.input_tokens": 64},
        False,
    ),
    ("no usage", _CHAT, {"gen_ai.response.model": "gpt-4o-mini"}, False),
    (
        "raw cache shape",
        _CHAT,
        {
            "gen_ai.usage.input_tokens": 10,
            "gen_ai.usage.output_tokens": 3,
            "gen_ai.usage.cache_read.input_tokens": 50,
            "gen_ai.usage.cache_creation.input_tokens": 7,
        },
        False,
    ),
    (
        "raw reasoning shape",
        _CHAT,
        {
            "gen_ai.usage.input_tokens": 10,
            "gen_ai.usage.output_tokens": 3,
            "gen_ai.usage.reasoning.output_tokens": 40,
        },
        False,
    ),
    (
        "float tokens",
        _CHAT,
        {"gen_ai.usage.input_tokens": 10.0, "gen_ai.usage.output_tokens": "4"},
        False,
    ),
    (
        "negative tokens",
        _CHAT,
        {"gen_ai.usage.input_tokens": -1, "gen_ai.usage.output_tokens": 4},
        False,
    ),
    (
        "bool tokens",
        _CHAT,
        {"gen_ai.usage.input_tokens": True, "gen_ai.usage.output_tokens": 4},
        False,
    ),
    (
        "unpriced model",
        {**_CHAT, "gen_ai.request.model": "gpt-made-up-9"},
        {"gen_ai.usage.input_tokens": 1},
        False,
    ),
    (
        "no provider",
        {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini"},
        _DONE,
        False,
    ),
    ("agent", {**_CHAT, "gen_ai.operation.name": "invoke_agent"}, _DONE, False),
    (
        "older spelling",
        {"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o-mini"},
        {"gen_ai.usage.prompt_tokens": 9, "gen_ai.usage.completion_tokens": 2},
        False,
    ),
    ("reported cost", _CHAT, {**_DONE, "gen_ai.usage.cost.amount": 0.5}, False),
    ("audio", _CHAT, {**_DONE, "otel_llm.usage.audio.input_tokens": 100}, False),
    ("unresolved provider", _CHAT, {**_DONE, "otel_llm.provider.unresolved": True}, False),
    ("manual", {**_CHAT, "otel_llm.manual": True}, _DONE, False),
    ("own user", {**_CHAT, "user.id": "bob"}, _DONE, False),
    ("list value", {**_CHAT, "otel_llm.tenant": ["a", "b"]}, _DONE, False),
    ("not sampled", _CHAT, _DONE, False),
    ("plain", {"http.request.method": "GET"}, {}, False),
]


def _run(
    general: bool,
    monkeypatch: pytest.MonkeyPatch,
    seen: list[GenAISpanProcessor] | None = None,
    settings: Settings = SETTINGS,
) -> tuple[list[object], list[object]]:
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased
    from opentelemetry.trace import SpanKind, Status, StatusCode
    from prometheus_client.openmetrics.exposition import generate_latest

    from otel_llm.processor import RecordingSampler

    exporter = InMemorySpanExporter()
    ours = GenAISpanProcessor(settings, downstream=SimpleSpanProcessor(exporter))
    if seen is not None:
        seen.append(ours)
    if general:  # every span through the field-by-field path, every stamp per span
        monkeypatch.setattr(ours, "_measure", ours._measure_general)
        monkeypatch.setattr(ours, "_remember", lambda state, route: (None,) * 6)
    from opentelemetry.sdk.trace.id_generator import IdGenerator

    class Counting(IdGenerator):  # the same IDs in both runs, for the exemplars
        def __init__(self) -> None:
            self.n = 0

        def generate_span_id(self) -> int:
            self.n += 1
            return self.n

        def generate_trace_id(self) -> int:
            return self.n + 1

    ids = Counting()
    tracers = {}
    for sampled in (True, False):
        provider = TracerProvider(
            sampler=RecordingSampler(ParentBased(ALWAYS_ON if sampled else ALWAYS_OFF)),
            id_generator=ids,
        )
        provider.add_span_processor(ours)
        tracers[sampled] = provider.get_tracer("t")
    scope = {"route": type("R", (), {"path": "/chat/{id}"})()}
    states = [
        RequestState("rid-1", {"user": "alice", "tenant": "acme", "plan": "p"}),
        RequestState("rid-2", {"user": "carol"}, scope=scope),
        RequestState("rid-3", {"tenant": "t", "route": "/set"}),
    ]
    for state in states:
        with request_state(state):
            for name, start, end, failed in _CASES * 2:
                tracer = tracers[name != "not sampled"]
                t0 = 1_700_000_000_000_000_000 + ids.n * 1_000_000_000
                span = tracer.start_span(
                    name, kind=SpanKind.CLIENT, attributes=start, start_time=t0
                )
                span.set_attributes(end)
                if failed:
                    span.set_status(Status(StatusCode.ERROR))
                span.end(end_time=t0 + 1_500_000 * ids.n)
        state.attribution["plan"] = "changed"  # a later span of the request sees the change
        with request_state(state):
            t0 = 1_800_000_000_000_000_000 + ids.n
            after = tracers[True].start_span("after", attributes=_CHAT, start_time=t0)
            after.end(end_time=t0 + 2_000_000)
    spans = [
        (s.name, list((s.attributes or {}).items()), s.dropped_attributes)
        for s in exporter.get_finished_spans()
    ]
    text = generate_latest(ours.metrics.registry).decode()
    # exemplars carry the span's end as their time: the same in both runs
    return spans, [line for line in text.splitlines() if "_created" not in line]


@pytest.mark.parametrize(
    "labels",
    [("user", "tenant", "plan"), ("user", "tenant"), ("tenant",), ()],
    ids=["3 labels", "2 labels", "1 label", "no label"],
)
def test_plans_and_remembered_stamps_equal_the_general_path(
    monkeypatch: pytest.MonkeyPatch, labels: tuple[str, ...]
) -> None:
    settings = Settings(attribution_labels=labels, user_hash_key="k")
    seen: list[GenAISpanProcessor] = []
    fast_spans, fast_metrics = _run(False, monkeypatch, seen, settings)
    kinds = {plan.kind for plan in seen[0]._plans.values()}
    assert kinds == {processor._GENERAL, processor._NOT_INFERENCE, processor._PRICED}
    assert seen[0]._stamps[4] is not None  # a remembered stamp was written
    general_spans, general_metrics = _run(True, monkeypatch, None, settings)
    assert fast_spans == general_spans
    assert fast_metrics == general_metrics
    assert any("gen_ai.usage.cost.amount" in dict(a) for _, a, _ in fast_spans)
    assert any('span_id="' in line for line in fast_metrics)
    stamps = [float(line.rsplit(" ", 1)[1]) for line in fast_metrics if " # {" in line]
    assert stamps and all(  # the ends of the spans (1.7e9 s, or 1.8e9 s), not the clock
        0 < stamp - 1.7e9 < 1000 or 0 < stamp - 1.8e9 < 1000 for stamp in stamps
    )


def test_span_context_and_status_read_directly_equal_their_properties(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert processor._CONTEXT_TUPLE  # opentelemetry-api 1.45: the pinned layout is there
    assert processor._STATUS_FIELD
    fast_spans, fast_metrics = _run(False, monkeypatch)
    monkeypatch.setattr(processor, "_CONTEXT_TUPLE", False)
    assert _run(False, monkeypatch) == (fast_spans, fast_metrics)
    monkeypatch.setattr(processor, "_STATUS_FIELD", False)
    assert _run(False, monkeypatch) == (fast_spans, fast_metrics)


def test_downstream_start_and_ending_hooks_skipped_only_when_the_sdk_s_no_ops() -> None:
    from opentelemetry.sdk.trace import SpanProcessor

    class Starting(SpanProcessor):
        def __init__(self) -> None:
            self.started = 0

        def on_start(self, span: object, parent_context: object = None) -> None:
            self.started += 1

    plain = SimpleSpanProcessor(InMemorySpanExporter())
    assert not processor._calls_hook(plain, "on_start")
    assert not processor._calls_hook(plain, "_on_ending")
    patched = SpanProcessor()
    patched.on_start = lambda span, parent_context=None: None  # type: ignore[method-assign]
    assert processor._calls_hook(patched, "on_start")
    starting = Starting()
    provider = TracerProvider()
    provider.add_span_processor(GenAISpanProcessor(SETTINGS, downstream=starting))
    provider.get_tracer("t").start_span("x").end()
    assert starting.started == 1


# --- the exported copy: what the encoders write, and what it keeps alive --------------


def _encoded(
    general: bool, monkeypatch: pytest.MonkeyPatch, beside: bool = True
) -> tuple[bytes, str, list[Any]]:
    """Spans with events, links, dropped counts and an error status, through the processor
    (the SDK-layout copy, or every span through the property-by-property copy): their OTLP
    protobuf and OTLP JSON file encodings, and the same spans as the SDK hands them over
    (none without a processor ``beside``: then the spans without a dropped count are
    annotated in place)."""
    import io

    from opentelemetry.exporter.otlp.json.file import FileSpanExporter
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace.id_generator import IdGenerator
    from opentelemetry.trace import Link, SpanKind, Status, StatusCode

    monkeypatch.setattr(processor, "_READABLE_LAYOUT", not general)

    class Counting(IdGenerator):
        def __init__(self) -> None:
            self.n = 0

        def generate_span_id(self) -> int:
            self.n += 1
            return self.n

        def generate_trace_id(self) -> int:
            return 1000 + self.n

    limits = SpanLimits(
        max_span_attributes=8,
        max_events=2,
        max_links=2,
        max_event_attributes=1,
        max_link_attributes=1,
    )
    exported, originals = InMemorySpanExporter(), InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource({"service.name": "svc"}), span_limits=limits, id_generator=Counting()
    )
    provider.add_span_processor(
        GenAISpanProcessor(Settings(), downstream=SimpleSpanProcessor(exported))
    )
    if beside:
        provider.add_span_processor(SimpleSpanProcessor(originals))  # the SDK's spans
    tracer = provider.get_tracer("t", "1.0")
    t0 = 1_700_000_000_000_000_000
    linked = tracer.start_span("linked", start_time=t0)
    linked.end(end_time=t0 + 1)
    ctx = linked.get_span_context()
    plain = tracer.start_span("chat gpt-4o-mini", attributes=_CHAT, start_time=t0)
    plain.set_attributes(_DONE)
    plain.set_status(Status(StatusCode.OK))
    plain.end(end_time=t0 + 2_000_000)
    full = tracer.start_span(
        "chat full",
        kind=SpanKind.CLIENT,
        attributes={"x.a": 1, "x.b": 2, **_CHAT},
        links=[Link(ctx, {"l.a": 1, "l.b": 2}), Link(ctx), Link(ctx, {"l.c": "c"})],
        start_time=t0,
    )
    for i in range(3):  # one dropped; the first kept event drops one of its attributes
        full.add_event(f"e{i}", {"e.a": i, "e.b": str(i)}, timestamp=t0 + i)
    full.set_attributes({**_DONE, "x.c": 3})  # x.a and x.b dropped (limit 8)
    full.end(end_time=t0 + 3_000_000)
    failed = tracer.start_span("chat failed", attributes=_CHAT, start_time=t0)
    failed.set_attributes(_DONE)
    failed.set_status(Status(StatusCode.ERROR, "rate limited"))
    failed.end(end_time=t0 + 4_000_000)
    spans = exported.get_finished_spans()
    copied = [type(s) is processor._AnnotatedSpan for s in spans]
    # only the span with dropped counts is copied when nothing else sees the SDK's spans
    assert copied == (
        [False, True, True, True] if beside or general else [False, False, True, False]
    )
    got = next(s for s in spans if s.name == "chat full")
    assert (got.dropped_attributes, got.dropped_events, got.dropped_links) == (2, 1, 1)
    stream = io.StringIO()
    json_exporter = FileSpanExporter(stream=stream)
    json_exporter.export(spans)
    return (
        encode_spans(spans).SerializeToString(),
        stream.getvalue(),
        list(originals.get_finished_spans()),
    )


def test_copy_encodes_as_the_general_copy_and_as_the_sdk_span(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    fast_proto, fast_json, originals = _encoded(False, monkeypatch)
    general_proto, general_json, _ = _encoded(True, monkeypatch)
    assert fast_proto == general_proto
    assert fast_json == general_json
    # beside the cost attributes, every field is what the SDK's own span encodes to
    ours = ExportTraceServiceRequest.FromString(fast_proto)
    sdk = encode_spans(originals)
    ours_spans = list(ours.resource_spans[0].scope_spans[0].spans)
    sdk_spans = list(sdk.resource_spans[0].scope_spans[0].spans)
    assert len(ours_spans) == len(sdk_spans) == 4
    for mine, theirs in zip(ours_spans, sdk_spans, strict=True):
        keys = {kv.key for kv in theirs.attributes}
        added = [kv for kv in mine.attributes if kv.key not in keys]
        kept = [kv for kv in mine.attributes if kv.key in keys]
        del mine.attributes[:]
        mine.attributes.extend(kept)
        assert mine == theirs, mine.name
        assert mine.name == "linked" or any(kv.key == "gen_ai.usage.cost.source" for kv in added)
    full = next(s for s in sdk_spans if s.name == "chat full")
    assert (full.dropped_attributes_count, full.dropped_events_count) == (2, 1)
    assert full.dropped_links_count == 1 and len(full.events) == len(full.links) == 2
    assert full.events[0].dropped_attributes_count == 1


def test_span_annotated_in_place_encodes_as_the_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    in_place = _encoded(False, monkeypatch, beside=False)
    assert in_place[:2] == _encoded(False, monkeypatch)[:2]
    assert in_place[:2] == _encoded(True, monkeypatch, beside=False)[:2]


def test_a_processor_added_later_sees_the_sdk_span_untouched() -> None:
    exported, beside = InMemorySpanExporter(), InMemorySpanExporter()
    provider = TracerProvider()
    ours = GenAISpanProcessor(Settings(), downstream=SimpleSpanProcessor(exported))
    provider.add_span_processor(ours)
    tracer = provider.get_tracer("t")
    alone = tracer.start_span("chat", attributes=_CHAT)
    alone.set_attributes(_DONE)
    alone.end()
    assert ours._alone is not None
    started = tracer.start_span("chat", attributes=_CHAT)  # a processor joins mid-span
    started.set_attributes(_DONE)
    provider.add_span_processor(SimpleSpanProcessor(beside))
    started.end()
    first, second = exported.get_finished_spans()
    assert type(first) is ReadableSpan and type(second) is processor._AnnotatedSpan
    assert first.attributes["gen_ai.usage.cost.source"] == "local"  # type: ignore[index]
    assert dict(second.attributes or {}) == dict(first.attributes or {}) != {}
    (seen,) = beside.get_finished_spans()
    assert "gen_ai.usage.cost.source" not in (seen.attributes or {})
    # a second provider: copies from then on
    other = TracerProvider()
    other.add_span_processor(ours)
    other.get_tracer("t").start_span("x").end()
    assert ours._alone is None


def _keeping_provider(limits: SpanLimits) -> tuple[TracerProvider, list[Any]]:
    """A provider whose GenAISpanProcessor hands its spans to a downstream that keeps them
    (the list returned), as a batch processor's queue would."""
    received: list[Any] = []

    class Keep(SimpleSpanProcessor):
        def on_end(self, span: Any) -> None:
            received.append(span)

    provider = TracerProvider(span_limits=limits)
    provider.add_span_processor(
        GenAISpanProcessor(Settings(), downstream=Keep(InMemorySpanExporter()))
    )
    return provider, received


def test_queued_copy_does_not_keep_the_sdk_span_alive() -> None:
    import gc
    import weakref

    provider, received = _keeping_provider(SpanLimits(max_span_attributes=7))
    span = provider.get_tracer("t").start_span("chat", attributes={"x": 1, "y": 2, **_CHAT})
    span.set_attributes(_DONE)
    bounded = weakref.ref(span._attributes)  # type: ignore[attr-defined]
    events = weakref.ref(span._events)  # type: ignore[attr-defined]
    span.end()
    del span
    gc.collect()
    (copy,) = received
    assert type(copy) is processor._AnnotatedSpan
    assert bounded() is None and events() is None  # freed: the copy holds plain values
    assert copy.events == () and copy.links == () and copy.dropped_attributes == 2
    assert copy.attributes["gen_ai.usage.cost.source"] == "local"


def test_passed_through_span_lets_go_of_empty_events_and_links() -> None:
    from opentelemetry.sdk.util import BoundedList

    provider, received = _keeping_provider(SpanLimits(max_events=1))
    tracer = provider.get_tracer("t")
    tracer.start_span("GET /").end()
    with_event = tracer.start_span("POST /")
    with_event.add_event("e")
    with_event.end()
    dropped = tracer.start_span("PUT /")
    dropped.add_event("a")
    dropped.add_event("b")  # one dropped (limit 1)
    dropped.end()
    empty, one, over = received
    assert empty._events == () and empty._links == ()  # type: ignore[attr-defined]
    assert (empty.events, empty.links, empty.dropped_events, empty.dropped_links) == ((), (), 0, 0)
    assert type(one._events) is BoundedList and [e.name for e in one.events] == ["e"]  # type: ignore[attr-defined]
    assert one._links == ()  # type: ignore[attr-defined]
    assert type(over._events) is BoundedList and over.dropped_events == 1  # type: ignore[attr-defined]
