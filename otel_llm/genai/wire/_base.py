"""What every API format of the wire layer shares: the parsed result of one call, an
incremental SSE reader and usage extraction through genai-prices.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from otel_llm.genai._common import as_int, estimate_input_tokens

MAX_SSE_EVENT = 1 << 20
"""An SSE event longer than this (bytes) is skipped and the stream marked unreadable."""
MAX_JSON_BODY = 8 << 20
"""A JSON body longer than this is not parsed (the span says ``too_large``)."""


@dataclass(slots=True)
class Usage:
    """Token counts in the contract's shape: input includes cache, output includes reasoning."""

    input: int | None = None
    output: int | None = None
    cache_read: int | None = None
    cache_creation: int | None = None
    reasoning: int | None = None


@dataclass(slots=True)
class Result:
    """What a response told us (fields left None were not in it)."""

    model: str | None = None
    response_id: str | None = None
    finish_reasons: list[str] = field(default_factory=list)
    usage: Usage | None = None
    cost: float | None = None
    """The provider's own cost figure (USD), e.g. OpenRouter's ``usage.cost``."""
    output_chars: int = 0
    """Characters of streamed text, for an estimate when no usage arrives."""
    events: int = 0
    state: dict[str, Any] = field(default_factory=dict)
    """Per-stream scratch space of the format."""
    error: str | None = None
    """Why the body could not be read: ``not_json``, ``unknown_shape``, ``truncated``,
    ``too_large``, ``empty``."""


@dataclass(frozen=True, slots=True)
class Request:
    """What the request told us."""

    model: str | None
    stream: bool
    estimate_input: Callable[[], int]


Extractor = Callable[[Any], Usage | None]


def extracted(provider: Any, flavor: str, data: Any) -> Usage | None:
    """genai-prices' ``Provider.extract_usage`` for ``data`` (a dict with the usage at the
    provider's root path), in our shape; None when it finds no usage."""
    try:
        _model, usage = provider.extract_usage(data, api_flavor=flavor)
    except Exception:
        return None
    inp = as_int(usage.input_tokens)
    out = as_int(usage.output_tokens)
    if inp is None and out is None:
        return None
    return Usage(
        input=inp,
        output=out,
        cache_read=as_int(usage.cache_read_tokens) or None,
        cache_creation=as_int(usage.cache_write_tokens) or None,
        reasoning=as_int(getattr(usage, "output_reasoning_tokens", None)) or None,
    )


class SSEReader:
    """Splits an SSE byte stream into (event, data) pairs as bytes arrive; bounded."""

    __slots__ = ("buffer", "overflow", "partial")

    def __init__(self) -> None:
        self.buffer = b""
        self.overflow = False
        self.partial = False

    def feed(self, chunk: bytes) -> Iterator[tuple[str | None, str]]:
        buf = self.buffer + chunk if self.buffer else chunk
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n")
        start = 0
        while True:
            end = buf.find(b"\n\n", start)
            if end < 0:
                break
            parsed = _event(buf[start:end])
            start = end + 2
            if parsed is not None:
                yield parsed
        rest = buf[start:]
        if len(rest) > MAX_SSE_EVENT:
            self.overflow = True
            rest = b""
        self.buffer = rest

    def end(self) -> Iterator[tuple[str | None, str]]:
        """The last event when the stream ends without a blank line."""
        rest, self.buffer = self.buffer, b""
        if rest.strip():
            parsed = _event(rest)
            if parsed is not None:
                self.partial = True
                yield parsed


def _event(raw: bytes) -> tuple[str | None, str] | None:
    name: str | None = None
    data: list[str] = []
    for line in raw.decode("utf-8", "replace").split("\n"):
        if line.startswith("data:"):
            data.append(line[5:].lstrip(" ") if line[5:6] == " " else line[5:])
        elif line.startswith("event:"):
            name = line[6:].strip()
    if not data:
        return None
    return name, "\n".join(data)


def loads(data: str | bytes) -> Any:
    """``json.loads`` that returns None instead of raising."""
    try:
        return json.loads(data)
    except (ValueError, TypeError):
        return None


def message_estimate(messages: Any, *extra: Any) -> Callable[[], int]:
    return lambda: estimate_input_tokens(messages, *extra)


def body_request(body: Any, messages: Any, *extra: Any) -> Request:
    """The request of a JSON body that names its ``model`` and asks ``stream: true``; its
    input tokens are estimated from ``messages`` and the ``extra`` texts."""
    return Request(
        str_or_none(get(body, "model")),
        get(body, "stream") is True,
        message_estimate(messages, *extra),
    )


def read_object(
    data: Any,
    result: Result,
    extract: Extractor,
    model_key: str | None,
    id_key: str,
    usage_key: str = "usage",
) -> bool:
    """Counts ``data`` (a response body, or one stream event's object) as an event and takes
    its model, id and usage, later values replacing earlier ones; False when it is not a JSON
    object."""
    if not isinstance(data, dict):
        return False
    result.events += 1
    if model_key is not None:
        result.model = str_or_none(data.get(model_key)) or result.model
    result.response_id = str_or_none(data.get(id_key)) or result.response_id
    if isinstance(data.get(usage_key), dict):
        result.usage = extract(data) or result.usage
    return True


def str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj
