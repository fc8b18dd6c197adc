"""Manual tracking of AI calls that no instrumentation sees.

Speech to text billed per second, translation per character, OCR per page, search per
request, an in-house model behind a plain HTTP call, a batch job::

    with otel_llm.track(operation="speech_to_text", provider="google", model="chirp-2",
                        user="u-42", session="s-1", source="voicemail") as call:
        text = transcribe(audio)
        call.update(seconds=audio.duration_s)

    @otel_llm.track(operation="translation", provider="deepl", model="deepl-pro")
    async def translate(text: str) -> str:
        otel_llm.current_call().update(characters=len(text))
        ...

Each call is a GenAI CLIENT span named ``{operation} {model}`` (the contract's inference
span: ``gen_ai.operation.name``, ``gen_ai.provider.name``, ``gen_ai.request.model``, usage,
``error.type`` and ERROR status when the block raises; the exception is re-raised), marked
``otel_llm.manual=true`` so the span processor prices and counts it whatever its operation
name. It goes through the same processor as instrumented calls: ``request.id`` (the
current request's, else the ``request.id`` baggage entry, else a fresh one so the call can
be looked up), attribution, cost, metrics and exemplars. ``**attribution`` values (``user``,
``session``, ``source``, ``tenant``, any label) apply to the span and to every span opened
inside the block, exactly as :func:`otel_llm.set_attribution` values do: ``user`` ->
``user.id`` (pseudonymised when configured), ``session`` -> ``gen_ai.conversation.id``,
``source`` -> ``otel_llm.attribution.source``; a label listed in
``OTEL_LLM_ATTRIBUTION_LABELS`` becomes a bounded metric label.

Usage (:meth:`TrackedCall.update`, which adds, so a batch job may report item by item):
tokens ``input_tokens``, ``output_tokens`` (the totals: they include the kinds below),
``cache_read_tokens``, ``cache_creation_tokens``, ``reasoning_tokens``,
``audio_input_tokens``, ``audio_output_tokens``, ``image_input_tokens``,
``image_output_tokens``, ``accepted_prediction_tokens``, ``rejected_prediction_tokens``;
units ``seconds``, ``characters``, ``pages``, ``images``, ``requests`` (default one request).
Prices: :mod:`otel_llm.pricing_units`.

Nesting: a manual span opened while an instrumented GenAI inference span is the current
span (a custom client that an instrumentation already wraps) is recorded with
``otel_llm.manual.nested=true`` and neither priced nor counted in the metrics: the
enclosing span counts that call. The other way round, a manual span around instrumented
calls is an operation of its own: report on it only the usage that no inner span reports.

Bad input (negative, non-numeric or non-integral token usage, an unknown usage name, an
update after the block ended): with ``OTEL_LLM_STRICT=true`` (development) ``ValueError``
is raised at the call; otherwise (the default, production) the value is ignored, counted
in ``otel_llm_processor_errors_total{hook="track"}`` and logged once per kind. The tracking
itself never raises into the host.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import logging
import math
import os
import uuid
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Final, TypeVar, cast

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from otel_llm import semconv as sc
from otel_llm.context import RequestState, _state, current_request_id

__all__ = ["TrackedCall", "TrackingError", "current_call", "track"]

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

_INFERENCE: Final = frozenset(
    {"chat", "text_completion", "generate_content", "embeddings", "completion"}
)
_TOKEN_ATTRIBUTES: Final[dict[str, str]] = {
    "input_tokens": sc.GEN_AI_USAGE_INPUT_TOKENS,
    "output_tokens": sc.GEN_AI_USAGE_OUTPUT_TOKENS,
    "cache_read_tokens": sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    "cache_creation_tokens": sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
    "reasoning_tokens": sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
    # audio_input_tokens, ... rejected_prediction_tokens
    **{f"{kind}_tokens": key for kind, key in sc.EXTRA_TOKEN_ATTRIBUTES},
}
USAGE_ATTRIBUTES: Final[dict[str, str]] = {
    **_TOKEN_ATTRIBUTES,
    **{unit: key for unit, key in sc.UNIT_ATTRIBUTES},
}
"""Usage name -> span attribute, for every usage name the tracking API takes."""
USAGE_FIELDS: Final = tuple(USAGE_ATTRIBUTES)
"""Usage names the tracking API takes (Python keywords, Node object keys), in this order."""

_current: contextvars.ContextVar[TrackedCall | None] = contextvars.ContextVar(
    "otel_llm_tracked_call", default=None
)
_logged: set[str] = set()


class TrackingError(ValueError):
    """Bad input to the tracking API (raised only with ``OTEL_LLM_STRICT=true``)."""


def strict_mode() -> bool:
    """``OTEL_LLM_STRICT``: raise on bad tracking input (development); read at each error."""
    return os.environ.get("OTEL_LLM_STRICT", "").strip().lower() in ("1", "true", "yes", "on")


def _bad_input(kind: str, message: str) -> None:
    """Raise in strict mode; otherwise count and log once per kind."""
    if strict_mode():
        raise TrackingError(message)
    try:
        from otel_llm import setup

        telemetry = setup.current()
        metrics = getattr(getattr(telemetry, "processor", None), "metrics", None)
        if metrics is not None:
            metrics.record_processor_error("track", kind)
        if kind not in _logged and len(_logged) < 64:
            _logged.add(kind)
            logger.warning("otel-llm track: %s (ignored, counted; logged once)", message)
    except Exception:  # noqa: S110 - bad input handling never raises into the host
        pass


def _check(name: str, value: object) -> float | int | None:
    if name not in USAGE_ATTRIBUTES:
        _bad_input(
            "unknown_unit",
            f"unknown usage {name!r}; known: {', '.join(USAGE_FIELDS)}",
        )
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        _bad_input("non_numeric_usage", f"usage {name}={value!r} is not a number")
        return None
    if not math.isfinite(value) or value < 0:
        _bad_input("negative_usage", f"usage {name}={value!r} must be a finite number >= 0")
        return None
    if name in _TOKEN_ATTRIBUTES and isinstance(value, float):
        if not value.is_integer():
            _bad_input("non_integral_tokens", f"usage {name}={value!r} is not a whole number")
            return None
        value = int(value)
    return value


def current_call() -> TrackedCall | None:
    """The innermost open :func:`track` call of this context (None outside one)."""
    return _current.get()


class TrackedCall:
    """One tracked call: report its usage with :meth:`update`."""

    __slots__ = ("_ended", "_span", "_usage", "request_id")

    def __init__(self, span: Span, request_id: str | None) -> None:
        self._span = span
        self._usage: dict[str, float | int] = {}
        self._ended = False
        self.request_id = request_id
        """The ``request.id`` of this call (look it up with ``otel-llm trace``)."""

    @property
    def span(self) -> Span:
        return self._span

    @property
    def usage(self) -> dict[str, float | int]:
        """The usage reported so far."""
        return dict(self._usage)

    def update(self, **usage: float | int) -> TrackedCall:
        """Add usage: ``update(seconds=12.5)``, ``update(input_tokens=10, output_tokens=3)``."""
        if self._ended:
            _bad_input(
                "update_after_end",
                f"usage update {sorted(usage)} after the tracked block ended",
            )
            return self
        for name, value in usage.items():
            checked = _check(name, value)
            if checked is not None:
                self._usage[name] = self._usage.get(name, 0) + checked
        return self

    def set_response_model(self, model: str) -> TrackedCall:
        """The model that answered, when it differs from the requested one."""
        if isinstance(model, str) and model and not self._ended:
            self._span.set_attribute(sc.GEN_AI_RESPONSE_MODEL, model)
        return self

    def set_attribute(self, key: str, value: Any) -> TrackedCall:
        if not self._ended:
            self._span.set_attribute(key, value)
        return self

    def _finish(self, exc: BaseException | None) -> None:
        if self._ended:
            return
        self._ended = True
        span = self._span
        if self._usage:
            span.set_attributes({USAGE_ATTRIBUTES[k]: v for k, v in self._usage.items()})
        if exc is not None:
            span.set_attribute(sc.ERROR_TYPE, type(exc).__qualname__)
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, str(exc)[:256] or type(exc).__name__))
        span.end()


def _is_instrumented_inference(span: Span) -> bool:
    if not span.is_recording():
        return False
    attrs = getattr(span, "attributes", None)
    if not attrs or attrs.get(sc.OTEL_LLM_MANUAL) is True or not sc.is_genai_span(attrs):
        return False
    op = attrs.get(sc.GEN_AI_OPERATION_NAME)
    return op is None or op in _INFERENCE


_tracers: dict[int, tuple[trace.TracerProvider, trace.Tracer]] = {}


def _tracer(provider: trace.TracerProvider | None) -> trace.Tracer:
    """The tracker's tracer for ``provider`` (None: the current global one), cached per
    provider object: the SDK's ``get_tracer`` costs tens of microseconds."""
    if provider is None:
        provider = trace.get_tracer_provider()
    hit = _tracers.get(id(provider))
    if hit is not None and hit[0] is provider:
        return hit[1]
    from otel_llm import __version__

    tracer = trace.get_tracer("otel_llm.track", __version__, provider)
    if len(_tracers) >= 64:
        _tracers.clear()
    _tracers[id(provider)] = (provider, tracer)
    return tracer


