"""Prometheus instruments derived from GenAI spans, declared once in :data:`INSTRUMENTS`.

Names, buckets and label sets are the contract's (``otel_llm/semconv.py``). Everything lives
in a dedicated :class:`~prometheus_client.CollectorRegistry` (pass one in, or get a fresh
one), never the global registry, so tests and embedding apps stay isolated.

Recording needs nothing of prometheus-client: this module does not import it. Without a
registry passed in, the registry is made on the first read of :attr:`GenAIMetrics.registry`
(a scrape, the metrics server, a test), and only then is prometheus-client loaded (1.5 MiB
with the exposition modules its package imports: ``http.server``, ``wsgiref``, ``html``),
so a process that never serves or reads its metrics does not pay for it.

Label values:

- a missing value is ``""`` everywhere (Prometheus treats an empty label as an absent one,
  which is what OpenTelemetry's own exporters do for a missing attribute), e.g.
  ``error_type=""`` on success and ``user=""`` when no user was attributed.
- values are sanitised: at most 64 characters (128 for model names), characters outside
  ``[A-Za-z0-9_.:/@{}+-]`` become ``_``. No label carries a request ID, trace ID or free text;
  trace and span IDs travel only as exemplars.
- every label is bounded: attribution labels keep the first ``Settings.attribution_limit``
  distinct values seen per label, later values fold into ``other``; the contract's own
  labels (provider, models, operation, error type) are bounded the same way at
  :data:`SEMCONV_LABEL_LIMIT`, a safety net against a scrape ``sample_limit`` dropping the
  whole target.
- user values are pseudonymised when ``Settings.user_hash_key`` (``OTEL_LLM_USER_HASH_KEY``)
  is set: ``u_`` + the first 16 hex digits of HMAC-SHA256(key, UTF-8 user id). The same
  key gives the same pseudonym in every process and in the Node package, so per-user budgets
  work without personal data in Prometheus; whoever holds the key can recompute a known
  user's pseudonym to look them up. A value already in that form is not hashed again.

Hot path: prometheus-client keeps the exposition (names, HELP/TYPE/UNIT, OpenMetrics with
exemplars, ``_created`` series) but not the recording. Its ``observe``/``inc`` take a lock and
validate the exemplar per call, and a priced GenAI span makes six or seven of them. Here one
:class:`GenAICollector` owns every series (bucket counts, sum, last exemplar per bucket;
counter value and exemplar) and a span's observations are applied under one short lock, the
bucket found by ``bisect``. Raw label values are folded once per distinct combination (a
bounded memo), so a repeated span costs a few dict lookups. ``collect()`` copies one
family at a time under the lock and builds prometheus-client metric families from the copy.
Values live in process memory only: prometheus-client's multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR``, no exemplars) does not apply to them; several workers serve
one port each (docs/multiprocess.md).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from otel_llm.config import Settings
from otel_llm.semconv import (
    COST_BUCKETS,
    DURATION_BUCKETS,
    ERROR_TYPE,
    GEN_AI_OPERATION_NAME,
    GEN_AI_PROVIDER_NAME,
    GEN_AI_REQUEST_MODEL,
    GEN_AI_RESPONSE_MODEL,
    METRIC_COST,
    METRIC_DURATION,
    METRIC_OPERATION_COST,
    METRIC_PROCESSOR_ERRORS,
    METRIC_SPANS_DROPPED,
    METRIC_TOKEN_USAGE,
    METRIC_TTFC,
    METRIC_UNPRICED,
    TOKEN_BUCKETS,
    TOKEN_TYPES,
)

if TYPE_CHECKING:  # prometheus-client is imported where metrics are read, not here
    from prometheus_client import CollectorRegistry, Metric
    from prometheus_client.registry import Collector
    from prometheus_client.samples import Exemplar

__all__ = [
    "COUNT_LIMIT",
    "INSTRUMENTS",
    "OTHER",
    "SEMCONV_LABEL_LIMIT",
    "GenAICollector",
    "GenAIMetrics",
    "Instrument",
    "LabelFolder",
    "Route",
    "SpanIds",
    "pseudonymize",
    "sanitize_label_value",
]


def _prom(attribute: str) -> str:
    return attribute.replace(".", "_")


LABEL_OPERATION: Final = _prom(GEN_AI_OPERATION_NAME)
LABEL_PROVIDER: Final = _prom(GEN_AI_PROVIDER_NAME)
LABEL_REQUEST_MODEL: Final = _prom(GEN_AI_REQUEST_MODEL)
LABEL_RESPONSE_MODEL: Final = _prom(GEN_AI_RESPONSE_MODEL)
LABEL_ERROR_TYPE: Final = _prom(ERROR_TYPE)
LABEL_TOKEN_TYPE: Final = "gen_ai_token_type"

OPERATION_LABELS: Final = (
    LABEL_OPERATION,
    LABEL_PROVIDER,
    LABEL_REQUEST_MODEL,
    LABEL_RESPONSE_MODEL,
    LABEL_ERROR_TYPE,
)
TOKEN_LABELS: Final = (*OPERATION_LABELS[:4], LABEL_TOKEN_TYPE)
COST_LABELS: Final = (LABEL_OPERATION, LABEL_PROVIDER, LABEL_REQUEST_MODEL)
UNPRICED_LABELS: Final = (LABEL_PROVIDER, LABEL_REQUEST_MODEL)

OTHER: Final = "other"
SEMCONV_LABEL_LIMIT: Final = 256
"""Distinct values kept per contract label (provider, models, operation, error type)."""
_MEMO_LIMIT: Final = 4096


@dataclass(frozen=True, slots=True)
class Instrument:
    """One metric of the contract: Prometheus name as shown, type, labels, buckets."""

    key: str
    name: str
    kind: Literal["histogram", "counter"]
    documentation: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...] = ()
    unit: str = ""
    attributed: bool = False
    """True when the opt-in attribution labels are appended (the cost counter)."""


INSTRUMENTS: Final[tuple[Instrument, ...]] = (
    Instrument(
        "duration",
        METRIC_DURATION,
        "histogram",
        "GenAI operation duration.",
        OPERATION_LABELS,
        DURATION_BUCKETS,
        "seconds",
    ),
    Instrument(
        "token_usage",
        METRIC_TOKEN_USAGE,
        "histogram",
        "Tokens used per GenAI operation, by token type.",
        TOKEN_LABELS,
        TOKEN_BUCKETS,
    ),
    Instrument(
        "ttfc",
        METRIC_TTFC,
        "histogram",
        "Time to the first chunk of a streaming GenAI response.",
        OPERATION_LABELS,
        DURATION_BUCKETS,
        "seconds",
    ),
    Instrument(
        "cost",
        METRIC_COST,
        "counter",
        "Cost of GenAI operations in USD.",
        COST_LABELS,
        unit="usd",
        attributed=True,
    ),
    Instrument(
        "operation_cost",
        METRIC_OPERATION_COST,
        "histogram",
        "Cost of one priced GenAI operation in USD.",
        COST_LABELS,
        COST_BUCKETS,
        "usd",
    ),
    Instrument(
        "unpriced",
        METRIC_UNPRICED,
        "counter",
        "GenAI operations whose model has no known price.",
        UNPRICED_LABELS,
    ),
    Instrument(
        "processor_errors",
        METRIC_PROCESSOR_ERRORS,
        "counter",
        "Exceptions caught inside the otel-llm span processor.",
        ("hook", LABEL_ERROR_TYPE),
    ),
    Instrument(
        "spans_dropped",
        METRIC_SPANS_DROPPED,
        "counter",
        "Spans lost before export: queue_full, shutdown, or export_failed (the exporter "
        "could not write them).",
        ("reason",),
    ),
)

# --- label values -----------------------------------------------------------------------

_UNSAFE: Final = re.compile(r"[^A-Za-z0-9_.:/@{}+\-]")
_PSEUDONYM: Final = re.compile(r"u_[0-9a-f]{16}")
_LABEL_NAME: Final = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def sanitize_label_value(value: object, max_len: int = 64) -> str:
    """A bounded, single-token label value: capped length, unsafe characters as ``_``."""
    if value is None:
        return ""
    if isinstance(value, str):
        text = value.strip()
    elif isinstance(value, bool | int | float):
        text = str(value)
    else:  # sequences and other values are not label material
        text = str(value)
    return _UNSAFE.sub("_", text[:max_len])


def pseudonymize(key: str, value: str) -> str:
    """``u_`` + 16 hex digits of HMAC-SHA256(key, value); idempotent on its own output."""
    if not value or _PSEUDONYM.fullmatch(value):
        return value
    digest = hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()
    return "u_" + digest[:16]


class LabelFolder:
    """Maps raw values to bounded label values: first ``limit`` distinct pass, then ``other``.

    The fast path is one dict lookup; the slow path (sanitise, pseudonymise, admit) takes a
    short lock so concurrent threads cannot admit more than ``limit`` values.
    """

    def __init__(
        self,
        limit: int,
        *,
        max_len: int = 64,
        transform: Callable[[str], str] | None = None,
    ) -> None:
        self.limit = limit
        self._max_len = max_len
        self._transform = transform
        self._admitted: set[str] = set()
        self._memo: dict[object, str] = {}
        self._lock = threading.Lock()

    def __call__(self, raw: object) -> str:
        try:
            hit = self._memo.get(raw)
        except TypeError:  # unhashable attribute value (a list)
            raw, hit = str(raw), None
        if hit is not None:
            return hit
        return self._slow(raw)

    def _slow(self, raw: object) -> str:
        if self._transform is not None and raw is not None and raw != "":
            # transform the exact value (as the span processor does), then sanitise
            raw_text = raw if isinstance(raw, str) else str(raw)
            value = sanitize_label_value(self._transform(raw_text), self._max_len)
        else:
            value = sanitize_label_value(raw, self._max_len)
        with self._lock:
            if value and value not in self._admitted:
                if len(self._admitted) < self.limit:
                    self._admitted.add(value)
                else:
                    value = OTHER
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo.clear()
            self._memo[raw] = value
        return value

    @property
    def admitted(self) -> frozenset[str]:
        return frozenset(self._admitted)


# --- the series store and its exposition ---------------------------------------------

SpanIds = tuple[int, int]
"""(trace ID, span ID) of a sampled span: an exemplar whose labels are formatted at scrape."""

_Exemplar = tuple["Mapping[str, str] | SpanIds", float, float]
"""What a series keeps of an exemplar: labels (or span IDs), observed value, Unix time."""


def _exemplar(kept: _Exemplar | None) -> Exemplar | None:
    """prometheus-client's exemplar for what a series kept (trace and span IDs as hex)."""
    if kept is None:
        return None
    from prometheus_client.samples import Exemplar

    labels, value, timestamp = kept
    if isinstance(labels, tuple):
        trace_id, span_id = labels
        labels = {"trace_id": f"{trace_id:032x}", "span_id": f"{span_id:016x}"}
    return Exemplar(dict(labels), value, timestamp)


