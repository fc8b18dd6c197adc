"""Summaries of GenAI spans (per model, user, session, source, time window) and the trace tree.

Used by ``otel-llm report``, ``otel-llm trace`` and the demo's closing table. Latency
percentiles here are exact (computed from every span), unlike Prometheus' bucket-based
``histogram_quantile`` estimates.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from otel_llm import semconv as sc
from otel_llm.store.base import SpanRecord


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of already sorted values."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


PERCENTILES: tuple[int, ...] = (50, 95, 99)
"""Latency percentiles of each group (``p50_s``... in the exports)."""


@dataclass
class Usage:
    """Aggregated usage of a group of GenAI spans."""

    key: str
    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    reasoning_tokens: int = 0
    audio_input_tokens: int = 0
    audio_output_tokens: int = 0
    image_input_tokens: int = 0
    image_output_tokens: int = 0
    seconds: float = 0.0
    characters: float = 0.0
    pages: float = 0.0
    images: float = 0.0
    cost_usd: float = 0.0
    unpriced: int = 0
    estimated: int = 0
    durations: list[float] = field(default_factory=list, repr=False)

    def add(self, span: SpanRecord) -> None:
        attrs = span.attributes
        self.requests += 1
        if span.status == "ERROR" or sc.ERROR_TYPE in attrs:
            self.errors += 1
        self.input_tokens += sc.int_attr(attrs, sc.INPUT_TOKEN_KEYS) or 0
        self.output_tokens += sc.int_attr(attrs, sc.OUTPUT_TOKEN_KEYS) or 0
        self.cache_read_tokens += sc.int_attr(attrs, sc.CACHE_READ_KEYS) or 0
        self.cache_creation_tokens += sc.int_attr(attrs, sc.CACHE_CREATION_KEYS) or 0
        self.reasoning_tokens += sc.int_attr(attrs, sc.REASONING_KEYS) or 0
        self._add_extended(attrs)
        cost = attrs.get(sc.GEN_AI_USAGE_COST_AMOUNT)
        if isinstance(cost, int | float) and not isinstance(cost, bool):
            self.cost_usd += float(cost)
        elif attrs.get(sc.OTEL_LLM_UNPRICED):
            self.unpriced += 1
        if attrs.get(sc.OTEL_LLM_TOKENS_ESTIMATED):
            self.estimated += 1
        self.durations.append(span.duration_s)

    def _add_extended(self, attrs: Mapping[str, Any]) -> None:
        if sc.EXTENDED_USAGE_KEYS.isdisjoint(attrs):
            return
        for name, key in _EXTENDED_COLUMNS:
            value = attrs.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
                setattr(self, name, getattr(self, name) + value)

    def latency(self, q: float) -> float | None:
        return percentile(sorted(self.durations), q)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("durations")
        out["cost_usd"] = round(self.cost_usd, 9)
        for q in PERCENTILES:
            value = self.latency(q)
            out[f"p{q}_s"] = None if value is None else round(value, 6)
        return out


_EXTENDED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("audio_input_tokens", sc.OTEL_LLM_USAGE_AUDIO_INPUT_TOKENS),
    ("audio_output_tokens", sc.OTEL_LLM_USAGE_AUDIO_OUTPUT_TOKENS),
    ("image_input_tokens", sc.OTEL_LLM_USAGE_IMAGE_INPUT_TOKENS),
    ("image_output_tokens", sc.OTEL_LLM_USAGE_IMAGE_OUTPUT_TOKENS),
    ("seconds", sc.OTEL_LLM_USAGE_SECONDS),
    ("characters", sc.OTEL_LLM_USAGE_CHARACTERS),
    ("pages", sc.OTEL_LLM_USAGE_PAGES),
    ("images", sc.OTEL_LLM_USAGE_IMAGES),
)
_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Usage) if f.name != "durations")
SUMMED: tuple[str, ...] = tuple(name for name in _COLUMNS if name not in ("key", "cost_usd"))
"""The counts :func:`total` adds up (the cost is summed apart)."""


def genai_spans(spans: Iterable[SpanRecord]) -> list[SpanRecord]:
    """GenAI spans that are calls of their own: manual spans nested in an instrumented call
    (``otel_llm.manual.nested``) are left out, the enclosing span counts that call."""
    return [
        s
        for s in spans
        if sc.is_genai_span(s.attributes)
        and s.attributes.get(sc.OTEL_LLM_MANUAL_NESTED) is not True
    ]


def _model(span: SpanRecord) -> str:
    attrs = span.attributes
    return str(attrs.get(sc.GEN_AI_REQUEST_MODEL) or attrs.get(sc.GEN_AI_RESPONSE_MODEL) or "?")


def _user(span: SpanRecord) -> str:
    return str(sc.first_attr(span.attributes, sc.USER_KEYS) or "-")


SOURCE_ATTRIBUTE = sc.OTEL_LLM_ATTRIBUTION_PREFIX + "source"
"""Where ``otel_llm.track(source=...)`` / ``set_attribution(source=...)`` lands on spans."""


def _day(span: SpanRecord) -> str:
    return datetime.fromtimestamp(span.start_ns / 1e9, tz=UTC).strftime("%Y-%m-%d")


def _month(span: SpanRecord) -> str:
    return datetime.fromtimestamp(span.start_ns / 1e9, tz=UTC).strftime("%Y-%m")


GROUPINGS: dict[str, Callable[[SpanRecord], str]] = {
    "model": _model,
    "provider": lambda s: str(sc.first_attr(s.attributes, sc.PROVIDER_KEYS) or "?"),
    "user": _user,
    "session": lambda s: str(s.attributes.get(sc.GEN_AI_CONVERSATION_ID) or "-"),
    "source": lambda s: str(s.attributes.get(SOURCE_ATTRIBUTE) or "-"),
    "tenant": lambda s: str(s.attributes.get(sc.OTEL_LLM_TENANT) or "-"),
    "service": lambda s: s.service,
    "operation": lambda s: str(s.attributes.get(sc.GEN_AI_OPERATION_NAME) or "?"),
    "day": _day,
    "month": _month,
}
"""Ways to group a report (``otel-llm report --by``); days and months are UTC."""

LISTABLE: dict[str, str] = {
    "users": "user",
    "sessions": "session",
    "sources": "source",
    "models": "model",
    "providers": "provider",
    "services": "service",
}
"""``otel-llm report --list`` choices and the grouping each lists."""


@dataclass(frozen=True)
class Filters:
    """Span filters of a report: a user, session, source, model or provider value."""

    user: str | None = None
    session: str | None = None
    source: str | None = None
    model: str | None = None
    provider: str | None = None
    user_hash_key: str | None = None
    """When set (``OTEL_LLM_USER_HASH_KEY``), ``user`` also matches its pseudonym."""

    def matches(self, span: SpanRecord) -> bool:
        if self.user is not None and _user(span) not in self._users():
            return False
        for name in ("session", "source", "model", "provider"):
            wanted = getattr(self, name)
            if wanted is not None and GROUPINGS[name](span) != wanted:
                return False
        return True

    def _users(self) -> set[str]:
        assert self.user is not None
        out = {self.user}
        if self.user_hash_key:
            from otel_llm.metrics import pseudonymize

            out.add(pseudonymize(self.user_hash_key, self.user))
        return out


def month_window(month: str) -> tuple[int, int]:
    """[start, end) of a UTC month ``YYYY-MM`` in nanoseconds; ValueError if malformed."""
    try:
        start = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"not a month: {month!r} (use YYYY-MM, e.g. 2026-11)") from None
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return int(start.timestamp()) * 10**9, int(end.timestamp()) * 10**9


def distinct(
    spans: Iterable[SpanRecord],
    what: str,
    *,
    filters: Filters | None = None,
    since_ns: int | None = None,
    until_ns: int | None = None,
) -> list[Usage]:
    """The distinct users/sessions/sources/... (:data:`LISTABLE`) with their usage."""
    return summarize(spans, LISTABLE[what], filters=filters, since_ns=since_ns, until_ns=until_ns)


def summarize(
    spans: Iterable[SpanRecord],
    by: str = "model",
    *,
    since_ns: int | None = None,
    until_ns: int | None = None,
    filters: Filters | None = None,
) -> list[Usage]:
    """Group GenAI spans by ``by`` (see :data:`GROUPINGS`) within an optional time window
    (``until_ns`` exclusive of spans that start at or after it) and ``filters``."""
    if by not in GROUPINGS:
        raise ValueError(f"cannot group by {by!r}; choose one of {', '.join(GROUPINGS)}")
    key_of = GROUPINGS[by]
    groups: dict[str, Usage] = {}
    for span in genai_spans(spans):
        if since_ns is not None and span.end_ns < since_ns:
            continue
        if until_ns is not None and span.start_ns >= until_ns:
            continue
        if filters is not None and not filters.matches(span):
            continue
        key = key_of(span)
        groups.setdefault(key, Usage(key)).add(span)
    return sorted(groups.values(), key=lambda u: (-u.cost_usd, -u.requests, u.key))


def total(groups: Iterable[Usage]) -> Usage:
    out = Usage("total")
    for g in groups:
        for name in SUMMED:
            setattr(out, name, getattr(out, name) + getattr(g, name))
        out.cost_usd += g.cost_usd
        out.durations.extend(g.durations)
    return out


@dataclass
class TreeNode:
    span: SpanRecord
    children: list[TreeNode] = field(default_factory=list)


def build_tree(spans: Sequence[SpanRecord]) -> list[TreeNode]:
    """Parent/child forest of one trace, children in start order; orphans become roots."""
    nodes = {s.span_id: TreeNode(s) for s in spans}
    roots: list[TreeNode] = []
    for node in nodes.values():
        parent = node.span.parent_span_id
        if parent and parent in nodes and parent != node.span.span_id:
            nodes[parent].children.append(node)
        else:
            roots.append(node)
    for node in nodes.values():
        node.children.sort(key=lambda n: n.span.start_ns)
    roots.sort(key=lambda n: n.span.start_ns)
    return roots


def walk(roots: Sequence[TreeNode]) -> list[SpanRecord]:
    """Spans of a forest in depth-first order (parents before their children)."""
    out: list[SpanRecord] = []
    stack = list(reversed(roots))
    while stack:
        node = stack.pop()
        out.append(node.span)
        stack.extend(reversed(node.children))
    return out


EXPORT_COLUMNS: tuple[str, ...] = (*_COLUMNS, *(f"p{q}_s" for q in PERCENTILES))
"""Columns of the CSV and JSON exports, in order."""


def to_csv(groups: Sequence[Usage], by: str) -> str:
    """CSV for billing: one row per group (first column named after ``by``), then a total."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([by, *EXPORT_COLUMNS[1:]])
    rows = [*groups, total(groups)] if groups else []
    for g in rows:
        d = g.as_dict()
        writer.writerow([_csv_safe(d["key"]), *(d[c] for c in EXPORT_COLUMNS[1:])])
    return buf.getvalue()


