"""Reading traces back from Grafana Tempo's HTTP API.

``find_trace_ids`` runs the TraceQL lookup of the contract
(``{ span.request.id = "<id>" }``); ``get_trace`` fetches one trace and hands it
back as OTLP JSON (``{"resourceSpans": [...]}``) with hex IDs, whatever shape
the Tempo version answers in (``/api/v2/traces`` wraps the trace in
``{"trace": ...}``, ``/api/traces`` uses the older ``batches`` key, both encode
IDs as base64), so :func:`otel_llm.store.base.parse_otlp_json` reads it.

Freshness: Tempo serves a trace by ID almost as soon as it arrives, but search
only finds it once the trace has been idle for the ingester's
``trace_idle_period`` and was swept into a block (see tempo/tempo.yaml).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, cast

from otel_llm.semconv import REQUEST_ID
from otel_llm.store.base import TraceStoreError, normalize_id
from otel_llm.store.http import HTTPTraceStore, hex_trace_id, trace_ids_of

__all__ = ["TempoError", "TempoStore", "traceql_string"]


class TempoError(TraceStoreError):
    """Tempo could not be reached or answered with an error."""


def traceql_string(value: str) -> str:
    """Quote ``value`` as a TraceQL string literal."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


class TempoStore(HTTPTraceStore):
    """Query one Tempo instance (``base_url`` like ``http://localhost:3200``)."""

    name = "Tempo"
    error = TempoError

    def search(self, traceql: str) -> list[dict[str, Any]]:
        """Raw search hits (``traces`` of ``/api/search``) for a TraceQL query."""
        now = int(time.time())
        # An explicit window makes Tempo search its blocks as well as the
        # ingesters' recent data; the end is padded for clock skew.
        params: dict[str, str | int] = {
            "q": traceql,
            "limit": self.limit,
            "start": now - self.lookback_s,
            "end": now + 60,
        }
        body = self._json(self._get("/api/search", params), "search")
        return list(body.get("traces") or [])

    def find_trace_ids(self, request_id: str) -> list[str]:
        """Hex IDs (32 chars) of the traces whose spans carry ``request.id == request_id``."""
        return trace_ids_of(self.search(f"{{ span.{REQUEST_ID} = {traceql_string(request_id)} }}"))

    def get_trace(self, trace_id: str) -> dict[str, Any]:
        """The whole trace as OTLP JSON ``{"resourceSpans": [...]}``; TempoError if absent."""
        tid = hex_trace_id(trace_id)
        resp = self._get(f"/api/v2/traces/{tid}")
        if resp.status_code == 404 and "page not found" in resp.text:
            resp = self._get(f"/api/traces/{tid}")  # Tempo before the v2 API
        if resp.status_code == 404:
            raise TempoError(f"trace {tid} not found in Tempo")
        doc = to_otlp_json(self._json(resp, "trace lookup"))
        if not doc["resourceSpans"]:  # v2 answers 200 with an empty trace
            raise TempoError(f"trace {tid} not found in Tempo")
        return doc


def to_otlp_json(body: Mapping[str, Any]) -> dict[str, Any]:
    """Normalise Tempo's trace-by-ID answer to OTLP JSON with hex IDs."""
    doc: Mapping[str, Any] = (
        body.get("trace", body) if isinstance(body.get("trace"), dict) else body
    )
    resource_spans = doc.get("resourceSpans") or doc.get("batches") or []
    out: list[dict[str, Any]] = []
    for rs in resource_spans:
        rs_out = dict(rs)
        scopes = (
            rs_out.pop("scopeSpans", None) or rs_out.pop("instrumentationLibrarySpans", None) or []
        )
        rs_out["scopeSpans"] = [_scope(s) for s in scopes]
        out.append(rs_out)
    return {"resourceSpans": out}


def _scope(scope_spans: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(scope_spans)
    if "instrumentationLibrary" in out and "scope" not in out:
        out["scope"] = out.pop("instrumentationLibrary")
    out["spans"] = [_span(s) for s in cast(list[dict[str, Any]], out.get("spans") or [])]
    return out


def _span(span: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(span)
    for key, size in (("traceId", 16), ("spanId", 8), ("parentSpanId", 8)):
        raw = out.get(key)
        if isinstance(raw, str) and raw:
            hexed = normalize_id(raw, size)
            if hexed is None:
                out.pop(key)
            else:
                out[key] = hexed
    for link in out.get("links") or []:
        for key, size in (("traceId", 16), ("spanId", 8)):
            raw = link.get(key)
            if isinstance(raw, str) and raw:
                link[key] = normalize_id(raw, size) or raw
    return out
