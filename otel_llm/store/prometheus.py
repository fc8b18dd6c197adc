"""Aggregates from Prometheus: instant PromQL queries and the usage-by-model report.

Figures come from ``increase()`` over a rolling window, which extrapolates to
the window's edges and misses the first increment of a series born inside the
window: right for dashboards and alerts, approximate for invoicing (use the
span file or Tempo for exact per-request sums).  The p95 is
``histogram_quantile`` over the contract's duration buckets, so it is exact
only to within one bucket.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

try:
    import httpx
except ImportError:  # installed without the cli extra: httpx2 (a dependency) has the same API
    import httpx2 as httpx  # type: ignore[no-redef]

from otel_llm import semconv

__all__ = ["PrometheusError", "PrometheusStore"]

# Prometheus' duration syntax (e.g. 5m, 1h30m, 7d); checked before a window is
# pasted into PromQL.
_DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")

_COST = semconv.METRIC_COST
_TOKENS = semconv.METRIC_TOKEN_USAGE
_DURATION_METRIC = semconv.METRIC_DURATION
_BY = "gen_ai_provider_name, gen_ai_request_model"


class PrometheusError(RuntimeError):
    """Prometheus could not be reached or rejected the query."""


class PrometheusStore:
    """Query one Prometheus server (``base_url`` like ``http://localhost:9090``)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> PrometheusStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def query(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        """Instant query; the ``result`` list (``{"metric": {...}, "value": [ts, "v"]}`` items).

        A scalar or string result comes back as one item with empty labels.
        """
        params: dict[str, str] = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        try:
            resp = self._client.post("/api/v1/query", data=params)
        except httpx.HTTPError as exc:
            raise PrometheusError(f"cannot reach Prometheus at {self.base_url}: {exc}") from exc
        try:
            body = resp.json()
        except ValueError as exc:
            raise PrometheusError(
                f"Prometheus answered {resp.status_code} without JSON: {resp.text[:300]}"
            ) from exc
        if body.get("status") != "success":
            raise PrometheusError(
                f"query failed ({resp.status_code}, {body.get('errorType')}): {body.get('error')}"
            )
        data = body["data"]
        result = data.get("result")
        if data.get("resultType") in ("scalar", "string"):
            return [{"metric": {}, "value": result}]
        return list(result or [])

    def query_exemplars(self, promql: str, start: float, end: float) -> list[dict[str, Any]]:
        """Exemplars of the series selected by ``promql`` between ``start`` and ``end``."""
        params = {"query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}"}
        try:
            resp = self._client.post("/api/v1/query_exemplars", data=params)
            body = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise PrometheusError(f"exemplar query failed at {self.base_url}: {exc}") from exc
        if body.get("status") != "success":
            raise PrometheusError(f"exemplar query failed: {body.get('error')}")
        return list(body.get("data") or [])

    def usage_by_model(self, window: str, at: float | None = None) -> list[dict[str, Any]]:
        """Calls, errors, tokens by type, cost and p95 latency per (provider, request model).

        ``window`` is a Prometheus duration such as ``1h`` or ``7d``, ending at ``at``
        (a Unix time; now when None).  Rows are sorted by cost, highest first.
        ``increase()`` misses the first increment of a series born inside the window,
        so for young series these are estimates, not invoice figures.
        """
        if not _DURATION.match(window):
            raise ValueError(f"not a Prometheus duration: {window!r} (e.g. 1h, 7d)")
        w = window
        rows: dict[tuple[str, str], dict[str, Any]] = {}

        def row(metric: Mapping[str, str]) -> dict[str, Any]:
            key = (metric.get("gen_ai_provider_name", ""), metric.get("gen_ai_request_model", ""))
            if key not in rows:
                rows[key] = {
                    "provider": key[0],
                    "model": key[1],
                    "calls": 0,
                    "errors": 0,
                    **{f"{t}_tokens": 0 for t in semconv.TOKEN_TYPES},
                    "cost_usd": 0.0,
                    "p95_latency_s": None,
                }
            return rows[key]

        for item in self.query(f"sum by ({_BY}) (increase({_DURATION_METRIC}_count[{w}]))", at):
            row(item["metric"])["calls"] = _count(item)
        for item in self.query(
            f'sum by ({_BY}) (increase({_DURATION_METRIC}_count{{error_type!=""}}[{w}]))', at
        ):
            row(item["metric"])["errors"] = _count(item)
        for item in self.query(
            f"sum by ({_BY}, gen_ai_token_type) (increase({_TOKENS}_sum[{w}]))", at
        ):
            token_type = item["metric"].get("gen_ai_token_type", "")
            if token_type in semconv.TOKEN_TYPES:
                row(item["metric"])[f"{token_type}_tokens"] = _count(item)
        for item in self.query(f"sum by ({_BY}) (increase({_COST}[{w}]))", at):
            row(item["metric"])["cost_usd"] = round(_value(item), 6)
        for item in self.query(
            f"histogram_quantile(0.95, sum by ({_BY}, le) "
            f"(increase({_DURATION_METRIC}_bucket[{w}])))",
            at,
        ):
            p95 = _value(item)
            if math.isfinite(p95):
                row(item["metric"])["p95_latency_s"] = round(p95, 4)
        return sorted(rows.values(), key=lambda r: (-r["cost_usd"], r["provider"], r["model"]))


def _value(item: Mapping[str, Any]) -> float:
    try:
        return float(item["value"][1])
    except (KeyError, IndexError, TypeError, ValueError):
        return math.nan


def _count(item: Mapping[str, Any]) -> int:
    value = _value(item)
    return round(value) if math.isfinite(value) else 0
