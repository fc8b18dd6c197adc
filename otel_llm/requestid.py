"""X-Request-ID end to end: validation, the edge ASGI middleware, and propagation.

The rule for a well-formed ID lives here once (the Node package copies it and
``spec/vectors/request_id.json`` holds both equal): 1 to 128 characters from
``A-Z a-z 0-9 - _ . ~ : @ / + =``. That covers UUIDs, ULIDs, KSUIDs, nanoids,
``req_...`` style IDs, and base64/base64url, and excludes everything that could split a
header, a log line, a CSV field, a W3C baggage list or a TraceQL string: whitespace,
control characters, non-ASCII, ``, ; " ' \\ ` % < > ( ) [ ] { } | & $ ! * ? # ^``.

Recommended order: :class:`RequestIDMiddleware` *outside* the layer that starts the
server span (OpenTelemetry's ASGI/FastAPI middleware, or FastAPI's native telemetry).
Then the request state exists before the server span starts, so the span processor
stamps ``request.id`` on the server span at ``on_start`` (samplers and span-start hooks
see it too); every response, including the 500 written by Starlette's error middleware,
carries the header; and log lines from the instrumentation itself are correlated. The
simplest way is to wrap the ASGI callable itself (``RequestIDMiddleware(app)``, as
``otel_llm.web`` does for FastAPI). :class:`RequestIDPropagator` must then be the last
member of the global composite propagator (after ``tracecontext`` and ``baggage``): the
server-span layer extracts the headers into a fresh context, and this propagator puts
the request's effective ID back into its baggage. The inside order works too: the
middleware then sets ``request.id`` on the already started server span itself.
"""

from __future__ import annotations

import logging
import re
import uuid
from contextlib import ExitStack
from typing import Any, Final

import structlog
from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import (
    CarrierT,
    Getter,
    Setter,
    TextMapPropagator,
    default_getter,
    default_setter,
)

from otel_llm._asgi import ASGIApp, Message, Receive, Scope, Send
from otel_llm.config import Settings, load_settings
from otel_llm.context import RequestState, current_request_id, current_state, request_state
from otel_llm.semconv import BAGGAGE_REQUEST_ID, REQUEST_ID

__all__ = [
    "MAX_REQUEST_ID_LENGTH",
    "REQUEST_ID_PATTERN",
    "RequestIDMiddleware",
    "RequestIDPropagator",
    "install_request_id_middleware",
    "new_request_id",
    "validate_request_id",
]

_log = logging.getLogger(__name__)

MAX_REQUEST_ID_LENGTH: Final = 128
REQUEST_ID_PATTERN: Final = r"^[A-Za-z0-9._~:@/+=-]{1,128}$"
"""The whole rule, written as JavaScript reads it (``^``/``$`` without the ``m`` flag).

Python's ``$`` also matches before a trailing newline, so the Python side uses
``fullmatch`` on the pattern without its anchors.
"""
_REQUEST_ID_RE: Final = re.compile(REQUEST_ID_PATTERN[1:-1], re.ASCII)
# RFC 9110 token: what a configured header name may be made of.
_HEADER_NAME_RE: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", re.ASCII)

_START_MESSAGES: Final = frozenset(
    {"http.response.start", "websocket.accept", "websocket.http.response.start"}
)


