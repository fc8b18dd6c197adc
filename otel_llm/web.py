"""The web edge: FastAPI server spans, the request-ID middleware, ``/metrics``, HTTP clients.

FastAPI 0.163+ traces itself (``fastapi.telemetry``) with the current HTTP semantic
conventions and steps aside when the OpenTelemetry FastAPI instrumentation is present.
We use the native telemetry where it exists (no monkeypatching of the app class, works
whatever the import order) and fall back to ``opentelemetry-instrumentation-fastapi`` on
older FastAPI. Either way, ``FastAPI.__call__`` is wrapped once at class level so that
the request-ID middleware runs outermost, before the server span starts: the span
processor can then stamp ``request.id`` on the server span itself. Apps built before
``configure()`` are covered too, since the wrapper is looked up on every call.
"""

from __future__ import annotations

import functools
import logging
import sys
from typing import TYPE_CHECKING, Any

from otel_llm._asgi import ASGIApp, Receive, Scope, Send
from otel_llm._imports import when_imported

if TYPE_CHECKING:
    from otel_llm.setup import Telemetry

log = logging.getLogger(__name__)


_EDGE_ATTR = "_otel_llm_edge"
_patched: dict[str, Any] = {}


def _edge(telemetry: Telemetry, downstream: ASGIApp) -> ASGIApp:
    """Build (once per app) the edge stack: /metrics, then request ID, then the app."""
    from otel_llm.metrics_server import metrics_app
    from otel_llm.requestid import RequestIDMiddleware

    with_request_id: ASGIApp = RequestIDMiddleware(downstream, telemetry.settings)
    # the registry (and prometheus-client) is made at the first scrape, not the first request
    metrics: ASGIApp = metrics_app(lambda: telemetry.registry)
    metrics_path = telemetry.settings.metrics_path

    async def edge(scope: Scope, receive: Receive, send: Send) -> None:
        if metrics_path and scope.get("type") == "http" and scope.get("path") == metrics_path:
            await metrics(scope, receive, send)
            return
        await with_request_id(scope, receive, send)

    return edge


def _uses_native_telemetry(app: Any) -> bool:
    return hasattr(app, "_native_telemetry")


def _patch_fastapi() -> bool:
    try:
        import fastapi
    except ImportError:
        return False
    if "fastapi" in _patched:
        return True
    original = fastapi.FastAPI.__call__

    @functools.wraps(original)
    async def __call__(self: Any, scope: Scope, receive: Receive, send: Send) -> None:
        current = _patched.get("telemetry")
        if current is None or scope.get("type") not in ("http", "websocket"):
            await original(self, scope, receive, send)
            return
        edge = self.__dict__.get(_EDGE_ATTR)
        if edge is None:
            try:
                if not _uses_native_telemetry(self):
                    _instrument_legacy(self)
                edge = _edge(current, functools.partial(original, self))
            except Exception:  # never break the app because of us
                log.exception("otel-llm edge setup failed; serving the app untraced")
                edge = functools.partial(original, self)
            self.__dict__[_EDGE_ATTR] = edge
        await edge(scope, receive, send)

    fastapi.FastAPI.__call__ = __call__  # type: ignore[method-assign]
    _patched["fastapi"] = original
    return True


def _instrument_legacy(app: Any) -> None:
    """FastAPI without native telemetry: the OpenTelemetry instrumentation, minus noise."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    if getattr(app, "_is_instrumented_by_opentelemetry", False):
        return
    FastAPIInstrumentor.instrument_app(app, exclude_spans=["receive", "send"])


def _instrument_http_client(name: str) -> bool:
    try:
        from opentelemetry.instrumentation.httpx import (
            HTTPX2ClientInstrumentor,
            HTTPXClientInstrumentor,
        )
    except ImportError:  # pragma: no cover - a core dependency
        return False
    instrumentor = HTTPXClientInstrumentor() if name == "httpx" else HTTPX2ClientInstrumentor()
    try:
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument()
        return True
    except Exception:
        log.exception("could not instrument %s", name)
        return False


def instrument_web(telemetry: Telemetry) -> list[str]:
    """Instrument FastAPI apps and HTTP clients; returns what is instrumented now.

    A library installed but not imported yet is instrumented when the application
    imports it (:func:`otel_llm._imports.when_imported`): configure() does not load it.
    """
    _patched["telemetry"] = telemetry
    done: list[str] = []

    def fastapi_hook() -> None:
        try:
            if "telemetry" in _patched and _patch_fastapi():
                done.append("fastapi")
        except Exception:
            log.exception("could not instrument FastAPI")

    def client_hook(name: str) -> None:
        if "telemetry" in _patched and _instrument_http_client(name):
            done.append(name)

    when_imported("fastapi", fastapi_hook)
    for name in ("httpx", "httpx2"):
        when_imported(name, functools.partial(client_hook, name))
    return list(done)


def uninstrument_web() -> None:
    """Undo :func:`instrument_web` (tests)."""
    _patched.pop("telemetry", None)
    original = _patched.pop("fastapi", None)
    if original is not None:
        import fastapi

        fastapi.FastAPI.__call__ = original  # type: ignore[method-assign]
    if "opentelemetry.instrumentation.httpx" not in sys.modules:
        return  # never loaded: nothing was instrumented
    try:
        from opentelemetry.instrumentation.httpx import (
            HTTPX2ClientInstrumentor,
            HTTPXClientInstrumentor,
        )

        for instrumentor in (HTTPXClientInstrumentor(), HTTPX2ClientInstrumentor()):
            if instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.uninstrument()
    except ImportError:  # pragma: no cover
        pass


def mount_app(app: Any, telemetry: Telemetry) -> None:
    """Make sure ``app`` is covered: FastAPI apps already are (class-level wrapper)."""
    _patched.setdefault("telemetry", telemetry)
    try:
        import fastapi

        if isinstance(app, fastapi.FastAPI):
            _patch_fastapi()
            return
    except ImportError:
        pass
    log.warning(
        "configure(app=...) covers FastAPI apps; wrap other ASGI apps with otel_llm.web.wrap_asgi"
    )


def wrap_asgi(app: ASGIApp, telemetry: Telemetry | None = None) -> ASGIApp:
    """Any ASGI app (Starlette, Litestar, ...): server spans + request ID + /metrics."""
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    from otel_llm.setup import current

    telemetry = telemetry or current()
    if telemetry is None:
        raise RuntimeError("call otel_llm.configure() before wrap_asgi()")
    traced: ASGIApp = OpenTelemetryMiddleware(app, exclude_spans=["receive", "send"])
    return _edge(telemetry, traced)
