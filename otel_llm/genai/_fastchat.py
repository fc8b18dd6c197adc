"""A chat completion that does not stream, traced in one step over the official wrapper.

The official ``opentelemetry-instrumentation-genai-openai`` 1.3b0 traces a chat
completion through util-genai's generic invocation: ``create_chat_invocation`` builds an
``InferenceInvocation`` (a 50-field data object, the span, a context carrying a second
data object), property setters fill it from the request and the response, and at the end
a 40-entry attribute table is walked, filtered and handed to ``Span.set_attributes``,
metrics are recorded into no-op histograms, an event is considered and a no-op
completion hook is called. Measured under otel-llm's defaults, a wrapper that opens and
ends the same span directly costs about 70 µs less per call than that machinery
(``bench/README.md``).

:func:`chat_factory` stands in for the official ``chat_completions_create_v_new``
factories. Its wrapper traces a call itself when everything the machinery does beyond
the span would be a no-op for that call:

- set up by the handler (checked once, when the official instrumentor builds its
  wrappers): no message content captured and no completion hook
  (``handler.should_capture_content()`` false), the metric instruments are the API's
  no-op histograms (otel-llm hands the official package a no-op meter provider; its own
  span processor derives the metrics);
- per call: the request does not stream, no event is to be emitted
  (``OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT``, read per call as upstream reads it), the
  model is a string, and the current context holds no conversation ID and no open
  inference (upstream would suppress this call's span into the outer one).

Any other call goes through the official wrapper unchanged. The span is the one the
official wrapper opens: the same tracer (instrumentation scope), name, kind, start
attributes, a context carrying an ``InferenceData`` (so nested code, our SDK and wire
layers among it, sees an official inference span), and at the end the attributes
``InferenceInvocation._apply_finish`` would set: the request parameters
(``create_chat_invocation``), the response's (``_set_response_properties`` and
``set_chat_usage``), ``error.type`` and an error status on failure. An inner inference
that published into the call's context data is merged as upstream merges it.
``tests/unit/test_genai_fastchat.py`` holds the two paths' spans equal over a matrix of
requests, responses and failures.

One difference is deliberate: upstream re-raises an exception of its own response
handling to the caller; here it is logged and the span ends, and the caller gets the
SDK's result.

Like the other fast paths it reads private internals of the pinned versions
(:data:`otel_llm.genai._fastpath.PINNED`) and is installed only for them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlparse

from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context

from otel_llm.genai._common import client_base_url, put_attributes

logger = logging.getLogger("otel_llm.genai")

OP = "gen_ai.operation.name"
PROVIDER = "gen_ai.provider.name"
REQUEST_MODEL = "gen_ai.request.model"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
ERROR_TYPE = "error.type"
OUTPUT_TYPE = "gen_ai.output.type"
REQUEST_SERVICE_TIER = "openai.request.service_tier"
RESPONSE_SERVICE_TIER = "openai.response.service_tier"
SYSTEM_FINGERPRINT = "openai.response.system_fingerprint"

# InferenceData field -> span attribute, for the fields a chat completion sets, in the
# order of ``InferenceInvocation._get_attributes``; the second group is written only
# when truthy (upstream's ``or None``)
_REQUEST_FIELDS: tuple[tuple[str, str], ...] = (
    ("request_temperature", "gen_ai.request.temperature"),
    ("request_top_p", "gen_ai.request.top_p"),
    ("request_frequency_penalty", "gen_ai.request.frequency_penalty"),
    ("request_presence_penalty", "gen_ai.request.presence_penalty"),
    ("request_max_tokens", "gen_ai.request.max_tokens"),
    ("request_stop_sequences", "gen_ai.request.stop_sequences"),
    ("request_seed", "gen_ai.request.seed"),
)
_RESPONSE_FIELDS: tuple[tuple[str, str], ...] = (
    ("response_finish_reasons", "gen_ai.response.finish_reasons"),
    ("response_model", "gen_ai.response.model"),
    ("response_id", "gen_ai.response.id"),
    ("usage_input_tokens", "gen_ai.usage.input_tokens"),
    ("usage_output_tokens", "gen_ai.usage.output_tokens"),
)
_CHOICE_FIELD = ("request_choice_count", "gen_ai.request.choice.count")
_TRUTHY_FIELDS: tuple[tuple[str, str], ...] = (
    ("usage_cache_write_input_tokens", "gen_ai.usage.cache_write.input_tokens"),
    ("usage_cache_read_input_tokens", "gen_ai.usage.cache_read.input_tokens"),
    ("usage_reasoning_output_tokens", "gen_ai.usage.reasoning.output_tokens"),
    ("usage_audio_input_tokens", "gen_ai.usage.audio.input_tokens"),
    ("usage_audio_output_tokens", "gen_ai.usage.audio.output_tokens"),
)
FIELD_ATTRIBUTES: tuple[tuple[str, str], ...] = (
    *_REQUEST_FIELDS,
    *_RESPONSE_FIELDS,
    _CHOICE_FIELD,
    *_TRUTHY_FIELDS,
)
"""Every (InferenceData field, attribute) this path writes; checked against upstream's
``_get_attributes`` when installed."""
_TRUTHY = frozenset(name for name, _ in _TRUTHY_FIELDS)

_PLAIN = (str, int, float, bool)


class _Upstream:
    """What the pinned packages provide, bound when installed."""

    inference_data: Any = None
    context_key: str = ""
    conversation_key: str = ""
    inference_cls: Any = None
    noop_histogram: Any = None
    should_emit_event: Callable[[Any], bool] | None = None
    is_streaming: Callable[[Any], bool] | None = None
    value_is_set: Callable[[Any], bool] = staticmethod(lambda value: value is not None)
    parsable: Any = None
    wrap_stream_result: Any = None
    parse_raw_response: Any = None
    error_from: Callable[[BaseException], Any] | None = None
    output_type: Callable[[str], str] | None = None
    empty: dict[str, Any] = {}


_up = _Upstream()


def _server(instance: Any) -> tuple[Any, Any]:
    """``get_server_address_and_port`` of the official package, remembered per base URL
    object (an SDK client keeps one, immutable); installed in its place as well."""
    global _server_memo
    url = client_base_url(instance)
    if not url:
        return None, None
    memo = _server_memo
    if url is memo[0]:
        return memo[1]
    address = getattr(url, "host", None)
    port = getattr(url, "port", None)
    if not address:
        parsed = urlparse(str(url))
        address = parsed.hostname
        port = parsed.port
    if port == 443:
        port = None
    found = (address, port)
    _server_memo = (url, found)
    return found


_server_memo: tuple[Any, tuple[Any, Any]] = (None, (None, None))


def _value(v: Any) -> Any:
    """The official ``get_value``: None for unset, ``NotGiven`` and ``Omit``."""
    if v is None or not _up.value_is_set(v):
        return None
    return v


_PLAIN_REQUEST_FIELDS = (
    ("temperature", "request_temperature"),
    ("presence_penalty", "request_presence_penalty"),
    ("frequency_penalty", "request_frequency_penalty"),
    ("seed", "request_seed"),
)
"""Request arguments the official wrapper copies as they are (when set)."""


def _request_fields(
    kwargs: Mapping[str, Any], fields: dict[str, Any], extra: dict[str, Any]
) -> None:
    """``create_chat_invocation`` of genai-openai 1.3b0, into InferenceData field names
    (``fields``) and the invocation's own attributes (``extra``)."""
    get = kwargs.get
    for name, field in _PLAIN_REQUEST_FIELDS:
        value = _value(get(name))
        if value is not None:
            fields[field] = value
    value = _value(get("p") or get("top_p"))
    if value is not None:
        fields["request_top_p"] = value
    max_tokens = _value(get("max_completion_tokens"))
    if max_tokens is None:
        max_tokens = _value(get("max_tokens"))
    extra_body = None
    if max_tokens is None:
        extra_body = _value(get("extra_body"))
        if isinstance(extra_body, Mapping):
            max_tokens = _value(extra_body.get("max_completion_tokens"))
    if max_tokens is not None:
        fields["request_max_tokens"] = max_tokens
    stop = _value(get("stop"))
    if stop is not None:
        fields["request_stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    count = _value(get("n"))
    if isinstance(count, int) and count != 1:
        fields["request_choice_count"] = count
    response_format = _value(get("response_format"))
    if response_format is not None:
        output_type = _up.output_type
        assert output_type is not None
        if isinstance(response_format, type):
            extra[OUTPUT_TYPE] = "json"
        elif isinstance(response_format, Mapping):
            format_type = _value(response_format.get("type"))
            if format_type is not None:
                extra[OUTPUT_TYPE] = output_type(format_type)
        elif isinstance(response_format, str):
            extra[OUTPUT_TYPE] = output_type(response_format)
    tier = _value(get("service_tier"))
    if tier is None:
        if extra_body is None:
            extra_body = _value(get("extra_body"))
        if isinstance(extra_body, Mapping):
            tier = _value(extra_body.get("service_tier"))
    if tier is not None and tier != "auto":
        extra[REQUEST_SERVICE_TIER] = tier


def _property(obj: Any, name: str) -> Any:
    """The official ``get_property_value``."""
    if isinstance(obj, Mapping):
        return obj.get(name, None)
    return getattr(obj, name, None)


def _audio(count: Any) -> Any:
    """What ``set_input_tokens``/``set_output_tokens`` keep of one audio count."""
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        return None
    return count


# --- the raw-response protocol checks, answered from the class --------------------------
#
# The official package tells a ``with_raw_response`` result from a plain one with
# ``isinstance`` against its runtime-checkable protocols (``ParsableResponse``: ``parse``;
# ``RawResponseLike``: also ``http_response``). Against a pydantic model or an SDK stream
# that is a ``hasattr`` per member, each failing through ``__getattr__`` with an
# ``AttributeError`` built and caught: 7-11 µs a check, made once or twice on every call.
# For the SDK's own result classes, which define neither member, the answer is known from
# the class and the instance's own extra fields.

_NO_RAW_CLASSES: dict[type, str] = {}
"""Result class -> where its instances could still carry a member: ``"extra"`` (pydantic
extras), ``"dict"`` (the instance dict), ``"proxy"`` (our stream proxies: ask the wrapped
stream); filled at :func:`bind` with classes checked to define neither member."""
RAW_MEMBERS = ("parse", "http_response")


def lacks_raw_members(result: Any) -> bool:
    """True when ``result`` certainly has neither ``parse`` nor ``http_response``, so
    neither protocol can match it; False when it cannot tell (ask the protocol)."""
    where = _NO_RAW_CLASSES.get(type(result))
    if where is None:
        return False
    if where == "extra":
        extra = result.__pydantic_extra__
        return not extra or not any(name in extra for name in RAW_MEMBERS)
    if where == "dict":
        own = result.__dict__
        return not any(name in own for name in RAW_MEMBERS)
    return lacks_raw_members(result.__wrapped__)


def _parse_raw_response(response: Any, request_kwargs: Any) -> Any:
    """The Responses extractors' ``_parse_raw_response``: a plain ``Response`` is
    returned as it is, as upstream returns it after its protocol check."""
    if lacks_raw_members(response):
        return response
    return _up.parse_raw_response(response, request_kwargs)


def _wrap_stream_result(wrapper_cls: Any, result: Any, invocation: Any, capture: bool) -> Any:
    """The official ``wrap_stream_result``: a plain SDK stream (or our proxy of one) is
    wrapped directly, as upstream wraps it after its protocol check."""
    if lacks_raw_members(result):
        return wrapper_cls(result, invocation, capture)
    return _up.wrap_stream_result(wrapper_cls, result, invocation, capture)


def _bind_raw_checks() -> None:
    """The SDK's result classes that define neither member (checked here, on the class
    and its ``__getattr__``), and our proxies of its streams."""
    import openai
    from openai.types.chat import ChatCompletion

    from otel_llm.genai._streams import TappedAsyncStream, TappedStream

    _NO_RAW_CLASSES.clear()
    candidates: list[tuple[Any, str]] = [(ChatCompletion, "extra")]
    try:
        from openai.types.responses import Response

        candidates.append((Response, "extra"))
    except ImportError:  # an SDK without the Responses API
        pass
    candidates += [(openai.Stream, "dict"), (openai.AsyncStream, "dict")]
    for cls, where in candidates:
        if any(hasattr(cls, name) for name in RAW_MEMBERS):
            continue
        getattr_hook = getattr(cls, "__getattr__", None)
        if where == "dict" and getattr_hook is not None:
            continue  # an instance could answer anything
        if where == "extra" and not hasattr(cls, "__pydantic_extra__"):
            continue
        _NO_RAW_CLASSES[cls] = where
    for proxy in (TappedStream, TappedAsyncStream):
        if not any(name in dir(proxy) for name in RAW_MEMBERS):
            _NO_RAW_CLASSES[proxy] = "proxy"


def _response_fields(result: Any, fields: dict[str, Any], extra: dict[str, Any]) -> None:
    """``_set_response_properties`` and ``set_chat_usage`` of genai-openai 1.3b0."""
    if not lacks_raw_members(result) and isinstance(result, _up.parsable):
        result = result.parse()
    model = getattr(result, "model", None)
    if model:
        fields["response_model"] = model
    choices = getattr(result, "choices", None)
    if choices:
        fields["response_finish_reasons"] = [c.finish_reason or "error" for c in choices]
    response_id = getattr(result, "id", None)
    if response_id:
        fields["response_id"] = response_id
    tier = getattr(result, "service_tier", None)
    if tier:
        extra[RESPONSE_SERVICE_TIER] = tier
    usage = getattr(result, "usage", None)
    if usage:
        fields["usage_input_tokens"] = usage.prompt_tokens
        fields["usage_output_tokens"] = usage.completion_tokens
        prompt = _property(usage, "prompt_tokens_details")
        completion = _property(usage, "completion_tokens_details")
        fields["usage_cache_read_input_tokens"] = _property(prompt, "cached_tokens")
        fields["usage_cache_write_input_tokens"] = _property(prompt, "cache_write_tokens")
        fields["usage_reasoning_output_tokens"] = _property(completion, "reasoning_tokens")
        fields["usage_audio_input_tokens"] = _audio(_property(prompt, "audio_tokens"))
        fields["usage_audio_output_tokens"] = _audio(_property(completion, "audio_tokens"))
    fingerprint = getattr(result, "system_fingerprint", None)
    if fingerprint:
        extra[SYSTEM_FINGERPRINT] = fingerprint


def _attributes(fields: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """The end attributes ``_apply_finish`` computes from these fields (start keys are
    never among them: this path sets none of provider, model or server fields)."""
    attrs: dict[str, Any] = {}
    for name, key in FIELD_ATTRIBUTES:
        value = fields.get(name)
        if value is None or (name in _TRUTHY and not value):
            continue
        if name == "response_finish_reasons":
            value = list(value) or None
            if value is None:
                continue
        attrs[key] = value
    attrs.update(extra)
    return attrs


def _merged_attributes(
    fields: dict[str, Any], extra: dict[str, Any], start: dict[str, Any], published: Any
) -> dict[str, Any]:
    """An inner inference published into the call's context data: upstream's
    ``enrich_from_context`` (outer values win) and ``_get_attributes`` over the result."""
    data = _up.inference_data(
        provider_name=start[PROVIDER],
        request_model=start.get(REQUEST_MODEL),
        server_address=start.get(SERVER_ADDRESS),
        server_port=start.get(SERVER_PORT),
        operation_name="chat",
        input_messages=[],
        output_messages=[],
        system_instructions=[],
        **fields,
    )
    data.attributes.update(extra)
    inference = _up.inference_cls.__new__(_up.inference_cls)
    inference.data = data
    inference.conversation_id = None
    inference._request_stream = None
    inference.enrich_from_context(published)
    attrs = dict(inference._get_attributes())
    attrs.update(data.attributes)
    for key in start:
        attrs.pop(key, None)
    return attrs


def _write(span: Any, attrs: dict[str, Any]) -> None:
    """Plain values (and lists of strings, as the tuples the SDK would store) straight
    into the span; anything else through the SDK's checks, as upstream writes them."""
    plain: dict[str, Any] = {}
    checked: dict[str, Any] = {}
    for key, value in attrs.items():
        kind = type(value)
        if kind in _PLAIN:
            plain[key] = value
        elif kind is list and all(type(v) is str for v in value):
            plain[key] = tuple(value)
        else:
            checked[key] = value
    if plain:
        put_attributes(span, plain)
    if checked:
        span.set_attributes(checked)


class _Call:
    """One traced call: its span, start attributes, context data and context token."""

    __slots__ = ("data", "kwargs", "span", "start", "token")

    def __init__(
        self, span: Any, start: dict[str, Any], data: Any, token: Any, kwargs: Any
    ) -> None:
        self.span = span
        self.start = start
        self.data = data
        self.token = token
        self.kwargs = kwargs

    def finish(self, result: Any, error: BaseException | None) -> None:
        """``_finish`` of the official invocation: attributes, context back, span end."""
        span = self.span
        try:
            fields: dict[str, Any] = {}
            extra: dict[str, Any] = {}
            _request_fields(self.kwargs, fields, extra)
            if error is not None:
                failure = _up.error_from(error)  # type: ignore[misc]
                span.set_status(Status(StatusCode.ERROR, failure.message))
                extra[ERROR_TYPE] = failure.type
            else:
                _response_fields(result, fields, extra)
            data = self.data
            if vars(data) == _up.empty:
                attrs = _attributes(fields, extra)
            else:
                attrs = _merged_attributes(fields, extra, self.start, data)
            if attrs:
                _write(span, attrs)
        except Exception:
            logger.debug("otel-llm: chat completion telemetry failed", exc_info=True)
        finally:
            otel_context.detach(self.token)
            span.end()


class _Tracer:
    """The handler's parts this path uses, checked once per official wrapper."""

    __slots__ = ("mode", "tracer")

    def __init__(self, handler: Any) -> None:
        self.tracer = handler._tracer
        self.mode = handler._content_capturing_mode

    @classmethod
    def of(cls, handler: Any) -> _Tracer | None:
        """None when the handler does more than this path would (content, hook, metrics)."""
        try:
            if handler.should_capture_content():
                return None
            instruments = handler._instruments
            if (
                type(instruments.operation_duration) is not _up.noop_histogram
                or type(instruments.token_usage) is not _up.noop_histogram
            ):
                return None
            return cls(handler)
        except Exception:
            logger.debug("otel-llm: chat fast path off for this handler", exc_info=True)
            return None

    def start(self, instance: Any, kwargs: dict[str, Any]) -> _Call | None:
        """The span and context of ``create_chat_invocation``; None when this call is one
        the official wrapper must trace."""
        model = kwargs.get("model", "")
        if type(model) is not str or _up.is_streaming(kwargs):  # type: ignore[misc]
            return None
        if _up.should_emit_event(self.mode):  # type: ignore[misc]
            return None
        ctx = otel_context.get_current()
        if isinstance(ctx.get(_up.context_key), _up.inference_data) or isinstance(
            ctx.get(_up.conversation_key), str
        ):
            return None
        address, port = _server(instance)
        start: dict[str, Any] = {OP: "chat", PROVIDER: "openai"}
        start[REQUEST_MODEL] = model
        if address:
            start[SERVER_ADDRESS] = address
        if port:
            start[SERVER_PORT] = port
        span = self.tracer.start_span(
            f"chat {model}" if model else "chat", kind=SpanKind.CLIENT, attributes=start
        )
        data = _up.inference_data()
        token = otel_context.attach(
            otel_context.set_value(_up.context_key, data, set_span_in_context(span, ctx))
        )
        return _Call(span, start, data, token, kwargs)


class Switch:
    """``Switch.on = False`` sends every call through the official wrapper (the parity
    tests and ``bench/bench_compare.py --breakdown`` compare the two in one process)."""

    on = True


def _begin(lean: _Tracer, instance: Any, kwargs: dict[str, Any]) -> _Call | None:
    if not Switch.on:
        return None
    try:
        return lean.start(instance, kwargs)
    except Exception:
        logger.debug("otel-llm: chat fast path skipped for a call", exc_info=True)
        return None


def chat_factory(official_factory: Callable[[Any], Any], is_async: bool) -> Callable[[Any], Any]:
    """A stand-in for the official (async) ``chat_completions_create_v_new``."""

    def factory(handler: Any) -> Any:
        from otel_llm.genai import _lean

        official = official_factory(handler)
        lean = _Tracer.of(handler)
        if lean is None:
            return official
        if _lean.LeanInference is not None:
            # streams (and any call this path declines) run the official wrapper over
            # the lean invocation, which gives upstream's invocation where it must
            official = official_factory(_lean._LeanHandler(handler, lean))

        if is_async:

            async def traced_async(
                wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
            ) -> Any:
                call = _begin(lean, instance, kwargs)
                if call is None:
                    return await official(wrapped, instance, args, kwargs)
                try:
                    result = await wrapped(*args, **kwargs)
                except BaseException as error:
                    call.finish(None, error)
                    raise
                call.finish(result, None)
                return result

            return traced_async

        def traced(
            wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
        ) -> Any:
            call = _begin(lean, instance, kwargs)
            if call is None:
                return official(wrapped, instance, args, kwargs)
            try:
                result = wrapped(*args, **kwargs)
            except BaseException as error:
                call.finish(None, error)
                raise
            call.finish(result, None)
            return result

        return traced

    return factory


def bind() -> None:
    """Bind the pinned packages' parts; raises if one is missing or differs from what this
    path was written against."""
    from opentelemetry.instrumentation.genai.openai import _raw_response, utils
    from opentelemetry.metrics import NoOpHistogram
    from opentelemetry.util.genai import _inference_invocation
    from opentelemetry.util.genai._conversation_context import CONVERSATION_ID_KEY
    from opentelemetry.util.genai.invocation import (
        CLIENT_INFERENCE_CONTEXT_KEY,
        InferenceData,
        InferenceInvocation,
    )
    from opentelemetry.util.genai.types import Error

    known = {f for f, _ in FIELD_ATTRIBUTES}
    missing = known - set(vars(InferenceData()))
    if missing:
        raise RuntimeError(f"InferenceData lacks {sorted(missing)}")
    _up.inference_data = InferenceData
    _up.context_key = CLIENT_INFERENCE_CONTEXT_KEY
    _up.conversation_key = CONVERSATION_ID_KEY
    _up.inference_cls = InferenceInvocation
    _up.noop_histogram = NoOpHistogram
    _up.should_emit_event = _inference_invocation._should_emit_event
    _up.is_streaming = utils.is_streaming
    _up.value_is_set = utils.value_is_set
    _up.parsable = _raw_response.ParsableResponse
    _up.wrap_stream_result = _raw_response.wrap_stream_result
    from opentelemetry.instrumentation.genai.openai import response_extractors

    _up.parse_raw_response = response_extractors._parse_raw_response
    _bind_raw_checks()
    _up.error_from = Error.from_exception
    _up.output_type = utils._openai_response_format_to_output_type
    _up.empty = vars(InferenceData())
    _check_table()


def _check_table() -> None:
    """Upstream's ``_get_attributes`` over data with every field of this path set must
    give exactly what :func:`_attributes` gives (also for the truthy-only fields at 0)."""
    for base in (1000, 0):
        probe: dict[str, Any] = {
            name: base + i for i, (name, _) in enumerate(FIELD_ATTRIBUTES) if name in _TRUTHY
        }
        probe.update(
            {name: 2000 + i for i, (name, _) in enumerate(FIELD_ATTRIBUTES) if name not in _TRUTHY}
        )
        probe["request_stop_sequences"] = ["x"]
        probe["response_finish_reasons"] = ["stop"]
        inference = _up.inference_cls.__new__(_up.inference_cls)
        inference.data = _up.inference_data(**probe)
        inference.conversation_id = None
        inference._request_stream = None
        if dict(inference._get_attributes()) != _attributes(probe, {}):
            raise RuntimeError("InferenceInvocation._get_attributes differs from this path's table")
