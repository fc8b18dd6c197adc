"""The HTTP client part shared by the trace store readers (Tempo, Jaeger)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Self

try:
    import httpx
except ImportError:  # installed without the cli extra: httpx2 (a dependency) has the same API
    import httpx2 as httpx  # type: ignore[no-redef]

from otel_llm.store.base import TraceStoreError, normalize_id


def hex_trace_id(trace_id: str) -> str:
    """32 hex digits for a trace ID given in hex (leading zeros may be missing: Tempo and
    Jaeger both print a trace ID whose high half is zero in 16 digits) or base64."""
    tid = normalize_id(trace_id.rjust(32, "0"), 16)
    if tid is None:
        raise ValueError(f"not a trace ID: {trace_id!r}")
    return tid


def trace_ids_of(hits: Iterable[Mapping[str, Any]]) -> list[str]:
    """The distinct ``traceID`` values of search hits, as 32 hex digits, in order."""
    ids: list[str] = []
    for hit in hits:
        raw = str(hit.get("traceID") or "")
        trace_id = normalize_id(raw.rjust(32, "0"), 16) if raw else None
        if trace_id and trace_id not in ids:
            ids.append(trace_id)
    return ids


class HTTPTraceStore:
    """The HTTP client part shared by the trace store readers (Tempo, Jaeger).

    ``lookback_s`` bounds how far back a request-ID search looks, ``limit`` how many
    traces it returns; a subclass names itself (``name``) and its error type.
    """

    name: ClassVar[str] = "trace store"
    error: ClassVar[type[TraceStoreError]] = TraceStoreError

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        lookback_s: int = 24 * 3600,
        limit: int = 50,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.lookback_s = lookback_s
        self.limit = limit
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get(self, path: str, params: Mapping[str, str | int] | None = None) -> httpx.Response:
        try:
            return self._client.get(path, params=params, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise self.error(f"cannot reach {self.name} at {self.base_url}: {exc}") from exc

    def _ok(self, resp: httpx.Response, what: str) -> httpx.Response:
        """``resp`` if it is a 200; else the store's error saying ``what`` failed."""
        if resp.status_code != 200:
            raise self.error(f"{self.name} {what} failed ({resp.status_code}): {resp.text[:500]}")
        return resp

    def _json(self, resp: httpx.Response, what: str) -> Any:
        """The JSON body of a 200 ``resp``; else the store's error saying ``what`` failed."""
        self._ok(resp, what)
        try:
            return resp.json()
        except ValueError as exc:
            text = resp.text[:300]
            raise self.error(f"{self.name} {what} answered without JSON: {text}") from exc
