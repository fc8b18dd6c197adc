"""The client library versions otel-llm is tested with (tests/matrix/), checked once.

A client installed outside its range still gets traced by the wire layer (it reads the
HTTP API, not the SDK), but nothing holds that version to the contract, so it is logged
once at start-up: never silently skipped.
"""

from __future__ import annotations

import importlib.metadata
import logging
import re
import threading
from typing import Final

logger = logging.getLogger("otel_llm.genai")

SUPPORTED: Final[dict[str, tuple[str, str]]] = {
    # distribution: (oldest tested, first version not claimed)
    "openai": ("3.50.0", "4"),
    "anthropic": ("2.10.0", "3"),
    "google-genai": ("3.0.0", "4"),
    "litellm": ("1.108.0", "2"),
    "langchain-openai": ("1.6.0", "2"),
    "mistralai": ("3.0.0", "4"),
    "cohere": ("7.0.0", "8"),
    "groq": ("1.0.0", "2"),
    "boto3": ("1.40.0", "2"),
}
"""Claimed ranges: ``oldest <= version < limit``; the README's supported-clients table."""

_checked = False
_lock = threading.Lock()


def _key(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split(".")[:3]:
        found = re.match(r"\d+", piece)
        parts.append(int(found.group()) if found else 0)
    return tuple(parts)


def out_of_range() -> list[tuple[str, str, str, str]]:
    """(distribution, installed, oldest, limit) of every installed client outside its range."""
    out = []
    for dist, (oldest, limit) in SUPPORTED.items():
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
        if not (_key(oldest) <= _key(version) < _key(limit)):
            out.append((dist, version, oldest, limit))
    return out


def check_once() -> None:
    """Log each installed client outside its tested range, once per process. Never raises."""
    global _checked
    with _lock:
        if _checked:
            return
        _checked = True
    try:
        for dist, version, oldest, limit in out_of_range():
            logger.warning(
                "otel-llm: %s %s is outside the tested range (>=%s,<%s); its calls are "
                "traced from the HTTP API but this version is not held to the contract",
                dist,
                version,
                oldest,
                limit,
            )
    except Exception:
        logger.debug("otel-llm: client version check failed", exc_info=True)
