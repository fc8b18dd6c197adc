"""What the OpenAI and Anthropic layers share: finding the official span, safe wrapping,
token estimates and the attributes the official instrumentations leave out.

Our wrappers sit *under* the official ones (the official wrapper is the outer one), so
when ours runs, the official GenAI span is the current span and is still recording: we
add attributes to it directly and never start a span of our own. The official
invocation marks its context with its data object; we look for that mark so we never
write GenAI attributes onto somebody else's span (a server span, say) when the official
layer is off or suppressed.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk import trace as _sdk_trace
from opentelemetry.trace import Span

from otel_llm import semconv

logger = logging.getLogger("otel_llm.genai")

PROVIDER_REQUEST_ID = "otel_llm.provider.request_id"
"""The provider's own request ID (``x-request-id`` / ``request-id`` response header)."""

CHARS_PER_TOKEN = 4.0
"""Estimate: about four characters of English text per token (OpenAI's rule of thumb)."""
TOKENS_PER_MESSAGE = 3
"""Estimate: chat formatting overhead per message (OpenAI cookbook: 3 per message + 3)."""

T = TypeVar("T")

Wrapper = Callable[[Any, Any, tuple[Any, ...], dict[str, Any]], Any]
"""A ``wrapt`` function wrapper: ``(wrapped, instance, args, kwargs) -> result``."""


class Switch:
    """On/off flag our wrappers read on every call: after uninstrument, a wrapper that
    outlives its removal (the SDKs cache bound methods) passes calls straight through."""

    __slots__ = ("on",)

    def __init__(self) -> None:
        self.on = False


def remove_wrappers(switch: Switch, wrapped: list[tuple[Any, str]]) -> None:
    """Turn ``switch`` off (for bound methods cached past removal), then unwrap every
    ``(owner, attribute)`` in ``wrapped``, last installed first."""
    from opentelemetry.instrumentation.utils import unwrap

    switch.on = False
    while wrapped:
        owner, name = wrapped.pop()
        unwrap(owner, name)


def current_genai_span(embedding: bool = False, *, remember: bool = False) -> Span | None:
    """The official instrumentation's span for this call, if one is open and recording.

    ``remember``: keep what was found for the next look from the same context (our SDK
    layer looks first, the wire layer then looks again inside the HTTP send); the
    wrappers of :func:`call_wrappers` forget it when the SDK call returns or raises, so
    nothing is held past the call. A context is immutable: the same object has the
    same values; the span is checked for recording at every look.
    """
    global _span_memo
    # opentelemetry-util-genai loads with an instrumented SDK, not at configure(): while
    # it is not imported, no official span can be open.
    invocation = sys.modules.get("opentelemetry.util.genai.invocation")
    if invocation is None:
        return None
    ctx = otel_context.get_current()
    memo = _span_memo
    if ctx is memo[0] and embedding is memo[1]:
        span = memo[2]
    else:
        key, data_type = (
            (invocation.CLIENT_EMBEDDING_CONTEXT_KEY, invocation.EmbeddingData)
            if embedding
            else (invocation.CLIENT_INFERENCE_CONTEXT_KEY, invocation.InferenceData)
        )
        span = None
        if isinstance(otel_context.get_value(key, ctx), data_type):
            span = trace.get_current_span(ctx)
        if remember:
            _span_memo = (ctx, embedding, span)
    return span if span is not None and span.is_recording() else None


_NO_MEMO: tuple[Any, bool, Span | None] = (None, False, None)
_span_memo = _NO_MEMO
"""(context, kind, the official span or None) of :func:`current_genai_span`'s last
remembered look, while the SDK call that made it runs."""


def guarded(what: str, fn: Callable[..., T], *args: Any, default: T) -> T:
    """Run ``fn`` for telemetry; an exception in it is logged and ``default`` returned."""
    try:
        return fn(*args)
    except Exception:
        logger.debug("otel-llm: %s failed; telemetry skipped for this call", what, exc_info=True)
        return default


class PreparedCall(Protocol):
    """What a provider's ``prepare`` returns: the call's span and the kwargs the SDK gets."""

    @property
    def span(self) -> Span: ...

    @property
    def kwargs(self) -> dict[str, Any]: ...


C = TypeVar("C", bound=PreparedCall)


