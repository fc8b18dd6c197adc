"""LLM SDK instrumentation: the official OpenTelemetry GenAI instrumentations plus what
the contract needs and they lack.

Pins we rely on (tested together in tests/unit/test_genai_*.py):
``opentelemetry-instrumentation-genai-openai==1.3b0``,
``opentelemetry-instrumentation-genai-anthropic==1.3b0``,
``opentelemetry-util-genai==1.3b0``, ``openai`` 3.54, ``anthropic`` 2.12.

Layering: our wrappers (``otel_llm.genai.openai`` / ``.anthropic``) are installed on the
SDK methods *first* and the official instrumentors wrap on top, so the official wrapper
opens the span and ours run inside it, adding attributes to that same span. Nothing is
forked: if the official package is missing or refuses to instrument, our layer is removed
again and that SDK is skipped.

What the official packages get wrong or leave out, and what we do about it:

- streamed chat completions carry no token counts unless the caller asked for a usage
  chunk: we ask for it and hide it from the caller (``Settings.stream_include_usage``);
  when usage still does not come we estimate and set ``otel_llm.usage.estimated``;
- ``server.port`` is dropped for 443/80 although semconv requires it with the address;
- cache writes are written as ``gen_ai.usage.cache_write.input_tokens`` only; the
  contract's spelling is ``gen_ai.usage.cache_creation.input_tokens``: we add it;
- ``gen_ai.request.stream`` is set at the end only; we set it at span start;
- the provider's request ID header is not recorded: ``otel_llm.provider.request_id``;
- Anthropic ``messages.stream()`` read through ``text_stream`` / ``get_final_message()``
  gets no time to first chunk: we measure it;
- anthropic 2.12's own tracing opens a second GenAI span per call: suppressed while the
  official span is open (see :mod:`otel_llm.genai.anthropic`);
- content capture only understands ``span_only``/``event_only``/``span_and_event`` and
  writes unbounded JSON: ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`` means
  ``span_only`` here, and content attributes are cut to ``CONTENT_MAX_CHARS``.

Metrics and events: the official handler also records ``gen_ai.client.*`` histograms
through an OTel meter. Our span processor derives the contract's Prometheus metrics from
the spans, so by default the official instruments get a no-op meter provider (no double
counting, less work per call). Pass ``meter_provider`` only if you want those OTel metrics
*instead of* the span-derived ones. Events (``gen_ai.client.inference.operation.details``)
are emitted only in ``event_only``/``span_and_event`` content modes, as upstream does.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from opentelemetry.metrics import MeterProvider, NoOpMeterProvider
from opentelemetry.trace import TracerProvider

from otel_llm._imports import when_imported
from otel_llm.config import Settings
from otel_llm.genai import _versions
from otel_llm.genai import wire as _wire
from otel_llm.genai._common import PROVIDER_REQUEST_ID, logger
from otel_llm.genai._content import DEFAULT_MAX_CHARS, BoundedContentTracerProvider

__all__ = [
    "CONTENT_MAX_CHARS",
    "PROVIDER_REQUEST_ID",
    "instrument_llm_sdks",
    "instrumented_sdks",
    "uninstrument_llm_sdks",
]

CONTENT_MAX_CHARS = DEFAULT_MAX_CHARS
"""Bound on each captured content attribute (characters)."""

_CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
_MODES = ("SPAN_ONLY", "EVENT_ONLY", "SPAN_AND_EVENT")

_lock = threading.RLock()  # re-entered when an SDK's import hook fires inside instrument
_active: list[str] = []
_generation = 0  # bumped by uninstrument: import hooks of an earlier call then do nothing


def _content_mode(settings: Settings) -> str:
    """The official packages' capture mode for our settings (settings decide on/off)."""
    if not settings.capture_content:
        return "NO_CONTENT"
    raw = os.environ.get(_CAPTURE_ENV, "").strip().upper()
    return raw if raw in _MODES else "SPAN_ONLY"


@contextmanager
def _capture_env(mode: str) -> Iterator[None]:
    """The official handlers read the capture mode from the environment once, when they
    are built; show them ours for that moment and put the variable back."""
    old = os.environ.get(_CAPTURE_ENV)
    os.environ[_CAPTURE_ENV] = mode
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(_CAPTURE_ENV, None)
        else:
            os.environ[_CAPTURE_ENV] = old


def _ours(name: str) -> Any:
    """Our layer for one SDK, imported with the SDK (it loads opentelemetry-util-genai)."""
    import importlib

    return importlib.import_module(f"otel_llm.genai.{name}")


def _official(name: str) -> Any:
    if name == "openai":
        from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor

        return OpenAIInstrumentor()
    from opentelemetry.instrumentation.genai.anthropic import AnthropicInstrumentor

    return AnthropicInstrumentor()


def _official_deferral(name: str) -> Any:
    """Around the official instrumentor's (un)instrument: for openai, its wraps of resource
    modules the application has not imported wait for the import."""
    if name != "openai":
        return nullcontext()
    from otel_llm.genai import _deferred

    return _deferred.official_openai()


def _official_uninstrument(name: str, instrumentor: Any) -> None:
    if name == "openai":
        from otel_llm.genai import _deferred

        _deferred.cancel("openai")  # wraps still waiting for an import: none to undo
    with _official_deferral(name):
        instrumentor.uninstrument()


