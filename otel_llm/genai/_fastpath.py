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

A chunk of a stream our OpenAI layer tapped goes through our tap, the official chunk
processing and the chunk clock in one fused step (:func:`_chat_step`), its fields read
once.

The no-op chunk metrics are skipped for every stream, also those the official wrappers
read the upstream way (Responses API events, Anthropic's ``messages.stream()`` helper,
chat streams we did not tap): ``InferenceInvocation._on_stream_chunk`` is patched with
the same bookkeeping (:func:`_on_stream_chunk`); their per-read context re-attachment
stays (a Responses event can end the span mid-read).

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

UTIL = "opentelemetry-util-genai"
OPENAI = "opentelemetry-instrumentation-genai-openai"
ANTHROPIC = "opentelemetry-instrumentation-genai-anthropic"

PINNED: dict[str, str] = {UTIL: "1.3b0", OPENAI: "1.3b0", ANTHROPIC: "1.3b0"}
"""Distributions whose internals the fast paths were written and tested against."""

GROUPS: dict[str, tuple[str, ...]] = {"openai": (UTIL, OPENAI), "anthropic": (UTIL, ANTHROPIC)}
"""What each SDK's fast paths read the internals of (the end-of-call path: util-genai)."""

READ_LOGGERS = ("httpcore2.http11", "httpcore2.http2")
"""Loggers that write records while a response body is read."""
_read_loggers = tuple(logging.getLogger(name) for name in READ_LOGGERS)

_patched: dict[str, list[tuple[Any, str, Any]]] = {}
"""Group -> (class or module, attribute, what it had in its own ``__dict__`` or None) to
restore; group ``finish`` is the end-of-call patch both SDK groups share."""

_NOOP_HISTOGRAM: Any = None
_INFERENCE: Any = None
_INFERENCES: frozenset[Any] = frozenset()
"""util-genai's ``InferenceInvocation`` and our lean subclass (``_lean.LeanInference``):
the invocations whose internals the chunk paths below were written against."""
_INFERENCE_DATA: Any = None
_EMPTY_DATA: Any = None
_CONTEXT_KEY: Any = None
_GET_VALUE: Any = None
_APPLY_FINISH: Any = None
_ON_STREAM_CHUNK: Any = None
_SYNC_NEXT: Any = None
_ASYNC_NEXT: Any = None
_CHAT_SYNC: Any = None
_CHAT_ASYNC: Any = None
_CHAT_CHUNK: Any = None
_CHAT_TAP: Any = None
_CHOICE_BUFFER: Any = None
_MESSAGES_SYNC: Any = None
_MESSAGES_ASYNC: Any = None
_SDK_STREAMS: tuple[type, ...] = ()
_ANTHROPIC_WRAPPERS: Any = None
_SNAPSHOT = "current_message_snapshot"


def pinned_versions(group: str = "openai") -> bool:
    """True when every distribution ``group`` relies on is installed at its pinned version."""
    try:
        return all(importlib.metadata.version(d) == PINNED[d] for d in GROUPS[group])
    except (importlib.metadata.PackageNotFoundError, KeyError):
        return False


def active(group: str = "openai") -> bool:
    """True while ``group``'s fast paths are patched in."""
    return bool(_patched.get(group))


def reads_are_logged() -> bool:
    """True when httpcore2 writes DEBUG records during body reads (see module doc)."""
    return any(log.isEnabledFor(logging.DEBUG) for log in _read_loggers)


def use_for_new_stream() -> bool:
    """Whether a chat completion stream starting now may read outside its span's context."""
    return bool(_patched.get("openai")) and not reads_are_logged()


def _on_chunk(invocation: Any, chunk_at: float) -> None:
    """``InferenceInvocation._on_stream_chunk`` without the no-op metric recording.

    Same bookkeeping as upstream 1.3b0: the chunk clock, time to first chunk, and the
    streamed-request flag; the upstream method runs whenever it could record something.
    """
    if type(invocation) not in _INFERENCES:
        invocation._on_stream_chunk(chunk_at)
        return
    instruments = invocation._instruments
    first = invocation._ttfc_seconds is None
    histogram = instruments.time_to_first_chunk if first else instruments.time_per_output_chunk
    if type(histogram) is not _NOOP_HISTOGRAM or not invocation._start_span:
        _ON_STREAM_CHUNK(invocation, chunk_at)
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


