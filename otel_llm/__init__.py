"""otel-llm: OpenTelemetry tracing, metrics and cost for services that call LLMs.

One call at start-up::

    import otel_llm
    otel_llm.configure(service_name="my-service")

or zero code: ``otel-llm-instrument uvicorn app:app``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from otel_llm.context import current_request_id, set_attribution

if TYPE_CHECKING:  # imported lazily at run time (opentelemetry.trace costs ~30 ms)
    from otel_llm.tracking import current_call, track

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "configure",
    "current_call",
    "current_request_id",
    "set_attribution",
    "shutdown",
    "track",
]


def __getattr__(name: str) -> object:
    # configure() pulls in the SDK and instrumentations; import it lazily.
    if name in ("configure", "shutdown"):
        from otel_llm import setup

        return getattr(setup, name)
    if name in ("track", "current_call"):
        from otel_llm import tracking as _track

        return getattr(_track, name)
    raise AttributeError(name)
