"""Shared fixtures: an in-memory tracer provider, the mock LLM server, instrumented SDKs.

Every fixture restores what it changed (global tracer provider, SDK patches), so each
test file passes alone and in the full suite.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once


@pytest.fixture
def span_exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer_provider(span_exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    """An SDK tracer provider exporting to ``span_exporter``, also installed as the
    global provider for the test (libraries that use the global see it), then restored."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    old_provider = trace._TRACER_PROVIDER
    old_once = trace._TRACER_PROVIDER_SET_ONCE
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace.set_tracer_provider(provider)
    try:
        yield provider
    finally:
        trace._TRACER_PROVIDER = old_provider
        trace._TRACER_PROVIDER_SET_ONCE = old_once
        provider.shutdown()


@pytest.fixture(scope="session")
def mock_llm() -> Iterator[object]:
    """The mock LLM on 127.0.0.1 with no latency; repeated prefixes of any length cache."""
    from otel_llm.demo.mock_llm import MockLLMConfig, serve_in_thread

    server = serve_in_thread(MockLLMConfig(seed=7, latency_scale=0.0, prompt_cache_min_tokens=1))
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def llm_instrumentation(tracer_provider: TracerProvider) -> Iterator[list[str]]:
    """otel-llm's LLM SDK instrumentation with default settings, removed afterwards."""
    from otel_llm.config import Settings
    from otel_llm.genai import instrument_llm_sdks, uninstrument_llm_sdks

    names = instrument_llm_sdks(Settings(), tracer_provider=tracer_provider)
    try:
        yield names
    finally:
        uninstrument_llm_sdks()