def _on_stream_chunk(self: Any, chunk_at: float) -> None:
    """``InferenceInvocation._on_stream_chunk`` for every stream the official wrappers
    read the upstream way (Responses API events, Anthropic's ``messages.stream()``
    helper, chat streams we did not tap): :func:`_on_chunk`, the no-op metric recording
    skipped; a subclass of the invocation keeps upstream's method."""
    if type(self) not in _INFERENCES:
        _ON_STREAM_CHUNK(self, chunk_at)
        return
    _on_chunk(self, chunk_at)


def _apply_finish(self: Any, error: Any = None) -> None:
    """``InferenceInvocation._apply_finish`` of util-genai 1.3b0 without the work that
    cannot change anything while the official instruments are the no-op histograms we
    give them: the three metric recordings (and their attribute dicts), and merging the
    invocation's own context data while nothing was published into it (every field
    None, no attributes: the upstream merge then changes nothing).
    """
    instruments = self._instruments
    if (
        type(self) is not _INFERENCE
        or type(instruments.operation_duration) is not _NOOP_HISTOGRAM
        or type(instruments.token_usage) is not _NOOP_HISTOGRAM
    ):
        _APPLY_FINISH(self, error)
        return
    if error is not None:
        self._apply_error_attributes(error)
    ctx_data = _GET_VALUE(_CONTEXT_KEY, context=self._span_context)
    if isinstance(ctx_data, _INFERENCE_DATA) and not (
        type(ctx_data) is _INFERENCE_DATA and ctx_data == _EMPTY_DATA
    ):
        self.enrich_from_context(ctx_data)
    data = self.data
    data.attributes = self.attributes
    data.metric_attributes = self.metric_attributes
    if self._request_stream is not None:
        data.request_stream = self._request_stream
    attributes: dict[str, Any] = {}
    attributes.update(self._get_attributes())
    attributes.update(self._get_message_attributes(for_span=True))
    attributes.update(self.attributes)
    start_keys = set(self._start_attributes)
    self.span.set_attributes({k: v for k, v in attributes.items() if k not in start_keys})
    log_record = self._maybe_create_event()
    self._call_completion_hook(
        inputs=self.input_messages,
        outputs=self.output_messages,
        system_instruction=self.system_instruction,
        tool_definitions=self.tool_definitions,
        log_record=log_record,
    )
    if log_record is not None:
        self._logger.emit(log_record)


# --- OpenAI chat completion streams ----------------------------------------------------


def _chat_process(self: Any, chunk: Any) -> None:
    """``_ChatStreamMixin._process_chunk`` of genai-openai 1.3b0 in one call (its four
    helpers inlined, the choice buffers filled directly)."""
    if not isinstance(chunk, _CHAT_CHUNK):
        self._process_chunk(chunk)
        return
    if not self._self_response_id and chunk.id:
        self._self_response_id = chunk.id
    data = self._self_invocation.data
    if not data.response_model and chunk.model:
        data.response_model = chunk.model
    if not self._self_service_tier:
        service_tier = getattr(chunk, "service_tier", None)
        if service_tier:
            self._self_service_tier = service_tier
    choices = chunk.choices
    if choices is not None:
        buffers = self._self_choice_buffers
        for choice in choices:
            delta = choice.delta
            if not delta:
                continue
            index = choice.index
            for idx in range(len(buffers), index + 1):
                buffers.append(_CHOICE_BUFFER(idx))
            buffer = buffers[index]
            if choice.finish_reason:
                buffer.finish_reason = choice.finish_reason
            if delta.content is not None:
                buffer.text_content.append(delta.content)
            refusal = getattr(delta, "refusal", None)
            if isinstance(refusal, str):
                buffer.refusal.append(refusal)
            if delta.tool_calls is not None:
                for tool_call in delta.tool_calls:
                    buffer.append_tool_call(tool_call)
    usage = chunk.usage
    if usage is not None:
        self._self_usage = usage