def _csv_safe(value: str) -> str:
    """No formula injection when the CSV is opened in a spreadsheet."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") and value != "-" else value


def to_json(groups: Sequence[Usage]) -> str:
    """JSON for billing: a list of group rows (as ``Usage.as_dict``)."""
    import json

    return json.dumps([g.as_dict() for g in groups], indent=2)


# --- from Prometheus -------------------------------------------------------------------

PROMETHEUS_LABELS: dict[str, str] = {
    "model": "gen_ai_request_model",
    "provider": "gen_ai_provider_name",
    "operation": "gen_ai_operation_name",
    "user": "user",
    "session": "session",
    "source": "source",
    "tenant": "tenant",
}
"""Report groupings and filters -> Prometheus labels. ``user``, ``session``, ``source`` and
``tenant`` exist only on the cost counter, and only when listed in
``OTEL_LLM_ATTRIBUTION_LABELS``."""
_SEMCONV_LABELS = frozenset(
    {"gen_ai_request_model", "gen_ai_provider_name", "gen_ai_operation_name"}
)


def _promql_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def prometheus_usage(
    store: Any,
    by: str,
    window: str,
    *,
    at: float | None = None,
    match: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Calls, errors, tokens by type and cost grouped by ``by`` from a
    :class:`~otel_llm.store.prometheus.PrometheusStore`, over ``window`` ending at ``at``.

    ``match`` filters on report names (``user``, ``source``, ``model``...). Grouping or
    filtering by an attribution label reads the cost counter only (the one metric that
    carries those labels), so such rows have cost but no call or token counts (None).
    Figures come from ``increase()``: estimates for dashboards, not invoices (see
    :mod:`otel_llm.store.prometheus`).
    """
    if by not in PROMETHEUS_LABELS:
        raise ValueError(
            f"cannot group by {by!r} from Prometheus; choose {', '.join(PROMETHEUS_LABELS)}"
        )
    label = PROMETHEUS_LABELS[by]
    matchers = []
    for name, wanted in (match or {}).items():
        if name not in PROMETHEUS_LABELS:
            raise ValueError(f"cannot filter by {name!r} from Prometheus")
        matchers.append(f"{PROMETHEUS_LABELS[name]}={_promql_string(wanted)}")
    sel = "{" + ",".join(matchers) + "}" if matchers else ""
    cost_only = label not in _SEMCONV_LABELS or any(
        PROMETHEUS_LABELS[n] not in _SEMCONV_LABELS for n in (match or {})
    )
    rows: dict[str, dict[str, Any]] = {}

    def row(item: Mapping[str, Any]) -> dict[str, Any]:
        key = item.get("metric", {}).get(label, "")
        if key not in rows:
            rows[key] = {"key": key or "-", "requests": None if cost_only else 0}
            if not cost_only:
                rows[key]["errors"] = 0
                rows[key].update(
                    {f"{t}_tokens": 0 for t in (*sc.TOKEN_TYPES, *sc.EXTRA_TOKEN_TYPES)}
                )
            rows[key]["cost_usd"] = 0.0
        return rows[key]

    def num(item: Mapping[str, Any]) -> float:
        try:
            v = float(item["value"][1])
        except (KeyError, IndexError, TypeError, ValueError):
            return 0.0
        return v if math.isfinite(v) else 0.0

    w = window
    if not cost_only:
        dur = sc.METRIC_DURATION
        for item in store.query(f"sum by ({label}) (increase({dur}_count{sel}[{w}]))", at):
            row(item)["requests"] = round(num(item))
        err_sel = "{" + ",".join([*matchers, 'error_type!=""']) + "}"
        for item in store.query(f"sum by ({label}) (increase({dur}_count{err_sel}[{w}]))", at):
            row(item)["errors"] = round(num(item))
        tok = sc.METRIC_TOKEN_USAGE
        for item in store.query(
            f"sum by ({label}, gen_ai_token_type) (increase({tok}_sum{sel}[{w}]))", at
        ):
            kind = item.get("metric", {}).get("gen_ai_token_type", "")
            if kind in (*sc.TOKEN_TYPES, *sc.EXTRA_TOKEN_TYPES):
                row(item)[f"{kind}_tokens"] = round(num(item))
    for item in store.query(f"sum by ({label}) (increase({sc.METRIC_COST}{sel}[{w}]))", at):
        row(item)["cost_usd"] = round(num(item), 9)
    return sorted(rows.values(), key=lambda r: (-r["cost_usd"], r["key"]))
