"""Bounded prompt/completion content on spans.

With content capture on, the official packages put whole conversations on the span
(``gen_ai.input.messages``, ``gen_ai.output.messages``, ``gen_ai.system_instructions``,
``gen_ai.tool.definitions``: JSON strings of any length). We hand them a tracer provider
whose spans cut those values to a bound. It is used only when capture is on, so the
default path costs nothing. A cut value ends with a marker and is no longer valid JSON,
the same trade the SDK's own attribute-length limit makes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.util.types import Attributes, AttributeValue

CONTENT_KEYS = frozenset(
    {
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.tool.definitions",
    }
)
CONTENT_PREFIXES = ("gen_ai.prompt.variable.",)
DEFAULT_MAX_CHARS = 8192


def truncate(value: Any, limit: int) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]}...[truncated {len(value) - limit} chars]"
    return value


def _bounded(key: str, value: Any, limit: int) -> Any:
    if key in CONTENT_KEYS or key.startswith(CONTENT_PREFIXES):
        return truncate(value, limit)
    return value


class BoundedContentSpan(Span):
    """A span that truncates content attributes and forwards everything else."""

    def __init__(self, span: Span, limit: int) -> None:
        self._span = span
        self._limit = limit

    def end(self, end_time: int | None = None) -> None:
        self._span.end(end_time)

    def get_span_context(self) -> SpanContext:
        return self._span.get_span_context()

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        limit = self._limit
        self._span.set_attributes({k: _bounded(k, v, limit) for k, v in attributes.items()})

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        self._span.set_attribute(key, _bounded(key, value, self._limit))

    def add_event(
        self, name: str, attributes: Attributes = None, timestamp: int | None = None
    ) -> None:
        self._span.add_event(name, attributes, timestamp)

    def add_link(self, context: SpanContext, attributes: Attributes = None) -> None:
        self._span.add_link(context, attributes)

    def update_name(self, name: str) -> None:
        self._span.update_name(name)

    def is_recording(self) -> bool:
        return self._span.is_recording()

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        self._span.set_status(status, description)

    def record_exception(
        self,
        exception: BaseException,
        attributes: Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        self._span.record_exception(exception, attributes, timestamp, escaped)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._span, name)


class BoundedContentTracer(trace.Tracer):
    def __init__(self, tracer: trace.Tracer, limit: int) -> None:
        self._tracer = tracer
        self._limit = limit

    def start_span(
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> Span:
        span = self._tracer.start_span(
            name,
            context,
            kind,
            attributes,
            links,
            start_time,
            record_exception,
            set_status_on_exception,
        )
        return BoundedContentSpan(span, self._limit)

    @contextmanager
    def start_as_current_span(  # type: ignore[override]
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Iterator[Span]:
        span = self.start_span(
            name,
            context,
            kind,
            attributes,
            links,
            start_time,
            record_exception,
            set_status_on_exception,
        )
        with trace.use_span(
            span,
            end_on_exit=end_on_exit,
            record_exception=record_exception,
            set_status_on_exception=set_status_on_exception,
        ) as current:
            yield current


class BoundedContentTracerProvider(trace.TracerProvider):
    """Wraps ``delegate`` (None: the global provider, resolved at each ``get_tracer``)."""

    def __init__(self, delegate: trace.TracerProvider | None, limit: int) -> None:
        self._delegate = delegate
        self._limit = max(16, limit)

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes = None,
    ) -> trace.Tracer:
        delegate = self._delegate or trace.get_tracer_provider()
        tracer = delegate.get_tracer(
            instrumenting_module_name, instrumenting_library_version, schema_url, attributes
        )
        return BoundedContentTracer(tracer, self._limit)
