"""One span shape for every source: OTLP JSON as the file exporter writes it and Tempo serves it.

OTLP JSON encodes trace and span IDs as hex (per the OTLP spec), but some readers and
older Tempo APIs emit base64; both are accepted. Attribute values arrive as
``{"stringValue": ...}``-style unions and are flattened to plain Python values.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from otel_llm.semconv import REQUEST_ID

SPAN_KINDS = {
    0: "UNSPECIFIED",
    1: "INTERNAL",
    2: "SERVER",
    3: "CLIENT",
    4: "PRODUCER",
    5: "CONSUMER",
}
_KIND_NAMES = {f"SPAN_KIND_{v}": v for v in SPAN_KINDS.values()}


@dataclass(slots=True)
class SpanRecord:
    """A finished span as read back from storage."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    start_ns: int
    end_ns: int
    status: str  # "UNSET" | "OK" | "ERROR"
    attributes: dict[str, Any] = field(default_factory=dict)
    resource: dict[str, Any] = field(default_factory=dict)

    @property
    def service(self) -> str:
        return str(self.resource.get("service.name", "unknown_service"))

    @property
    def duration_s(self) -> float:
        return max(0, self.end_ns - self.start_ns) / 1e9

    @property
    def request_id(self) -> str | None:
        value = self.attributes.get(REQUEST_ID)
        return value if isinstance(value, str) else None


class TraceStoreError(RuntimeError):
    """A trace store could not be reached or answered with an error."""


class TraceStore(Protocol):
    """What ``otel-llm trace`` needs from a trace backend (Tempo, Jaeger)."""

    def find_trace_ids(self, request_id: str) -> list[str]:
        """Hex IDs (32 chars) of the traces whose spans carry ``request.id == request_id``."""
        ...

    def get_trace(self, trace_id: str) -> dict[str, Any]:
        """One whole trace as OTLP JSON ``{"resourceSpans": [...]}``; an error if absent."""
        ...

    def close(self) -> None: ...


def normalize_id(raw: str | None, size: int) -> str | None:
    """Hex-encode an ID given as hex or base64; None when empty or all zero."""
    if not raw:
        return None
    text = raw.strip()
    if len(text) == size * 2:
        try:
            bytes.fromhex(text)
            hexed = text.lower()
        except ValueError:
            hexed = ""
    else:
        hexed = ""
    if not hexed:
        try:
            hexed = base64.b64decode(text, validate=True).hex()
        except (binascii.Error, ValueError):
            return None
        if len(hexed) < size * 2:
            hexed = hexed.rjust(size * 2, "0")
    if not hexed or set(hexed) == {"0"}:
        return None
    return hexed


def any_value(value: Mapping[str, Any] | None) -> Any:
    """Flatten an OTLP AnyValue union to a plain Python value."""
    if not value:
        return None
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        return [any_value(v) for v in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        return attributes(value["kvlistValue"].get("values", []))
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def attributes(items: Iterable[Mapping[str, Any]] | None) -> dict[str, Any]:
    return {item["key"]: any_value(item.get("value")) for item in items or () if "key" in item}


def _kind(raw: Any) -> str:
    if isinstance(raw, int):
        return SPAN_KINDS.get(raw, "UNSPECIFIED")
    if isinstance(raw, str):
        if raw in _KIND_NAMES:
            return _KIND_NAMES[raw]
        if raw.isdigit():
            return SPAN_KINDS.get(int(raw), "UNSPECIFIED")
    return "UNSPECIFIED"


def _status(raw: Mapping[str, Any] | None) -> str:
    code = (raw or {}).get("code", 0)
    if code in (1, "STATUS_CODE_OK"):
        return "OK"
    if code in (2, "STATUS_CODE_ERROR"):
        return "ERROR"
    return "UNSET"


def parse_otlp_json(doc: Mapping[str, Any]) -> list[SpanRecord]:
    """Spans of one OTLP JSON traces document (``resourceSpans``; Tempo's ``batches`` too)."""
    out: list[SpanRecord] = []
    for rs in doc.get("resourceSpans") or doc.get("batches") or ():
        resource = attributes((rs.get("resource") or {}).get("attributes"))
        for ss in rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans") or ():
            for span in ss.get("spans") or ():
                trace_id = normalize_id(span.get("traceId"), 16)
                span_id = normalize_id(span.get("spanId"), 8)
                if trace_id is None or span_id is None:
                    continue
                out.append(
                    SpanRecord(
                        trace_id=trace_id,
                        span_id=span_id,
                        parent_span_id=normalize_id(span.get("parentSpanId"), 8),
                        name=str(span.get("name", "")),
                        kind=_kind(span.get("kind", 0)),
                        start_ns=int(span.get("startTimeUnixNano", 0)),
                        end_ns=int(span.get("endTimeUnixNano", 0)),
                        status=_status(span.get("status")),
                        attributes=attributes(span.get("attributes")),
                        resource=resource,
                    )
                )
    return out
