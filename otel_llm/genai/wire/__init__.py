"""The wire-format layer: LLM API calls recognised at the HTTP client, whatever SDK made them.

Every Python LLM client we cover ends in ``httpx`` or ``httpx2`` ``Client.send`` /
``AsyncClient.send``; we wrap those (outside the OpenTelemetry HTTP client span, which
the transports make). A POST whose path is an LLM API route (:func:`route`) is read as
it passes:

- the request body (already in memory: the SDKs serialise it before sending) for the
  model, the stream flag and, for an estimate, the prompt's text;
- the response: a JSON body that ``send`` has read anyway, or an SSE stream read chunk by
  chunk as the caller reads it (the caller's bytes are never changed or held back;
  at most one SSE event, bounded by ``MAX_SSE_EVENT``, is buffered);
- usage through genai-prices' ``Provider.extract_usage`` for the endpoint's provider and
  API flavor (the format's home provider when the endpoint's has no extractor for it),
  which also normalises provider quirks (xAI's reasoning tokens outside
  ``completion_tokens``).

Provider: :func:`otel_llm.providers.resolve` (endpoint first, never the SDK's word alone).

Two modes per call:

- **enrich**: an official GenAI instrumentation's span is open (openai, anthropic SDKs):
  we set the endpoint's provider, ``server.port`` and, when the response carries it, the
  provider's cost (OpenRouter), the normalised usage (xAI) and, on Azure, the model
  behind the deployment. No second span.
- **own span**: no GenAI span is open (litellm's own HTTP path, google-genai >= 3,
  mistralai, cohere, groq SDKs, any gateway client): we make the GenAI client span
  ``{operation} {model}`` (kind CLIENT) around the HTTP call, with the contract's
  attributes, and end it when the body has been read, or the stream drained, closed or
  broken off.

A stream that ends without usage gets estimated counts (``otel_llm.usage.estimated``; see
``spec/vectors/wire/README.md`` for the exact rule) so a known model is still priced. A
body we cannot read (not JSON, unknown shape, truncated, too large) leaves the call
untouched: the span gets ``otel_llm.usage.missing=true`` and ``otel_llm.wire.error``
(the reason), and ``otel_llm_wire_parse_errors_total{format,reason}`` counts it. Nothing
raised in here reaches the caller.
"""

from __future__ import annotations

import functools
import logging
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from timeit import default_timer
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from otel_llm import providers, semconv
from otel_llm._imports import when_imported
from otel_llm.genai._common import PROVIDER_REQUEST_ID as _PROVIDER_REQUEST_ID
from otel_llm.genai._common import (
    Switch,
    current_genai_span,
    remove_wrappers,
    request_id_from_headers,
    tokens_for_chars,
)
from otel_llm.genai.wire._base import (
    MAX_JSON_BODY,
    Extractor,
    Request,
    Result,
    SSEReader,
    Usage,
    extracted,
    loads,
)
from otel_llm.genai.wire.anthropic_messages import MESSAGES
from otel_llm.genai.wire.cohere_chat import COHERE_CHAT
from otel_llm.genai.wire.gemini import GEMINI
from otel_llm.genai.wire.openai_chat import CHAT, COMPLETIONS, EMBEDDINGS
from otel_llm.genai.wire.openai_responses import RESPONSES

__all__ = [
    "PARSE_ERRORS_HELP",
    "PARSE_ERRORS_METRIC",
    "USAGE_MISSING",
    "WIRE_ERROR",
    "install",
    "installed",
    "parse_error_counts",
    "route",
    "uninstall",
]

logger = logging.getLogger("otel_llm.genai.wire")

USAGE_MISSING = "otel_llm.usage.missing"
"""Span attribute: the response carried no usage we could read (and none was estimated)."""
WIRE_ERROR = "otel_llm.wire.error"
"""Span attribute: why the response could not be read (``not_json``, ``unknown_shape``,
``truncated``, ``too_large``, ``undecodable``)."""
AZURE_DEPLOYMENT = "otel_llm.azure.deployment"
"""Span attribute: the Azure OpenAI deployment name from the URL (not a model name)."""
PARSE_ERRORS_METRIC = "otel_llm_wire_parse_errors_total"
PARSE_ERRORS_HELP = (
    "LLM API responses the wire layer could not read (the call was not affected; its span "
    "has otel_llm.usage.missing or an estimate)"
)

