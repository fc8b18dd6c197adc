"""Summaries of GenAI spans (per model, user, session, time window) and the trace tree.

Used by ``otel-llm report``, ``otel-llm trace`` and the demo's closing table. Latency
percentiles here are exact (computed from every span), unlike Prometheus' bucket-based
``histogram_quantile`` estimates.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from otel_llm import semconv as sc
from otel_llm.store.base import SpanRecord


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of already sorted values."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


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
        cost = attrs.get(sc.GEN_AI_USAGE_COST_AMOUNT)
        if isinstance(cost, int | float) and not isinstance(cost, bool):
            self.cost_usd += float(cost)
        elif attrs.get(sc.OTEL_LLM_UNPRICED):
            self.unpriced += 1
        if attrs.get(sc.OTEL_LLM_TOKENS_ESTIMATED):
            self.estimated += 1
        self.durations.append(span.duration_s)

    def latency(self, q: float) -> float | None:
        return percentile(sorted(self.durations), q)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("durations")
        out["cost_usd"] = round(self.cost_usd, 9)
        for q in (50, 95, 99):
            value = self.latency(q)
            out[f"p{q}_s"] = None if value is None else round(value, 6)
        return out


def genai_spans(spans: Iterable[SpanRecord]) -> list[SpanRecord]:
    return [s for s in spans if sc.is_genai_span(s.attributes)]


def _model(span: SpanRecord) -> str:
    attrs = span.attributes
    return str(attrs.get(sc.GEN_AI_REQUEST_MODEL) or attrs.get(sc.GEN_AI_RESPONSE_MODEL) or "?")


def _user(span: SpanRecord) -> str:
    return str(sc.first_attr(span.attributes, sc.USER_KEYS) or "-")


GROUPINGS: dict[str, Callable[[SpanRecord], str]] = {
    "model": _model,
    "provider": lambda s: str(sc.first_attr(s.attributes, sc.PROVIDER_KEYS) or "?"),
    "user": _user,
    "session": lambda s: str(s.attributes.get(sc.GEN_AI_CONVERSATION_ID) or "-"),
    "service": lambda s: s.service,
    "operation": lambda s: str(s.attributes.get(sc.GEN_AI_OPERATION_NAME) or "?"),
}


def summarize(
    spans: Iterable[SpanRecord],
    by: str = "model",
    *,
    since_ns: int | None = None,
    until_ns: int | None = None,
) -> list[Usage]:
    """Group GenAI spans by ``by`` (see :data:`GROUPINGS`) within an optional time window."""
    if by not in GROUPINGS:
        raise ValueError(f"cannot group by {by!r}; choose one of {', '.join(GROUPINGS)}")
    key_of = GROUPINGS[by]
    groups: dict[str, Usage] = {}
    for span in genai_spans(spans):
        if since_ns is not None and span.end_ns < since_ns:
            continue
        if until_ns is not None and span.start_ns > until_ns:
            continue
        key = key_of(span)
        groups.setdefault(key, Usage(key)).add(span)
    return sorted(groups.values(), key=lambda u: (-u.cost_usd, -u.requests, u.key))


def total(groups: Iterable[Usage]) -> Usage:
    out = Usage("total")
    for g in groups:
        for name in (
            "requests",
            "errors",
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "cache_creation_tokens",
            "reasoning_tokens",
            "unpriced",
            "estimated",
        ):
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
