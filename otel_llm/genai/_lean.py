"""The official OpenAI wrappers over a lean invocation: Responses API calls, and the chat
completion streams (and any chat call the one-step path declines).

The official wrappers read the request and the response through their own code
(``create_chat_invocation``, the Responses extractors ``extract_params``,
``apply_request_attributes``, ``set_invocation_response_attributes``,
``get_response_error``, and the stream wrappers), which is kept as it is here. What is
trimmed is the invocation they fill: the official ``handler.inference`` builds a generic
``InferenceInvocation`` (keyword plumbing through two constructors, an ambient
conversation lookup, an environment read for events) and finishes it with attributes
handed to ``Span.set_attributes``, no-op metric recording, an event check and a no-op
completion hook.

:func:`responses_factory` stands in for the official ``responses_create`` factories, and
:func:`otel_llm.genai._fastchat.chat_factory` uses the same handler for what it does not
trace itself. They run the official wrapper with a handler whose ``inference`` returns
a :class:`LeanInference`: the same class (a subclass of ``InferenceInvocation``, so
every setter, the stream bookkeeping, ``fail``/``stop`` and ``enrich_from_context`` are
upstream's), the same fields, span and context, started with the fields set directly
and finished with the attributes upstream computes (``_get_attributes`` and the
invocation's own) written straight into the span. The chunk paths of
:mod:`otel_llm.genai._fastpath` treat it as upstream's invocation. It applies under the
same conditions as the one-step chat path (:mod:`otel_llm.genai._fastchat`): no content,
no hook, no-op instruments, no event, no open inference, no conversation (in the context
or the request); anything else gets upstream's invocation. ``tests/unit/
test_genai_lean.py`` and ``tests/unit/test_genai_fastpath.py`` hold the spans of both
equal.
"""

from __future__ import annotations

from collections.abc import Callable
from timeit import default_timer
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind, set_span_in_context

from otel_llm.genai import _fastchat
from otel_llm.genai._fastchat import Switch, _Tracer, _up, _write

LeanInference: Any = None
"""The class, built at :func:`bind` over the installed ``InferenceInvocation``."""


def _make_class(base: type) -> type:
    class _LeanInference(base):  # type: ignore[valid-type,misc]
        """``InferenceInvocation`` for one call (see the module)."""

        def __init__(
            self,
            handler: Any,
            provider: str,
            request_model: str | None,
            server_address: str | None,
            server_port: int | None,
            ctx: Any,
        ) -> None:
            start: dict[str, Any] = {_fastchat.OP: "chat", _fastchat.PROVIDER: provider}
            if request_model is not None:
                start[_fastchat.REQUEST_MODEL] = request_model
            if server_address is not None:
                start[_fastchat.SERVER_ADDRESS] = server_address
            if server_port is not None:
                start[_fastchat.SERVER_PORT] = server_port
            data_cls = _up.inference_data
            data = data_cls(
                provider_name=provider,
                request_model=request_model,
                server_address=server_address,
                server_port=server_port,
                conversation_id=None,
                operation_name="chat",
                input_messages=[],
                output_messages=[],
                system_instructions=[],
            )
            self.data = data
            self._context_key = _up.context_key
            self._dataclass_class_object = data_cls
            self._tracer = tracer = handler._tracer
            self._instruments = handler._instruments
            self._logger = handler._logger
            self._completion_hook = handler._completion_hook
            self._error_type_resolver = None
            self._operation_name = "chat"
            self._content_capturing_mode = handler._content_capturing_mode
            self.attributes = data.attributes
            self.metric_attributes = data.metric_attributes
            self.conversation_id = None
            self._start_attributes = start
            self._start_span = True
            self.span = span = tracer.start_span(
                f"chat {request_model}" if request_model else "chat",
                kind=SpanKind.CLIENT,
                attributes=start,
            )
            self._span_context = span_ctx = otel_context.set_value(
                _up.context_key, data_cls(), set_span_in_context(span, ctx)
            )
            self._attach_to_context = True
            self._context_token = otel_context.attach(span_ctx)
            self._monotonic_start_s = default_timer()
            self._request_stream = None
            self._ttfc_seconds = None
            self._stream_last_chunk_at = None
            self._finished = False
            self._provider = provider
            self._request_model = request_model
            self._server_address = server_address
            self._server_port = server_port
            self._emit_event = False

        def _apply_finish(self, error: Any = None) -> None:
            """Upstream's ``_apply_finish`` for this invocation: the error, what inner
            inferences published, the attributes; no metrics (no-op instruments), no
            event and no content (checked when made), no hook call (a no-op one)."""
            if error is not None:
                self._apply_error_attributes(error)
            if self._request_stream is not None:
                self.data.request_stream = self._request_stream
            published = self._span_context.get(_up.context_key)
            if isinstance(published, _up.inference_data) and vars(published) != _up.empty:
                self.enrich_from_context(published)
            attrs = self._get_attributes()
            attrs.update(self.attributes)
            for key in self._start_attributes:
                attrs.pop(key, None)
            if attrs:
                _write(self.span, attrs)

    _LeanInference.__name__ = _LeanInference.__qualname__ = "LeanInference"
    return _LeanInference