_switch = Switch()
_wrapped: list[tuple[Any, str]] = []
_lock = threading.Lock()
_state: dict[str, Any] = {"tracer": None, "counter": None, "generation": 0, "modules": []}
_counts: dict[tuple[str, str], int] = {}
_logged: set[tuple[str, str]] = set()


def route(path: str) -> Any:
    """The API format of a POST to ``path``, or None when it is no LLM API route."""
    if path.endswith("/chat/completions"):
        return CHAT
    if path.endswith("/responses"):
        return RESPONSES
    if path.endswith("/v1/messages"):
        return MESSAGES
    if path.endswith("/embeddings"):
        return EMBEDDINGS
    if path.endswith("/completions"):
        return COMPLETIONS
    if ":generateContent" in path or ":streamGenerateContent" in path:
        return GEMINI
    if path.endswith("/v2/chat"):
        return COHERE_CHAT
    return None


def parse_error_counts() -> dict[tuple[str, str], int]:
    """(format, reason) -> responses we could not read, since start."""
    return dict(_counts)


def _count_error(fmt: str, reason: str) -> None:
    with _lock:
        _counts[(fmt, reason)] = _counts.get((fmt, reason), 0) + 1
        first = (fmt, reason) not in _logged
        _logged.add((fmt, reason))
    counter = _state["counter"]
    if counter is not None:
        counter.labels(fmt, reason).inc()
    if first:
        logger.warning(
            "otel-llm: could not read a %s response (%s); the call was not affected, its "
            "span has %s=true (logged once, counted in %s)",
            fmt,
            reason,
            USAGE_MISSING,
            PARSE_ERRORS_METRIC,
        )


def _extractor(endpoint: providers.Endpoint, fmt: Any) -> Extractor:
    """genai-prices' usage extractor for the endpoint's provider and the format's flavor."""
    for pid in (endpoint.price_id, fmt.home):
        prov = providers.provider_by_id(pid)
        if prov is not None and any(e.api_flavor == fmt.flavor for e in prov.extractors or ()):
            return functools.partial(extracted, prov, fmt.flavor)
    return _no_usage


def _no_usage(data: Any) -> Usage | None:
    return None


_extractors: dict[tuple[str | None, str], Extractor] = {}


def _extractor_for(endpoint: providers.Endpoint, fmt: Any) -> Extractor:
    key = (endpoint.price_id, fmt.name)
    found = _extractors.get(key)
    if found is None:
        found = _extractor(endpoint, fmt)
        if len(_extractors) < 256:
            _extractors[key] = found
    return found


_ENRICH_BODY = frozenset({"openrouter", "x-ai", "azure"})
"""Providers whose JSON body adds something the official span lacks (cost, reasoning
tokens inside output, the model behind an Azure deployment)."""


class _Call:
    __slots__ = (
        "done",
        "endpoint",
        "extract",
        "first_chunk",
        "fmt",
        "own",
        "request",
        "result",
        "span",
        "start",
        "token",
    )

    def __init__(
        self,
        fmt: Any,
        span: Span,
        own: bool,
        endpoint: providers.Endpoint,
        request: Request | None,
    ) -> None:
        self.fmt = fmt
        self.span = span
        self.own = own
        self.endpoint = endpoint
        self.request = request
        self.extract = _extractor_for(endpoint, fmt)
        self.result = Result()
        self.start = default_timer()
        self.first_chunk = True
        self.done = False
        self.token: object | None = None


def _body(request: Any) -> Any:
    try:
        content = request.content
    except Exception:  # a streamed request body: not read here
        return None
    if not content or len(content) > MAX_JSON_BODY:
        return None
    return loads(content)