def _chat_step(self: Any, tap: Any, chunk: Any) -> bool:
    """Our chat tap's ``on_item``, ``_chat_process`` and ``_on_chunk`` for one chunk in one
    call, reading the chunk's fields once; False when the tap hides the chunk (the
    official wrapper never sees it). For an exact ``ChatCompletionChunk`` read by the
    exact ``ChatStreamWrapper``/``AsyncChatStreamWrapper`` of an ``InferenceInvocation``
    through an exact ``_ChatTap`` (the caller checks the rest); the same state after
    every chunk as the three steps (``tests/unit/test_genai_fastpath.py``)."""
    choices = chunk.choices
    usage = chunk.usage
    try:  # the tap's part; a tap error passes the chunk through
        if usage is not None:
            tap.usage = usage
        if tap.hide_usage:
            if usage is not None:
                if not choices:
                    return False
                chunk.usage = None
                usage = None
            fields_set = getattr(chunk, "__pydantic_fields_set__", None)
            if fields_set is not None:
                fields_set.discard("usage")
    except Exception:
        logger.debug("otel-llm: stream tap failed on an item", exc_info=True)
        usage = chunk.usage
    chunk_at = default_timer()
    if not self._self_response_id and chunk.id:
        self._self_response_id = chunk.id
    invocation = self._self_invocation
    data = invocation.data
    if not data.response_model and chunk.model:
        data.response_model = chunk.model
    if not self._self_service_tier:
        service_tier = getattr(chunk, "service_tier", None)
        if service_tier:
            self._self_service_tier = service_tier
    if choices is not None:
        buffers = self._self_choice_buffers
        chars = 0
        for choice in choices:
            delta = choice.delta
            if not delta:
                continue
            index = choice.index
            for idx in range(len(buffers), index + 1):
                buffers.append(_CHOICE_BUFFER(idx))
            buffer = buffers[index]
            if choice.finish_reason:
                buffer.finish_reason = choice.finish_reason
            content = delta.content
            if content is not None:
                buffer.text_content.append(content)
                if content:
                    chars += len(content)
            refusal = getattr(delta, "refusal", None)
            if isinstance(refusal, str):
                buffer.refusal.append(refusal)
            tool_calls = delta.tool_calls
            if tool_calls is not None:
                for tool_call in tool_calls:
                    arguments = getattr(getattr(tool_call, "function", None), "arguments", None)
                    if arguments:
                        chars += len(arguments)
                    buffer.append_tool_call(tool_call)
        tap.chars += chars
    if usage is not None:
        self._self_usage = usage
    ttfc = invocation._ttfc_seconds
    if (
        ttfc is not None
        and invocation._start_span
        and type(invocation._instruments.time_per_output_chunk) is _NOOP_HISTOGRAM
    ):  # _on_chunk after the first chunk, inlined
        invocation._stream_last_chunk_at = chunk_at
        data.request_stream = True
        data.response_time_to_first_chunk = ttfc
    else:
        _on_chunk(invocation, chunk_at)
    return True


def _chat_next(self: Any) -> Any:
    """``ChatStreamWrapper.__next__``: read outside the invocation's context, end inside;
    through our chat tap, one fused step per chunk (:func:`_chat_step`)."""
    stream = self._self_stream
    if type(stream) is not TappedStream or not stream._self_fast:
        return _SYNC_NEXT(self)
    while True:
        fused = False
        try:
            if self._self_iterator is stream:  # TappedStream.__next__, inlined
                it = stream._self_iter
                if it is None:
                    it = stream._self_iter = iter(stream.__wrapped__)
                tap = stream._self_tap
                fusable = (
                    type(tap) is _CHAT_TAP
                    and type(self) is _CHAT_SYNC
                    and type(self._self_invocation) in _INFERENCES
                )
                while True:
                    try:
                        chunk = next(it)
                    except BaseException:
                        stream._finish()
                        raise
                    if fusable and type(chunk) is _CHAT_CHUNK:
                        fused = True
                        break
                    try:  # a tap error passes the item through
                        if tap.on_item(chunk):
                            break
                    except Exception:
                        logger.debug("otel-llm: stream tap failed on an item", exc_info=True)
                        break
            else:
                chunk = next(self._self_iterator)
        except StopIteration:
            with self._execution_context():
                self._finalize_success()
            raise
        except BaseException as error:
            with self._execution_context():
                self._finalize_failure(error)
            raise
        if fused:
            if _chat_step(self, tap, chunk):
                return chunk
            continue  # hidden by the tap: read the next
        invocation = self._self_invocation
        chunk_at = default_timer()
        if type(self) is _CHAT_SYNC and type(invocation) in _INFERENCES:
            _chat_process(self, chunk)
        else:
            self._process_chunk(chunk)
        if invocation is not None:
            _on_chunk(invocation, chunk_at)
        return chunk


