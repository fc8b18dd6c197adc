"""Terminal rendering of usage tables and trace trees: rich when installed (the ``cli``
extra), plain aligned text otherwise (:mod:`otel_llm._plain`); JSON for machines."""

from __future__ import annotations

import sys
from collections.abc import Sequence

try:
    from rich.console import Console
    from rich.table import Table
    from rich.tree import Tree
except ImportError:  # installed without the cli extra: plain text
    from otel_llm._plain import Console, Table, Tree  # type: ignore[assignment]

from otel_llm import semconv as sc
from otel_llm.report import TreeNode, Usage, total
from otel_llm.store.base import SpanRecord

__all__ = ["Console", "Table", "Tree", "console", "trace_tree", "usage_table"]


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:,.0f} ms"


def _usd(amount: float) -> str:
    if amount == 0:
        return "$0"
    if amount < 0.0001:
        return f"${amount:.3g}"  # tiny embedding calls: keep significant digits
    return f"${amount:,.6f}" if amount < 1 else f"${amount:,.2f}"


def usage_table(groups: Sequence[Usage], by: str, title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column(by)
    for name in ("requests", "errors", "p50", "p95", "p99"):
        table.add_column(name, justify="right")
    table.add_column("tokens in (cached)", justify="right")
    table.add_column("tokens out (reasoning)", justify="right")
    rows = list(groups)
    units = any(_units(g) for g in rows)
    if units:  # manual calls: seconds, characters, pages, images, audio/image tokens
        table.add_column("other usage", justify="right")
    table.add_column("cost", justify="right")
    if len(rows) > 1:
        rows.append(total(rows))
    for i, g in enumerate(rows):
        cost = _usd(g.cost_usd) if g.cost_usd or not g.errors else "-"
        if g.unpriced:
            cost = f"{cost} +{g.unpriced} unpriced" if g.cost_usd else f"unpriced ({g.unpriced})"
        table.add_row(
            g.key,
            f"{g.requests:,}",
            f"{g.errors:,}" if g.errors else "0",
            _ms(g.latency(50)),
            _ms(g.latency(95)),
            _ms(g.latency(99)),
            f"{g.input_tokens:,} ({g.cache_read_tokens:,})",
            f"{g.output_tokens:,} ({g.reasoning_tokens:,})",
            *((_units(g),) if units else ()),
            cost,
            end_section=(i == len(rows) - 2 and len(rows) > 1),
            style="bold" if g.key == "total" and i == len(rows) - 1 and len(rows) > 1 else None,
        )
    return table


_UNIT_NAMES = (
    ("seconds", "s audio"),
    ("characters", "chars"),
    ("pages", "pages"),
    ("images", "images"),
    ("audio_input_tokens", "audio tok in"),
    ("audio_output_tokens", "audio tok out"),
    ("image_input_tokens", "image tok in"),
)


def _units(g: Usage) -> str:
    return ", ".join(
        f"{getattr(g, name):,.4g} {label}" for name, label in _UNIT_NAMES if getattr(g, name)
    )


def _label(span: SpanRecord) -> str:
    attrs = span.attributes
    parts = [f"[bold]{span.name}[/]", f"[dim]{span.service}[/]", _ms(span.duration_s)]
    if span.status == "ERROR":
        parts.append(f"[red]ERROR {attrs.get(sc.ERROR_TYPE, '')}[/]")
    if sc.is_genai_span(attrs):
        model = attrs.get(sc.GEN_AI_RESPONSE_MODEL) or attrs.get(sc.GEN_AI_REQUEST_MODEL)
        if model:
            parts.append(f"model={model}")
        tin = sc.int_attr(attrs, sc.INPUT_TOKEN_KEYS)
        tout = sc.int_attr(attrs, sc.OUTPUT_TOKEN_KEYS)
        if tin is not None or tout is not None:
            parts.append(
                f"tokens={tin if tin is not None else '?'}→{tout if tout is not None else '?'}"
            )
        cached = sc.int_attr(attrs, sc.CACHE_READ_KEYS)
        if cached:
            parts.append(f"cached={cached}")
        reasoning = sc.int_attr(attrs, sc.REASONING_KEYS)
        if reasoning:
            parts.append(f"reasoning={reasoning}")
        for unit, key in sc.UNIT_ATTRIBUTES:  # manual calls (otel_llm.track)
            amount = attrs.get(key)
            if isinstance(amount, int | float) and not isinstance(amount, bool):
                parts.append(f"{unit}={amount:g}")
        for kind, key in sc.EXTRA_TOKEN_ATTRIBUTES:
            amount = attrs.get(key)
            if isinstance(amount, int) and not isinstance(amount, bool) and amount:
                parts.append(f"{kind}={amount}")
        if attrs.get(sc.OTEL_LLM_MANUAL_NESTED) is True:
            parts.append("[dim]nested: counted by its parent[/]")
        cost = attrs.get(sc.GEN_AI_USAGE_COST_AMOUNT)
        if isinstance(cost, int | float) and not isinstance(cost, bool):
            parts.append(f"cost={_usd(float(cost))}")
        elif attrs.get(sc.OTEL_LLM_UNPRICED):
            parts.append("[yellow]unpriced[/]")
        ttfc = attrs.get(sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)
        if isinstance(ttfc, int | float):
            parts.append(f"ttfc={_ms(float(ttfc))}")
    return "  ".join(parts)


def trace_tree(request_id: str, trace_id: str, roots: Sequence[TreeNode]) -> Tree:
    tree = Tree(f"[bold]trace {trace_id}[/]  request.id={request_id}")

    def add(parent: Tree, node: TreeNode) -> None:
        branch = parent.add(_label(node.span))
        for child in node.children:
            add(branch, child)

    for root in roots:
        add(tree, root)
    return tree


def console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    # Piped output (CI logs, files) gets a wide fixed width instead of rich's 80 columns.
    width = None if stream.isatty() else 200
    return Console(stderr=stderr, highlight=False, soft_wrap=False, width=width)