def _begin(request: Any) -> _Call | None:
    if not _switch.on or request.method != "POST":
        return None
    url = request.url
    path = url.path
    fmt = route(path)
    if fmt is None:
        _correct_provider(url, path)
        return None
    host = url.host
    port = url.port
    endpoint = providers.resolve_host(host, port, path, fmt.sdk_provider)
    if port is None:
        port = 443 if url.scheme == "https" else 80
    official = current_genai_span(embedding=fmt.operation == "embeddings")
    if official is not None:
        # only what differs: setting an attribute costs more than reading it
        present = getattr(official, "attributes", None) or {}
        if present.get(semconv.GEN_AI_PROVIDER_NAME) != endpoint.provider:
            official.set_attribute(semconv.GEN_AI_PROVIDER_NAME, endpoint.provider)
        if semconv.SERVER_PORT not in present:
            official.set_attribute(semconv.SERVER_PORT, port)
        if endpoint.unresolved:
            official.set_attribute(providers.UNRESOLVED, True)
        if _may_stream(request, path) and request.headers.get("x-stainless-raw-response"):
            # with_raw_response / with_streaming_response streams bypass the SDK layer's
            # usage handling: read the stream here and fill in what the span lacks
            info = fmt.request(_body(request), path)
            if info.stream:
                return _Call(fmt, official, False, endpoint, info)
        if endpoint.price_id not in _ENRICH_BODY:
            return None
        return _Call(fmt, official, False, endpoint, None)
    info = fmt.request(_body(request), path)
    model = info.model
    attrs: dict[str, Any] = {
        semconv.GEN_AI_OPERATION_NAME: fmt.operation,
        semconv.GEN_AI_PROVIDER_NAME: endpoint.provider,
        semconv.SERVER_ADDRESS: host,
        semconv.SERVER_PORT: port,
    }
    if endpoint.price_id == "azure":
        deployment = _azure_deployment(path)
        if deployment is not None:
            attrs[AZURE_DEPLOYMENT] = deployment
            model = model or deployment
    if model is not None:
        attrs[semconv.GEN_AI_REQUEST_MODEL] = model
    if info.stream:
        attrs[semconv.GEN_AI_REQUEST_STREAM] = True
    if endpoint.unresolved:
        attrs[providers.UNRESOLVED] = True
    tracer = _state["tracer"] or trace.get_tracer("otel_llm.genai.wire")
    name = f"{fmt.operation} {model}" if model else fmt.operation
    span = tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attrs)
    call = _Call(fmt, span, True, endpoint, info)
    call.token = otel_context.attach(trace.set_span_in_context(span))
    return call


def _may_stream(request: Any, path: str) -> bool:
    """False when the request cannot be a stream: a JSON body without the key ``"stream"``
    (Gemini streams by path). A cheap check before the header lookup, which scans every
    header of the request (and on a fresh request decodes them all first)."""
    if "stream" in path:
        return True
    try:
        content = request.content
    except Exception:  # a streamed request body: decide by the header
        return True
    return b'"stream"' in content


def _correct_provider(url: Any, path: str) -> None:
    """An SDK span open over a route of no format we read (AnthropicBedrock's
    ``/model/{id}/invoke``, Vertex's ``:rawPredict``): its provider still comes from
    the endpoint."""
    official = current_genai_span()
    if official is None:
        return
    attrs = getattr(official, "attributes", None) or {}
    sdk = attrs.get(semconv.GEN_AI_PROVIDER_NAME) or attrs.get(semconv.GEN_AI_SYSTEM)
    if not isinstance(sdk, str):
        return
    endpoint = providers.resolve_host(url.host, url.port, path, sdk)
    if endpoint.provider != sdk:
        official.set_attribute(semconv.GEN_AI_PROVIDER_NAME, endpoint.provider)
    if endpoint.unresolved:
        official.set_attribute(providers.UNRESOLVED, True)


def _azure_deployment(path: str) -> str | None:
    marker = "/deployments/"
    at = path.find(marker)
    if at < 0:
        return None
    name = path[at + len(marker) :].split("/", 1)[0]
    return name or None


def _detach(call: _Call) -> None:
    if call.token is not None:
        try:
            otel_context.detach(call.token)  # type: ignore[arg-type]
        except Exception:
            logger.debug("otel-llm: context detach failed", exc_info=True)
        call.token = None


def _record_error(span: Span, exc: BaseException) -> None:
    """A call that raised: ``error.type`` is the exception's class, the status its text."""
    span.set_attribute(semconv.ERROR_TYPE, type(exc).__qualname__)
    span.set_status(Status(StatusCode.ERROR, str(exc)[:200]))


def _fail(call: _Call, exc: BaseException) -> None:
    _detach(call)
    if call.own and not call.done:
        call.done = True
        _record_error(call.span, exc)
        call.span.end()


