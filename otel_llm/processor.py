"""The span processor: request ID and attribution at start, cost and metrics at end.

Why it wraps the exporting processor: spans are read-only by the time processors see them
end. opentelemetry-sdk 1.45 has an ``_on_ending`` hook (the spec's OnEnding), but
``Span.end()`` calls it only after setting the end time and freezing the attributes, so
``set_attribute`` there is dropped with a warning ("Setting attribute on ended span").
Instead :class:`GenAISpanProcessor` is given the exporting processor as ``downstream``
(``GenAISpanProcessor(settings, downstream=BatchSpanProcessor(exporter))``) and hands it a
:class:`~opentelemetry.sdk.trace.ReadableSpan` copy that carries the cost attributes. Only
GenAI spans are copied; every other span is passed through as is. Processors registered
beside it (not under it) see the span without the cost attributes.

At start, on every span: ``request.id`` (from :func:`otel_llm.context.current_request_id`)
and the request's attribution values: ``user`` -> ``user.id`` (pseudonymised when
``OTEL_LLM_USER_HASH_KEY`` is set, as in the metrics), ``tenant`` -> ``otel_llm.tenant``,
``route`` -> ``http.route`` (only when the span has none), ``session`` ->
``gen_ai.conversation.id`` (span attribute only: never a metric label unless opted in), any
other ``name`` ->
``otel_llm.attribution.<name>``.

At end, on GenAI spans (any instrumentation; old and new spellings are read through
``otel_llm.semconv``): duration and time-to-first-chunk histograms for every GenAI span;
token usage and cost only for inference operations (:data:`INFERENCE_OPERATIONS`, or no
operation name), so agent and workflow spans that repeat their children's usage are not
counted twice. A reported ``gen_ai.usage.cost.amount`` is used as is (source ``provider``);
otherwise the span is priced (source ``local``) by response model, then request model. With
no price, or with no usage on a successful inference span, the span gets
``otel_llm.cost.unpriced=true``, the unpriced counter moves, and the (provider, model) is
logged once. Exemplars carry ``trace_id`` and ``span_id`` for sampled spans.

Never raises into the host: each hook is guarded, exceptions are counted in
``otel_llm_processor_errors_total`` and logged once per (hook, exception type). No I/O and
no lock is held across calls. Spans a downstream ``BatchSpanProcessor`` drops (queue full,
or after shutdown) are counted in ``otel_llm_spans_dropped_total``.
"""

from __future__ import annotations

import collections
import logging
import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final

from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind, StatusCode
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

from otel_llm.config import Settings
from otel_llm.context import current_attribution, current_request_id
from otel_llm.metrics import GenAIMetrics
from otel_llm.pricing import PriceBook, Usage
from otel_llm.semconv import (
    CACHE_CREATION_KEYS,
    CACHE_READ_KEYS,
    ERROR_TYPE,
    GEN_AI_CONVERSATION_ID,
    GEN_AI_OPERATION_NAME,
    GEN_AI_REQUEST_MODEL,
    GEN_AI_RESPONSE_MODEL,
    GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
    GEN_AI_USAGE_COST_AMOUNT,
    GEN_AI_USAGE_COST_CURRENCY,
    GEN_AI_USAGE_COST_SOURCE,
    HTTP_ROUTE,
    INPUT_TOKEN_KEYS,
    OTEL_LLM_ATTRIBUTION_PREFIX,
    OTEL_LLM_TENANT,
    OTEL_LLM_UNPRICED,
    OUTPUT_TOKEN_KEYS,
    PROVIDER_KEYS,
    REASONING_KEYS,
    REQUEST_ID,
    TOKEN_TYPES,
    USER_KEYS,
    first_attr,
    int_attr,
    is_genai_span,
)

__all__ = ["INFERENCE_OPERATIONS", "GenAISpanProcessor", "RecordingSampler"]

logger = logging.getLogger(__name__)

INFERENCE_OPERATIONS: Final = frozenset(
    {"chat", "text_completion", "generate_content", "embeddings", "completion"}
)
"""Operations that consume tokens themselves and are priced."""

