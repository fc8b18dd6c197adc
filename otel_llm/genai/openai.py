"""What we add to ``opentelemetry-instrumentation-genai-openai`` for the OpenAI SDK.

Our wrappers are installed first, so the official ones wrap them and open the span; ours
run inside it. Per call type:

- chat completions, streaming: when the caller did not ask for usage we send
  ``stream_options={"include_usage": true}`` (``Settings.stream_include_usage``: with
  ``auto``, only to endpoints in :data:`ACCEPTS_STREAM_OPTIONS`), record
  the usage chunk ourselves and hide it (and ``usage`` on any other chunk) from the
  caller, whose view of the stream stays what it asked for. The official wrapper never
  sees a usage it was not asked for, so tokens are written once, by us.
- any stream that ends without usage (provider ignored the option, stream broken off or
  closed early): tokens are estimated (see :func:`otel_llm.genai._common.
  estimate_input_tokens`; output = streamed characters / 4) and
  ``otel_llm.usage.estimated`` is set.
- every call: ``server.port`` when the base URL has the default port (the official
  package drops 443), ``gen_ai.request.stream`` at span start, the provider request ID
  (``x-request-id``) as ``otel_llm.provider.request_id``, also on errors, and
  ``gen_ai.usage.cache_creation.input_tokens`` where the official package writes only
  the ``cache_write`` spelling.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from opentelemetry.trace import Span

from otel_llm import providers, semconv
from otel_llm.genai import _deferred, _fastpath
from otel_llm.genai._common import (
    Switch,
    Wrapper,
    as_int,
    call_wrappers,
    client_base_url,
    current_genai_span,
    remove_wrappers,
    set_estimated_usage,
    set_request_id,
    set_start_attributes,
    set_usage,
    stream_request_id,
)
from otel_llm.genai._streams import TappedAsyncStream, TappedStream
from otel_llm.pricing_units import openai_usage_attributes

_RAW_RESPONSE_HEADER = "X-Stainless-Raw-Response"

ACCEPTS_STREAM_OPTIONS = frozenset(
    {
        "openai",
        "azure.ai.openai",
        "x_ai",
        "groq",
        "deepseek",
        "mistral_ai",
        "openrouter",
        "together",
        "cerebras",
        "fireworks",
    }
)
"""Providers known to accept ``stream_options.include_usage`` (``auto`` injects only there)."""

_switch = Switch()
_include_usage: bool | str = "auto"
_wrapped: list[tuple[Any, str]] = []


def _is_set(value: Any) -> bool:
    return value is not None and type(value).__name__ not in ("NotGiven", "Omit")


def _raw_response_call(kwargs: Mapping[str, Any]) -> bool:
    headers = kwargs.get("extra_headers")
    return isinstance(headers, Mapping) and _RAW_RESPONSE_HEADER in headers


def _usage_numbers(usage: Any) -> dict[str, int | None]:
    """Chat (prompt/completion) or Responses (input/output) usage in one shape."""
    u = _fields(usage)
    prompt = as_int(u.get("prompt_tokens"))
    if prompt is None:
        prompt = as_int(u.get("input_tokens"))
    completion = as_int(u.get("completion_tokens"))
    if completion is None:
        completion = as_int(u.get("output_tokens"))
    in_details = _fields(u.get("prompt_tokens_details") or u.get("input_tokens_details"))
    out_details = _fields(u.get("completion_tokens_details") or u.get("output_tokens_details"))
    return {
        "input_tokens": prompt,
        "output_tokens": completion,
        "cache_read": as_int(in_details.get("cached_tokens")),
        "cache_creation": as_int(in_details.get("cache_write_tokens")),
        "reasoning": as_int(out_details.get("reasoning_tokens")),
    }


_MISSING = object()
_ATTR, _FIELDS, _KEY = 0, 1, 2
_USAGE_NAMES = (
    "prompt_tokens",
    "input_tokens",
    "completion_tokens",
    "output_tokens",
    "prompt_tokens_details",
    "input_tokens_details",
    "completion_tokens_details",
    "output_tokens_details",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "audio_tokens",
    "image_tokens",
    "accepted_prediction_tokens",
    "rejected_prediction_tokens",
)
"""Every name the usage readers here look up (:func:`_fields` is valid for these)."""
_NO_FIELDS: Mapping[str, Any] = MappingProxyType({})
_kinds: dict[type, int] = {}
"""Class -> how :func:`_fields` reads its instances (bounded)."""


def _read_kind(cls: type, name: str) -> int:
    if issubclass(cls, Mapping):
        return _KEY
    try:
        from pydantic import BaseModel
    except ImportError:  # pragma: no cover - the OpenAI SDK depends on pydantic
        return _ATTR
    if (
        issubclass(cls, BaseModel)
        and getattr(cls, "__getattr__", None) is getattr(BaseModel, "__getattr__", None)
        and not name.startswith("_")
        and not hasattr(cls, name)
    ):
        return _FIELDS
    return _ATTR


def _class_kind(cls: type) -> int:
    kinds = {_read_kind(cls, name) for name in _USAGE_NAMES}
    return kinds.pop() if len(kinds) == 1 else _ATTR


class _Attributes:
    """``get`` as ``getattr(obj, name, None)``: any other object's fields."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def get(self, name: str) -> Any:
        return getattr(self.obj, name, None)


def _fields(obj: Any) -> Any:
    """Something whose ``get(name)`` is ``field(obj, name)`` (a mapping's key, else
    ``getattr(obj, name, None)``) for the names in :data:`_USAGE_NAMES`, without what a
    pydantic model pays per field it does not have (two Python-level ``__getattr__``
    hooks and an ``AttributeError``): a model's fields live in its ``__dict__``, what the
    API sent beyond them in ``__pydantic_extra__``, which is where pydantic's own
    ``__getattr__`` looks. A model without extras is read through its ``__dict__``
    itself (nothing allocated); None has no fields."""
    if obj is None:
        return _NO_FIELDS
    cls = type(obj)
    kind = _kinds.get(cls)
    if kind is None:
        kind = _class_kind(cls)
        if len(_kinds) >= 256:
            _kinds.clear()
        _kinds[cls] = kind
    if kind == _FIELDS:
        extra = obj.__pydantic_extra__
        return {**extra, **obj.__dict__} if extra else obj.__dict__
    if kind == _KEY:
        return obj
    return _Attributes(obj)


def _has_usage_kinds(in_details: Any, out_details: Any) -> bool:
    """Whether :func:`openai_usage_attributes` has anything to set (it sets only counts
    above zero: a usage whose details carry none of them is not walked again)."""
    return bool(
        in_details.get("audio_tokens")
        or in_details.get("image_tokens")
        or out_details.get("audio_tokens")
        or out_details.get("accepted_prediction_tokens")
        or out_details.get("rejected_prediction_tokens")
    )


def _add_cache_creation(span: Span, usage: Any) -> None:
    """Cache-creation tokens, and the usage kinds of :func:`openai_usage_attributes`
    (audio, image, prediction tokens, priced apart)."""
    u = _fields(usage)
    if u is usage:  # a mapping: the pricing reader reads it all
        extras = openai_usage_attributes(usage)
        if extras:
            span.set_attributes(extras)
        return
    details = _fields(u.get("prompt_tokens_details") or u.get("input_tokens_details"))
    created = details.get("cache_write_tokens")
    if isinstance(created, int) and created > 0:
        span.set_attribute(semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, created)
    out_details = _fields(u.get("completion_tokens_details") or u.get("output_tokens_details"))
    if _has_usage_kinds(details, out_details):
        extras = openai_usage_attributes(usage)
        if extras:
            span.set_attributes(extras)


class _ChatTap:
    """Chat completion chunks: usage, streamed characters, hiding what was not asked for."""

    __slots__ = ("chars", "hide_usage", "messages", "span", "usage")

    def __init__(self, span: Span, messages: Any, hide_usage: bool) -> None:
        self.span = span
        self.messages = messages
        self.hide_usage = hide_usage
        self.usage: Any = None
        self.chars = 0

    def on_item(self, chunk: Any) -> bool:
        usage = getattr(chunk, "usage", None)
        choices = getattr(chunk, "choices", None) or ()
        if usage is not None:
            self.usage = usage
        if self.hide_usage:
            if usage is not None:
                if not choices:
                    return False
                chunk.usage = None
            fields_set = getattr(chunk, "__pydantic_fields_set__", None)
            if fields_set is not None:
                fields_set.discard("usage")
        for choice in choices:
            delta = getattr(choice, "delta", None)
            if delta is None:
                continue
            content = getattr(delta, "content", None)
            if content:
                self.chars += len(content)
            for call in getattr(delta, "tool_calls", None) or ():
                arguments = getattr(getattr(call, "function", None), "arguments", None)
                if arguments:
                    self.chars += len(arguments)
        return True

    def on_end(self) -> None:
        span = self.span
        if not span.is_recording():
            return
        if self.usage is not None:
            if self.hide_usage:
                n = _usage_numbers(self.usage)
                set_usage(
                    span,
                    input_tokens=n["input_tokens"],
                    output_tokens=n["output_tokens"],
                    cache_read=n["cache_read"],
                    cache_creation=n["cache_creation"],
                    reasoning=n["reasoning"],
                )
                u = _fields(self.usage)
                if u is self.usage or _has_usage_kinds(
                    _fields(u.get("prompt_tokens_details") or u.get("input_tokens_details")),
                    _fields(u.get("completion_tokens_details") or u.get("output_tokens_details")),
                ):
                    extras = openai_usage_attributes(self.usage)
                    if extras:
                        span.set_attributes(extras)
            else:
                _add_cache_creation(span, self.usage)
            return
        set_estimated_usage(span, self.chars, self.messages)


class _ResponsesTap:
    """Responses API events: estimate only when no final response carried usage."""

    __slots__ = ("chars", "input", "instructions", "span", "usage_seen")

    def __init__(self, span: Span, input_: Any, instructions: Any) -> None:
        self.span = span
        self.input = input_
        self.instructions = instructions
        self.usage_seen = False
        self.chars = 0

    def on_item(self, event: Any) -> bool:
        kind = getattr(event, "type", None)
        if kind == "response.output_text.delta":
            delta = getattr(event, "delta", None)
            if isinstance(delta, str):
                self.chars += len(delta)
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            usage = getattr(getattr(event, "response", None), "usage", None)
            if usage is not None:
                self.usage_seen = True
                _add_cache_creation(self.span, usage)
        return True

    def on_end(self) -> None:
        if self.usage_seen or not self.span.is_recording():
            return
        instructions = self.instructions if isinstance(self.instructions, str) else None
        set_estimated_usage(self.span, self.chars, self.input, instructions)


# --- per-call logic ---------------------------------------------------------------------


class _Call:
    """One call's additions: prepared before the SDK call, applied to its result."""

    __slots__ = ("hide_usage", "kind", "kwargs", "span", "streaming")

    def __init__(self, kind: str, span: Span, kwargs: dict[str, Any], streaming: bool) -> None:
        self.kind = kind
        self.span = span
        self.kwargs = kwargs
        self.streaming = streaming
        self.hide_usage = False


def _inject_usage(instance: Any) -> bool:
    """Whether to ask this endpoint for a usage chunk (``OTEL_LLM_STREAM_INCLUDE_USAGE``)."""
    if _include_usage != "auto":
        return bool(_include_usage)
    url = client_base_url(instance)
    if url is None:
        return False
    key = str(url)
    known = _accepts.get(key)
    if known is None:
        endpoint = providers.resolve(key, "openai")
        known = not endpoint.unresolved and endpoint.provider in ACCEPTS_STREAM_OPTIONS
        if len(_accepts) >= 256:
            _accepts.clear()
        _accepts[key] = known
    return known


_accepts: dict[str, bool] = {}
"""Base URL -> whether ``auto`` injects there (bounded; OTEL_LLM_PROVIDER_HOSTS is read
once, at the first call)."""


