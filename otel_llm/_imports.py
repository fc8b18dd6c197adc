"""Instrument a library when the application imports it, not before.

``configure()`` runs at start-up, often before the application has imported its HTTP
framework or LLM SDKs, and some of those are installed without being used (anthropic
alone is about 35 MiB of modules). :func:`when_imported` runs a hook right away when the
module is already imported, and otherwise right after its first import (wrapt's
post-import hooks, which the OpenTelemetry instrumentations already depend on), so a
library that is installed but never imported costs nothing.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["when_imported"]

log = logging.getLogger("otel_llm")


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def when_imported(name: str, hook: Callable[[], None]) -> bool:
    """Call ``hook()`` now if module ``name`` is imported, else once it is imported.

    Returns False when the module is not installed (the hook will never run). The hook
    must not raise; if it does, the exception is logged and the import goes on.
    """
    if name in sys.modules:
        hook()
        return True
    if not _installed(name):
        return False

    def on_import(module: Any) -> None:
        try:
            hook()
        except Exception:  # an import of the application must never fail because of us
            log.warning("otel-llm: instrumenting %s on import failed", name, exc_info=True)

    from wrapt import register_post_import_hook

    register_post_import_hook(on_import, name)
    return True
