"""The HTTP client part shared by the trace store readers (Tempo, Jaeger)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Self

import httpx

from otel_llm.store.base import TraceStoreError


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