def _prepare(kind: str, instance: Any, kwargs: dict[str, Any]) -> _Call | None:
    span = current_genai_span(embedding=kind == "embeddings", remember=True)
    if span is None:
        return None
    streaming = kind != "embeddings" and kwargs.get("stream") is True
    set_start_attributes(span, instance, streaming)
    call = _Call(kind, span, kwargs, streaming)
    if kind == "chat" and streaming and _inject_usage(instance) and not _raw_response_call(kwargs):
        options = kwargs.get("stream_options")
        asked = isinstance(options, Mapping) and options.get("include_usage") is True
        if not asked:
            if not _is_set(options) and not _is_set(kwargs.get("extra_body")):
                # the same request body: the SDK merges extra_body as it is, where a
                # stream_options argument goes through its TypedDict transform first
                call.kwargs = {**kwargs, "extra_body": {"stream_options": {"include_usage": True}}}
            else:
                merged = dict(options) if isinstance(options, Mapping) else {}
                merged["include_usage"] = True
                call.kwargs = {**kwargs, "stream_options": merged}
            call.hide_usage = True
    return call


def _on_result(call: _Call, result: Any, is_async: bool) -> Any:
    span = call.span
    if call.streaming:
        if not hasattr(result, "response") or not hasattr(result, "close"):
            return result  # with_raw_response and friends: leave them alone
        set_request_id(span, stream_request_id(result))
        tap: Any
        fast = False
        if call.kind == "chat":
            tap = _ChatTap(span, call.kwargs.get("messages"), call.hide_usage)
            fast = _fastpath.use_for_new_stream()
        else:
            tap = _ResponsesTap(span, call.kwargs.get("input"), call.kwargs.get("instructions"))
        if is_async:
            return TappedAsyncStream(result, tap, fast=fast)
        return TappedStream(result, tap, fast=fast)
    set_request_id(span, getattr(result, "_request_id", None))
    if call.kind != "embeddings":
        usage = getattr(result, "usage", None)
        if usage is not None:
            _add_cache_creation(span, usage)
    return result


def _wrappers(kind: str) -> tuple[Wrapper, Wrapper]:
    """The sync and async ``create`` wrappers of one call type."""

    def prepare(instance: Any, kwargs: dict[str, Any]) -> _Call | None:
        return _prepare(kind, instance, kwargs)

    return call_wrappers("openai", _switch, prepare, _on_result)


_TARGETS: tuple[tuple[str, str, str, bool], ...] = (
    ("openai.resources.chat.completions", "Completions", "chat", False),
    ("openai.resources.chat.completions", "AsyncCompletions", "chat", True),
    ("openai.resources.responses.responses", "Responses", "responses", False),
    ("openai.resources.responses.responses", "AsyncResponses", "responses", True),
    ("openai.resources.embeddings", "Embeddings", "embeddings", False),
    ("openai.resources.embeddings", "AsyncEmbeddings", "embeddings", True),
)


def available() -> bool:
    try:
        import openai  # noqa: F401
    except ImportError:
        return False
    return True


def install(*, stream_include_usage: bool | str = "auto") -> None:
    """Install our wrappers (before the official instrumentor wraps on top of them). A
    resource module the application has not imported yet is wrapped on its import
    (:mod:`otel_llm.genai._deferred`): a chat-only service never loads the others."""
    from wrapt import wrap_function_wrapper

    global _include_usage
    _include_usage = stream_include_usage
    _accepts.clear()
    for module_name, cls_name, kind, is_async in _TARGETS:
        sync_wrapper, async_wrapper = _wrappers(kind)
        wrapper = async_wrapper if is_async else sync_wrapper

        def apply(module: Any, cls_name: str = cls_name, wrapper: Wrapper = wrapper) -> None:
            cls = getattr(module, cls_name, None)
            if cls is None or not hasattr(cls, "create"):
                return
            wrap_function_wrapper(module, f"{cls_name}.create", wrapper)
            _wrapped.append((cls, "create"))

        _deferred.wrap_when_imported(module_name, apply)
    _fastpath.install("openai")
    _switch.on = True


def uninstall() -> None:
    """Remove our wrappers (after the official instrumentor removed its own), and any
    still waiting for an import."""
    _deferred.cancel("openai")
    remove_wrappers(_switch, _wrapped)
    _fastpath.uninstall("openai")
