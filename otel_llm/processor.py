"""The span processor: request ID and attribution at start, cost and metrics at end.

Why it wraps the exporting processor: spans are read-only by the time processors see them
end. opentelemetry-sdk 1.45 has an ``_on_ending`` hook (the spec's OnEnding), but
``Span.end()`` calls it only after setting the end time and freezing the attributes, so
``set_attribute`` there is dropped with a warning ("Setting attribute on ended span").
Instead :class:`GenAISpanProcessor` is given the exporting processor as ``downstream``
(``GenAISpanProcessor(settings, downstream=BatchSpanProcessor(exporter))``) and hands it a
:class:`~opentelemetry.sdk.trace.ReadableSpan` copy that carries the cost attributes. Only
GenAI spans are copied (or, while no other processor is registered beside it, annotated
in place: no one else sees that span); every other span is passed through as is.
Processors registered beside it (not under it) see the span without the cost attributes.

At start, on every span: ``request.id`` (from :func:`otel_llm.context.current_request_id`)
and the request's attribution values: ``user`` -> ``user.id`` (pseudonymised when
``OTEL_LLM_USER_HASH_KEY`` is set, as in the metrics), ``tenant`` -> ``otel_llm.tenant``,
``route`` -> ``http.route`` (only when the span has none), ``session`` ->
``gen_ai.conversation.id`` (span attribute only: never a metric label unless opted in), any
other ``name`` ->
``otel_llm.attribution.<name>``.

At end, on GenAI spans (any instrumentation; old and new spellings are those of
``otel_llm.semconv``, read in one pass with the same precedence as its readers): duration
and time-to-first-chunk histograms for every GenAI span; token usage and cost only for
inference operations (:data:`INFERENCE_OPERATIONS`, or no operation name), so agent and
workflow spans that repeat their children's usage are not counted twice. A reported
``gen_ai.usage.cost.amount`` is used as is (source ``provider``); otherwise the span is
priced (source ``local``) by response model, then request model. With no price, or with no
usage on a successful inference span, the span gets ``otel_llm.cost.unpriced=true``, the
unpriced counter moves, and the (provider, model) is logged once. Exemplars carry
``trace_id`` and ``span_id`` for sampled spans.

Never raises into the host: each hook is guarded, exceptions are counted in
``otel_llm_processor_errors_total`` and logged once per (hook, exception type). No I/O and
no lock is held across calls. Spans a downstream ``BatchSpanProcessor`` drops (queue full,
or after shutdown) are counted in ``otel_llm_spans_dropped_total``.

Hot path (a GenAI span's ``on_end``): one C-level copy of the attributes, one C-level
check for older spellings, one ``dict.get`` per field (the span's own fields read as
attributes, never through ``__dict__``), a :class:`_Plan` per combination of operation,
provider, models, error type and attribution (its metric route and resolved price,
worked out once), the cost from int counts, one call into
:class:`~otel_llm.metrics.GenAIMetrics` that takes its lock once, and the finished span
annotated for the exporter: in place while this processor is the only one its provider
calls (nothing else sees that ``ReadableSpan``), else a shallow copy. At start, the
attributes of the current request are remembered while its state does not change.
Anything unusual takes the general path. ``bench/bench_processor.py`` and
``bench/bench_instructions.py processor:ours`` measure it.
"""

from __future__ import annotations

import collections
import logging
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from opentelemetry import context as otel_context
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk import trace as _sdk_trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