async def _chat_anext(self: Any) -> Any:
    """``AsyncChatStreamWrapper.__anext__``, the async twin of :func:`_chat_next`."""
    stream = self._self_stream
    if type(stream) is not TappedAsyncStream or not stream._self_fast:
        return await _ASYNC_NEXT(self)
    while True:
        fused = False
        try:
            if self._self_aiter is stream:  # TappedAsyncStream.__anext__, inlined
                it = stream._self_iter
                if it is None:
                    it = stream._self_iter = aiter(stream.__wrapped__)
                tap = stream._self_tap
                fusable = (
                    type(tap) is _CHAT_TAP
                    and type(self) is _CHAT_ASYNC
                    and type(self._self_invocation) in _INFERENCES
                )
                while True:
                    try:
                        chunk = await anext(it)
                    except BaseException:
                        stream._finish()
                        raise
                    if fusable and type(chunk) is _CHAT_CHUNK:
                        fused = True
                        break
                    try:  # a tap error passes the item through
                        if tap.on_item(chunk):
                            break
                    except Exception:
                        logger.debug("otel-llm: stream tap failed on an item", exc_info=True)
                        break
            else:
                chunk = await anext(self._self_aiter)
        except StopAsyncIteration:
            with self._execution_context():
                self._finalize_success()
            raise
        except BaseException as error:
            with self._execution_context():
                self._finalize_failure(error)
            raise
        if fused:
            if _chat_step(self, tap, chunk):
                return chunk
            continue  # hidden by the tap: read the next
        invocation = self._self_invocation
        chunk_at = default_timer()
        if type(self) is _CHAT_ASYNC and type(invocation) in _INFERENCES:
            _chat_process(self, chunk)
        else:
            self._process_chunk(chunk)
        if invocation is not None:
            _on_chunk(invocation, chunk_at)
        return chunk


# --- Anthropic message streams ----------------------------------------------------------


def _messages_process(self: Any, chunk: Any) -> None:
    """``_MessagesStreamMixin._process_chunk`` of genai-anthropic 1.3b0 for a plain SDK
    stream (``messages.create(stream=True)``, tapped by us or not): such a stream keeps no
    ``current_message_snapshot``, so the snapshot lookup (a failed attribute lookup
    through two proxies per chunk) is skipped and the event accumulated as upstream does.
    Anything else (the ``messages.stream()`` helper, beta events) takes upstream's method.
    """
    stream = self._self_stream
    sdk = stream.__wrapped__ if type(stream) in (TappedStream, TappedAsyncStream) else stream
    if (
        type(sdk) not in _SDK_STREAMS
        or _SNAPSHOT in sdk.__dict__
        or self._self_is_beta
        or getattr(chunk.__class__, "__module__", "").startswith("anthropic.types.beta")
    ):
        self._process_chunk(chunk)
        return
    module = _ANTHROPIC_WRAPPERS
    accumulate = module.accumulate_event
    if accumulate is None or module._accumulation_disabled:
        return
    kwargs: dict[str, Any] = {"event": chunk, "current_snapshot": self._self_message}
    if module._accumulate_takes_json_bufs:
        kwargs["json_bufs"] = self._self_json_bufs
    try:
        self._self_message = accumulate(**kwargs)
    except BaseException as exc:
        module._accumulation_disabled = True
        if not isinstance(exc, Exception):
            raise
        module._logger.warning(
            "Failed to accumulate streaming content; this Anthropic SDK "
            "version is not supported. Future content accumulation is "
            "suppressed; please upgrade opentelemetry-instrumentation-genai-anthropic "
            "or report an issue.",
            exc_info=True,
        )


def _not_suspended(invocation: Any) -> bool:
    """The official ``_execution_context`` is a null context for this invocation."""
    return type(invocation) in _INFERENCES and not (
        invocation._attach_to_context and invocation._context_token is None
    )


def _messages_next(self: Any) -> Any:
    """``MessagesStreamWrapper.__next__`` (``SyncStreamWrapper._advance``) for an invocation
    that is still attached, where upstream's per-read context is a null context: the same
    steps without the context manager, the read lambda, and the no-op chunk metrics."""
    invocation = self._self_invocation
    if type(self) is not _MESSAGES_SYNC or not _not_suspended(invocation):
        return _SYNC_NEXT(self)
    try:
        chunk = next(self._self_iterator)
    except StopIteration:
        self._finalize_success()
        raise
    except BaseException as error:
        self._finalize_failure(error)
        raise
    chunk_at = default_timer()
    _messages_process(self, chunk)
    _on_chunk(invocation, chunk_at)
    return chunk


