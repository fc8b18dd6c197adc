"""A cheaper per-chunk path through the official chat completion stream wrappers.

Measured (``bench/README.md``): the official ``ChatStreamWrapper`` of
``opentelemetry-instrumentation-genai-openai`` 1.3b0 costs about 40 Python calls per
chunk on top of the SDK's own work. Two parts of that do nothing we can see:

- **context re-attachment around every read**: the wrapper suspends its invocation when
  it hands the stream back, and ``util/genai/stream.py`` ``_advance`` re-activates it
  around each chunk read (``_execution_context`` -> ``invocation.activate()``, a
  generator context manager plus an ``attach``/``detach``);
- **per-chunk metrics into a no-op meter**: ``_on_stream_chunk`` builds the metric
  attribute dict and records ``gen_ai.client.operation.time_per_output_chunk`` for every
  chunk, although we hand the official package a no-op meter provider by default (our
  span processor derives the metrics from the spans).

What runs inside a chunk read, and so what could see the span as current there: our
stream proxy and tap (they write to the span object they hold, never to "the current
span"), the SDK's SSE decoding and pydantic parsing (no telemetry), and httpx2/httpcore2
reading the response body. The HTTP client span of the request (httpx2
instrumentation) starts and ends in ``create()`` while the invocation is still attached,
so it stays a child of the GenAI span either way. During body reads httpcore2 only
writes DEBUG log records (and calls a per-request ``trace`` extension, which the OpenAI
SDK does not set); a log bridge would correlate those with the current span. So:

- reads run in the caller's context, *unless* DEBUG logging is on for httpcore2 when the
  stream starts: then the stream keeps the official per-chunk re-attachment, so those
  records still carry the GenAI span;
- ending the stream (drained, failed, closed, abandoned) runs exactly as upstream,
  inside the invocation's context: span end, completion hook and events see what they
  always saw;
- per-chunk timing (``gen_ai.response.time_to_first_chunk``, the invocation's chunk
  clock) is kept; only the metric attribute building and the no-op ``record`` calls are
  skipped, and only while the invocation's instruments are the API's no-op histograms.
  With a real meter provider the official ``_on_stream_chunk`` runs unchanged.

This relies on private internals (the wrapper's ``_self_*`` fields, the invocation's
chunk clock), so it is enabled only for the exact versions in :data:`PINNED`, checked
once at instrument time; any other version keeps the official code untouched. It only
applies to streams our OpenAI layer tapped (:class:`~otel_llm.genai._streams.TappedStream`
with ``fast`` set), never to other users of those classes; Responses API and Anthropic
streams keep the official path (their chunk processing can end the span mid-read).
"""

from __future__ import annotations

import importlib.metadata
import logging
from timeit import default_timer
from typing import Any

from otel_llm.genai._common import logger
from otel_llm.genai._streams import TappedAsyncStream, TappedStream

PINNED: dict[str, str] = {
    "opentelemetry-util-genai": "1.3b0",
    "opentelemetry-instrumentation-genai-openai": "1.3b0",
}
"""Distributions whose internals the fast path was written and tested against."""

READ_LOGGERS = ("httpcore2.http11", "httpcore2.http2")
"""Loggers that write records while a response body is read."""
_read_loggers = tuple(logging.getLogger(name) for name in READ_LOGGERS)

_patched: list[tuple[type, str, Any]] = []
"""(class, attribute, what it had in its own ``__dict__`` or None) to restore."""

_NOOP_HISTOGRAM: Any = None
_INFERENCE: Any = None
_SYNC_NEXT: Any = None
_ASYNC_NEXT: Any = None


def pinned_versions() -> bool:
    """True when every distribution in :data:`PINNED` is installed at that version."""
    try:
        return all(importlib.metadata.version(d) == v for d, v in PINNED.items())
    except importlib.metadata.PackageNotFoundError:
        return False


def active() -> bool:
    """True while the official chat stream wrappers are patched."""
    return bool(_patched)


def reads_are_logged() -> bool:
    """True when httpcore2 writes DEBUG records during body reads (see module doc)."""
    return any(log.isEnabledFor(logging.DEBUG) for log in _read_loggers)


def use_for_new_stream() -> bool:
    """Whether a stream starting now may take the fast path."""
    return bool(_patched) and not reads_are_logged()