def _respond(call: _Call, response: Any, module: Any) -> None:
    _detach(call)
    span = call.span
    headers = response.headers
    if call.own:
        rid = request_id_from_headers(headers)
        if rid is not None:
            span.set_attribute(_PROVIDER_REQUEST_ID, rid)
        status = response.status_code
        if status >= 400:
            span.set_attribute(semconv.ERROR_TYPE, str(status))
            span.set_status(Status(StatusCode.ERROR))
            call.done = True
            span.end()
            return
    if hasattr(response, "_content"):  # read by send(): JSON (or a whole SSE body)
        _read_whole(call, response.content, headers)
        _finish(call)
        return
    if not call.own and (call.request is None or not call.request.stream):
        return  # a stream under an SDK span: the SDK layer reads it
    encoding = headers.get("content-encoding", "").strip().lower()
    decoder = None
    if encoding not in ("", "identity"):
        try:
            decoder = module._decoders.SUPPORTED_DECODERS[encoding]()
        except Exception:
            call.result.error = "undecodable"
            _finish(call)
            return
    sse = "text/event-stream" in headers.get("content-type", "")
    tap = _taps(module)
    stream = response.stream
    if isinstance(stream, module.AsyncByteStream):
        response.stream = tap[1](stream, call, sse, decoder)
    else:
        response.stream = tap[0](stream, call, sse, decoder)


def _read_whole(call: _Call, content: bytes, headers: Any) -> None:
    result = call.result
    if "text/event-stream" in headers.get("content-type", ""):
        reader = SSEReader()
        _feed_events(call, reader, reader.feed(content))
        _end_events(call, reader)
        return
    if len(content) > MAX_JSON_BODY:
        result.error = "too_large"
        return
    data = loads(content)
    if data is None:
        result.error = "not_json" if content.strip() else "empty"
        return
    call.fmt.parse_json(data, result, call.extract)
    if result.events == 0:
        result.error = "unknown_shape"


def _feed_events(call: _Call, reader: SSEReader, events: Any) -> None:
    result = call.result
    for event, data in events:
        if data == "[DONE]":
            result.state["done"] = True
            continue
        obj = loads(data)
        if obj is None:
            result.error = "not_json"
            continue
        call.fmt.on_event(event, obj, result, call.extract)
    if reader.overflow:
        result.error = "too_large"


def _end_events(call: _Call, reader: SSEReader) -> None:
    """The stream's end: an event left without its blank line means it was cut off."""
    for _event, data in reader.end():
        obj = loads(data)
        if obj is not None:
            call.fmt.on_event(_event, obj, call.result, call.extract)
    if reader.partial:
        call.result.error = "truncated"


def _finish(call: _Call, broken: bool = False) -> None:
    if call.done:
        return
    call.done = True
    span = call.span
    result = call.result
    request = call.request
    streaming = request is not None and request.stream
    attrs: dict[str, Any] = {}
    if result.model is not None:
        attrs[semconv.GEN_AI_RESPONSE_MODEL] = result.model
        if call.endpoint.price_id == "azure":
            # a deployment name is no model: label the call by the model behind it
            attrs[semconv.GEN_AI_REQUEST_MODEL] = result.model
            span.update_name(f"{call.fmt.operation} {result.model}")
    # under an SDK span: only what it lacks
    has = {} if call.own else (getattr(span, "attributes", None) or {})
    if result.response_id is not None and semconv.GEN_AI_RESPONSE_ID not in has:
        attrs[semconv.GEN_AI_RESPONSE_ID] = result.response_id
    if result.finish_reasons and semconv.GEN_AI_RESPONSE_FINISH_REASONS not in has:
        attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] = result.finish_reasons
    usage = result.usage
    has_usage = semconv.GEN_AI_USAGE_INPUT_TOKENS in has
    if usage is not None and (call.own or not has_usage or not streaming):
        _usage_attrs(attrs, usage)
    elif has_usage:
        pass
    elif streaming and result.events > 0 and request is not None:
        attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] = request.estimate_input()
        attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] = tokens_for_chars(result.output_chars)
        attrs[semconv.OTEL_LLM_TOKENS_ESTIMATED] = True
        if broken or not result.finish_reasons:
            result.error = result.error or "truncated"
    elif call.own:
        attrs[USAGE_MISSING] = True
        result.error = result.error or "unknown_shape"
    if result.cost is not None:
        attrs[semconv.GEN_AI_USAGE_COST_AMOUNT] = result.cost
        attrs[semconv.GEN_AI_USAGE_COST_CURRENCY] = "USD"
        attrs[semconv.GEN_AI_USAGE_COST_SOURCE] = "provider"
    if result.error is not None:
        attrs[WIRE_ERROR] = result.error
        _count_error(call.fmt.name, result.error)
    if attrs and span.is_recording():
        span.set_attributes(attrs)
    if call.own:
        span.end()


