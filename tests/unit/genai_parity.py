"""What the tests that hold a cheaper path's spans equal to the official code's share:
span normalisation, a run recorded with the path on or off, and an inner inference that
publishes into the call's context."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util.genai.handler import TelemetryHandler

from otel_llm.genai import _fastchat

TTFC = "gen_ai.response.time_to_first_chunk"


def normalized(finished: tuple[ReadableSpan, ...]) -> list[tuple[Any, ...]]:
    """Name, kind, scope, status and description, attributes (a stream's time to first
    chunk as its type), events with their attributes, and the parent's name."""
    names = {s.context.span_id: s.name for s in finished if s.context is not None}
    out = []
    for s in finished:
        attrs = dict(s.attributes or {})
        if TTFC in attrs:  # a duration
            attrs[TTFC] = type(attrs[TTFC]).__name__
        out.append(
            (
                s.name,
                s.kind,
                s.instrumentation_scope.name if s.instrumentation_scope else None,
                s.status.status_code,
                s.status.description,
                sorted(attrs.items()),
                [(e.name, sorted(dict(e.attributes or {}).items())) for e in s.events],
                names.get(s.parent.span_id) if s.parent is not None else None,
            )
        )
    return out


def record(
    run: Callable[[], None],
    span_exporter: InMemorySpanExporter,
    on: bool,
    counted: Callable[[], tuple[Any, str]],
) -> tuple[list[tuple[Any, ...]], int]:
    """``run`` with the cheaper paths on or off (``_fastchat.Switch``): its spans,
    normalised, and how often the method ``counted()`` names (owner, name; looked up
    when the run starts: the lean class is made when the SDK is instrumented) ran."""
    owner, name = counted()
    original = getattr(owner, name)
    calls = 0

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return original(*args, **kwargs)

    span_exporter.clear()
    _fastchat.Switch.on = on
    setattr(owner, name, counting)
    try:
        run()
    finally:
        _fastchat.Switch.on = True
        setattr(owner, name, original)
    found = normalized(span_exporter.get_finished_spans())
    span_exporter.clear()
    return found, calls


def openai_client(transport: Callable[[Any], Any], asynchronous: bool = False) -> Any:
    """An OpenAI client (sync or async) over ``httpx2.MockTransport(transport)``."""
    import httpx2
    import openai

    if asynchronous:
        return openai.AsyncOpenAI(
            api_key="k",
            max_retries=0,
            http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(transport)),
        )
    return openai.OpenAI(
        api_key="k",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(transport)),
    )


def publish_inner_inference(handler: TelemetryHandler) -> None:
    """An inference inside the call, as a nested instrumentation would run one: it is
    suppressed into the call's and publishes its fields to the call's context."""
    inner = handler.inference("other", request_model="inner-model")
    inner.temperature = 0.25
    inner.response_model_name = "inner-response-model"
    inner.top_k = 5
    inner.attributes["inner.attribute"] = "kept"
    inner.stop()
