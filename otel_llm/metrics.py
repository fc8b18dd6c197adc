"""Prometheus instruments derived from GenAI spans, declared once in :data:`INSTRUMENTS`.

Names, buckets and label sets are the contract's (``otel_llm/semconv.py``). Everything lives
in a dedicated :class:`~prometheus_client.CollectorRegistry` (pass one in, or get a fresh
one), never the global registry, so tests and embedding apps stay isolated.

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

Hot path: label children are cached per label tuple, so recording is a few dict lookups
plus prometheus-client's own ``observe``/``inc``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from prometheus_client import CollectorRegistry, Counter, Histogram

from otel_llm.config import Settings
from otel_llm.semconv import (
    DURATION_BUCKETS,
    ERROR_TYPE,
    GEN_AI_OPERATION_NAME,
    GEN_AI_PROVIDER_NAME,
    GEN_AI_REQUEST_MODEL,
    GEN_AI_RESPONSE_MODEL,
    METRIC_COST,
    METRIC_DURATION,
    METRIC_PROCESSOR_ERRORS,
    METRIC_SPANS_DROPPED,
    METRIC_TOKEN_USAGE,
    METRIC_TTFC,
    METRIC_UNPRICED,
    TOKEN_BUCKETS,
)

__all__ = [
    "INSTRUMENTS",
    "OTHER",
    "SEMCONV_LABEL_LIMIT",
    "GenAIMetrics",
    "Instrument",
    "LabelFolder",
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
        "Spans the export queue dropped (full queue or after shutdown).",
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


# --- the instruments ------------------------------------------------------------------


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


class GenAIMetrics:
    """The contract's instruments in one registry, with bounded labels and cached children."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        registry: CollectorRegistry | None = None,
    ) -> None:
        settings = settings or Settings()
        self.registry = registry if registry is not None else CollectorRegistry()
        self.attribution_labels = _validate_attribution_labels(settings.attribution_labels)
        self._hash_key = settings.user_hash_key
        self._pseudonyms: dict[str, str] = {}
        self._metrics: dict[str, Histogram | Counter] = {}
        for inst in INSTRUMENTS:
            labels = inst.labels + (self.attribution_labels if inst.attributed else ())
            metric: Histogram | Counter
            if inst.kind == "histogram":
                metric = Histogram(
                    inst.name,
                    inst.documentation,
                    labels,
                    unit=inst.unit,
                    registry=self.registry,
                    buckets=inst.buckets,
                )
            else:
                metric = Counter(
                    inst.name, inst.documentation, labels, unit=inst.unit, registry=self.registry
                )
            self._metrics[inst.key] = metric
        self._children: dict[str, dict[tuple[str, ...], Any]] = {k: {} for k in self._metrics}

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

    def metric(self, key: str) -> Histogram | Counter:
        """The prometheus-client metric for an :data:`INSTRUMENTS` key (for tests, tools)."""
        return self._metrics[key]

    def _child(self, key: str, labels: tuple[str, ...]) -> Any:
        cache = self._children[key]
        child = cache.get(labels)
        if child is None:
            child = self._metrics[key].labels(*labels)
            cache[labels] = child
        return child

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
    ) -> None:
        """Observe one GenAI operation. ``attribution`` aligns with ``attribution_labels``."""
        op = self.fold_operation(operation)
        prov = self.fold_provider(provider)
        req = self.fold_request_model(request_model)
        resp = self.fold_response_model(response_model)
        ex = dict(exemplar) if exemplar else None
        op_labels = (op, prov, req, resp, self.fold_error_type(error_type))
        if duration_s is not None and duration_s >= 0:
            self._child("duration", op_labels).observe(duration_s, ex)
        if ttfc_s is not None and ttfc_s >= 0:
            self._child("ttfc", op_labels).observe(ttfc_s, ex)
        for token_type, count in tokens:
            self._child("token_usage", (op, prov, req, resp, token_type)).observe(count)
        if cost_usd is not None and cost_usd >= 0:
            values = tuple(
                fold(value)
                for fold, value in zip(self._attribution_folders, attribution, strict=False)
            )
            if len(values) < len(self._attribution_folders):
                values += ("",) * (len(self._attribution_folders) - len(values))
            self._child("cost", (op, prov, req, *values)).inc(cost_usd, ex)

    def record_unpriced(self, provider: object, request_model: object) -> None:
        self._child(
            "unpriced", (self.fold_provider(provider), self.fold_request_model(request_model))
        ).inc()

    def record_processor_error(self, hook: str, error_type: str) -> None:
        self._child("processor_errors", (hook, sanitize_label_value(error_type))).inc()

    def record_dropped(self, reason: str, count: int = 1) -> None:
        self._child("spans_dropped", (reason,)).inc(count)