class _LeanHandler:
    """The official handler, whose ``inference`` gives a :class:`LeanInference` where it
    applies (see the module) and upstream's invocation otherwise."""

    def __init__(self, handler: Any, lean: _Tracer) -> None:
        self._handler = handler
        self._lean = lean

    def should_capture_content(self) -> bool:
        return bool(self._handler.should_capture_content())

    def inference(
        self,
        provider: str,
        *,
        request_model: str | None = None,
        server_address: str | None = None,
        server_port: int | None = None,
        **other: Any,
    ) -> Any:
        handler = self._handler
        if Switch.on and not any(v is not None for v in other.values()):
            try:
                if not _up.should_emit_event(self._lean.mode):  # type: ignore[misc]
                    ctx = otel_context.get_current()
                    if not isinstance(ctx.get(_up.context_key), _up.inference_data) and (
                        not isinstance(ctx.get(_up.conversation_key), str)
                    ):
                        return LeanInference(
                            handler, provider, request_model, server_address, server_port, ctx
                        )
            except Exception:
                _fastchat.logger.debug("otel-llm: lean invocation skipped", exc_info=True)
        return handler.inference(
            provider,
            request_model=request_model,
            server_address=server_address,
            server_port=server_port,
            **other,
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handler, name)


def responses_factory(official_factory: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A stand-in for the official (async) ``responses_create``: the official wrapper
    over :class:`_LeanHandler`."""

    def factory(handler: Any) -> Any:
        official = official_factory(handler)
        lean = _Tracer.of(handler)
        if lean is None or LeanInference is None:
            return official
        return official_factory(_LeanHandler(handler, lean))

    return factory


def bind() -> None:
    """Build :data:`LeanInference` over the installed class and check that it sets the
    same fields as upstream's constructor (raises otherwise)."""
    global LeanInference
    from opentelemetry.trace import NoOpTracer

    cls = _make_class(_up.inference_cls)

    class _Probe:
        _tracer = NoOpTracer()
        _instruments = None
        _logger = None
        _completion_hook = None
        _content_capturing_mode = None

    upstream = _up.inference_cls(
        _Probe._tracer,
        None,
        None,
        None,
        "openai",
        request_model="m",
        server_address="h",
        _attach_to_context=False,
    )
    lean = cls(_Probe, "openai", "m", "h", None, otel_context.get_current())
    lean.suspend()  # attached by its constructor: the caller's context back at once
    if set(vars(lean)) != set(vars(upstream)):
        raise RuntimeError(
            f"InferenceInvocation's fields differ: {sorted(set(vars(lean)) ^ set(vars(upstream)))}"
        )
    if lean._start_attributes != upstream._start_attributes:
        raise RuntimeError("InferenceInvocation's start attributes differ")
    LeanInference = cls
