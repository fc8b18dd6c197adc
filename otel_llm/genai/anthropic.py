"""What we add to ``opentelemetry-instrumentation-genai-anthropic`` for the Anthropic SDK.

The official package already sums ``input_tokens`` with the cache reads and writes (the
contract's "input includes cached"), reads cache reads, and records streams. We add:
``gen_ai.usage.cache_creation.input_tokens`` (it writes only the ``cache_write``
spelling), ``server.port`` for default ports, ``gen_ai.request.stream`` at start, the
provider's ``request-id`` as ``otel_llm.provider.request_id`` (also on errors), the time
to first chunk for ``messages.stream()`` read through ``text_stream`` /
``get_final_message()`` (those bypass the official wrapper), and estimates for a stream
that ends before ``message_start`` told us anything.

Duplicate spans: anthropic 2.12 has tracing of its own (``anthropic/_tracing.py``). It is
on by default as soon as a global SDK tracer provider exists (``ANTHROPIC_OPEN_TELEMETRY``
unset) and opens an ``anthropic.messages.create`` CLIENT span with
``gen_ai.operation.name=chat``, ``gen_ai.provider.name=anthropic`` and token counts, a
second GenAI span for the same call that a span-derived metrics pipeline would count twice.
The official instrumentation wins: it names spans by the semconv (``chat <model>``), sums
input tokens as the contract says, honours the shared content-capture variable and matches
the OpenAI spans. So while an official GenAI span is current we make the SDK skip its own
call span (its ``start_api_call_span`` returns None, the documented "no span" path); calls
the official package does not trace (batches, count_tokens, sessions) keep the SDK's spans.
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

from opentelemetry import context as otel_context
from opentelemetry.trace import Span
from opentelemetry.util.genai.invocation import CLIENT_INFERENCE_CONTEXT_KEY, InferenceData

from otel_llm import semconv
from otel_llm.genai import _fastpath
from otel_llm.genai._common import (
    Switch,
    as_int,
    call_wrappers,
    current_genai_span,
    field,
    guarded,
    logger,
    remove_wrappers,
    set_estimated_usage,
    set_request_id,
    set_start_attributes,
    stream_request_id,
)
from otel_llm.genai._streams import (
    StreamManagerProxy,
    TappedAsyncMessageStream,
    TappedAsyncStream,
    TappedMessageStream,
    TappedStream,
)

_switch = Switch()
_wrapped: list[tuple[Any, str]] = []


class _MessagesTap:
    """Anthropic stream events: cache writes, time to first chunk, estimates."""

    __slots__ = (
        "chars",
        "delta_usage",
        "first_at",
        "messages",
        "span",
        "start",
        "start_usage",
        "system",
    )

    def __init__(self, span: Span, messages: Any, system: Any, start: float) -> None:
        self.span = span
        self.messages = messages
        self.system = system
        self.start = start
        self.first_at: float | None = None
        self.start_usage: Any = None
        self.delta_usage: Any = None
        self.chars = 0

    def on_item(self, event: Any) -> bool:
        if self.first_at is None:
            self.first_at = time.perf_counter()
        kind = getattr(event, "type", None)
        if kind == "content_block_delta":
            delta = getattr(event, "delta", None)
            for name in ("text", "partial_json", "thinking"):
                value = getattr(delta, name, None)
                if isinstance(value, str):
                    self.chars += len(value)
                    break
        elif kind == "message_start":
            self.start_usage = getattr(getattr(event, "message", None), "usage", None)
        elif kind == "message_delta":
            self.delta_usage = getattr(event, "usage", None)
        return True

    def on_end(self) -> None:
        span = self.span
        if not span.is_recording():
            return
        attrs: dict[str, Any] = {}
        if self.first_at is not None:
            ttfc = max(0.0, self.first_at - self.start)
            attrs[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = ttfc
        created = as_int(field(self.delta_usage, "cache_creation_input_tokens")) or as_int(
            field(self.start_usage, "cache_creation_input_tokens")
        )
        if created:
            attrs[semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] = created
        if attrs:
            span.set_attributes(attrs)
        if self.start_usage is None and self.delta_usage is None:
            set_estimated_usage(span, self.chars, self.messages, self.system)


def _on_message(span: Span, result: Any) -> Any:
    set_request_id(span, getattr(result, "_request_id", None))
    created = as_int(field(getattr(result, "usage", None), "cache_creation_input_tokens"))
    if created:
        span.set_attribute(semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, created)
    return result


def _tap_stream(
    span: Span, stream: Any, kwargs: dict[str, Any], start: float, is_async: bool
) -> Any:
    if not hasattr(stream, "response"):
        return stream  # with_raw_response and friends: leave them alone
    set_request_id(span, stream_request_id(stream))
    tap = _MessagesTap(span, kwargs.get("messages"), kwargs.get("system"), start)
    helper = hasattr(stream, "text_stream")
    if is_async:
        return TappedAsyncMessageStream(stream, tap) if helper else TappedAsyncStream(stream, tap)
    return TappedMessageStream(stream, tap) if helper else TappedStream(stream, tap)


class _Create(NamedTuple):
    """One ``messages.create`` call: its span, arguments and start time."""

    span: Span
    kwargs: dict[str, Any]
    streaming: bool
    start: float


def _prepare_create(instance: Any, kwargs: dict[str, Any]) -> _Create | None:
    span = current_genai_span(remember=True)
    if span is None:
        return None
    streaming = kwargs.get("stream") is True
    set_start_attributes(span, instance, streaming)
    return _Create(span, kwargs, streaming, time.perf_counter())


def _create_result(call: _Create, result: Any, is_async: bool) -> Any:
    if call.streaming:
        return _tap_stream(call.span, result, call.kwargs, call.start, is_async)
    return _on_message(call.span, result)


_create_wrapper, _async_create_wrapper = call_wrappers(
    "anthropic", _switch, _prepare_create, _create_result
)


def _make_stream_wrapper(is_async: bool) -> Any:
    """``messages.stream()``: the official span opens when the manager is entered, so we
    tap the stream at that moment (inside the span), not when the manager is made."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        manager = wrapped(*args, **kwargs)
        if not _switch.on:
            return manager
        start = [time.perf_counter()]

        def tap(stream: Any) -> Any:
            span = current_genai_span()
            if span is None:
                return stream
            set_start_attributes(span, instance, True)
            return _tap_stream(span, stream, kwargs, start[0], is_async)

        def proxy() -> Any:
            return _EnterTimedManager(manager, tap, start)

        return guarded("anthropic stream", proxy, default=manager)

    return wrapper