from otel_llm.config import Settings
from otel_llm.context import RequestState, current_attribution, current_request_id
from otel_llm.context import _state as _request_state
from otel_llm.metrics import COUNT_LIMIT, GenAIMetrics, Route
from otel_llm.pricing import PriceBook, Usage, normalized_totals
from otel_llm.pricing import _Resolved as _ResolvedPrice
from otel_llm.pricing_units import ExtendedUsage, read_extended
from otel_llm.providers import UNRESOLVED as UNRESOLVED_PROVIDER
from otel_llm.semconv import (
    CACHE_CREATION_KEYS,
    CACHE_READ_KEYS,
    ERROR_TYPE,
    EXTENDED_USAGE_KEYS,
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
    OTEL_LLM_MANUAL,
    OTEL_LLM_MANUAL_NESTED,
    OTEL_LLM_TENANT,
    OTEL_LLM_UNPRICED,
    OTEL_LLM_UNPRICED_REASON,
    OUTPUT_TOKEN_KEYS,
    PROVIDER_KEYS,
    REASONING_KEYS,
    REQUEST_ID,
    TOKEN_TYPES,
    USER_KEYS,
    first_attr,
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
_KEY_MEMO_LIMIT: Final = 1024
_ERROR_OTHER: Final = "_OTHER"  # semconv error.type fallback


_ROUTE_KEYS: Final = ATTRIBUTION_ATTRIBUTES["route"]


def _attribute_keys(label: str) -> tuple[str, ...]:
    return ATTRIBUTION_ATTRIBUTES.get(label) or (OTEL_LLM_ATTRIBUTION_PREFIX + label,)


_GENAI_FIELDS: Final[tuple[tuple[str, ...], ...]] = (
    (GEN_AI_OPERATION_NAME,),
    PROVIDER_KEYS,
    (GEN_AI_REQUEST_MODEL,),
    (GEN_AI_RESPONSE_MODEL,),
    (ERROR_TYPE,),
    (GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,),
    INPUT_TOKEN_KEYS,  # token slots in TOKEN_TYPES order
    OUTPUT_TOKEN_KEYS,
    CACHE_READ_KEYS,
    CACHE_CREATION_KEYS,
    REASONING_KEYS,
    (GEN_AI_USAGE_COST_AMOUNT,),
)
"""What :meth:`GenAISpanProcessor._measure` reads, each with its spellings, newest first."""
_FIRST_LABEL_SLOT: Final = len(_GENAI_FIELDS)
_LABELS: Final = slice(_FIRST_LABEL_SLOT, None)
_PROVIDER: Final = PROVIDER_KEYS[0]  # the first spellings the hot path reads
_INPUT_TOKENS: Final = INPUT_TOKEN_KEYS[0]
_OUTPUT_TOKENS: Final = OUTPUT_TOKEN_KEYS[0]
_CACHE_READ_TOKENS: Final = CACHE_READ_KEYS[0]
_CACHE_CREATION_TOKENS: Final = CACHE_CREATION_KEYS[0]
_REASONING_TOKENS: Final = REASONING_KEYS[0]
_SAMPLED: Final = TraceFlags.SAMPLED
_ERROR: Final = StatusCode.ERROR
_INPUT, _OUTPUT, _CACHE_READ, _CACHE_CREATION, _REASONING = TOKEN_TYPES


@dataclass(frozen=True, slots=True)
class _Fields:
    """The attributes one span processor reads, indexed for a single pass.

    ``where`` maps the first spelling of each field to its slot (>= 0) and every other
    spelling to ``-1 - (slot * _RANKS + rank)``; spans with only first spellings (the usual
    case) never decode those: their values are one C-level ``map`` over ``firsts``, after
    one C-level check that no key of the span is in ``others``.
    """

    slots: tuple[tuple[str, ...], ...]
    where: dict[str, int]
    count: int
    firsts: tuple[str, ...]
    others: frozenset[str]

    def read(self, attrs: Mapping[str, Any]) -> list[Any]:
        """One value per slot, as :func:`otel_llm.semconv.first_attr` would pick it."""
        values: list[Any] = list(map(attrs.get, self.firsts))
        if self.others.isdisjoint(attrs):
            return values
        where = self.where.get
        others = []
        for key, value in attrs.items():
            slot = where(key)
            if slot is not None and slot < 0:
                others.append((-1 - slot, value))
        # older spellings: the earliest non-None one, if no newer
        for code, value in sorted(others, key=lambda item: item[0]):
            slot = code // _RANKS
            if values[slot] is None:
                values[slot] = value
        return values


_RANKS: Final = 16


def _fields(label_keys: Sequence[tuple[str, ...]]) -> _Fields:
    """The GenAI fields, then one slot per attribution label.

    A key listed twice keeps its first slot (none is today: attribution attributes live
    outside ``gen_ai.*`` and each label has its own).
    """
    slots = (*_GENAI_FIELDS, *label_keys)
    where: dict[str, int] = {}
    for slot, keys in enumerate(slots):
        for rank, key in enumerate(keys[:_RANKS]):
            where.setdefault(key, slot if rank == 0 else -1 - (slot * _RANKS + rank))
    firsts = tuple(keys[0] for keys in slots)
    others = frozenset(key for key, code in where.items() if code < 0)
    return _Fields(slots, where, len(slots), firsts, others)


_GENERAL: Final = 0
_NOT_INFERENCE: Final = 1
_PRICED: Final = 2
_PLAN_LIMIT: Final = 4096


class _Plan:
    """What a GenAI span of one (operation, provider, models, error type, attribution,
    unresolved provider, manual) combination needs at end, worked out once: its metric
    :class:`~otel_llm.metrics.Route` and, for an inference operation, its price.

    ``kind`` is ``_NOT_INFERENCE`` (duration and time to first chunk only), ``_PRICED``
    (``resolved`` prices it) or ``_GENERAL``: the full path of
    :meth:`GenAISpanProcessor._measure` decides (manual spans, a model without a price, a
    price book whose ``cost`` or ``resolve`` was replaced).
    """

    __slots__ = ("kind", "rates", "resolved", "route")

    def __init__(self, kind: int, route: Route | None, resolved: _ResolvedPrice | None) -> None:
        self.kind = kind
        self.route = route
        self.resolved = resolved
        self.rates = None if resolved is None or resolved.periods else resolved.rates
        """The rates of a price without periods (None: ``resolved.rates_at`` the start)."""


_GENERAL_PLAN: Final = _Plan(_GENERAL, None, None)


def _span_context_layout() -> bool:
    """Whether an SDK ``SpanContext`` is the tuple (trace_id, span_id, is_remote,
    trace_flags, ...) of opentelemetry-api 1.45, read by index on the hot path."""
    try:
        ctx = SpanContext(3, 5, False, TraceFlags(TraceFlags.SAMPLED))
        return isinstance(ctx, tuple) and ctx[:4] == (3, 5, False, TraceFlags.SAMPLED)
    except Exception:
        return False


_CONTEXT_TUPLE: Final = _span_context_layout()


def _status_layout() -> bool:
    """Whether a ``Status`` keeps its code in ``_status_code``, what its ``status_code``
    property returns (opentelemetry-api 1.45), read directly on the hot path."""
    try:
        status = Status(StatusCode.ERROR, "x")
        return (
            isinstance(vars(Status).get("status_code"), property)
            and vars(status).get("_status_code") is StatusCode.ERROR
            and Status()._status_code is StatusCode.UNSET
        )
    except Exception:
        return False


_STATUS_FIELD: Final = _status_layout()
_BOUNDED_DICT: Final = type(getattr(BoundedAttributes(), "_dict", None)) is dict
"""Whether ``BoundedAttributes`` keeps its values in a plain ``_dict`` (SDK 1.45)."""
_new_object: Final = object.__new__
_WRITTEN: Final[dict[str, Any]] = {"": "the attributes to add are in the copy already"}
_DEFERRED: Final[dict[str, Any]] = {"": "measured later, into the exported copy"}
MEASURE_BATCH: Final = 64
"""GenAI spans measured together (:meth:`GenAISpanProcessor.defer_measurement`)."""


def _readable_layout() -> bool:
    """Whether an SDK ``ReadableSpan`` keeps its attributes, events and links in the
    ``_attributes``/``_events``/``_links`` fields its properties read, and a
    ``BoundedList`` its items in a deque ``_dq`` and its count in ``dropped``
    (opentelemetry-sdk 1.45): what :func:`_sdk_twin` copies field by field."""
    try:
        events: Any = BoundedList(1)
        events.extend(("a", "b"))
        span: Any = ReadableSpan(
            "x",
            resource=Resource.get_empty(),  # not Resource.create(): no detectors run
            attributes=BoundedAttributes(1, {"k": 1}),
            events=events,
        )
        fields = span.__dict__
        return (
            type(getattr(events, "_dq", None)) is collections.deque
            and events.dropped == 1
            and tuple(events._dq) == span.events == ("b",)
            and fields.get("_attributes") is span._attributes
            and fields.get("_events") is events
            and type(fields.get("_links")) is tuple
            and span.dropped_events == 1
        )
    except Exception:
        return False


_READABLE_LAYOUT: Final = _readable_layout()


class _AnnotatedSpan(ReadableSpan):
    """A finished span with new ``attributes`` (its own plus the processor's), for export.

    Everything else is the original's, dropped counts included; the copy holds what the
    exporter reads and nothing else, so the original span (its ``BoundedAttributes``,
    whose values the copy has already, and its events' and links' bounded deques and
    locks) is freed while the copy waits in the export queue: events and links are kept
    as tuples (the empty tuple when there are none, as for most GenAI spans) and the
    dropped counts as ints, set on the copy only when not 0. For the SDK's own
    ``ReadableSpan`` (what ``Span.end()`` hands to processors) the copy is a shallow copy
    of its fields (:func:`_sdk_twin`), a fraction of the cost of the constructor; any
    other class is rebuilt through its public properties.
    """

    _dropped_attributes: int = 0
    _dropped_events: int = 0
    _dropped_links: int = 0

    @classmethod
    def of(cls, span: ReadableSpan, attributes: dict[str, Any]) -> _AnnotatedSpan:
        if type(span) is ReadableSpan and _READABLE_LAYOUT:
            return _sdk_twin(span, attributes)
        twin = cls(
            name=span.name,
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes=attributes,
            events=tuple(span.events),
            links=tuple(span.links),
            kind=span.kind,
            status=span.status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )
        if dropped := span.dropped_attributes:
            twin._dropped_attributes = dropped
        if dropped := span.dropped_events:
            twin._dropped_events = dropped
        if dropped := span.dropped_links:
            twin._dropped_links = dropped
        return twin

    @property
    def dropped_attributes(self) -> int:
        return self._dropped_attributes

    @property
    def dropped_events(self) -> int:
        return self._dropped_events

    @property
    def dropped_links(self) -> int:
        return self._dropped_links


def _sdk_twin(span: ReadableSpan, attributes: dict[str, Any]) -> _AnnotatedSpan:
    """:meth:`_AnnotatedSpan.of` for the SDK's own ``ReadableSpan`` (``_READABLE_LAYOUT``):
    its fields copied, ``_attributes`` replaced, events and links as tuples, the dropped
    counts of what they replace (what ``ReadableSpan``'s properties read) as ints."""
    fields = span.__dict__.copy()
    fields["_attributes"] = attributes
    bounded = span._attributes
    if isinstance(bounded, BoundedAttributes) and bounded.dropped:
        fields["_dropped_attributes"] = bounded.dropped
    events = fields["_events"]
    if isinstance(events, BoundedList):
        fields["_events"] = tuple(events._dq) if type(events) is BoundedList else tuple(events)  # type: ignore[attr-defined]
        if events.dropped:
            fields["_dropped_events"] = events.dropped
    links = fields["_links"]
    if isinstance(links, BoundedList):
        fields["_links"] = tuple(links._dq) if type(links) is BoundedList else tuple(links)  # type: ignore[attr-defined]
        if links.dropped:
            fields["_dropped_links"] = links.dropped
    twin: _AnnotatedSpan = _new_object(_AnnotatedSpan)
    twin.__dict__ = fields
    return twin


def _shed_empty(span: ReadableSpan) -> None:
    """A passed-through SDK ``ReadableSpan`` (``_READABLE_LAYOUT``) lets go of its empty
    events and links lists: each is a ``BoundedList`` with a deque of about 1 KB, held for as
    long as the span waits in the export queue. ``()`` reads the same (``events``, ``links``,
    ``dropped_events``/``dropped_links`` 0); a list with items or drops stays."""
    # attribute reads and writes: span.__dict__ would build the dict of an instance whose
    # attributes CPython keeps inline
    events = span._events
    if type(events) is BoundedList and not events.dropped and not events._dq:  # type: ignore[attr-defined]
        span._events = ()  # type: ignore[assignment]
    links = span._links
    if type(links) is BoundedList and not links.dropped and not links._dq:  # type: ignore[attr-defined]
        span._links = ()


def _attributes_of(span: ReadableSpan) -> dict[str, Any]:
    """The span's attributes as a private plain dict.

    ``ReadableSpan.attributes`` is a read-only view of the SDK's ``BoundedAttributes``, whose
    Python-level ``__getitem__`` makes every read slow; its ``copy()`` is one C-level dict
    copy, after which reads are plain dict lookups and the dict can take the cost attributes.
    For the SDK's own ``ReadableSpan`` that copy is taken straight from the
    ``BoundedAttributes``' dict (the view and the Python-level ``copy()`` skipped).
    """
    if type(span) is ReadableSpan:  # what Span.end() hands over: its BoundedAttributes
        bounded = span._attributes
        if type(bounded) is BoundedAttributes:
            plain = getattr(bounded, "_dict", None)  # opentelemetry-sdk 1.45
            if type(plain) is dict:
                return plain.copy()
    attrs = span.attributes
    if type(attrs) is MappingProxyType:
        try:
            copied = attrs.copy()
        except AttributeError:  # a view of a mapping without copy()
            copied = None
        if type(copied) is dict:
            return copied
    return dict(attrs) if attrs else {}


def _as_count(value: object) -> int | None:
    """A token count read leniently, as :func:`otel_llm.semconv.int_attr` reads one.

    The span processor picks the value in its single pass over the attributes and converts
    it here; a unit test holds this equal to ``int_attr`` for every kind of value.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


class _DropCountingQueue(collections.deque[Any]):
    """A BatchSpanProcessor's bounded queue that counts the spans it pushes out when full.

    The SDK drops silently when its queue is full (a warning per span, or an internal
    metric when ``OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED``): ``appendleft`` on a full
    deque pushes the oldest span out. Checking the length from outside races with the
    other threads and the export worker; here the check and the append happen under one
    lock, which ``pop`` (the worker) takes too, so the count is exact under any burst.
    """

    def __init__(self, items: Any, maxlen: int, on_drop: Callable[[], None]) -> None:
        super().__init__(items, maxlen)
        self._lock = threading.Lock()
        self._on_drop = on_drop

    def appendleft(self, item: Any) -> None:
        with self._lock:
            full = len(self) == self.maxlen
            super().appendleft(item)
        if full:
            self._on_drop()

    def pop(self) -> Any:  # type: ignore[override]  # deque.pop takes no index
        with self._lock:
            return super().pop()


class _OnceFilter(logging.Filter):
    """Lets the first record of a message through and holds back its repeats (the SDK's
    per-span "Queue full" warning: the drops are counted in the metric instead)."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self._prefix = prefix
        self._seen = False

    def filter(self, record: logging.LogRecord) -> bool:
        if not isinstance(record.msg, str) or not record.msg.startswith(self._prefix):
            return True
        if self._seen:
            return False
        self._seen = True
        return True


_QUEUE_FULL_LOG = _OnceFilter("Queue full")


def _batch_queue(
    downstream: SpanProcessor | None, on_drop: Callable[[], None]
) -> tuple[Any, _DropCountingQueue] | None:
    """The bounded queue inside an SDK BatchSpanProcessor, swapped for one that counts
    what it drops.

    Private SDK attributes (opentelemetry-sdk 1.45: ``_batch_processor._queue``, a
    ``deque`` the processor only ``appendleft``s, ``pop``s, measures and clears): when
    they are missing, drops are not counted (logged once at start-up).
    """
    if downstream is None:
        return None
    batch = getattr(downstream, "_batch_processor", None)
    queue = getattr(batch, "_queue", None)
    if isinstance(queue, _DropCountingQueue):
        return batch, queue
    if type(queue) is collections.deque and queue.maxlen:
        counting = _DropCountingQueue(queue, queue.maxlen, on_drop)
        batch._queue = counting  # type: ignore[union-attr]
        sdk_logger = logging.getLogger(type(batch).__module__)
        if _QUEUE_FULL_LOG not in sdk_logger.filters:
            sdk_logger.addFilter(_QUEUE_FULL_LOG)
        return batch, counting
    if batch is not None:
        logger.info("otel-llm: cannot see the batch queue of %r; drops are not counted", downstream)
    return None


def _set_strings(span: Span, attrs: dict[str, str]) -> None:
    """Set string attributes on a span that has just started.

    ``Span.set_attribute(s)`` runs the SDK's generic value checks on every value (an ABC
    ``isinstance`` chain) under two locks: most of the cost of stamping a span. Our
    values are strings already (request ID, attribution values), so on the SDK's own
    ``Span`` with its ``BoundedAttributes`` (opentelemetry-sdk 1.45; checked once at
    import, and per span by type) they are written the way the SDK writes a checked
    value: under both locks, through ``_setitem_locked`` (limit, eviction and dropped
    count as upstream), cut to the attribute value length limit. Anything else (or a
    missing private field, after which the fast path stays off) takes the public path;
    ``tests/unit/test_processor.py`` holds both equal.
    """
    global _fast_attributes
    attributes = getattr(span, "_attributes", None)
    if _fast_attributes and type(attributes) is BoundedAttributes and type(span) in _SDK_SPANS:
        try:
            limit = attributes.max_value_len
            with span._lock:
                if span._end_time is None and not attributes._immutable:
                    with attributes._lock:
                        present = attributes._dict
                        if (
                            limit is None
                            and _ONLY_STR.issuperset(map(type, attrs.values()))
                            and present.keys().isdisjoint(attrs)
                            and (
                                attributes.maxlen is None
                                or len(present) + len(attrs) <= attributes.maxlen
                            )
                        ):  # new keys, room for them: what _setitem_locked would do
                            present.update(attrs)
                            return
                        for key, value in attrs.items():
                            if type(value) is not str:
                                break
                            if limit is not None and len(value) > limit:
                                value = value[:limit]
                            attributes._setitem_locked(key, value)
                        else:
                            return
        except AttributeError:  # another SDK layout: the public path from now on
            _fast_attributes = False
        # a value that is not a plain str (never ours today): the SDK checks the rest
    span.set_attributes(attrs)


def _write_stamps(span: Span, attrs: dict[str, str], routed: dict[str, str] | None) -> None:
    """:func:`_set_strings` of a remembered stamp (:meth:`GenAISpanProcessor._remember`):
    ``routed`` (``attrs`` plus the request's route, last) when the span has no
    ``http.route`` of its own, else ``attrs``; every value a ``str``.

    On the SDK's own ``Span`` without a value length limit, new keys with room for them go
    into its ``BoundedAttributes`` in one C-level update under both locks, as
    :func:`_set_strings` does; anything else takes :func:`_set_strings`.
    """
    global _fast_attributes
    attributes = getattr(span, "_attributes", None)
    if _fast_attributes and type(attributes) is BoundedAttributes and type(span) in _SDK_SPANS:
        try:
            if attributes.max_value_len is None:
                # No lock: on_start runs inside Span.start(), before start_span returns the
                # span to anyone, and one C-level dict.update of str keys is atomic for
                # readers (processors registered earlier could have shared the span; at
                # worst a concurrent end() exports it with these attributes).
                maxlen = attributes.maxlen
                if span._end_time is None and not attributes._immutable:
                    present = attributes._dict
                    if routed is not None and present.get(HTTP_ROUTE) is None:
                        attrs = routed
                    if present.keys().isdisjoint(attrs) and (
                        maxlen is None or len(present) + len(attrs) <= maxlen
                    ):
                        present.update(attrs)
                        return
        except AttributeError:  # another SDK layout: the public path from now on
            _fast_attributes = False
    if routed is not None and first_attr(span.attributes, _ROUTE_KEYS) is None:
        attrs = routed
    _set_strings(span, attrs)


_fast_attributes = hasattr(BoundedAttributes, "_setitem_locked")
_SYNCHRONOUS_HOST: Final = getattr(_sdk_trace, "SynchronousMultiSpanProcessor", None)
_ONLY_STR: Final = frozenset({str})
_SDK_SPANS: Final = tuple(  # Span and the SDK's own _Span, which tracers make
    t for t in (Span, getattr(_sdk_trace, "_Span", None)) if isinstance(t, type)
)
assert _ROUTE_KEYS == (HTTP_ROUTE,)  # _write_stamps reads the one spelling

# the SDK's processors whose on_start/_on_ending do nothing
_NO_OP_HOOKS: Final[dict[str, set[Any]]] = {
    "on_start": {p.on_start for p in (SpanProcessor, SimpleSpanProcessor, BatchSpanProcessor)},
    "_on_ending": {
        getattr(p, "_on_ending", None)
        for p in (SpanProcessor, SimpleSpanProcessor, BatchSpanProcessor)
    },
}


def _calls_hook(downstream: SpanProcessor | None, hook: str) -> bool:
    """Whether ``downstream``'s ``hook`` may do something (not one of the SDK's no-ops)."""
    if downstream is None:
        return False
    if hook in getattr(downstream, "__dict__", {}):
        return True  # set on the instance
    return getattr(type(downstream), hook, None) not in _NO_OP_HOOKS[hook]


_NO_STAMP: Final[tuple[Any, ...]] = (None,) * 7


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
        self._queue = _batch_queue(downstream, self._queue_full)
        self._label_keys = tuple(_attribute_keys(n) for n in self.metrics.attribution_labels)
        self._fields = _fields(self._label_keys)
        self._write_keys: dict[str, str] = {}
        self._logged: set[tuple[str, ...]] = set()
        self._start_downstream = _calls_hook(downstream, "on_start")
        self._ending_downstream = _calls_hook(downstream, "_on_ending")
        self._stamps: tuple[Any, ...] = _NO_STAMP
        # the hot path of _measure: the plan's key (operation, provider, models,
        # attribution, then the error type of a failed span) and the values, each the
        # field's first spelling read by one dict.get; spans with another spelling or
        # extended usage, and successful spans with an error type, take the general path
        self._label_firsts = tuple(keys[0] for keys in self._label_keys)
        self._key_len = 4 + len(self._label_firsts)
        # rarer spans, all on the general path: older spellings, extended usage, a
        # reported cost, an endpoint of no known provider, manual spans
        self._failed_slow_keys = (
            self._fields.others
            | EXTENDED_USAGE_KEYS
            | {
                GEN_AI_USAGE_COST_AMOUNT,
                UNRESOLVED_PROVIDER,
                OTEL_LLM_MANUAL,
            }
        )
        self._slow_keys = self._failed_slow_keys | {ERROR_TYPE}
        self._plans: dict[tuple[Any, ...], _Plan] = {}
        self._failed_plans: dict[tuple[Any, ...], _Plan] = {}
        # the provider's span processor (seen at start) and, while this processor is the
        # only one it calls, its processor tuple: see _see_host
        self._host: Any = None
        self._alone: tuple[SpanProcessor, ...] | None = None
        # defer_measurement: GenAI spans waiting to be measured, oldest first, and the lock
        # a drain holds while it measures what it took
        self._deferred = False
        self._pending: collections.deque[tuple[ReadableSpan, dict[str, Any]]] = collections.deque()
        self._drain_lock = threading.Lock()

    def defer_measurement(self) -> None:
        """Measure GenAI spans in batches instead of one by one as they end.

        Pricing a span and updating its metric series touch code and data a whole SDK
        call has pushed out of the CPU caches since the last span: done one span at a
        time, at the end of each call, it costs several times what it costs done for
        many spans in a row. Once this is on, a GenAI span's ending only queues it (its
        attributes are the exported copy's own dict, which the measurement writes the
        cost into), and the queue is measured together:

        - by the ending span's thread when :data:`MEASURE_BATCH` spans wait, unless
          another drain is running (the thread never waits for it);
        - by :meth:`drain`: before every export (the exporter calls it, so no span is
          exported before it is priced), before every collection of the metrics (a
          scrape reads exactly what it read before), and in :meth:`force_flush` and
          :meth:`shutdown`.

        Only for the SDK's own spans with a batch processor downstream whose exporter
        calls :meth:`drain` (:func:`otel_llm.configure` sets that up); anything else is
        measured as it ends.
        """
        self._deferred = _READABLE_LAYOUT and self._queue is not None
        if self._deferred:
            self.metrics.collector.before_collect = self.drain

    def drain(self) -> None:
        """Measure every GenAI span queued so far (after a drain already running: when
        this returns, every span that ended before it was called is measured). Never
        raises."""
        with self._drain_lock:  # waits for a drain that has taken spans and measures them
            self._drain_locked()

    def _drain_locked(self) -> None:
        pending = self._pending
        measure = self._measure
        while pending:
            try:
                span, attrs = pending.popleft()
            except IndexError:  # emptied by another thread between the check and the pop
                return
            try:
                extra = measure(span, attrs)
                if extra and extra is not _WRITTEN:
                    attrs.update(extra)
            except Exception as exc:
                self._error("on_end", exc)

    # -- start ------------------------------------------------------------------------

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        try:
            try:  # getattr(span, "_span_processor", None), without the builtin's call
                host = span._span_processor
            except AttributeError:
                host = None
            if host is not self._host:
                self._see_host(host)
            state = _request_state.get()
            if state is None or "route" in state.attribution:
                self._stamp(span, parent_context)
            else:  # the stamp of this request, remembered while it does not change
                route = None if state.scope is None else state.route()
                memo = self._stamps
                if not (
                    memo[0] is state
                    and memo[1] is state.request_id
                    and memo[2] == route
                    and memo[3] == state.attribution
                ):
                    memo = self._remember(state, route)
                attrs = memo[4]
                if attrs is None:
                    self._stamp(span, parent_context)
                elif _fast_attributes and type(span) in _SDK_SPANS:
                    try:  # _write_stamps' fast path, inlined
                        attributes = span._attributes
                        if (
                            type(attributes) is BoundedAttributes
                            and attributes.max_value_len is None
                            and span._end_time is None
                            and not attributes._immutable
                        ):
                            present = attributes._dict
                            routed = memo[5]
                            if routed is not None and present.get(HTTP_ROUTE) is None:
                                attrs = routed
                            maxlen = attributes.maxlen
                            keys = memo[6]  # up to 3 keys: three `in` tests
                            if (
                                (
                                    keys[0] not in present
                                    and keys[1] not in present
                                    and keys[2] not in present
                                    if keys is not None
                                    else present.keys().isdisjoint(attrs)
                                )  # the route's key is not there either (get above)
                                and (maxlen is None or len(present) + len(attrs) <= maxlen)
                            ):
                                present.update(attrs)
                                attrs = None
                    except AttributeError:  # another SDK layout: _write_stamps decides
                        pass
                    if attrs is not None:
                        _write_stamps(span, memo[4], memo[5])
                else:
                    _write_stamps(span, attrs, memo[5])
        except Exception as exc:
            self._error("on_start", exc)
        if self._start_downstream:
            try:
                self.downstream.on_start(span, parent_context=parent_context)  # type: ignore[union-attr]
            except Exception as exc:
                self._error("downstream", exc)

    def _see_host(self, host: Any) -> None:
        """Remember the SDK's ``SynchronousMultiSpanProcessor`` that calls this processor
        and, when this processor is the only one it calls, its processor tuple
        (opentelemetry-sdk 1.45: ``_span_processors``, replaced by a longer tuple when a
        processor is added). While that tuple is still the one remembered, nothing but
        this processor sees the ``ReadableSpan`` that ``Span.end()`` hands over, and
        :meth:`on_end` writes the cost attributes into it instead of copying it. A second
        provider, a processor beside this one, or another host: the copy, for good.
        """
        if self._host is None and host is not None:
            self._host = host
            processors = getattr(host, "_span_processors", None)
            if (
                type(host) is _SYNCHRONOUS_HOST
                and type(processors) is tuple
                and len(processors) == 1
                and processors[0] is self
            ):
                self._alone = processors
                return
        self._alone = None

    def _remember(self, state: RequestState, route: str | None) -> tuple[Any, ...]:
        """What :meth:`_stamp` writes for ``state`` (no ``route`` attribution value of its
        own; ``route`` from its scope): (state, request ID, route, attribution copy, the
        attributes, the attributes with the route last or None, the attributes' keys
        repeated to three when there are one to three, else None). The attributes are None
        when a value is not a ``str`` (then :meth:`_stamp` runs per span).
        """
        attrs: dict[str, str] = {}
        request_id = state.request_id
        if request_id is not None:
            attrs[REQUEST_ID] = request_id
        for label, value in state.attribution.items():
            if not value:
                continue
            if label == "user":
                value = self.metrics.pseudonymize_user(value)
            attrs[self._write_key(label)] = value
        routed = {**attrs, self._write_key("route"): route} if route else None
        usable = all(type(v) is str for v in (routed or attrs).values())
        keys = tuple(attrs)
        memo = (
            state,
            request_id,
            route,
            dict(state.attribution),
            attrs if usable else None,
            routed,
            (keys * 3)[:3] if 0 < len(keys) <= 3 else None,  # 1-3 keys, repeated to 3
        )
        self._stamps = memo
        return memo

    def _write_key(self, label: str) -> str:
        key = self._write_keys.get(label)
        if key is None:
            key = _attribute_keys(label)[0]
            if len(self._write_keys) < _KEY_MEMO_LIMIT:
                self._write_keys[label] = key
        return key

    def _stamp(self, span: Span, parent_context: otel_context.Context | None) -> None:
        request_id = current_request_id(parent_context)
        attribution = current_attribution()
        if not attribution:
            if request_id is not None:  # the common case: one attribute
                _set_strings(span, {REQUEST_ID: request_id})
            return
        attrs: dict[str, str] = {}
        if request_id is not None:
            attrs[REQUEST_ID] = request_id
        for label, value in attribution.items():
            if not value:
                continue
            key = self._write_keys.get(label)
            if key is None:
                key = _attribute_keys(label)[0]
                if len(self._write_keys) < _KEY_MEMO_LIMIT:
                    self._write_keys[label] = key
            if label == "route" and first_attr(span.attributes, _ROUTE_KEYS) is not None:
                continue  # the instrumentation knows the route better
            if label == "user":
                value = self.metrics.pseudonymize_user(value)
            attrs[key] = value
        _set_strings(span, attrs)

    # -- end --------------------------------------------------------------------------

    def _on_ending(self, span: Span) -> None:
        if self._ending_downstream:
            try:
                self.downstream._on_ending(span)  # type: ignore[union-attr]
            except Exception as exc:
                self._error("downstream", exc)

    def on_end(self, span: ReadableSpan) -> None:
        extra: dict[str, Any] | None = None
        attrs: dict[str, Any] = {}
        try:
            bounded = span._attributes if type(span) is ReadableSpan else None
            if _BOUNDED_DICT and type(bounded) is BoundedAttributes:
                # what Span.end() hands over (opentelemetry-sdk 1.45): copied only when GenAI
                plain: dict[str, Any] = bounded._dict
                if GEN_AI_OPERATION_NAME in plain or is_genai_span(plain):
                    attrs = plain.copy()
                    if self._deferred:
                        # queued before the span is handed on: a drain before its export
                        # finds it
                        self._pending.append((span, attrs))
                        extra = _DEFERRED
                    else:
                        extra = self._measure(span, attrs)
            else:
                attrs = _attributes_of(span)
                if is_genai_span(attrs):
                    extra = self._measure(span, attrs)
        except Exception as exc:
            self._error("on_end", exc)
        downstream = self.downstream
        if downstream is not None:
            try:
                if extra:
                    if extra is not _WRITTEN and extra is not _DEFERRED:
                        attrs.update(extra)  # our private copy: the finished span is untouched
                    if type(span) is ReadableSpan and _READABLE_LAYOUT:
                        alone = self._alone
                        # attribute reads, not span.__dict__: that would build the dict
                        # of an instance whose attributes CPython keeps inline
                        bounded = span._attributes
                        events = span._events
                        links = span._links
                        if (
                            alone is not None
                            and self._host._span_processors is alone
                            and type(bounded) is BoundedAttributes
                            and not bounded.dropped
                            and type(events) is BoundedList
                            and not events.dropped
                            and type(links) is BoundedList
                            and not links.dropped
                        ):  # seen by no one else (_see_host): annotated in place
                            span._attributes = attrs  # type: ignore[assignment]
                            # plain tuples (most often empty), as _sdk_twin keeps them
                            dq = events._dq  # type: ignore[attr-defined]
                            span._events = tuple(dq) if dq else ()  # type: ignore[assignment]
                            dq = links._dq  # type: ignore[attr-defined]
                            span._links = tuple(dq) if dq else ()
                        else:
                            span = _sdk_twin(span, attrs)  # _AnnotatedSpan.of, one call less
                    else:
                        span = _AnnotatedSpan.of(span, attrs)
                elif _READABLE_LAYOUT and type(span) is ReadableSpan:
                    _shed_empty(span)
                queue = self._queue
                if queue is not None:  # a span handed on after shutdown: counted as lost
                    try:  # getattr(batch, "_shutdown", False), without the builtin's call
                        shut = queue[0]._shutdown
                    except AttributeError:
                        shut = False
                    if shut and span.context is not None and span.context.trace_flags.sampled:
                        self.metrics.record_dropped("shutdown")
                downstream.on_end(span)
            except Exception as exc:
                self._error("downstream", exc)
        if (
            extra is _DEFERRED
            and len(self._pending) >= MEASURE_BATCH
            and self._drain_lock.acquire(blocking=False)  # else a drain is running
        ):
            try:
                self._drain_locked()
            finally:
                self._drain_lock.release()

    def _queue_full(self) -> None:
        self.metrics.record_dropped("queue_full")

    def _measure(self, span: ReadableSpan, attrs: dict[str, Any]) -> dict[str, Any] | None:
        """Record the metrics of one GenAI span; return the attributes to add to it
        (``_WRITTEN``: they are in ``attrs`` already).

        The usual span (the SDK's ``ReadableSpan``, first spellings only, no extended
        usage, no reported cost, plain int token counts) is measured along its
        :class:`_Plan`; every other span, and every plan of kind ``_GENERAL``, takes
        :meth:`_measure_general`. ``tests/unit/test_processor_fastpath.py`` holds the two
        equal.
        """
        if type(span) is not ReadableSpan:
            return self._measure_general(span, attrs)
        status = span._status  # attribute reads: span.__dict__ would build a dict
        if (
            status._status_code if _STATUS_FIELD and type(status) is Status else status.status_code
        ) is _ERROR:
            failed = True
            slow, plans = self._failed_slow_keys, self._failed_plans
        else:
            failed = False
            slow, plans = self._slow_keys, self._plans
        if not slow.isdisjoint(attrs):
            return self._measure_general(span, attrs)
        # one dict.get per field, written out: a tuple(map(get, keys)) and its slices
        # cost about as much again (the allocations and the iterator protocol)
        get = attrs.get
        labels = self._label_firsts
        key: tuple[Any, ...]
        if len(labels) == 2:  # the tuple display for the usual numbers of labels
            key = (
                get(GEN_AI_OPERATION_NAME),
                get(_PROVIDER),
                get(GEN_AI_REQUEST_MODEL),
                get(GEN_AI_RESPONSE_MODEL),
                get(labels[0]),
                get(labels[1]),
            )
        elif not labels:
            key = (
                get(GEN_AI_OPERATION_NAME),
                get(_PROVIDER),
                get(GEN_AI_REQUEST_MODEL),
                get(GEN_AI_RESPONSE_MODEL),
            )
        elif len(labels) == 1:
            key = (
                get(GEN_AI_OPERATION_NAME),
                get(_PROVIDER),
                get(GEN_AI_REQUEST_MODEL),
                get(GEN_AI_RESPONSE_MODEL),
                get(labels[0]),
            )
        else:
            key = (
                get(GEN_AI_OPERATION_NAME),
                get(_PROVIDER),
                get(GEN_AI_REQUEST_MODEL),
                get(GEN_AI_RESPONSE_MODEL),
                *map(get, labels),
            )
        if failed:
            key += (get(ERROR_TYPE),)
        try:
            plan = plans.get(key)
        except TypeError:  # an unhashable value (a list)
            return self._measure_general(span, attrs)
        if plan is None:
            plan = self._plan(key, failed)
            if len(plans) >= _PLAN_LIMIT:
                plans.clear()
            plans[key] = plan
        kind = plan.kind
        if kind == _GENERAL:
            return self._measure_general(span, attrs)
        ttfc = get(GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)
        n_in = get(_INPUT_TOKENS)
        n_out = get(_OUTPUT_TOKENS)
        n_read = get(_CACHE_READ_TOKENS)
        n_creation = get(_CACHE_CREATION_TOKENS)
        n_reasoning = get(_REASONING_TOKENS)
        start, end = span._start_time, span._end_time
        if kind == _PRICED and not (
            type(start) is int is type(end)
            and 0 <= (duration := end - start) < COUNT_LIMIT
            # ints or None, input or output there (the rarer counts tested for None first)
            and (type(n_in) is int or (n_in is None and n_out is not None))
            and (type(n_out) is int or n_out is None)
            and (n_read is None or type(n_read) is int)
            and (n_creation is None or type(n_creation) is int)
            and (n_reasoning is None or type(n_reasoning) is int)
            # in range, each (a bitwise or of them all costs more: an int made per or)
            and 0 <= (n_in or 0) < COUNT_LIMIT
            and 0 <= (n_out or 0) < COUNT_LIMIT
            and (n_read is None or 0 <= n_read < COUNT_LIMIT)
            and (n_creation is None or 0 <= n_creation < COUNT_LIMIT)
            and (n_reasoning is None or 0 <= n_reasoning < COUNT_LIMIT)
        ):
            return self._measure_general(span, attrs)
        if ttfc is not None and (isinstance(ttfc, bool) or not isinstance(ttfc, (int, float))):
            ttfc = None
        ctx = span._context
        span_ids = None
        if _CONTEXT_TUPLE and type(ctx) is SpanContext:
            if ctx[3] & _SAMPLED:
                span_ids = (ctx[0], ctx[1])
        elif ctx is not None and ctx.trace_flags & _SAMPLED:
            span_ids = (ctx.trace_id, ctx.span_id)
        route: Route = plan.route  # type: ignore[assignment]  # set for these kinds
        if kind == _NOT_INFERENCE:
            seconds = stamp = None
            if start is not None and end is not None:
                seconds, stamp = (end - start) / 1e9, end / 1e9
            self.metrics.observe(route, seconds, ttfc, (), None, span_ids, timestamp=stamp)
            return None
        counts = (n_in, n_out, n_read, n_creation, n_reasoning)
        n_read = n_read or 0
        n_creation = n_creation or 0
        n_reasoning = n_reasoning or 0
        total_in, total_out = normalized_totals(
            n_in or 0, n_out or 0, n_read, n_creation, n_reasoning
        )
        rates = plan.rates  # one price period: its rates, else the one at the span's start
        if rates is None:
            rates = plan.resolved.rates_at(start)  # type: ignore[union-attr]  # _PRICED
        cost = rates.cost_of(total_in, total_out, n_read, n_creation, n_reasoning)
        if total_in is not n_in or total_out is not n_out:  # normalised, or one absent
            counts = (
                None if n_in is None else total_in,
                None if n_out is None else total_out,
                *counts[2:],  # as reported
            )
        end_ns: int = end  # type: ignore[assignment]  # an int: checked above
        self.metrics.observe_counts(route, duration, end_ns, ttfc, counts, cost, span_ids)
        attrs[GEN_AI_USAGE_COST_AMOUNT] = cost  # what _price adds, in its order
        attrs[GEN_AI_USAGE_COST_CURRENCY] = "USD"
        attrs[GEN_AI_USAGE_COST_SOURCE] = "local"
        return _WRITTEN

    def _plan(self, key: tuple[Any, ...], failed: bool) -> _Plan:
        """The :class:`_Plan` of a span whose first-spelling fields are ``key``:
        operation, provider, models, attribution and, when ``failed``, the error type."""
        operation, provider, request_model, response_model = key[:4]
        attribution = key[4 : self._key_len]
        error_type = None  # a successful span with an error type takes the general path
        if failed:
            error_type = key[self._key_len] or _ERROR_OTHER
        route = self.metrics.route(
            operation, provider, request_model, response_model, error_type, attribution
        )
        if operation is not None and operation not in INFERENCE_OPERATIONS:
            return _Plan(_NOT_INFERENCE, route, None)
        book = self.pricebook
        if type(book) is not PriceBook or {"cost", "resolve"} & vars(book).keys():
            return _GENERAL_PLAN  # a replaced pricing method is called as it is
        provider_name = provider if isinstance(provider, str) else None
        for model in (response_model, request_model):  # as _price tries them
            if isinstance(model, str) and model:
                resolved = book.resolve(provider_name, model)  # no unresolved flag
                if resolved is not None:
                    return _Plan(_PRICED, route, resolved)
        return _GENERAL_PLAN  # unpriced: counted and logged by the general path

    def _measure_general(self, span: ReadableSpan, attrs: dict[str, Any]) -> dict[str, Any]:
        """:meth:`_measure` of any span, field by field."""
        values = self._fields.read(attrs)
        (
            operation,
            provider,
            request_model,
            response_model,
            error_type,
            ttfc,
            n_in,
            n_out,
            n_read,
            n_creation,
            n_reasoning,
            reported,
        ) = values[:_FIRST_LABEL_SLOT]

        failed = span.status.status_code is _ERROR
        if not error_type:
            error_type = _ERROR_OTHER if failed else None
        duration = stamp = None  # exemplars are timestamped at the span's end
        start, end = span.start_time, span.end_time
        if start is not None and end is not None:
            duration, stamp = (end - start) / 1e9, end / 1e9
        if ttfc is not None and (isinstance(ttfc, bool) or not isinstance(ttfc, int | float)):
            ttfc = None
        ctx = span.context
        span_ids = None  # the exemplar: only a sampled trace can be opened in Tempo
        if ctx is not None and ctx.trace_flags & _SAMPLED:
            span_ids = (ctx.trace_id, ctx.span_id)
        route = self.metrics.route(
            operation, provider, request_model, response_model, error_type, values[_LABELS]
        )
        manual = attrs.get(OTEL_LLM_MANUAL) is True
        if manual and attrs.get(OTEL_LLM_MANUAL_NESTED) is True:
            return {}  # the enclosing instrumented span counts this call
        if operation is not None and operation not in INFERENCE_OPERATIONS and not manual:
            self.metrics.observe(route, duration, ttfc, (), None, span_ids, timestamp=stamp)
            return {}
        ext = read_extended(attrs)

        # token counts, read as semconv.int_attr reads them (plain ints skip the call)
        if type(n_in) is not int or n_in < 0:
            n_in = _as_count(n_in)
        if type(n_out) is not int or n_out < 0:
            n_out = _as_count(n_out)
        if n_read is not None and (type(n_read) is not int or n_read < 0):
            n_read = _as_count(n_read)
        if n_creation is not None and (type(n_creation) is not int or n_creation < 0):
            n_creation = _as_count(n_creation)
        if n_reasoning is not None and (type(n_reasoning) is not int or n_reasoning < 0):
            n_reasoning = _as_count(n_reasoning)
        tokens: list[tuple[str, int]] = []
        usage = None
        if n_in is not None or n_out is not None:
            usage = Usage(
                n_in or 0, n_out or 0, n_read or 0, n_creation or 0, n_reasoning or 0
            ).normalized()
            # input/output as normalised (cached inside input), the rest as reported
            if n_in is not None:
                tokens.append((_INPUT, usage.input))
            if n_out is not None:
                tokens.append((_OUTPUT, usage.output))
            if n_read is not None:
                tokens.append((_CACHE_READ, n_read))
            if n_creation is not None:
                tokens.append((_CACHE_CREATION, n_creation))
            if n_reasoning is not None:
                tokens.append((_REASONING, n_reasoning))
        if ext is not None:
            tokens.extend(ext.tokens())
            if usage is None:
                usage = Usage()

        extra: dict[str, Any] = {}
        cost: float | None = None
        if (
            reported is not None
            and isinstance(reported, int | float)
            and not isinstance(reported, bool)
            and math.isfinite(reported)
            and reported >= 0
        ):  # the provider's own figure
            if GEN_AI_USAGE_COST_SOURCE not in attrs:
                extra[GEN_AI_USAGE_COST_SOURCE] = "provider"
            currency = attrs.get(GEN_AI_USAGE_COST_CURRENCY)
            if currency is None:
                extra[GEN_AI_USAGE_COST_CURRENCY] = "USD"
            if currency in (None, "USD"):
                cost = float(reported)
        else:
            cost = self._price(
                span,
                provider,
                request_model,
                response_model,
                usage,
                failed,
                extra,
                ext,
                manual,
                bundled=not attrs.get(UNRESOLVED_PROVIDER),
            )
        self.metrics.observe(
            route, duration, ttfc, tokens, cost, span_ids, OTEL_LLM_UNPRICED in extra, stamp
        )
        return extra

    def _price(
        self,
        span: ReadableSpan,
        provider: Any,
        request_model: Any,
        response_model: Any,
        usage: Usage | None,
        failed: bool,
        extra: dict[str, Any],
        ext: ExtendedUsage | None = None,
        manual: bool = False,
        bundled: bool | None = None,
    ) -> float | None:
        """USD of the span's usage from the price table; fills ``extra`` with the cost
        attributes, or with the unpriced flag when there is no usage or no price.
        ``bundled``: whether genai-prices may price it (None: read from the span).
        """
        if bundled is None:
            # an endpoint that matched no known provider: only the pricing file prices it
            bundled = not (span.attributes or {}).get(UNRESOLVED_PROVIDER)
        provider_name = provider if isinstance(provider, str) else None
        if ext is not None or manual:
            return self._price_extended(
                span,
                provider_name,
                request_model,
                response_model,
                usage,
                failed,
                extra,
                ext,
                bundled,
            )
        if usage is None:
            if not failed:
                extra[OTEL_LLM_UNPRICED] = True
                self._log_once("no usage", provider_name, request_model)
            return None
        cost = None
        for model in (response_model, request_model):
            if isinstance(model, str) and model:
                cost = self.pricebook.cost(
                    provider_name, model, usage, timestamp_ns=span.start_time, bundled=bundled
                )
                if cost is not None:
                    break
        if cost is None:
            extra[OTEL_LLM_UNPRICED] = True
            self._log_once("no price", provider_name, response_model or request_model)
            return None
        extra[GEN_AI_USAGE_COST_AMOUNT] = cost
        extra[GEN_AI_USAGE_COST_CURRENCY] = "USD"
        extra[GEN_AI_USAGE_COST_SOURCE] = "local"
        return cost

    def _price_extended(
        self,
        span: ReadableSpan,
        provider: str | None,
        request_model: Any,
        response_model: Any,
        usage: Usage | None,
        failed: bool,
        extra: dict[str, Any],
        ext: ExtendedUsage | None,
        bundled: bool,
    ) -> float | None:
        """A span with audio/image/prediction tokens or units, or a manual span.

        A manual span that reports no usage at all is priced only by a per-request price,
        and not at all when it failed (a failed call that reports nothing is not billed).
        """
        if usage is None and failed:
            return None
        reason: str | None = "no_price"
        cost = None
        for model in (response_model, request_model):
            if not isinstance(model, str) or not model:
                continue
            if usage is None:  # manual, nothing reported: one request, if priced per request
                resolved = self.pricebook.resolve(provider, model, bundled=bundled)
                if resolved is None:
                    continue
                rates = resolved.rates_at(span.start_time)
                if rates.request > 0:
                    cost, reason = rates.request, None
                else:
                    reason = "no_usage"
                break
            cost, why = self.pricebook.cost_extended(
                provider, model, usage, ext, timestamp_ns=span.start_time, bundled=bundled
            )
            if cost is not None:
                reason = None
                break
            if reason == "no_price":  # keep the more telling reason of the two models
                reason = why
        if cost is None:
            if reason == "no_usage" and failed:
                return None
            extra[OTEL_LLM_UNPRICED] = True
            extra[OTEL_LLM_UNPRICED_REASON] = reason
            self._log_once(
                "no price" if reason == "no_price" else "unit",
                provider,
                response_model or request_model,
                reason,
            )
            return None
        extra[GEN_AI_USAGE_COST_AMOUNT] = cost
        extra[GEN_AI_USAGE_COST_CURRENCY] = "USD"
        extra[GEN_AI_USAGE_COST_SOURCE] = "local"
        return cost

    # -- lifecycle --------------------------------------------------------------------

    def shutdown(self) -> None:
        self.drain()
        if self.downstream is not None:
            try:
                self.downstream.shutdown()
            except Exception as exc:
                self._error("shutdown", exc)
            if self._queue is not None:
                # what the worker had no time to export before shutdown's timeout: lost
                batch, queue = self._queue
                with queue._lock:
                    left = len(queue)
                    queue.clear()
                if left and getattr(batch, "_shutdown", False):
                    self.metrics.record_dropped("shutdown", left)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self.drain()
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
        elif what == "unit":
            logger.warning(
                "otel-llm: model %r of provider %r has no price for the usage it reports "
                "(%s); counted as unpriced (add the price to OTEL_LLM_PRICING_FILE)",
                key[1],
                key[0],
                key[2],
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
