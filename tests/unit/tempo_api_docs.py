"""Tempo HTTP API response bodies WRITTEN FROM TEMPO'S DOCUMENTATION, not recorded.

The test suite runs no Tempo (its Go module is AGPL and this project does not build it;
users run Tempo from its container image).  These bodies follow the shapes documented in
Tempo's HTTP API reference ("Tempo HTTP API", sections Search, Query and Query V2):

- ``GET /api/search?q=<TraceQL>``: ``{"traces": [{"traceID", "rootServiceName",
  "rootTraceName", "startTimeUnixNano", "durationMs", "spanSets": [{"spans": [...],
  "matched": n}]}], "metrics": {...}}``; the documented tags-search example shows a
  16-digit ``traceID`` (Tempo drops the leading zeros of the hex ID).
- ``GET /api/v2/traces/<id>``: "Query response with an OpenTelemetry JSON trace", that is
  ``{"trace": {"resourceSpans": [...]}}``.
- ``GET /api/traces/<id>`` (v1): "mostly compatible OpenTelemetry JSON", with the older
  ``batches`` / ``instrumentationLibrarySpans`` keys; Tempo encodes IDs of both
  answers as base64 (its protobuf JSON encoding), not hex.

Only the fields the reader uses are filled with meaningful values; IDs and names are
made up for these tests.
"""

from __future__ import annotations

import base64
from typing import Any

TRACE_ID = "00000000000000002f3e0cee77ae5dc9"  # high half zero: search shows 16 digits
SERVER_SPAN = "563d623c76514f8e"
CLIENT_SPAN = "8ab7f2158d0e9ab1"
REQUEST_ID = "req-docs-0001"


def b64(hex_id: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_id)).decode()


def _kv(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": value}}


# GET /api/search?q={ span.request.id = "req-docs-0001" } (as the TraceQL example)
SEARCH: dict[str, Any] = {
    "traces": [
        {
            "traceID": TRACE_ID.lstrip("0"),
            "rootServiceName": "support-bot",
            "rootTraceName": "POST /chat",
            "startTimeUnixNano": "1684778327699392724",
            "durationMs": 557,
            "spanSets": [
                {
                    "spans": [
                        {
                            "spanID": SERVER_SPAN,
                            "startTimeUnixNano": "1684778327699392724",
                            "durationNanos": "557000000",
                            "attributes": [_kv("request.id", REQUEST_ID)],
                        }
                    ],
                    "matched": 2,
                }
            ],
        }
    ],
    "metrics": {"inspectedTraces": 1, "inspectedBytes": "4711", "totalBlocks": 1},
}

SEARCH_EMPTY: dict[str, Any] = {"traces": [], "metrics": {"totalBlocks": 1}}


def _spans(id_encode: Any) -> list[dict[str, Any]]:
    start = 1684778327699392724
    return [
        {
            "traceId": id_encode(TRACE_ID),
            "spanId": id_encode(SERVER_SPAN),
            "name": "POST /chat",
            "kind": "SPAN_KIND_SERVER",
            "startTimeUnixNano": str(start),
            "endTimeUnixNano": str(start + 557_000_000),
            "attributes": [_kv("request.id", REQUEST_ID), _kv("http.route", "/chat")],
            "status": {},
        },
        {
            "traceId": id_encode(TRACE_ID),
            "spanId": id_encode(CLIENT_SPAN),
            "parentSpanId": id_encode(SERVER_SPAN),
            "name": "chat gpt-4o-mini",
            "kind": "SPAN_KIND_CLIENT",
            "startTimeUnixNano": str(start + 35_000_000),
            "endTimeUnixNano": str(start + 482_000_000),
            "attributes": [
                _kv("request.id", REQUEST_ID),
                _kv("gen_ai.operation.name", "chat"),
                _kv("gen_ai.provider.name", "openai"),
                _kv("gen_ai.request.model", "gpt-4o-mini"),
                _kv("gen_ai.usage.input_tokens", 1200),
                _kv("gen_ai.usage.output_tokens", 80),
                _kv("gen_ai.usage.cost.amount", 0.000228),
                _kv("gen_ai.usage.cost.currency", "USD"),
            ],
            "status": {"code": "STATUS_CODE_OK"},
        },
    ]


_RESOURCE = {"attributes": [_kv("service.name", "support-bot")]}

# GET /api/v2/traces/<id>
TRACE_V2: dict[str, Any] = {
    "trace": {
        "resourceSpans": [
            {
                "resource": _RESOURCE,
                "scopeSpans": [{"scope": {"name": "otel-llm"}, "spans": _spans(b64)}],
            }
        ]
    }
}

# GET /api/traces/<id> (v1, Tempo before the v2 API)
TRACE_V1: dict[str, Any] = {
    "batches": [
        {
            "resource": _RESOURCE,
            "instrumentationLibrarySpans": [
                {"instrumentationLibrary": {"name": "otel-llm"}, "spans": _spans(b64)}
            ],
        }
    ]
}

# GET /api/v2/traces/<unknown id>: 200 with an empty trace
TRACE_V2_EMPTY: dict[str, Any] = {"trace": {}}
