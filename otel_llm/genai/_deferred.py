"""Wrap an SDK's resource classes when the application first imports them.

openai 3.x loads each resource module on first use (``client.chat``, ``client.responses``,
``client.embeddings``). Wrapping every one of them at set-up imports them all: the
Responses module alone is about 3.4 MiB, which a service that only makes chat
completions never loads. Here a wrap of a resource module that is not imported yet waits
for its import (wrapt's post-import hooks, as :mod:`otel_llm._imports`), and runs at once
when it is imported already.

The official ``opentelemetry-instrumentation-genai-openai`` wraps the same modules from
its ``_instrument``; :func:`official_openai` defers its wraps the same way, for the
version whose module layout it was written against (any other version wraps eagerly, as
it does by itself). Within one module, wraps run in the order they were asked for (ours
first, then the official ones on top), as they would at set-up.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

logger = logging.getLogger("otel_llm")

# openai's resource modules that are imported on first use (chat completions, Responses,
# embeddings); what the official instrumentor and our layer wrap in them
OPENAI_MODULES: tuple[str, ...] = (
    "openai.resources.chat.completions",
    "openai.resources.responses.responses",
    "openai.resources.embeddings",
)
# the official instrumentor's version whose ``_instrument``/``_uninstrument`` this defers,
# and the module-level names of it that are replaced while they run
OFFICIAL_OPENAI_VERSION = "1.3b0"
_OFFICIAL_NAMES = (
    "wrap_function_wrapper",
    "_get_responses_module",
    "_is_parse_supported",
    "_is_responses_parse_supported",
)

_lock = threading.RLock()
_pending: dict[str, list[Callable[[Any], None]]] = {}
_hooked: set[str] = set()


def imported(module_name: str) -> bool:
    """Whether the application has imported ``module_name`` (a package imported with a
    lazy ``__getattr__`` counts only once the submodule itself is loaded)."""
    return module_name in sys.modules


def wrap_when_imported(module_name: str, apply: Callable[[Any], None]) -> None:
    """``apply(module)`` now if ``module_name`` is imported, else right after its first
    import. ``apply`` must not raise; if it does, it is logged and the import goes on."""
    module = sys.modules.get(module_name)
    if module is not None:
        apply(module)
        return
    with _lock:
        _pending.setdefault(module_name, []).append(apply)
        if module_name in _hooked:
            return
        _hooked.add(module_name)
    from wrapt import register_post_import_hook

    register_post_import_hook(_on_import, module_name)


def _on_import(module: Any) -> None:
    with _lock:
        applies = _pending.pop(module.__name__, [])
    for apply in applies:
        try:
            apply(module)
        except Exception:  # an import of the application must never fail because of us
            logger.warning(
                "otel-llm: instrumenting %s on import failed", module.__name__, exc_info=True
            )


def cancel(prefix: str) -> None:
    """Drop every wrap still waiting for a module under ``prefix`` (uninstrumented before
    the import: the hook then finds nothing to do)."""
    with _lock:
        for name in [n for n in _pending if n == prefix or n.startswith(prefix + ".")]:
            del _pending[name]


def _official_openai_module() -> Any | None:
    """The official instrumentor's module when its version is the one this defers, and
    it has the names it is deferred through; else None (it then wraps eagerly)."""
    try:
        import importlib.metadata

        if (
            importlib.metadata.version("opentelemetry-instrumentation-genai-openai")
            != OFFICIAL_OPENAI_VERSION
        ):
            return None
        import opentelemetry.instrumentation.genai.openai as official
    except Exception:
        return None
    usable = all(callable(getattr(official, n, None)) for n in _OFFICIAL_NAMES)
    return official if usable else None


@contextmanager
def official_openai() -> Iterator[None]:
    """Around the official OpenAI instrumentor's ``instrument()`` and ``uninstrument()``:
    its wraps of a resource module the application has not imported wait for the import;
    its checks of what a module has do not import it (a wrap whose method the module
    turns out not to have is skipped, as the check would have); its uninstrument does
    not import the Responses module to unwrap what was never wrapped."""
    official = _official_openai_module()
    if official is None:
        yield
        return
    wrap = official.wrap_function_wrapper
    saved = {name: getattr(official, name) for name in _OFFICIAL_NAMES}

    def deferred_wrap(module: Any, name: str, wrapper: Any) -> Any:
        if not isinstance(module, str) or module not in OPENAI_MODULES or imported(module):
            return wrap(module, name, wrapper)

        def apply(loaded: Any) -> None:
            owner_name, _, attribute = name.rpartition(".")
            owner = getattr(loaded, owner_name, None)
            if owner is not None and hasattr(owner, attribute):
                wrap(loaded, name, wrapper)

        wrap_when_imported(module, apply)
        return None

    def responses_module() -> Any:
        module = "openai.resources.responses.responses"
        if imported(module):
            return sys.modules[module]
        # not imported: no wraps to undo; on instrument, the wraps wait for the import
        return SimpleNamespace(Responses=None, AsyncResponses=None)

    def parse_supported(module: str, check: Callable[[], bool]) -> Callable[[], bool]:
        return lambda: check() if imported(module) else True  # checked again on import

    official.wrap_function_wrapper = deferred_wrap
    official._get_responses_module = responses_module
    official._is_parse_supported = parse_supported(
        "openai.resources.chat.completions", saved["_is_parse_supported"]
    )
    official._is_responses_parse_supported = parse_supported(
        "openai.resources.responses.responses", saved["_is_responses_parse_supported"]
    )
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(official, name, value)
