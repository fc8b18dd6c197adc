"""Reading traces back from Jaeger (v2, or v1.x with the same query API).

``find_trace_ids`` looks the request up by its ``request.id`` span attribute.  Jaeger's
HTTP search (``/api/traces``) needs a service name, and any service of a trace returns the
whole trace, so the reader asks ``/api/services`` and then searches each service for the
tag; a request that crossed services is found in each of them and reported once.
``get_trace`` fetches one trace from the API v3 (``/api/v3/traces/{id}``), which answers in
OTLP JSON, so :func:`otel_llm.store.base.parse_otlp_json` reads it unchanged.

Freshness: Jaeger writes spans to its store before it acknowledges the OTLP export, so a
trace is searchable as soon as the Collector delivered it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from otel_llm.semconv import REQUEST_ID
from otel_llm.store.base import TraceStoreError
from otel_llm.store.http import HTTPTraceStore, hex_trace_id, trace_ids_of

__all__ = ["JaegerError", "JaegerStore"]


class JaegerError(TraceStoreError):
    """Jaeger could not be reached or answered with an error."""


class JaegerStore(HTTPTraceStore):
    """Query one Jaeger query service (``base_url`` like ``http://localhost:16686``)."""

    name = "Jaeger"
    error = JaegerError

    def services(self) -> list[str]:
        """Every service name Jaeger holds spans of."""
        body = self._json(self._get("/api/services"), "service list")
        return sorted(str(s) for s in body.get("data") or ())

    def search(self, service: str, tags: Mapping[str, str]) -> list[dict[str, Any]]:
        """Raw search hits (``data`` of ``/api/traces``): traces of ``service`` with ``tags``."""
        now_us = int(time.time() * 1_000_000)
        params: dict[str, str | int] = {
            "service": service,
            "tags": json.dumps(dict(tags)),
            # microseconds; the end is padded for clock skew
            "start": now_us - self.lookback_s * 1_000_000,
            "end": now_us + 60_000_000,
            "limit": self.limit,
        }
        body = self._json(self._get("/api/traces", params), "search")
        return list(body.get("data") or ())

    def find_trace_ids(self, request_id: str) -> list[str]:
        """Hex IDs (32 chars) of the traces whose spans carry ``request.id == request_id``."""
        hits = (
            hit
            for service in self.services()
            for hit in self.search(service, {REQUEST_ID: request_id})
        )
        return trace_ids_of(hits)

    def get_trace(self, trace_id: str) -> dict[str, Any]:
        """The whole trace as OTLP JSON ``{"resourceSpans": [...]}``; JaegerError if absent."""
        tid = hex_trace_id(trace_id)
        resp = self._get(f"/api/v3/traces/{tid}")
        if resp.status_code == 404:
            raise JaegerError(f"trace {tid} not found in Jaeger")
        body = self._json(resp, "trace lookup")
        doc = body.get("result", body) if isinstance(body, dict) else {}
        spans = doc.get("resourceSpans") if isinstance(doc, dict) else None
        if not spans:
            raise JaegerError(f"trace {tid} not found in Jaeger")
        return {"resourceSpans": spans}