def _usage_attrs(attrs: dict[str, Any], usage: Usage) -> None:
    if usage.input is not None:
        attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] = usage.input
    if usage.output is not None:
        attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] = usage.output
    if usage.cache_read:
        attrs[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = usage.cache_read
    if usage.cache_creation:
        attrs[semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] = usage.cache_creation
    if usage.reasoning:
        attrs[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = usage.reasoning


# --- stream taps --------------------------------------------------------------------


class _Feeder:
    """Reads a response body as it passes: SSE events, or a bounded JSON buffer."""

    __slots__ = ("call", "chunks", "decoder", "reader", "size", "sse")

    def __init__(self, call: _Call, sse: bool, decoder: Any) -> None:
        self.call = call
        self.sse = sse
        self.decoder = decoder
        self.reader = SSEReader() if sse else None
        self.chunks: list[bytes] = []
        self.size = 0

    def feed(self, chunk: bytes) -> None:
        call = self.call
        if call.done:
            return
        try:
            if self.decoder is not None:
                chunk = self.decoder.decode(chunk)
            if call.first_chunk and chunk:
                call.first_chunk = False
                call.span.set_attribute(
                    semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, default_timer() - call.start
                )
            if self.reader is not None:
                _feed_events(call, self.reader, self.reader.feed(chunk))
            elif self.size <= MAX_JSON_BODY:
                self.size += len(chunk)
                self.chunks.append(chunk)
        except Exception:
            logger.debug("otel-llm: wire tap failed; telemetry skipped", exc_info=True)

    def end(self, broken: bool) -> None:
        call = self.call
        if call.done:
            return
        try:
            if self.decoder is not None:
                self.feed(self.decoder.flush())
            if self.reader is not None:
                _end_events(call, self.reader)
            elif self.size > MAX_JSON_BODY:
                call.result.error = "too_large"
            else:
                content = b"".join(self.chunks)
                _read_whole(call, content, {"content-type": "application/json"})
            _finish(call, broken)
        except Exception:
            logger.debug("otel-llm: wire tap failed at end; telemetry skipped", exc_info=True)
            if call.own and not call.done:
                call.done = True
                call.span.end()


def _make_taps(module: Any) -> tuple[type, type]:
    class SyncTap(module.SyncByteStream):  # type: ignore[misc, name-defined]
        def __init__(self, inner: Any, call: _Call, sse: bool, decoder: Any) -> None:
            self._inner = inner
            self._feeder = _Feeder(call, sse, decoder)

        def __iter__(self) -> Iterator[bytes]:
            feeder = self._feeder
            try:
                for chunk in self._inner:
                    feeder.feed(chunk)
                    yield chunk
            except GeneratorExit:
                raise
            except BaseException as exc:
                _broken(feeder, exc)
                raise
            feeder.end(False)

        def close(self) -> None:
            try:
                self._inner.close()
            finally:
                self._feeder.end(False)

    class AsyncTap(module.AsyncByteStream):  # type: ignore[misc, name-defined]
        def __init__(self, inner: Any, call: _Call, sse: bool, decoder: Any) -> None:
            self._inner = inner
            self._feeder = _Feeder(call, sse, decoder)

        async def __aiter__(self) -> AsyncIterator[bytes]:
            feeder = self._feeder
            try:
                async for chunk in self._inner:
                    feeder.feed(chunk)
                    yield chunk
            except GeneratorExit:
                raise
            except BaseException as exc:
                _broken(feeder, exc)
                raise
            feeder.end(False)

        async def aclose(self) -> None:
            try:
                await self._inner.aclose()
            finally:
                self._feeder.end(False)

    return SyncTap, AsyncTap


def _broken(feeder: _Feeder, exc: BaseException) -> None:
    call = feeder.call
    try:
        if call.own and not call.done:
            _record_error(call.span, exc)
        feeder.end(True)
    except Exception:
        logger.debug("otel-llm: wire tap failed on a broken stream", exc_info=True)


_tap_classes: dict[str, tuple[type, type]] = {}


def _taps(module: Any) -> tuple[type, type]:
    found = _tap_classes.get(module.__name__)
    if found is None:
        found = _tap_classes[module.__name__] = _make_taps(module)
    return found


# --- the send wrappers ----------------------------------------------------------------


def _guarded_begin(request: Any) -> _Call | None:
    try:
        return _begin(request)
    except Exception:
        logger.debug("otel-llm: wire layer skipped a call", exc_info=True)
        return None


def _guarded_respond(call: _Call, response: Any, module: Any) -> None:
    try:
        _respond(call, response, module)
    except Exception:
        logger.debug("otel-llm: wire layer could not read a response", exc_info=True)
        if call.own and not call.done:
            call.done = True
            call.span.end()


def _guarded_fail(call: _Call, exc: BaseException) -> None:
    try:
        _fail(call, exc)
    except Exception:
        logger.debug("otel-llm: wire layer failed on an error", exc_info=True)


def _wrappers(module: Any) -> tuple[Any, Any]:
    def send(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        request = args[0] if args else kwargs.get("request")
        call = _guarded_begin(request) if request is not None else None
        if call is None:
            return wrapped(*args, **kwargs)
        try:
            response = wrapped(*args, **kwargs)
        except BaseException as exc:
            _guarded_fail(call, exc)
            raise
        _guarded_respond(call, response, module)
        return response

    async def async_send(
        wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        request = args[0] if args else kwargs.get("request")
        call = _guarded_begin(request) if request is not None else None
        if call is None:
            return await wrapped(*args, **kwargs)
        try:
            response = await wrapped(*args, **kwargs)
        except BaseException as exc:
            _guarded_fail(call, exc)
            raise
        _guarded_respond(call, response, module)
        return response

    return send, async_send


def _wrap_when_imported(name: str, generation: int) -> Any:
    """The hook that wraps ``name``'s clients once the application imports it."""

    def hook() -> None:
        from wrapt import wrap_function_wrapper

        with _lock:
            module = sys.modules.get(name)
            if _state["generation"] != generation or not _switch.on or module is None:
                return  # uninstalled (or reinstalled) before the import
            if any(owner is module.Client for owner, _ in _wrapped):
                return
            sync_send, async_send = _wrappers(module)
            wrap_function_wrapper(module, "Client.send", sync_send)
            _wrapped.append((module.Client, "send"))
            wrap_function_wrapper(module, "AsyncClient.send", async_send)
            _wrapped.append((module.AsyncClient, "send"))

    return hook


def install(*, tracer_provider: Any = None, registry: Any = None) -> list[str]:
    """Wrap ``send`` of the httpx and httpx2 clients that are installed; returns which.

    A client library the application has not imported yet is wrapped when it is imported
    (:func:`otel_llm._imports.when_imported`), so an unused one is never loaded."""
    with _lock:
        if _switch.on:
            return list(_state["modules"])
        _state["tracer"] = trace.get_tracer("otel_llm.genai.wire", tracer_provider=tracer_provider)
        if registry is not None and _state["counter"] is None:
            from prometheus_client import Counter

            try:
                _state["counter"] = Counter(
                    PARSE_ERRORS_METRIC.removesuffix("_total"),
                    PARSE_ERRORS_HELP,
                    ("format", "reason"),
                    registry=registry,
                )
            except ValueError:
                logger.debug("otel-llm: %s already registered", PARSE_ERRORS_METRIC)
        _state["generation"] += 1
        generation = _state["generation"]
        _switch.on = True
    done = [
        name
        for name in ("httpx", "httpx2")
        if when_imported(name, _wrap_when_imported(name, generation))
    ]
    with _lock:
        _state["modules"] = done
    return done


def installed() -> bool:
    return _switch.on


def uninstall() -> None:
    """Remove the wrappers. Never raises."""
    with _lock:
        _state["generation"] += 1  # hooks still waiting for an import now do nothing
        _state["modules"] = []
        try:
            remove_wrappers(_switch, _wrapped)
        except Exception:
            logger.debug("otel-llm: could not remove the wire wrappers", exc_info=True)
        _state["tracer"] = None
        _state["counter"] = None