class _EnterTimedManager(StreamManagerProxy):
    """Records when the request starts (manager entry) for the time to first chunk."""

    def __init__(self, manager: Any, wrap: Any, start: list[float]) -> None:
        super().__init__(manager, wrap)
        self._self_start = start

    def __enter__(self) -> Any:
        self._self_start[0] = time.perf_counter()
        return super().__enter__()

    async def __aenter__(self) -> Any:
        self._self_start[0] = time.perf_counter()
        return await super().__aenter__()


def _suppress_sdk_span(
    wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """The SDK's own call span, unless the official GenAI span for this call is open."""
    if _switch.on and isinstance(
        otel_context.get_value(CLIENT_INFERENCE_CONTEXT_KEY), InferenceData
    ):
        return None
    return wrapped(*args, **kwargs)


_CREATE_TARGETS: tuple[tuple[str, str, bool], ...] = (
    ("anthropic.resources.messages", "Messages", False),
    ("anthropic.resources.messages", "AsyncMessages", True),
    ("anthropic.resources.beta.messages", "Messages", False),
    ("anthropic.resources.beta.messages", "AsyncMessages", True),
)


def available() -> bool:
    try:
        import anthropic  # noqa: F401
    except ImportError:
        return False
    return True


def install() -> None:
    """Install our wrappers (before the official instrumentor wraps on top of them)."""
    import importlib

    from wrapt import wrap_function_wrapper

    for module_name, cls_name, is_async in _CREATE_TARGETS:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        cls = getattr(module, cls_name, None)
        if cls is None:
            continue
        if hasattr(cls, "create"):
            create = _async_create_wrapper if is_async else _create_wrapper
            wrap_function_wrapper(module_name, f"{cls_name}.create", create)
            _wrapped.append((cls, "create"))
        if hasattr(cls, "stream"):
            wrap_function_wrapper(module_name, f"{cls_name}.stream", _make_stream_wrapper(is_async))
            _wrapped.append((cls, "stream"))
    try:
        base_client = importlib.import_module("anthropic._base_client")
        if hasattr(base_client, "start_api_call_span"):
            wrap_function_wrapper(base_client, "start_api_call_span", _suppress_sdk_span)
            _wrapped.append((base_client, "start_api_call_span"))
    except ImportError:
        logger.debug("otel-llm: anthropic SDK has no tracing of its own to de-duplicate")
    _fastpath.install("anthropic")
    _switch.on = True


def uninstall() -> None:
    """Remove our wrappers (after the official instrumentor removed its own)."""
    remove_wrappers(_switch, _wrapped)
    _fastpath.uninstall("anthropic")