class _HistogramSeries:
    """One label set of a histogram: per-bucket counts (not cumulative), sum, exemplars."""

    __slots__ = ("counts", "created", "exemplars", "sum")

    def __init__(self, size: int, zero: float = 0.0) -> None:
        self.counts = [0.0] * size
        self.sum = zero
        self.exemplars: list[_Exemplar | None] = [None] * size
        self.created = time.time()

    def copy(self) -> _HistogramSeries:
        twin = _HistogramSeries.__new__(_HistogramSeries)
        twin.counts, twin.sum = list(self.counts), self.sum
        twin.exemplars, twin.created = list(self.exemplars), self.created
        return twin


class _CounterSeries:
    """One label set of a counter: total and the exemplar of the last increment."""

    __slots__ = ("created", "exemplar", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self.exemplar: _Exemplar | None = None
        self.created = time.time()

    def copy(self) -> _CounterSeries:
        twin = _CounterSeries.__new__(_CounterSeries)
        twin.value, twin.exemplar, twin.created = self.value, self.exemplar, self.created
        return twin


class _Family:
    """One instrument of :data:`INSTRUMENTS`: its series by label tuple, and its exposition.

    Name, unit and label names go through prometheus-client's own metric constructor, and
    the buckets' ``le`` values through its ``floatToGoString``, so they are spelled exactly
    as a ``Histogram``/``Counter`` would show them: once, at the first exposition (the
    first time prometheus-client is needed). The names are the contract's constants and
    the label names are validated before (:func:`_validate_attribution_labels`, stricter
    than prometheus-client), so that spelling cannot fail.
    """

    __slots__ = (
        "_spelled",
        "documentation",
        "instrument",
        "labelnames",
        "series",
        "upper",
        "zero",
    )

    def __init__(self, inst: Instrument, labelnames: tuple[str, ...]) -> None:
        self.instrument = inst
        self.documentation = inst.documentation
        self.labelnames = labelnames
        upper = [float(b) for b in inst.buckets]
        if inst.kind == "histogram" and upper[-1] != math.inf:
            upper.append(math.inf)
        self.upper: tuple[float, ...] = tuple(upper)
        """Upper bounds with +Inf; ``bisect_left`` gives the bucket of ``value <= bound``."""
        self._spelled: tuple[str, tuple[str, ...]] | None = None
        self.series: dict[tuple[str, ...], _HistogramSeries | _CounterSeries] = {}
        self.zero: float = 0 if inst.key == "token_usage" else 0.0
        """A new series' sum: token counts are ints, summed as an exact int (int + int is
        also the interpreter's fast add); every sum is shown as a float all the same."""

    def _spell(self) -> tuple[str, tuple[str, ...]]:
        """(name, ``le`` of each bucket) as prometheus-client spells them; made once."""
        spelled = self._spelled
        if spelled is None:
            from prometheus_client import Counter, Histogram
            from prometheus_client.utils import floatToGoString

            inst = self.instrument
            proto: Histogram | Counter
            if inst.kind == "histogram":
                proto = Histogram(
                    inst.name,
                    inst.documentation,
                    self.labelnames,
                    unit=inst.unit,
                    registry=None,
                    buckets=inst.buckets,
                )
            else:
                proto = Counter(
                    inst.name, inst.documentation, self.labelnames, unit=inst.unit, registry=None
                )
            (described,) = proto.describe()
            les = tuple(
                floatToGoString(b)  # type: ignore[no-untyped-call]
                for b in self.upper
            )
            # the same value whichever thread spells it first: no lock needed
            spelled = self._spelled = (described.name, les)
        return spelled

    @property
    def name(self) -> str:
        """The name as exposed (the counter's without ``_total``, the unit's suffix added)."""
        return self._spell()[0]

    @property
    def les(self) -> tuple[str, ...]:
        """Each bucket's ``le`` label value, ``+Inf`` last (histograms)."""
        return self._spell()[1]

    def histogram(self, labels: tuple[str, ...]) -> _HistogramSeries:
        """The series of ``labels`` (created on first use); call with the store's lock held."""
        series = self.series.get(labels)
        if series is None:
            series = self.series[labels] = _HistogramSeries(len(self.upper), self.zero)
        return series  # type: ignore[return-value]

    def counter(self, labels: tuple[str, ...]) -> _CounterSeries:
        """The series of ``labels`` (created on first use); call with the store's lock held."""
        series = self.series.get(labels)
        if series is None:
            series = self.series[labels] = _CounterSeries()
        return series  # type: ignore[return-value]

    def empty(self) -> Metric:
        from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily

        if self.instrument.kind == "histogram":
            return HistogramMetricFamily(
                self.name, self.documentation, labels=self.labelnames, unit=self.instrument.unit
            )
        return CounterMetricFamily(
            self.name, self.documentation, labels=self.labelnames, unit=self.instrument.unit
        )

    def snapshot(self) -> list[tuple[tuple[str, ...], _HistogramSeries | _CounterSeries]]:
        """Copies of every series, in creation order; call with the store's lock held."""
        return [(labels, series.copy()) for labels, series in self.series.items()]

    def render(
        self, rows: Iterable[tuple[tuple[str, ...], _HistogramSeries | _CounterSeries]]
    ) -> Metric:
        """The metric family of a snapshot: the samples a prometheus-client metric yields."""
        import prometheus_client.metrics as prometheus_metrics
        from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily

        use_created = getattr(prometheus_metrics, "_use_created", True)
        name, les = self._spell()
        family = self.empty()
        for labels, s in rows:
            if isinstance(s, _HistogramSeries):
                assert isinstance(family, HistogramMetricFamily)
                acc = 0.0
                buckets: list[tuple[str, float] | tuple[str, float, Exemplar]] = []
                for le, count, kept in zip(les, s.counts, s.exemplars, strict=True):
                    acc += count
                    exemplar = _exemplar(kept)
                    buckets.append((le, acc) if exemplar is None else (le, acc, exemplar))
                family.add_metric(labels, buckets, s.sum)
                if use_created:
                    family.add_sample(
                        name + "_created",
                        dict(zip(self.labelnames, labels, strict=True)),
                        s.created,
                    )
            else:
                assert isinstance(family, CounterMetricFamily)
                family.add_metric(
                    labels,
                    s.value,
                    s.created if use_created else None,
                    exemplar=_exemplar(s.exemplar),
                )
        return family


class GenAICollector:
    """Owns every series of the contract's instruments; prometheus-client only exposes them
    (a collector as its ``CollectorRegistry.register`` takes one: ``describe``, ``collect``).

    Writers (:class:`GenAIMetrics`) update series under :attr:`lock`, one acquisition per
    span. :meth:`collect` copies one family at a time under the same lock and renders the
    copies outside it, so a scrape holds recording up for one family's copy at most.
    """

    def __init__(self, families: Sequence[_Family]) -> None:
        self.lock = threading.Lock()
        self.families = tuple(families)

    def describe(self) -> list[Metric]:
        """Names only (no samples), so a registry can check for clashes without collecting."""
        return [family.empty() for family in self.families]

    before_collect: Callable[[], None] | None = None
    """Called first at every collection: the span processor's drain, when it measures
    spans in batches (:meth:`GenAISpanProcessor.defer_measurement`)."""

    def collect(self) -> list[Metric]:
        if self.before_collect is not None:
            self.before_collect()
        metrics = []
        for family in self.families:
            with self.lock:
                rows = family.snapshot()
            metrics.append(family.render(rows))
        return metrics


# --- recording ------------------------------------------------------------------------


def _validate_attribution_labels(labels: Iterable[str]) -> tuple[str, ...]:
    reserved = set(COST_LABELS) | {"le", "quantile"}
    out = []
    for label in labels:
        if not _LABEL_NAME.fullmatch(label) or label.startswith("__") or label in reserved:
            raise ValueError(
                f"attribution label {label!r} is not usable as a Prometheus label "
                "(letters, digits and _; not reserved or already a contract label)"
            )
        out.append(label)
    return tuple(out)


_EXEMPLAR_RUNES: Final = 128


def _exemplar_labels(exemplar: Mapping[str, str]) -> dict[str, str]:
    """A copy of the exemplar's labels, validated as prometheus-client does (names, 128 runes)."""
    labels = dict(exemplar)
    runes = 0
    for name, value in labels.items():
        if not _LABEL_NAME.fullmatch(name) or name.startswith("__"):
            raise ValueError(f"invalid exemplar label name: {name!r}")
        runes += len(name) + len(value)
    if runes > _EXEMPLAR_RUNES:
        raise ValueError(f"exemplar labels have {runes} characters, over the limit of 128")
    return labels


COUNT_LIMIT: Final = 1 << 64
"""Token counts :meth:`GenAIMetrics.observe_counts` takes are ints below this."""


def _int_buckets(upper: Sequence[float]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Tables that give ``bisect_left(upper, n)`` of an int ``0 <= n < COUNT_LIMIT`` as
    ``lows[b] + (n > bounds[b])``, ``b = n.bit_length()``: one int comparison instead of
    a bisection of float bounds. Every ``n`` of bit length ``b`` lies in
    ``[lo, hi] = [2**(b-1), 2**b - 1]`` (``[0, 0]`` for ``b = 0``); the tables work when
    at most one bound falls inside each such range, as with powers of 2 or 4 (the token
    buckets). ``((), ())`` when not: ``observe_counts`` bisects instead.
    """
    lows: list[int] = []
    bounds: list[int] = []
    for b in range(COUNT_LIMIT.bit_length()):
        lo, hi = (1 << b >> 1, (1 << b) - 1)
        first, last = bisect_left(upper, lo), bisect_left(upper, hi)
        if first == last:
            bound = hi  # every n of this length: the same bucket
        elif last == first + 1:
            bound = math.floor(upper[first])  # n <= upper[first] <=> n <= its floor
        else:
            return (), ()
        lows.append(first)
        bounds.append(bound)
    return tuple(lows), tuple(bounds)


def _ns_thresholds(upper: Sequence[float]) -> tuple[float, ...]:
    """Bounds in seconds as int nanosecond thresholds: ``ns / 1e9 <= upper[k]`` exactly
    when ``ns <= thresholds[k]`` (the largest int whose quotient by 1e9 is still within
    the bound: float division rounds monotonically), so ``bisect_left`` of a duration in
    seconds equals ``bisect_left`` of the int it was divided from; infinity stays."""
    thresholds: list[float] = []
    for bound in upper:
        if not math.isfinite(bound):
            thresholds.append(bound)
            continue
        t = math.floor(bound * 1e9)
        while (t + 1) / 1e9 <= bound:
            t += 1
        while t / 1e9 > bound:
            t -= 1
        thresholds.append(t)
    return tuple(thresholds)


class Route:
    """Where one kind of operation is recorded: its folded label values and, once used, the
    series they lead to (series are never removed, so the references stay valid).

    Get one from :meth:`GenAIMetrics.route` (remembered per raw combination) and record
    with :meth:`GenAIMetrics.observe`; :meth:`GenAIMetrics.record_operation` does both.
    """

    __slots__ = (
        "cost",
        "cost_labels",
        "duration",
        "operation",
        "operation_cost",
        "operation_cost_labels",
        "token",
        "token_slots",
        "tokens",
        "ttfc",
        "unpriced",
        "unpriced_labels",
    )

    def __init__(
        self, op: str, prov: str, req: str, resp: str, error_type: str, attribution: tuple[str, ...]
    ) -> None:
        self.operation = (op, prov, req, resp, error_type)
        self.token = (op, prov, req, resp)
        self.cost_labels = (op, prov, req, *attribution)
        self.operation_cost_labels = (op, prov, req)
        self.unpriced_labels = (prov, req)
        self.duration: _HistogramSeries | None = None
        self.ttfc: _HistogramSeries | None = None
        self.tokens: dict[str, _HistogramSeries] = {}
        self.token_slots: list[_HistogramSeries | None] = [None] * len(TOKEN_TYPES)
        """The series of ``tokens`` again, by position in :data:`TOKEN_TYPES`."""
        self.cost: _CounterSeries | None = None
        self.operation_cost: _HistogramSeries | None = None
        self.unpriced: _CounterSeries | None = None


class GenAIMetrics:
    """The contract's instruments in one registry, with bounded labels and one lock per span.

    ``registry``: where :attr:`collector` is registered (at once); without one, a dedicated
    ``CollectorRegistry(auto_describe=auto_describe)`` is made on the first read of
    :attr:`registry`. Invalid attribution labels raise ``ValueError`` here either way.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        registry: CollectorRegistry | None = None,
        auto_describe: bool = False,
    ) -> None:
        settings = settings or Settings()
        self._registry = registry
        self._auto_describe = auto_describe
        self._registry_lock = threading.Lock()
        self._exposed: list[Collector] = []
        """Collectors registered with the registry once it is made (:meth:`expose`)."""
        self.attribution_labels = _validate_attribution_labels(settings.attribution_labels)
        self._hash_key = settings.user_hash_key
        self._pseudonyms: dict[str, str] = {}
        self._families = {
            inst.key: _Family(
                inst, inst.labels + (self.attribution_labels if inst.attributed else ())
            )
            for inst in INSTRUMENTS
        }
        self.collector = GenAICollector(tuple(self._families.values()))
        self._lock = self.collector.lock
        if registry is not None:
            registry.register(self.collector)
        self._duration = self._families["duration"]
        self._tokens = self._families["token_usage"]
        self._ttfc = self._families["ttfc"]
        self._cost = self._families["cost"]
        self._operation_cost = self._families["operation_cost"]
        self._unpriced = self._families["unpriced"]
        self._duration_upper = self._duration.upper
        self._tokens_upper = self._tokens.upper
        self._ttfc_upper = self._ttfc.upper
        self._operation_cost_upper = self._operation_cost.upper
        self._token_lows, self._token_bounds = _int_buckets(self._tokens_upper)
        self._duration_lows, self._duration_bounds = _int_buckets(
            _ns_thresholds(self._duration_upper)
        )

        def semconv_folder(max_len: int = 64) -> LabelFolder:
            return LabelFolder(SEMCONV_LABEL_LIMIT, max_len=max_len)

        self.fold_operation = semconv_folder()
        self.fold_provider = semconv_folder()
        self.fold_request_model = semconv_folder(128)
        self.fold_response_model = semconv_folder(128)
        self.fold_error_type = semconv_folder()
        self._attribution_folders = tuple(
            LabelFolder(
                settings.attribution_limit,
                transform=self.pseudonymize_user if name == "user" else None,
            )
            for name in self.attribution_labels
        )
        self._routes: dict[tuple[object, ...], Route] = {}

    # -- the registry -----------------------------------------------------------------

    @property
    def registry(self) -> CollectorRegistry:
        """The registry that exposes these metrics: the one passed in, else one made on
        the first read, whichever thread reads first (the same object on every read, with
        :attr:`collector` and :meth:`expose`'s collectors registered once)."""
        registry = self._registry
        if registry is None:
            with self._registry_lock:
                registry = self._registry
                if registry is None:
                    from prometheus_client import CollectorRegistry

                    registry = CollectorRegistry(auto_describe=self._auto_describe)
                    for collector in (self.collector, *self._exposed):
                        registry.register(collector)
                    self._registry = registry
        return registry

    def expose(self, collector: Collector) -> None:
        """Register ``collector`` with :attr:`registry`: now when it exists, else when it
        is made, so exposing it loads nothing before something reads the metrics."""
        with self._registry_lock:
            registry = self._registry
            if registry is None:
                self._exposed.append(collector)
                return
        registry.register(collector)

    # -- helpers ----------------------------------------------------------------------

    def pseudonymize_user(self, value: str) -> str:
        """The user label/attribute value: pseudonymised when a hash key is configured."""
        if not self._hash_key:
            return value
        hit = self._pseudonyms.get(value)
        if hit is None:  # HMAC costs ~2 us: remember recent users (bounded)
            hit = pseudonymize(self._hash_key, value)
            if len(self._pseudonyms) >= _MEMO_LIMIT:
                self._pseudonyms.clear()
            self._pseudonyms[value] = hit
        return hit

    def metric(self, key: str) -> Metric:
        """A snapshot of one :data:`INSTRUMENTS` metric as exposed (for tests and tools)."""
        family = self._families[key]
        with self._lock:
            rows = family.snapshot()
        return family.render(rows)

    def route(
        self,
        operation: object,
        provider: object,
        request_model: object,
        response_model: object,
        error_type: object,
        attribution: Sequence[object] = (),
    ) -> Route:
        """The :class:`Route` of these raw label values (``attribution`` aligned with
        ``attribution_labels``), folded once per distinct combination (a bounded memo).
        """
        key = (operation, provider, request_model, response_model, error_type, *attribution)
        try:
            route = self._routes.get(key)
        except TypeError:  # an unhashable attribute value (a list): fold without the memo
            return self._new_route(key)
        if route is None:
            route = self._new_route(key)
            if len(self._routes) >= _MEMO_LIMIT:
                self._routes.clear()
            self._routes[key] = route
        return route

    def _new_route(self, key: tuple[object, ...]) -> Route:
        operation, provider, request_model, response_model, error_type, *attribution = key
        folders = self._attribution_folders
        values = tuple(fold(value) for fold, value in zip(folders, attribution, strict=False))
        values += ("",) * (len(folders) - len(values))
        return Route(
            self.fold_operation(operation),
            self.fold_provider(provider),
            self.fold_request_model(request_model),
            self.fold_response_model(response_model),
            self.fold_error_type(error_type),
            values,
        )

    # -- recording (called from the span processor's on_end) ----------------------------

    def record_operation(
        self,
        *,
        operation: object,
        provider: object,
        request_model: object,
        response_model: object,
        error_type: object,
        duration_s: float | None,
        tokens: Sequence[tuple[str, int]] = (),
        ttfc_s: float | None = None,
        cost_usd: float | None = None,
        attribution: Sequence[object] = (),
        exemplar: Mapping[str, str] | None = None,
        unpriced: bool = False,
    ) -> None:
        """Observe one GenAI operation. ``attribution`` aligns with ``attribution_labels``.

        ``unpriced`` also counts the operation as :meth:`record_unpriced` does. An invalid
        ``exemplar`` raises ``ValueError`` before anything is recorded.
        """
        route = self.route(
            operation, provider, request_model, response_model, error_type, attribution
        )
        ex = _exemplar_labels(exemplar) if exemplar else None
        self.observe(route, duration_s, ttfc_s, tokens, cost_usd, ex, unpriced)

    def observe(
        self,
        route: Route,
        duration_s: float | None,
        ttfc_s: float | None = None,
        tokens: Iterable[tuple[str, int]] = (),
        cost_usd: float | None = None,
        exemplar: Mapping[str, str] | SpanIds | None = None,
        unpriced: bool = False,
        timestamp: float | None = None,
    ) -> None:
        """Record one operation along ``route``, all of it under one short lock.

        ``exemplar``: validated labels, or the (trace ID, span ID) of a sampled span, shown
        as ``trace_id``/``span_id`` in hex (formatted only when scraped), at ``timestamp``
        (Unix seconds; None: now). ``cost_usd`` (a priced call; ``None`` when unpriced)
        goes to the cost counter and, once, to the per-call cost histogram. Negative or NaN
        durations and costs, and NaN token counts, are not recorded.
        """
        now = 0.0
        if exemplar is not None:
            now = time.time() if timestamp is None else timestamp
        with self._lock:
            if duration_s is not None and duration_s >= 0:
                h = route.duration
                if h is None:
                    h = route.duration = self._duration.histogram(route.operation)
                i = bisect_left(self._duration_upper, duration_s)
                h.counts[i] += 1.0
                h.sum += duration_s
                if exemplar is not None:
                    h.exemplars[i] = (exemplar, duration_s, now)
            if ttfc_s is not None and ttfc_s >= 0:
                h = route.ttfc
                if h is None:
                    h = route.ttfc = self._ttfc.histogram(route.operation)
                i = bisect_left(self._ttfc_upper, ttfc_s)
                h.counts[i] += 1.0
                h.sum += ttfc_s
                if exemplar is not None:
                    h.exemplars[i] = (exemplar, ttfc_s, now)
            if tokens:
                series = route.tokens
                upper = self._tokens_upper
                for token_type, count in tokens:
                    if count != count:  # NaN: no bucket holds it
                        continue
                    h = series.get(token_type)
                    if h is None:
                        h = self._token_series(route, token_type)
                    h.counts[bisect_left(upper, count)] += 1.0
                    h.sum += count
            if cost_usd is not None and cost_usd >= 0:
                c = route.cost
                if c is None:
                    c = route.cost = self._cost.counter(route.cost_labels)
                c.value += cost_usd
                h = route.operation_cost
                if h is None:
                    per_call = self._operation_cost.histogram(route.operation_cost_labels)
                    h = route.operation_cost = per_call
                i = bisect_left(self._operation_cost_upper, cost_usd)
                h.counts[i] += 1.0
                h.sum += cost_usd
                if exemplar is not None:
                    c.exemplar = h.exemplars[i] = (exemplar, cost_usd, now)
            if unpriced:
                c = route.unpriced
                if c is None:
                    c = route.unpriced = self._unpriced.counter(route.unpriced_labels)
                c.value += 1

    def observe_counts(
        self,
        route: Route,
        duration_ns: int,
        end_ns: int,
        ttfc_s: float | None,
        counts: Sequence[int | None],
        cost_usd: float | None,
        exemplar: SpanIds | None,
    ) -> None:
        """:meth:`observe` for the span processor's usual span: ``counts`` are the text
        token counts in :data:`TOKEN_TYPES` order (``None``: not reported; otherwise an
        int, ``0 <= n < COUNT_LIMIT``), nothing unpriced. The same series, buckets and exemplars as
        :meth:`observe` (a unit test holds the two equal), with less work per call.
        ``duration_ns``: the span's duration, an int, ``0 <= duration_ns < COUNT_LIMIT``,
        observed as ``duration_ns / 1e9`` seconds; exemplars are timestamped at the span's
        end, ``end_ns`` (Unix nanoseconds), as the span processor passes to :meth:`observe`.
        """
        duration_s = duration_ns / 1e9
        now = end_ns / 1e9 if exemplar is not None else 0.0
        lock = self._lock
        # try/finally costs less than ``with`` and releases the same; counts are floats,
        # and float += 1.0 is the interpreter's specialised add (float += 1 is not)
        lock.acquire()
        try:
            h = route.duration
            if h is None:
                h = route.duration = self._duration.histogram(route.operation)
            lows = self._duration_lows
            if lows:  # bisect_left(upper, duration_ns / 1e9), from the int (_ns_thresholds)
                b = duration_ns.bit_length()
                i = lows[b] if duration_ns <= self._duration_bounds[b] else lows[b] + 1
            else:
                i = bisect_left(self._duration_upper, duration_s)
            h.counts[i] += 1.0
            h.sum += duration_s
            if exemplar is not None:
                h.exemplars[i] = (exemplar, duration_s, now)
            if ttfc_s is not None and ttfc_s >= 0:
                h = route.ttfc
                if h is None:
                    h = route.ttfc = self._ttfc.histogram(route.operation)
                i = bisect_left(self._ttfc_upper, ttfc_s)
                h.counts[i] += 1.0
                h.sum += ttfc_s
                if exemplar is not None:
                    h.exemplars[i] = (exemplar, ttfc_s, now)
            slots = route.token_slots
            lows, bounds = self._token_lows, self._token_bounds
            if lows:  # the bucket of an int count from its bit length (_int_buckets)
                n_in, n_out, n_read, n_creation, n_reasoning = counts
                # unrolled: input and output (nearly always there), then the rarer parts
                if n_in is not None:
                    h = slots[0] or self._token_slot(route, 0)
                    b = n_in.bit_length()
                    h.counts[lows[b] if n_in <= bounds[b] else lows[b] + 1] += 1.0
                    h.sum += n_in
                if n_out is not None:
                    h = slots[1] or self._token_slot(route, 1)
                    b = n_out.bit_length()
                    h.counts[lows[b] if n_out <= bounds[b] else lows[b] + 1] += 1.0
                    h.sum += n_out
                if n_read is not None:
                    h = slots[2] or self._token_slot(route, 2)
                    b = n_read.bit_length()
                    h.counts[lows[b] if n_read <= bounds[b] else lows[b] + 1] += 1.0
                    h.sum += n_read
                if n_creation is not None:
                    h = slots[3] or self._token_slot(route, 3)
                    b = n_creation.bit_length()
                    h.counts[lows[b] if n_creation <= bounds[b] else lows[b] + 1] += 1.0
                    h.sum += n_creation
                if n_reasoning is not None:
                    h = slots[4] or self._token_slot(route, 4)
                    b = n_reasoning.bit_length()
                    h.counts[lows[b] if n_reasoning <= bounds[b] else lows[b] + 1] += 1.0
                    h.sum += n_reasoning
            else:
                upper = self._tokens_upper
                for slot, n in enumerate(counts):
                    if n is not None:
                        h = slots[slot] or self._token_slot(route, slot)
                        h.counts[bisect_left(upper, n)] += 1.0
                        h.sum += n
            if cost_usd is not None and cost_usd >= 0:
                c = route.cost
                if c is None:
                    c = route.cost = self._cost.counter(route.cost_labels)
                c.value += cost_usd
                h = route.operation_cost
                if h is None:
                    per_call = self._operation_cost.histogram(route.operation_cost_labels)
                    h = route.operation_cost = per_call
                i = bisect_left(self._operation_cost_upper, cost_usd)
                h.counts[i] += 1.0
                h.sum += cost_usd
                if exemplar is not None:
                    c.exemplar = h.exemplars[i] = (exemplar, cost_usd, now)
        finally:
            lock.release()

    def _token_slot(self, route: Route, slot: int) -> _HistogramSeries:
        """The series of ``route.token_slots[slot]``, set on first use; lock held."""
        h = route.token_slots[slot] = self._token_series(route, TOKEN_TYPES[slot])
        return h

    def _token_series(self, route: Route, token_type: str) -> _HistogramSeries:
        """The token histogram of ``route`` and ``token_type``; call with the lock held."""
        h = route.tokens.get(token_type)
        if h is None:
            labels = (*route.token, str(token_type))
            h = route.tokens[token_type] = self._tokens.histogram(labels)
        return h

    def record_unpriced(self, provider: object, request_model: object) -> None:
        labels = (self.fold_provider(provider), self.fold_request_model(request_model))
        with self._lock:
            self._unpriced.counter(labels).value += 1

    def record_processor_error(self, hook: str, error_type: str) -> None:
        labels = (str(hook), sanitize_label_value(error_type))
        with self._lock:
            self._families["processor_errors"].counter(labels).value += 1

    def record_dropped(self, reason: str, count: int = 1) -> None:
        if count < 0:
            raise ValueError("Counters can only be incremented by non-negative amounts.")
        with self._lock:
            self._families["spans_dropped"].counter((str(reason),)).value += count