class Tracked:
    """What :func:`track` returns: a context manager (``with``/``async with``) and decorator."""

    def __init__(
        self,
        operation: str,
        provider: str | None,
        model: str | None,
        attribution: dict[str, str],
        attributes: dict[str, Any],
        tracer_provider: trace.TracerProvider | None,
    ) -> None:
        self.operation = operation
        self.provider = provider
        self.model = model
        self.attribution = attribution
        self.attributes = attributes
        self.tracer_provider = tracer_provider
        # the calls this instance has open, per context: one Tracked object may be entered
        # from several threads or tasks at once
        self._open: contextvars.ContextVar[tuple[tuple[TrackedCall, list[Any]], ...]] = (
            contextvars.ContextVar("otel_llm_tracked_open", default=())
        )

    # -- one call -------------------------------------------------------------------------

    def _start(self) -> tuple[TrackedCall, list[Any]]:
        tokens: list[Any] = []
        state = _state.get()
        request_id = state.request_id if state is not None else current_request_id()
        if request_id is None:
            request_id = str(uuid.uuid4())
        if self.attribution or state is None:
            merged = {**(state.attribution if state is not None else {}), **self.attribution}
            scope = state.scope if state is not None else None
            tokens.append((_state, _state.set(RequestState(request_id, merged, scope))))
        attrs: dict[str, Any] = {
            sc.GEN_AI_OPERATION_NAME: self.operation,
            sc.OTEL_LLM_MANUAL: True,
        }
        if self.provider:
            attrs[sc.GEN_AI_PROVIDER_NAME] = self.provider
        if self.model:
            attrs[sc.GEN_AI_REQUEST_MODEL] = self.model
        attrs.update(self.attributes)
        if _is_instrumented_inference(trace.get_current_span()):
            attrs[sc.OTEL_LLM_MANUAL_NESTED] = True
        tracer = _tracer(self.tracer_provider)
        name = f"{self.operation} {self.model}" if self.model else self.operation
        span = tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attrs)
        ctx_token = otel_context.attach(trace.set_span_in_context(span))
        call = TrackedCall(span, request_id)
        tokens.append((_current, _current.set(call)))
        tokens.append((None, ctx_token))
        return call, tokens

    @staticmethod
    def _stop(call: TrackedCall, tokens: list[Any], exc: BaseException | None) -> None:
        try:
            call._finish(exc)
        except Exception as err:  # never into the host
            _bad_input_safe(err)
        for var, token in reversed(tokens):
            try:
                if var is None:
                    otel_context.detach(token)
                else:
                    var.reset(token)
            except Exception as err:  # a token from another context (a generator): ignore
                _bad_input_safe(err)

    # -- context manager ----------------------------------------------------------------

    def __enter__(self) -> TrackedCall:
        call, tokens = self._start()
        self._open.set((*self._open.get(), (call, tokens)))
        return call

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack = self._open.get()
        if stack:
            self._open.set(stack[:-1])
            call, tokens = stack[-1]
            self._stop(call, tokens, exc)

    async def __aenter__(self) -> TrackedCall:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    # -- decorator ------------------------------------------------------------------------

    def __call__(self, func: F) -> F:
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                call, tokens = self._start()
                try:
                    result = await cast(Callable[..., Awaitable[Any]], func)(*args, **kwargs)
                except BaseException as exc:
                    self._stop(call, tokens, exc)
                    raise
                self._stop(call, tokens, None)
                return result

            return cast(F, run_async)

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            call, tokens = self._start()
            try:
                result = func(*args, **kwargs)
            except BaseException as exc:
                self._stop(call, tokens, exc)
                raise
            self._stop(call, tokens, None)
            return result

        return cast(F, run)


