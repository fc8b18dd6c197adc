"""Fixtures of the unit tests of the GenAI layers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.util.genai.handler import TelemetryHandler


@pytest.fixture
def http_spans(tracer_provider: TracerProvider) -> Iterator[None]:
    """httpx2 client spans (what openai 3.x and anthropic 2.x send requests with)."""
    from opentelemetry.instrumentation.httpx import HTTPX2ClientInstrumentor

    instrumentor = HTTPX2ClientInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    try:
        yield
    finally:
        instrumentor.uninstrument()


@pytest.fixture
def genai_handler(tracer_provider: TracerProvider) -> TelemetryHandler:
    """A util-genai handler of its own on the test's provider (nested inferences)."""
    return TelemetryHandler(tracer_provider=tracer_provider)
