"""Zero-code entry points: ``otel-llm-instrument <command>`` and the OTel distro hooks.

``otel-llm-instrument uvicorn app:app`` is ``opentelemetry-instrument`` with otel-llm
selected as distro and configurator: the standard sitecustomize hook runs
:func:`otel_llm.configure` before the application imports anything, so an unchanged
FastAPI service that calls OpenAI gets the whole contract. Plain ``opentelemetry-instrument``
picks otel-llm up too when it is the only distro installed (or with
``OTEL_PYTHON_DISTRO=otel_llm OTEL_PYTHON_CONFIGURATOR=otel_llm``).
"""

from __future__ import annotations

import logging
import os
import sys
from importlib.metadata import EntryPoint
from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]
from opentelemetry.sdk._configuration import _BaseConfigurator

log = logging.getLogger(__name__)

# configure() instruments these itself, in the order and way it needs (see otel_llm.web);
# letting the generic loader instrument them again would swap FastAPI's native telemetry
# for the older middleware and double-wrap the LLM SDKs.
HANDLED_BY_CONFIGURE = frozenset({"fastapi", "httpx", "httpx2", "openai", "anthropic"})


class OtelLlmDistro(BaseDistro):  # type: ignore[misc]
    """Distro: defaults for the generic loader, and skip what configure() handles."""

    def _configure(self, **kwargs: Any) -> None:
        os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http")

    def load_instrumentor(self, entry_point: EntryPoint, **kwargs: Any) -> None:
        if entry_point.name in HANDLED_BY_CONFIGURE:
            return
        try:
            super().load_instrumentor(entry_point, **kwargs)
        except Exception:
            log.exception("instrumentation %s failed to load", entry_point.name)


class OtelLlmConfigurator(_BaseConfigurator):  # type: ignore[misc]
    """Configurator: the same ``configure()`` a service would call itself."""

    def _configure(self, **kwargs: Any) -> None:
        from otel_llm.setup import configure

        try:
            configure()
        except Exception:
            # A bad setting must not stop the service from starting; say why loudly.
            log.exception("otel-llm could not be configured; the service runs untraced")


def main(argv: list[str] | None = None) -> None:
    """``otel-llm-instrument <command> [args...]``."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(
            "usage: otel-llm-instrument <command> [args...]\n\n"
            "Runs <command> (e.g. `uvicorn app:app`) with otel-llm configured before the\n"
            "application starts. Settings come from OTEL_* and OTEL_LLM_* variables.",
        )
        raise SystemExit(0 if args else 2)
    os.environ.setdefault("OTEL_PYTHON_DISTRO", "otel_llm")
    os.environ.setdefault("OTEL_PYTHON_CONFIGURATOR", "otel_llm")
    from opentelemetry.instrumentation.auto_instrumentation import run

    sys.argv = ["opentelemetry-instrument", *args]
    run()