ATTRIBUTION_ATTRIBUTES: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "user": USER_KEYS,
        "tenant": (OTEL_LLM_TENANT,),
        "route": (HTTP_ROUTE,),
        "session": (GEN_AI_CONVERSATION_ID,),
    }
)
"""Span attributes an attribution label is written to (first) and read from."""

_LOG_ONCE_LIMIT: Final = 1024
_ERROR_OTHER: Final = "_OTHER"  # semconv error.type fallback


def _attribute_keys(label: str) -> tuple[str, ...]:
    return ATTRIBUTION_ATTRIBUTES.get(label) or (OTEL_LLM_ATTRIBUTION_PREFIX + label,)


class _AnnotatedSpan(ReadableSpan):
    """A finished span with new ``attributes`` (its own plus the processor's), for export."""

    def __init__(self, span: ReadableSpan, attributes: dict[str, Any]) -> None:
        super().__init__(
            name=span.name,
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes=attributes,
            events=span.events,
            links=span.links,
            kind=span.kind,
            status=span.status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )
        self._dropped = (span.dropped_attributes, span.dropped_events, span.dropped_links)

    @property
    def dropped_attributes(self) -> int:
        return self._dropped[0]

    @property
    def dropped_events(self) -> int:
        return self._dropped[1]

    @property
    def dropped_links(self) -> int:
        return self._dropped[2]


def _batch_queue(downstream: SpanProcessor | None) -> tuple[Any, collections.deque[Any]] | None:
    """The bounded queue inside an SDK BatchSpanProcessor, to count what it drops.

    The SDK drops silently (a log line, or an internal metric when
    ``OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED``); reading the queue length before handing a
    span over is the only way to count drops in our own metric. Private SDK attributes:
    when they are missing, drops are not counted (logged once at start-up).
    """
    if downstream is None:
        return None
    batch = getattr(downstream, "_batch_processor", None)
    queue = getattr(batch, "_queue", None)
    if isinstance(queue, collections.deque) and queue.maxlen:
        return batch, queue
    if batch is not None:
        logger.info("otel-llm: cannot see the batch queue of %r; drops are not counted", downstream)
    return None