def validate_request_id(value: str | bytes | None) -> str | None:
    """``value`` if it is a well-formed request ID, else None (never raises)."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        if len(value) > MAX_REQUEST_ID_LENGTH:
            return None
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            return None
    if not isinstance(value, str) or len(value) > MAX_REQUEST_ID_LENGTH:
        return None
    return value if _REQUEST_ID_RE.fullmatch(value) else None


def new_request_id() -> str:
    """A fresh request ID (UUID4, 36 characters)."""
    return str(uuid.uuid4())


def _header_name(name: str) -> str:
    if not _HEADER_NAME_RE.fullmatch(name):
        raise ValueError(f"request ID header name must be an HTTP token, got {name!r}")
    return name


class RequestIDMiddleware:
    """Pure ASGI middleware: accept or mint the request ID and make it current.

    For ``http`` and ``websocket`` scopes it reads the first request-ID header
    (case-insensitive), keeps it when well formed and trusted, otherwise mints a UUID4
    (the rejected value goes nowhere: not to the response, logs or spans). While the app
    runs, the ID is the current :class:`~otel_llm.context.RequestState`, the W3C baggage
    entry ``request.id`` (other entries kept), the structlog context variable
    ``request_id`` and the ``request.id`` attribute of a recording current span. The
    response start message carries exactly one header with the effective ID (one set by
    the app is replaced). ``lifespan`` and other scopes pass through untouched.

    Failures of our own never reach the app: if setting up fails the request is served
    without an ID; everything set up is reset when the app returns or raises.
    """

    def __init__(self, app: ASGIApp, settings: Settings | None = None) -> None:
        settings = load_settings() if settings is None else settings
        self.app = app
        self.header = _header_name(settings.request_id_header)
        self.trust_incoming = settings.trust_incoming_request_id
        self._header_key = self.header.lower().encode("ascii")

    def _incoming(self, scope: Scope) -> str | None:
        if not self.trust_incoming:
            return None
        for name, value in scope.get("headers") or ():
            if bytes(name).lower() == self._header_key:
                return validate_request_id(bytes(value))  # the first one decides
        return None

    def _enter(self, request_id: str, scope: Scope) -> ExitStack:
        stack = ExitStack()
        try:
            stack.enter_context(request_state(RequestState(request_id, scope=scope)))
            ctx = baggage.set_baggage(BAGGAGE_REQUEST_ID, request_id)
            stack.callback(otel_context.detach, otel_context.attach(ctx))
            tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
            stack.callback(structlog.contextvars.reset_contextvars, **tokens)
            span = trace.get_current_span()
            if span.is_recording():
                span.set_attribute(REQUEST_ID, request_id)
        except BaseException:
            stack.close()
            raise
        return stack

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        try:
            request_id = self._incoming(scope) or new_request_id()
            stack = self._enter(request_id, scope)
        except Exception:
            _log.warning("request ID setup failed; serving the request without it", exc_info=True)
            await self.app(scope, receive, send)
            return
        header = (self._header_key, request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message.get("type") in _START_MESSAGES:
                message = _with_header(message, header)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            try:
                stack.close()
            except Exception:
                _log.warning("request ID teardown failed", exc_info=True)


def _with_header(message: Message, header: tuple[bytes, bytes]) -> Message:
    """A copy of ``message`` whose headers carry ``header`` once (same-name ones dropped)."""
    try:
        kept = [h for h in message.get("headers") or () if bytes(h[0]).lower() != header[0]]
    except Exception:
        _log.debug("unreadable response headers; request ID header not added", exc_info=True)
        return message
    return {**message, "headers": [*kept, header]}


def install_request_id_middleware(app: Any, settings: Settings | None = None) -> None:
    """Wrap a Starlette/FastAPI app's middleware stack in :class:`RequestIDMiddleware`.

    Called after ``FastAPIInstrumentor.instrument_app(app)`` (or under the global
    ``FastAPIInstrumentor().instrument()``), ours is the outermost layer of the stack. The
    result is still a ``ServerErrorMiddleware`` on the outside, so an instrumentation
    applied afterwards keeps working (ours then runs inside its server span and stamps it
    directly). FastAPI's native telemetry wraps ``FastAPI.__call__``, outside any stack,
    so with it ours always runs inside the server span; wrap the app object instead to be
    outermost there. ``uninstrument_app`` restores Starlette's own stack builder and so
    drops ours. Idempotent. Other ASGI apps: ``RequestIDMiddleware(app)``.
    """
    from starlette.middleware.errors import ServerErrorMiddleware

    build = getattr(app, "build_middleware_stack", None)
    if not callable(build):
        raise TypeError("install_request_id_middleware needs a Starlette or FastAPI app")
    if getattr(app, "_otel_llm_request_id", False):
        return
    settings = load_settings() if settings is None else settings
    _header_name(settings.request_id_header)  # fail at start-up, not per request

    def build_middleware_stack() -> ASGIApp:
        inner: ASGIApp = build()
        # Starlette's error middleware inside ours turns app exceptions into a 500 that
        # passes through our send (so it carries the header); the outer one only keeps
        # the stack shape other instrumentations expect.
        return ServerErrorMiddleware(RequestIDMiddleware(inner, settings))

    app.build_middleware_stack = build_middleware_stack
    app.middleware_stack = None  # rebuilt lazily on the next call
    app._otel_llm_request_id = True


class RequestIDPropagator(TextMapPropagator):
    """Carries the request ID as the ``X-Request-ID`` header, next to W3C baggage.

    Compose it last: ``CompositePropagator([TraceContextTextMapPropagator(),
    W3CBaggagePropagator(), RequestIDPropagator()])``.

    ``inject`` writes the header from :func:`~otel_llm.context.current_request_id` (the
    request being served, else baggage) and makes sure the ``baggage`` header holds the
    same ``request.id``. ``extract`` validates the baggage entry (a malformed one is
    dropped), fills it from a well-formed header when missing, and inside a request
    served by :class:`RequestIDMiddleware` sets it to that request's effective ID.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        settings = load_settings() if settings is None else settings
        self.header = _header_name(settings.request_id_header)
        self._lower = self.header.lower()
        self._baggage = W3CBaggagePropagator()

    def extract(
        self,
        carrier: CarrierT,
        context: Context | None = None,
        getter: Getter[CarrierT] = default_getter,  # type: ignore[assignment]
    ) -> Context:
        if context is None:
            context = otel_context.get_current()
        state = current_state()
        if state is not None:
            value: str | None = state.request_id
        else:
            value = validate_request_id(_str(baggage.get_baggage(BAGGAGE_REQUEST_ID, context)))
            if value is None:
                value = validate_request_id(self._first(carrier, getter))
        if value is None:
            if baggage.get_baggage(BAGGAGE_REQUEST_ID, context) is None:
                return context
            return baggage.remove_baggage(BAGGAGE_REQUEST_ID, context)
        return baggage.set_baggage(BAGGAGE_REQUEST_ID, value, context)

    def _first(self, carrier: CarrierT, getter: Getter[CarrierT]) -> str | None:
        values = getter.get(carrier, self._lower)
        if not values and self._lower != self.header:
            values = getter.get(carrier, self.header)
        return values[0] if values else None

    def inject(
        self,
        carrier: CarrierT,
        context: Context | None = None,
        setter: Setter[CarrierT] = default_setter,  # type: ignore[assignment]
    ) -> None:
        value = validate_request_id(current_request_id(context))
        if value is None:
            return
        setter.set(carrier, self.header, value)
        if baggage.get_baggage(BAGGAGE_REQUEST_ID, context) != value:
            # Rewrites the whole baggage header: this is why we come after the baggage
            # propagator in the composite.
            with_id = baggage.set_baggage(BAGGAGE_REQUEST_ID, value, context)
            self._baggage.inject(carrier, with_id, setter)

    @property
    def fields(self) -> set[str]:
        return {self.header, "baggage"}


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None