async def _messages_anext(self: Any) -> Any:
    """``AsyncMessagesStreamWrapper.__anext__``, the async twin of :func:`_messages_next`."""
    invocation = self._self_invocation
    if type(self) is not _MESSAGES_ASYNC or not _not_suspended(invocation):
        return await _ASYNC_NEXT(self)
    try:
        chunk = await anext(self._self_aiter)
    except StopAsyncIteration:
        self._finalize_success()
        raise
    except BaseException as error:
        self._finalize_failure(error)
        raise
    chunk_at = default_timer()
    _messages_process(self, chunk)
    _on_chunk(invocation, chunk_at)
    return chunk


# --- install ----------------------------------------------------------------------------


def _patch(group: str, cls: Any, name: str, value: Any) -> None:
    _patched.setdefault(group, []).append((cls, name, cls.__dict__.get(name)))
    setattr(cls, name, value)


def _restore(group: str) -> None:
    entries = _patched.pop(group, [])
    while entries:
        cls, name, own = entries.pop()
        try:
            if own is None:
                delattr(cls, name)
            else:
                setattr(cls, name, own)
        except Exception:
            logger.debug("otel-llm: could not restore %s.%s", cls.__name__, name, exc_info=True)


def _install_common() -> None:
    """What every group uses: util-genai's classes and the end-of-call patch."""
    global _NOOP_HISTOGRAM, _INFERENCE, _INFERENCE_DATA, _EMPTY_DATA, _CONTEXT_KEY
    global _GET_VALUE, _APPLY_FINISH, _SYNC_NEXT, _ASYNC_NEXT, _ON_STREAM_CHUNK, _INFERENCES
    if _patched.get("finish"):
        return
    from dataclasses import MISSING, fields

    from opentelemetry.context import get_value
    from opentelemetry.metrics import NoOpHistogram
    from opentelemetry.util.genai.invocation import (
        CLIENT_INFERENCE_CONTEXT_KEY,
        InferenceData,
        InferenceInvocation,
    )
    from opentelemetry.util.genai.stream import AsyncStreamWrapper, SyncStreamWrapper

    # skipping the merge of an untouched context relies on every merged field
    # defaulting to None (true of 1.3b0; checked so a patched build cannot slip by)
    merged = [f for f in fields(InferenceData) if f.name not in _NOT_MERGED]
    if any(f.default is not None or f.default_factory is not MISSING for f in merged):
        raise RuntimeError("InferenceData has fields that do not default to None")
    _NOOP_HISTOGRAM = NoOpHistogram
    _INFERENCE = InferenceInvocation
    _INFERENCES = frozenset({InferenceInvocation})
    _INFERENCE_DATA = InferenceData
    _EMPTY_DATA = InferenceData()
    _CONTEXT_KEY = CLIENT_INFERENCE_CONTEXT_KEY
    _GET_VALUE = get_value
    _APPLY_FINISH = InferenceInvocation.__dict__["_apply_finish"]
    _ON_STREAM_CHUNK = InferenceInvocation.__dict__["_on_stream_chunk"]
    _SYNC_NEXT = SyncStreamWrapper.__next__
    _ASYNC_NEXT = AsyncStreamWrapper.__anext__
    _patch("finish", InferenceInvocation, "_apply_finish", _apply_finish)
    _patch("finish", InferenceInvocation, "_on_stream_chunk", _on_stream_chunk)


_NOT_MERGED = frozenset({"attributes", "metric_attributes", "capture_content", "upload_completion"})