def _on_chunk(invocation: Any, chunk_at: float) -> None:
    """``InferenceInvocation._on_stream_chunk`` without the no-op metric recording.

    Same bookkeeping as upstream 1.3b0: the chunk clock, time to first chunk, and the
    streamed-request flag; the upstream method runs whenever it could record something.
    """
    if type(invocation) is not _INFERENCE or not invocation._start_span:
        invocation._on_stream_chunk(chunk_at)
        return
    instruments = invocation._instruments
    first = invocation._ttfc_seconds is None
    histogram = instruments.time_to_first_chunk if first else instruments.time_per_output_chunk
    if type(histogram) is not _NOOP_HISTOGRAM:
        invocation._on_stream_chunk(chunk_at)
        return
    last = invocation._stream_last_chunk_at
    if last is None:
        last = invocation._monotonic_start_s
    invocation._stream_last_chunk_at = chunk_at
    if first:
        invocation._ttfc_seconds = max(chunk_at - last, 0.0)
    data = invocation.data
    data.request_stream = True
    data.response_time_to_first_chunk = invocation._ttfc_seconds


def _chat_next(self: Any) -> Any:
    """``ChatStreamWrapper.__next__``: read outside the invocation's context, end inside."""
    stream = self._self_stream
    if type(stream) is not TappedStream or not stream._self_fast:
        return _SYNC_NEXT(self)
    try:
        chunk = next(self._self_iterator)
    except StopIteration:
        with self._execution_context():
            self._finalize_success()
        raise
    except BaseException as error:
        with self._execution_context():
            self._finalize_failure(error)
        raise
    invocation = self._self_invocation
    chunk_at = default_timer()
    self._process_chunk(chunk)
    if invocation is not None:
        _on_chunk(invocation, chunk_at)
    return chunk


async def _chat_anext(self: Any) -> Any:
    """``AsyncChatStreamWrapper.__anext__``, the async twin of :func:`_chat_next`."""
    stream = self._self_stream
    if type(stream) is not TappedAsyncStream or not stream._self_fast:
        return await _ASYNC_NEXT(self)
    try:
        chunk = await anext(self._self_aiter)
    except StopAsyncIteration:
        with self._execution_context():
            self._finalize_success()
        raise
    except BaseException as error:
        with self._execution_context():
            self._finalize_failure(error)
        raise
    invocation = self._self_invocation
    chunk_at = default_timer()
    self._process_chunk(chunk)
    if invocation is not None:
        _on_chunk(invocation, chunk_at)
    return chunk


def _patch(cls: type, name: str, value: Any) -> None:
    _patched.append((cls, name, cls.__dict__.get(name)))
    setattr(cls, name, value)


def install() -> bool:
    """Patch the official chat stream wrappers if the pinned versions are installed.

    Never raises; returns whether the fast path is on.
    """
    global _NOOP_HISTOGRAM, _INFERENCE, _SYNC_NEXT, _ASYNC_NEXT
    if _patched:
        return True
    if not pinned_versions():
        logger.debug("otel-llm: stream fast path off (versions differ from %s)", PINNED)
        return False
    try:
        from opentelemetry.instrumentation.genai.openai.chat_wrappers import (
            AsyncChatStreamWrapper,
            ChatStreamWrapper,
        )
        from opentelemetry.metrics import NoOpHistogram
        from opentelemetry.util.genai.invocation import InferenceInvocation
        from opentelemetry.util.genai.stream import AsyncStreamWrapper, SyncStreamWrapper

        _NOOP_HISTOGRAM = NoOpHistogram
        _INFERENCE = InferenceInvocation
        _SYNC_NEXT = SyncStreamWrapper.__next__
        _ASYNC_NEXT = AsyncStreamWrapper.__anext__
        _patch(ChatStreamWrapper, "__next__", _chat_next)
        _patch(AsyncChatStreamWrapper, "__anext__", _chat_anext)
    except Exception:
        logger.debug("otel-llm: stream fast path not installed", exc_info=True)
        uninstall()
        return False
    return True


def uninstall() -> None:
    """Give the official wrappers back their own methods. Never raises."""
    while _patched:
        cls, name, own = _patched.pop()
        try:
            if own is None:
                delattr(cls, name)
            else:
                setattr(cls, name, own)
        except Exception:
            logger.debug("otel-llm: could not restore %s.%s", cls.__name__, name, exc_info=True)
