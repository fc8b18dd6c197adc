"""Reading spans back: a local OTLP-JSON-lines file, Tempo, or Prometheus for aggregates."""

from otel_llm.store.base import SpanRecord, parse_otlp_json
from otel_llm.store.file import FileStore

__all__ = ["FileStore", "SpanRecord", "parse_otlp_json"]
