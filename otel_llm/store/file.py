"""The local store: OTLP JSON lines as written by the file exporter (one document per line)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

from otel_llm.store.base import SpanRecord, parse_otlp_json

log = logging.getLogger(__name__)


class FileStore:
    """Spans from one or more OTLP-JSON-lines files; a torn last line is skipped, not fatal."""

    def __init__(self, *paths: str | Path) -> None:
        self.paths = [Path(p) for p in paths]

    def spans(self) -> Iterator[SpanRecord]:
        for path in self.paths:
            if not path.exists():
                raise FileNotFoundError(f"no span file at {path}")
            with path.open(encoding="utf-8") as fh:
                for lineno, line in enumerate(fh, 1):
                    line = line.strip()
                    if not line:
                        continue
                    try:
                        doc = json.loads(line)
                    except json.JSONDecodeError:
                        log.warning("skipping unreadable line %d of %s", lineno, path)
                        continue
                    yield from parse_otlp_json(doc)

    def find_trace_ids(self, request_id: str) -> list[str]:
        """Trace IDs whose spans carry ``request.id`` = request_id, in first-seen order."""
        seen: dict[str, None] = {}
        for span in self.spans():
            if span.request_id == request_id:
                seen.setdefault(span.trace_id, None)
        return list(seen)

    def trace(self, trace_id: str) -> list[SpanRecord]:
        return [s for s in self.spans() if s.trace_id == trace_id]