def _install_openai() -> None:
    global _CHAT_SYNC, _CHAT_ASYNC, _CHAT_CHUNK, _CHOICE_BUFFER, _CHAT_TAP
    from openai.types.chat import ChatCompletionChunk
    from opentelemetry.instrumentation.genai.openai.chat_buffers import ChoiceBuffer
    from opentelemetry.instrumentation.genai.openai.chat_wrappers import (
        AsyncChatStreamWrapper,
        ChatStreamWrapper,
    )

    _CHAT_SYNC = ChatStreamWrapper
    _CHAT_ASYNC = AsyncChatStreamWrapper
    _CHAT_CHUNK = ChatCompletionChunk
    _CHOICE_BUFFER = ChoiceBuffer
    from otel_llm.genai.openai import _ChatTap  # loaded: it installs this module's patches

    _CHAT_TAP = _ChatTap
    _patch("openai", ChatStreamWrapper, "__next__", _chat_next)
    _patch("openai", AsyncChatStreamWrapper, "__anext__", _chat_anext)
    # chat completions that do not stream: traced in one step (read by the official
    # instrumentor's ``_instrument`` when it builds its wrappers, which runs after this)
    import opentelemetry.instrumentation.genai.openai as official
    from opentelemetry.instrumentation.genai.openai import patch as patch_module
    from opentelemetry.instrumentation.genai.openai import (
        patch_responses,
        response_extractors,
        utils,
    )

    from otel_llm.genai import _fastchat, _lean

    global _INFERENCES
    _fastchat.bind()
    _lean.bind()
    _INFERENCES = frozenset({_INFERENCE, _lean.LeanInference})
    for name, is_async in _CHAT_FACTORIES:
        factory = getattr(official, name)
        _patch("openai", official, name, _fastchat.chat_factory(factory, is_async))
    # Responses API calls that do not stream: the official wrapper over a lean invocation
    for name in _RESPONSES_FACTORIES:
        _patch("openai", official, name, _lean.responses_factory(getattr(official, name)))
    # the server address and port, remembered per client URL (the official calls and
    # the fallbacks above read them through these module globals)
    for module in (utils, response_extractors):
        _patch("openai", module, "get_server_address_and_port", _fastchat._server)
    # the raw-response protocol checks, answered from the class for the SDK's own results
    _patch("openai", response_extractors, "_parse_raw_response", _fastchat._parse_raw_response)
    for module in (patch_module, patch_responses):
        _patch("openai", module, "wrap_stream_result", _fastchat._wrap_stream_result)


_CHAT_FACTORIES = (
    ("chat_completions_create_v_new", False),
    ("async_chat_completions_create_v_new", True),
)
_RESPONSES_FACTORIES = ("responses_create", "async_responses_create")


def _install_anthropic() -> None:
    global _MESSAGES_SYNC, _MESSAGES_ASYNC, _SDK_STREAMS, _ANTHROPIC_WRAPPERS
    from anthropic import AsyncStream, Stream
    from opentelemetry.instrumentation.genai.anthropic import wrappers
    from opentelemetry.instrumentation.genai.anthropic.wrappers import (
        AsyncMessagesStreamWrapper,
        MessagesStreamWrapper,
    )

    for sdk_stream in (Stream, AsyncStream):  # what makes the snapshot lookup skippable
        if hasattr(sdk_stream, _SNAPSHOT) or hasattr(sdk_stream, "__getattr__"):
            raise RuntimeError(f"{sdk_stream.__name__} may carry a message snapshot")
    _MESSAGES_SYNC = MessagesStreamWrapper
    _MESSAGES_ASYNC = AsyncMessagesStreamWrapper
    _SDK_STREAMS = (Stream, AsyncStream)
    _ANTHROPIC_WRAPPERS = wrappers
    _patch("anthropic", MessagesStreamWrapper, "__next__", _messages_next)
    _patch("anthropic", AsyncMessagesStreamWrapper, "__anext__", _messages_anext)


_INSTALLERS = {"openai": _install_openai, "anthropic": _install_anthropic}


def install(group: str = "openai") -> bool:
    """Patch ``group``'s official wrappers (``openai``: chat completion streams;
    ``anthropic``: message streams) and the shared end of call, if the pinned versions
    are installed. Never raises; returns whether the group's fast paths are on."""
    if _patched.get(group):
        return True
    if not pinned_versions(group):
        logger.debug("otel-llm: %s fast path off (versions differ from %s)", group, PINNED)
        return False
    try:
        _install_common()
        _INSTALLERS[group]()
    except Exception:
        logger.debug("otel-llm: %s fast path not installed", group, exc_info=True)
        uninstall(group)
        return False
    return True


def uninstall(group: str = "openai") -> None:
    """Give ``group``'s official wrappers back their own methods (and util-genai its end
    of call once no group is left). Never raises."""
    _restore(group)
    if not any(entries for name, entries in _patched.items() if name != "finish"):
        _restore("finish")