class GenAISpanProcessor(SpanProcessor):
    """Stamps request ID and attribution at start; prices and measures GenAI spans at end."""

    def __init__(
        self,
        settings: Settings,
        *,
        metrics: GenAIMetrics | None = None,
        pricebook: PriceBook | None = None,
        downstream: SpanProcessor | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics if metrics is not None else GenAIMetrics(settings)
        self.pricebook = (
            pricebook if pricebook is not None else PriceBook.load(settings.pricing_file)
        )
        self.downstream = downstream
        self._queue = _batch_queue(downstream)
        self._label_keys = tuple(_attribute_keys(n) for n in self.metrics.attribution_labels)
        self._logged: set[tuple[str, ...]] = set()

    # -- start ------------------------------------------------------------------------

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        try:
            self._stamp(span, parent_context)
        except Exception as exc:
            self._error("on_start", exc)
        if self.downstream is not None:
            try:
                self.downstream.on_start(span, parent_context=parent_context)
            except Exception as exc:
                self._error("downstream", exc)

    def _stamp(self, span: Span, parent_context: otel_context.Context | None) -> None:
        request_id = current_request_id(parent_context)
        attribution = current_attribution()
        if request_id is None and not attribution:
            return
        attrs: dict[str, str] = {}
        if request_id is not None:
            attrs[REQUEST_ID] = request_id
        if attribution:
            existing = span.attributes or {}
            for label, value in attribution.items():
                if not value:
                    continue
                keys = _attribute_keys(label)
                if label == "route" and first_attr(existing, keys) is not None:
                    continue  # the instrumentation knows the route better
                if label == "user":
                    value = self.metrics.pseudonymize_user(value)
                attrs[keys[0]] = value
        span.set_attributes(attrs)

    # -- end --------------------------------------------------------------------------

    def _on_ending(self, span: Span) -> None:
        if self.downstream is not None:
            try:
                self.downstream._on_ending(span)
            except Exception as exc:
                self._error("downstream", exc)

    def on_end(self, span: ReadableSpan) -> None:
        extra: dict[str, Any] | None = None
        attrs: dict[str, Any] = {}
        try:
            if is_genai_span(span.attributes):
                # one copy: reads from a dict cost a fifth of reads through the SDK's mapping
                attrs = dict(span.attributes or {})
                extra = self._measure(span, attrs)
        except Exception as exc:
            self._error("on_end", exc)
        if self.downstream is not None:
            try:
                self._forward(_AnnotatedSpan(span, {**attrs, **extra}) if extra else span)
            except Exception as exc:
                self._error("downstream", exc)

    def _forward(self, span: ReadableSpan) -> None:
        if (
            self._queue is not None
            and span.context is not None
            and span.context.trace_flags.sampled
        ):
            batch, queue = self._queue
            if getattr(batch, "_shutdown", False):
                self.metrics.record_dropped("shutdown")
            elif len(queue) >= (queue.maxlen or 0):
                self.metrics.record_dropped("queue_full")
        assert self.downstream is not None
        self.downstream.on_end(span)

    def _measure(self, span: ReadableSpan, attrs: Mapping[str, Any]) -> dict[str, Any]:
        """Record the metrics of one GenAI span; return the attributes to add to it."""
        operation = attrs.get(GEN_AI_OPERATION_NAME)
        provider = first_attr(attrs, PROVIDER_KEYS)
        request_model = attrs.get(GEN_AI_REQUEST_MODEL)
        response_model = attrs.get(GEN_AI_RESPONSE_MODEL)
        failed = span.status.status_code is StatusCode.ERROR
        error_type = attrs.get(ERROR_TYPE) or (_ERROR_OTHER if failed else None)
        duration = None
        if span.start_time is not None and span.end_time is not None:
            duration = (span.end_time - span.start_time) / 1e9
        ttfc = attrs.get(GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)
        if isinstance(ttfc, bool) or not isinstance(ttfc, int | float):
            ttfc = None

        extra: dict[str, Any] = {}
        tokens: list[tuple[str, int]] = []
        cost: float | None = None
        if operation is None or operation in INFERENCE_OPERATIONS:
            cost, tokens = self._cost(span, attrs, provider, request_model, response_model, extra)
            if OTEL_LLM_UNPRICED in extra:
                self.metrics.record_unpriced(provider, request_model)

        ctx = span.context
        exemplar = None
        if ctx is not None and ctx.trace_flags.sampled:
            exemplar = {"trace_id": f"{ctx.trace_id:032x}", "span_id": f"{ctx.span_id:016x}"}
        self.metrics.record_operation(
            operation=operation,
            provider=provider,
            request_model=request_model,
            response_model=response_model,
            error_type=error_type,
            duration_s=duration,
            tokens=tokens,
            ttfc_s=ttfc,
            cost_usd=cost,
            attribution=[first_attr(attrs, keys) for keys in self._label_keys],
            exemplar=exemplar,
        )
        return extra

    def _cost(
        self,
        span: ReadableSpan,
        attrs: Mapping[str, Any],
        provider: Any,
        request_model: Any,
        response_model: Any,
        extra: dict[str, Any],
    ) -> tuple[float | None, list[tuple[str, int]]]:
        """(USD or None, token observations); fills ``extra`` with the cost attributes."""
        counts = (
            int_attr(attrs, INPUT_TOKEN_KEYS),
            int_attr(attrs, OUTPUT_TOKEN_KEYS),
            int_attr(attrs, CACHE_READ_KEYS),
            int_attr(attrs, CACHE_CREATION_KEYS),
            int_attr(attrs, REASONING_KEYS),
        )
        has_usage = counts[0] is not None or counts[1] is not None
        usage = Usage(*(c or 0 for c in counts)).normalized()
        tokens: list[tuple[str, int]] = []
        if has_usage:  # input/output as normalised (cached inside input), the rest as reported
            values = (usage.input, usage.output, *counts[2:])
            tokens = [
                (token_type, value)
                for token_type, raw, value in zip(TOKEN_TYPES, counts, values, strict=True)
                if raw is not None and value is not None
            ]

        reported = attrs.get(GEN_AI_USAGE_COST_AMOUNT)
        if (
            isinstance(reported, int | float)
            and not isinstance(reported, bool)
            and math.isfinite(reported)
            and reported >= 0
        ):
            if GEN_AI_USAGE_COST_SOURCE not in attrs:
                extra[GEN_AI_USAGE_COST_SOURCE] = "provider"
            currency = attrs.get(GEN_AI_USAGE_COST_CURRENCY)
            if currency is None:
                extra[GEN_AI_USAGE_COST_CURRENCY] = "USD"
            return (float(reported) if currency in (None, "USD") else None), tokens

        failed = span.status.status_code is StatusCode.ERROR
        provider_name = provider if isinstance(provider, str) else None
        if not has_usage:
            if not failed:
                extra[OTEL_LLM_UNPRICED] = True
                self._log_once("no usage", provider_name, request_model)
            return None, tokens
        cost = None
        for model in (response_model, request_model):
            if isinstance(model, str) and model:
                cost = self.pricebook.cost(
                    provider_name, model, usage, timestamp_ns=span.start_time
                )
                if cost is not None:
                    break
        if cost is None:
            extra[OTEL_LLM_UNPRICED] = True
            self._log_once("no price", provider_name, response_model or request_model)
            return None, tokens
        extra[GEN_AI_USAGE_COST_AMOUNT] = cost
        extra[GEN_AI_USAGE_COST_CURRENCY] = "USD"
        extra[GEN_AI_USAGE_COST_SOURCE] = "local"
        return cost, tokens

    # -- lifecycle --------------------------------------------------------------------

    def shutdown(self) -> None:
        if self.downstream is not None:
            try:
                self.downstream.shutdown()
            except Exception as exc:
                self._error("shutdown", exc)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        if self.downstream is None:
            return True
        try:
            return bool(self.downstream.force_flush(timeout_millis))
        except Exception as exc:
            self._error("force_flush", exc)
            return False

    # -- failure handling -------------------------------------------------------------

    def _error(self, hook: str, exc: BaseException) -> None:
        kind = type(exc).__name__
        try:
            self.metrics.record_processor_error(hook, kind)
            self._log_once("error", hook, kind, exc=exc)
        except Exception:  # noqa: S110 - the last line of defence must not raise either
            pass

    def _log_once(self, what: str, *key: Any, exc: BaseException | None = None) -> None:
        marker = (what, *(str(k) for k in key))
        if marker in self._logged or len(self._logged) >= _LOG_ONCE_LIMIT:
            return
        self._logged.add(marker)
        if what == "error":
            logger.warning(
                "otel-llm span processor: %s in %s (counted; logged once)",
                key[1],
                key[0],
                exc_info=exc,
            )
        elif what == "no price":
            logger.warning(
                "otel-llm: no price for model %r of provider %r; counted as unpriced "
                "(add it to OTEL_LLM_PRICING_FILE)",
                key[1],
                key[0],
            )
        else:
            logger.warning(
                "otel-llm: GenAI span of model %r (provider %r) has no token usage; "
                "counted as unpriced",
                key[1],
                key[0],
            )


class RecordingSampler(Sampler):
    """Wraps a sampler so that what it drops is still recorded (not exported).

    Metrics derived from spans need every span to reach the processor; a DROP decision
    means processors never see the span. RECORD_ONLY keeps it out of the export (the
    batch processor exports sampled spans only) while the metrics stay complete.
    """

    def __init__(self, inner: Sampler) -> None:
        self._inner = inner

    def should_sample(
        self,
        parent_context: otel_context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        result = self._inner.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )
        if result.decision is Decision.DROP:
            # a DROP result carries no attributes; the recorded span needs the caller's
            return SamplingResult(Decision.RECORD_ONLY, attributes, result.trace_state)
        return result

    def get_description(self) -> str:
        return f"RecordingSampler{{{self._inner.get_description()}}}"