def _instrument_one(
    name: str,
    install: Callable[[], None],
    uninstall: Callable[[], None],
    providers: dict[str, Any],
    mode: str,
) -> bool:
    instrumentor = _official(name)
    if instrumentor.is_instrumented_by_opentelemetry:
        # Instrumented earlier (e.g. by opentelemetry-instrument): take it off so that
        # ours go underneath, then put it back with our providers.
        _official_uninstrument(name, instrumentor)
    install()
    try:
        with _capture_env(mode), _official_deferral(name):
            instrumentor.instrument(**providers)
    except Exception:
        uninstall()
        raise
    if not instrumentor.is_instrumented_by_opentelemetry:
        uninstall()  # dependency conflict: the instrumentor logged why and did nothing
        return False
    return True


def _instrument_botocore(tracer_provider: TracerProvider | None) -> bool:
    """Bedrock through boto3 (urllib3, SigV4, AWS event streams: nothing passes httpx):
    ``opentelemetry-instrumentation-botocore``'s Bedrock extension, when it and botocore
    are installed. Never raises."""
    try:
        import botocore  # noqa: F401
        from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
    except ImportError:
        return False
    try:
        instrumentor = BotocoreInstrumentor()
        if instrumentor.is_instrumented_by_opentelemetry:
            return False  # instrumented already (opentelemetry-instrument): leave it
        instrumentor.instrument(tracer_provider=tracer_provider)
        return bool(instrumentor.is_instrumented_by_opentelemetry)
    except Exception:
        logger.warning("otel-llm: could not instrument botocore (Bedrock)", exc_info=True)
        return False


def _uninstrument_botocore() -> None:
    try:
        from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

        BotocoreInstrumentor().uninstrument()
    except Exception:
        logger.warning("otel-llm: could not uninstrument botocore", exc_info=True)


def instrument_llm_sdks(
    settings: Settings,
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    registry: Any = None,
    wire_layer: bool = True,
) -> list[str]:
    """Instrument every installed LLM SDK; returns what is instrumented now.

    An SDK that is installed but not imported yet is instrumented when the application
    imports it (:func:`otel_llm._imports.when_imported`), so an unused SDK is never
    loaded. Never raises: an SDK that fails is logged and skipped. Calling it again
    while instrumented returns the current list without changing anything.
    """
    global _generation
    with _lock:
        if _active or _generation % 2:
            return list(_active)
        _generation += 1  # odd: instrumented (or waiting for imports)
        generation = _generation
        mode = _content_mode(settings)
        tp: TracerProvider | None = tracer_provider
        if mode != "NO_CONTENT":
            tp = BoundedContentTracerProvider(tracer_provider, CONTENT_MAX_CHARS)
        providers: dict[str, Any] = {
            "tracer_provider": tp,
            "meter_provider": meter_provider if meter_provider is not None else NoOpMeterProvider(),
        }
        sdks: list[tuple[str, Callable[[], None], Callable[[], None]]] = [
            (
                "openai",
                lambda: _ours("openai").install(stream_include_usage=settings.stream_include_usage),
                lambda: _ours("openai").uninstall(),
            ),
            (
                "anthropic",
                lambda: _ours("anthropic").install(),
                lambda: _ours("anthropic").uninstall(),
            ),
        ]
        for name, install, uninstall in sdks:

            def hook(
                name: str = name,
                install: Callable[[], None] = install,
                uninstall: Callable[[], None] = uninstall,
            ) -> None:
                with _lock:
                    if _generation != generation or name in _active:
                        return  # uninstrumented (or re-instrumented) before the import
                    try:
                        if _instrument_one(name, install, uninstall, providers, mode):
                            _active.append(name)
                        else:
                            logger.warning(
                                "otel-llm: %s SDK not instrumented (version conflict)", name
                            )
                    except Exception:
                        logger.warning(
                            "otel-llm: could not instrument the %s SDK", name, exc_info=True
                        )

            when_imported(name, hook)

        def botocore_hook() -> None:
            with _lock:
                if (
                    _generation == generation
                    and "botocore" not in _active
                    and _instrument_botocore(tracer_provider)
                ):
                    _active.append("botocore")

        when_imported("botocore", botocore_hook)
        if wire_layer:
            try:
                if _wire.install(tracer_provider=tracer_provider, registry=registry):
                    _active.append("llm-wire")
            except Exception:
                logger.warning("otel-llm: could not install the wire-format layer", exc_info=True)
        _versions.check_once()
        return list(_active)


def uninstrument_llm_sdks() -> None:
    """Undo :func:`instrument_llm_sdks` (official wrappers first, then ours). Never raises."""
    global _generation
    with _lock:
        if _generation % 2:
            _generation += 1  # even: hooks still waiting for an import now do nothing
        while _active:
            name = _active.pop()
            if name == "llm-wire":
                _wire.uninstall()
                continue
            if name == "botocore":
                _uninstrument_botocore()
                continue
            try:
                _official_uninstrument(name, _official(name))
            except Exception:
                logger.warning("otel-llm: could not uninstrument %s", name, exc_info=True)
            try:
                _ours(name).uninstall()
            except Exception:
                logger.warning("otel-llm: could not remove our %s wrappers", name, exc_info=True)


def instrumented_sdks() -> list[str]:
    """Names of the SDKs instrumented right now."""
    return list(_active)