def _bad_input_safe(err: BaseException) -> None:
    key = f"internal:{type(err).__name__}"
    if key not in _logged and len(_logged) < 64:
        _logged.add(key)
        logger.warning("otel-llm track: internal error (ignored): %r", err)


def track(
    operation: str,
    provider: str | None = None,
    model: str | None = None,
    *,
    attributes: dict[str, Any] | None = None,
    tracer_provider: trace.TracerProvider | None = None,
    **attribution: str | None,
) -> Tracked:
    """Track one AI call: ``with track(...) as call`` / ``async with`` / ``@track(...)``.

    ``operation``: a semconv operation name (``chat``, ``embeddings``...) or a custom one
    (``speech_to_text``, ``translation``, ``ocr``, ``search``...); ``provider``: a semconv
    provider name or a genai-prices id (``openai``, ``gcp.vertex_ai``, ``deepl``...);
    ``model``: the model name prices are looked up by; ``attributes``: extra span
    attributes; ``**attribution``: ``user``, ``session``, ``source``, ``tenant``...
    """
    labels = {k: str(v) for k, v in attribution.items() if v is not None and str(v)}
    if not isinstance(operation, str) or not operation.strip():
        _bad_input("bad_operation", f"track(operation={operation!r}): a non-empty name is needed")
        operation = "unknown"
    return Tracked(
        operation.strip(),
        provider or None,
        model or None,
        labels,
        dict(attributes or {}),
        tracer_provider,
    )