def call_wrappers(
    provider: str,
    switch: Switch,
    prepare: Callable[[Any, dict[str, Any]], C | None],
    on_result: Callable[[C, Any, bool], Any],
) -> tuple[Wrapper, Wrapper]:
    """The sync and the async wrapper of an SDK call: ``prepare(instance, kwargs)`` before
    it (None: nothing to add), the provider request ID on its error, and
    ``on_result(call, result, is_async)`` after it. A failure of ours is logged and the
    call or its result goes through untouched; the SDK's own errors propagate."""
    on_prepare = f"{provider} prepare"
    on_error = f"{provider} error"
    on_done = f"{provider} result"

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        global _span_memo
        if not switch.on:
            return wrapped(*args, **kwargs)
        call = guarded(on_prepare, prepare, instance, kwargs, default=None)
        if call is None:
            _span_memo = _NO_MEMO
            return wrapped(*args, **kwargs)
        try:
            result = wrapped(*args, **call.kwargs)
        except BaseException as exc:
            _span_memo = _NO_MEMO
            guarded(on_error, set_error_request_id, call.span, exc, default=None)
            raise
        _span_memo = _NO_MEMO
        return guarded(on_done, on_result, call, result, False, default=result)

    async def async_wrapper(
        wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        global _span_memo
        if not switch.on:
            return await wrapped(*args, **kwargs)
        call = guarded(on_prepare, prepare, instance, kwargs, default=None)
        if call is None:
            _span_memo = _NO_MEMO
            return await wrapped(*args, **kwargs)
        try:
            result = await wrapped(*args, **call.kwargs)
        except BaseException as exc:
            _span_memo = _NO_MEMO
            guarded(on_error, set_error_request_id, call.span, exc, default=None)
            raise
        _span_memo = _NO_MEMO
        return guarded(on_done, on_result, call, result, True, default=result)

    return wrapper, async_wrapper


_url_fields: dict[type, bool] = {}
"""Client class -> whether its ``base_url`` property returns the ``_base_url`` field
(bounded; checked at the first client of each class)."""


def client_base_url(instance: Any) -> Any:
    """``instance._client.base_url`` (an SDK resource's client): the client's
    ``_base_url`` field itself where the property was seen to return it. openai 3.x's
    property imports a helper module at every access (about 15k instructions); any other
    client, or one without the field, is asked through the property."""
    client = getattr(instance, "_client", None)
    if client is None:
        return None
    fields = getattr(client, "__dict__", None)
    cls = type(client)
    direct = _url_fields.get(cls)
    if direct is None:
        url = getattr(client, "base_url", None)
        direct = fields is not None and url is not None and fields.get("_base_url") is url
        if len(_url_fields) >= 64:
            _url_fields.clear()
        _url_fields[cls] = direct
        return url
    if direct and fields is not None:
        url = fields.get("_base_url")
        if url is not None:
            return url
    return getattr(client, "base_url", None)


def default_port_attributes(instance: Any) -> dict[str, Any]:
    """``server.port`` when the base URL has none: the official packages drop 443 (and 80),
    but semconv wants the port whenever ``server.address`` is set."""
    url = client_base_url(instance)
    if url is None or getattr(url, "port", None) is not None:
        return {}
    scheme = getattr(url, "scheme", "https")
    return {semconv.SERVER_PORT: 443 if scheme == "https" else 80}


_SDK_SPANS: tuple[type, ...] = tuple(  # Span and the SDK's own _Span, which tracers make
    t for t in (_sdk_trace.Span, getattr(_sdk_trace, "_Span", None)) if isinstance(t, type)
)


class _Direct:
    """Whether :func:`put_attributes` may write into the SDK span's attribute dict:
    ``BoundedAttributes`` with the fields of opentelemetry-sdk 1.45 (checked at import;
    turned off for good at the first missing field)."""

    on = all(
        hasattr(BoundedAttributes(1, {"k": 1}), name)
        for name in ("_dict", "_lock", "_immutable", "maxlen", "max_value_len")
    ) and hasattr(BoundedAttributes, "_setitem_locked")


def put_attributes(span: Span, attrs: dict[str, Any]) -> None:
    """``span.set_attributes(attrs)`` for values of exactly ``str``, ``int``, ``float`` or
    ``bool`` (the caller's word: our start attributes, the request ID).

    ``Span.set_attributes`` runs the SDK's generic value checks (``_clean_attribute_value``
    over the mapping, an ABC ``isinstance`` chain per value), which pass such values
    through unchanged, under the span's and the attribute dict's locks. On the SDK's own
    ``Span`` with its ``BoundedAttributes`` and no value length limit they are written as
    the SDK writes a checked value: under the span's lock (taken and released directly:
    a ``with`` costs twice as much here), which orders the write against ``end()``; new
    keys with room for them in one C-level ``dict.update`` (atomic for readers, as the
    span processor's start stamp is), anything else through ``_setitem_locked`` under
    the dict's lock too (existing keys, count limit, eviction and dropped count as
    upstream). A value length limit, an ended span or another SDK layout take
    ``set_attributes``; ``tests/unit/test_genai_fastpath.py`` holds both equal.
    """
    if _Direct.on and type(span) in _SDK_SPANS:
        try:
            attributes = span._attributes  # type: ignore[attr-defined]
            if type(attributes) is BoundedAttributes and attributes.max_value_len is None:
                lock = span._lock  # type: ignore[attr-defined]
                lock.acquire()
                try:
                    if span._end_time is None and not attributes._immutable:  # type: ignore[attr-defined]
                        present = attributes._dict
                        maxlen = attributes.maxlen
                        if (
                            maxlen is None or len(present) + len(attrs) <= maxlen
                        ) and present.keys().isdisjoint(attrs):
                            present.update(attrs)
                            return
                        if maxlen != 0:
                            with attributes._lock:
                                for key, value in attrs.items():
                                    attributes._setitem_locked(key, value)
                            return
                finally:
                    lock.release()
        except AttributeError:  # another SDK layout: the public path from now on
            _Direct.on = False
    span.set_attributes(attrs)


_start_memo: tuple[Any, dict[str, Any], dict[str, Any]] = (None, {}, {})
"""(the last client base URL seen, its start attributes without and with the stream
flag): SDK clients keep one URL object, immutable, and this holds it alive, so an
identity check stands for the computation."""


def set_start_attributes(span: Span, instance: Any, streaming: bool) -> None:
    """What we add when a call starts: ``server.port`` and ``gen_ai.request.stream``."""
    global _start_memo
    url = client_base_url(instance)
    memo = _start_memo
    if url is not memo[0] or url is None:
        plain = default_port_attributes(instance)
        memo = (url, plain, {**plain, semconv.GEN_AI_REQUEST_STREAM: True})
        if url is not None:
            _start_memo = memo
    attrs = memo[2] if streaming else memo[1]
    if attrs:
        put_attributes(span, attrs)


def request_id_from_headers(headers: Any) -> str | None:
    if headers is None:
        return None
    value = headers.get("x-request-id") or headers.get("request-id")
    return value if isinstance(value, str) and value else None


def stream_request_id(stream: Any) -> str | None:
    """The provider request ID of a streaming call, read off the HTTP response headers."""
    response = getattr(stream, "response", None)
    return request_id_from_headers(getattr(response, "headers", None))


def error_request_id(exc: BaseException) -> str | None:
    value = getattr(exc, "request_id", None)
    if isinstance(value, str) and value:
        return value
    response = getattr(exc, "response", None)
    return request_id_from_headers(getattr(response, "headers", None))


def set_request_id(span: Span, request_id: Any) -> None:
    """``otel_llm.provider.request_id``, when ``request_id`` is a non-empty string."""
    if type(request_id) is str and request_id:
        put_attributes(span, {PROVIDER_REQUEST_ID: request_id})
    elif isinstance(request_id, str) and request_id:
        span.set_attribute(PROVIDER_REQUEST_ID, request_id)


def set_error_request_id(span: Span, exc: BaseException) -> None:
    set_request_id(span, error_request_id(exc))


# --- token estimates -------------------------------------------------------------------


def tokens_for_chars(chars: int) -> int:
    return math.ceil(chars / CHARS_PER_TOKEN) if chars > 0 else 0


def text_chars(value: Any, depth: int = 0) -> int:
    """Characters of text in a prompt structure (strings, message dicts, content parts).

    Only materialised lists, tuples and mappings are walked: an iterator the caller
    handed to the SDK has been consumed already and must not be touched.
    """
    if depth > 8:
        return 0
    if isinstance(value, str):
        return len(value)
    if isinstance(value, Mapping):
        total = 0
        for key in ("content", "text", "input", "instructions", "system", "arguments"):
            item = value.get(key)
            if item is not None:
                total += text_chars(item, depth + 1)
        return total
    if isinstance(value, (list, tuple)):
        return sum(text_chars(item, depth + 1) for item in value)
    return 0


def estimate_input_tokens(messages: Iterable[Any] | None, *extra: Any) -> int:
    """Estimated prompt tokens: ceil(characters / 4) plus 3 per message and 3 for the reply."""
    chars = sum(text_chars(item) for item in extra)
    n_messages = 0
    if isinstance(messages, (list, tuple)):
        n_messages = len(messages)
        chars += text_chars(messages)
    elif isinstance(messages, str):
        n_messages = 1
        chars += len(messages)
    return tokens_for_chars(chars) + TOKENS_PER_MESSAGE * n_messages + TOKENS_PER_MESSAGE


def set_estimated_usage(span: Span, output_chars: int, messages: Any, *extra: Any) -> None:
    """Estimates for a stream that ended without usage (see :func:`estimate_input_tokens`;
    output = streamed characters / 4), marked ``otel_llm.usage.estimated``."""
    set_usage(
        span,
        input_tokens=estimate_input_tokens(messages, *extra),
        output_tokens=tokens_for_chars(output_chars),
        estimated=True,
    )


def set_usage(
    span: Span,
    *,
    input_tokens: int | None,
    output_tokens: int | None,
    cache_read: int | None = None,
    cache_creation: int | None = None,
    reasoning: int | None = None,
    estimated: bool = False,
) -> None:
    """Token attributes in the contract's spelling (input includes cached tokens)."""
    attrs: dict[str, Any] = {}
    if input_tokens is not None:
        attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] = input_tokens
    if output_tokens is not None:
        attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] = output_tokens
    if cache_read:
        attrs[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = cache_read
    if cache_creation:
        attrs[semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] = cache_creation
    if reasoning:
        attrs[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = reasoning
    if estimated:
        attrs[semconv.OTEL_LLM_TOKENS_ESTIMATED] = True
    if attrs:
        span.set_attributes(attrs)


def field(obj: Any, name: str) -> Any:
    """``obj.name`` or ``obj[name]``: SDK models and plain dicts alike."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
