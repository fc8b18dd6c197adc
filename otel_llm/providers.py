"""The provider of an LLM call, from the endpoint it was sent to.

``gen_ai.provider.name`` is decided by the request's URL, not by the client library: the
openai SDK pointed at ``api.x.ai`` talks to xAI and is priced at xAI's rates. The hosts
come from genai-prices' own provider URL patterns (``Provider.api_pattern``); the only
table kept here maps genai-prices ids to the semconv well-known names
(:data:`SEMCONV_NAMES`). Resolution order for a request URL:

1. ``OTEL_LLM_PROVIDER_HOSTS`` (``host[:port]=provider`` pairs, comma-separated; the
   provider is a semconv name or a genai-prices id): an LLM gateway, vLLM, Ollama, a
   company proxy. ``host:port`` is tried before ``host``. A provider genai-prices knows
   is priced as that provider; any other name (``ollama``, ``vllm``) is priced only by
   the pricing file.
2. genai-prices' ``api_pattern`` of each provider, first match wins (the bundled order).
   Google is ``gcp.vertex_ai`` on ``aiplatform.googleapis.com`` /
   ``*-aiplatform.googleapis.com`` and ``gcp.gemini`` elsewhere.
3. A loopback host (``localhost``, ``127.0.0.0/8``, ``::1``) keeps the client library's
   provider and is priced as it: a local stand-in for the real API (the mock LLM, a
   recorded-response server). Map a local model server explicitly
   (``localhost:11434=ollama``) to leave it unpriced.
4. The client library's own default host keeps its provider.
5. Anything else keeps the client library's provider *name* but is marked
   ``otel_llm.provider.unresolved=true``: priced only by the pricing file, never by
   genai-prices under a provider the endpoint may not be.

Results are cached per (host, port, first path segment) with a bounded cache.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from genai_prices.types import Provider

__all__ = [
    "ENV_HOSTS",
    "PRICING_IDS",
    "SEMCONV_NAMES",
    "UNRESOLVED",
    "Endpoint",
    "parse_hosts",
    "price_id",
    "provider_by_id",
    "reset",
    "resolve",
    "semconv_name",
]

logger = logging.getLogger("otel_llm.providers")

ENV_HOSTS: Final = "OTEL_LLM_PROVIDER_HOSTS"
UNRESOLVED: Final = "otel_llm.provider.unresolved"
"""Span attribute: the endpoint matched no known provider; priced only by the pricing file."""

SEMCONV_NAMES: Final[Mapping[str, str]] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "azure": "azure.ai.openai",
    "aws": "aws.bedrock",
    "google": "gcp.gemini",
    "x-ai": "x_ai",
    "groq": "groq",
    "deepseek": "deepseek",
    "mistral": "mistral_ai",
    "perplexity": "perplexity",
    "cohere": "cohere",
}
"""genai-prices provider id -> semconv ``gen_ai.provider.name`` well-known value. Any
other genai-prices provider keeps its id (``openrouter``, ``together``, ``cerebras``)."""

PRICING_IDS: Final[Mapping[str, str]] = {
    **{v: k for k, v in SEMCONV_NAMES.items()},
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "azure.ai.inference": "azure",
    # older gen_ai.system spellings
    "az.ai.openai": "azure",
    "az.ai.inference": "azure",
    "vertex_ai": "google",
    "gemini": "google",
    "xai": "x-ai",
    "bedrock": "aws",
}
"""Semconv provider names (current and older ``gen_ai.system`` spellings) -> genai-prices
provider ids; the reverse of :data:`SEMCONV_NAMES` plus the other spellings."""

SDK_DEFAULT_HOSTS: Final[Mapping[str, str]] = {
    "openai": "api.openai.com",
    "anthropic": "api.anthropic.com",
}
"""The host each SDK family's client uses when no base URL is given."""

_VERTEX = re.compile(r"(?:^|.*-)aiplatform\.googleapis\.com$")
_CACHE_LIMIT: Final = 1024


@dataclass(frozen=True, slots=True)
class Endpoint:
    """What an endpoint says about a call's provider."""

    provider: str
    """``gen_ai.provider.name`` (semconv value, or the genai-prices id, or a mapped name)."""
    price_id: str | None
    """The genai-prices provider to price with; None: only the pricing file prices it."""
    unresolved: bool = False
    """The host matched nothing: the provider name is the client library's."""


def price_id(provider: str | None) -> str | None:
    """The genai-prices provider id of a semconv name or id, or None if genai-prices has none."""
    if not provider:
        return None
    key = provider.strip().lower()
    mapped = PRICING_IDS.get(key, key)
    return mapped if provider_by_id(mapped) is not None else None


def semconv_name(pid: str, host: str = "") -> str:
    """The semconv ``gen_ai.provider.name`` for genai-prices id ``pid`` at ``host``."""
    if pid == "google" and _VERTEX.match(host):
        return "gcp.vertex_ai"
    return SEMCONV_NAMES.get(pid, pid)


_by_id: dict[str, Provider] | None = None


def provider_by_id(pid: str | None) -> Provider | None:
    """The bundled genai-prices provider with exactly this id, or None (indexed once)."""
    global _by_id
    if _by_id is None:
        from otel_llm._price_data import snapshot

        _by_id = {p.id: p for p in snapshot().providers}
    return _by_id.get(pid) if pid else None


def parse_hosts(raw: str) -> dict[str, str]:
    """``host[:port]=provider`` pairs -> {host[:port] (lower case): provider}; bad pairs
    are logged and skipped."""
    out: dict[str, str] = {}
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        host, sep, provider = part.partition("=")
        host, provider = host.strip().lower(), provider.strip()
        if not sep or not host or not provider:
            logger.warning("otel-llm: %s: ignoring %r (want host[:port]=provider)", ENV_HOSTS, part)
            continue
        if "://" in host:
            host = urlsplit(host).netloc or host
        out[host] = provider
    return out


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.hosts: dict[str, str] | None = None
        self.cache: dict[tuple[str, int | None, str, str], Endpoint] = {}


_state = _State()


def reset(hosts: Mapping[str, str] | None = None) -> None:
    """Forget cached results; ``hosts`` replaces the environment's mapping (tests, config)."""
    with _state.lock:
        _state.hosts = dict(hosts) if hosts is not None else None
        _state.cache = {}


def _mapping() -> dict[str, str]:
    hosts = _state.hosts
    if hosts is None:
        hosts = parse_hosts(os.environ.get(ENV_HOSTS, ""))
        _state.hosts = hosts
    return hosts


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _mapped(value: str) -> Endpoint:
    key = value.strip().lower()
    pid = price_id(key)
    if pid is None:
        return Endpoint(key, None)
    if key in PRICING_IDS:
        return Endpoint(key, pid)
    return Endpoint(semconv_name(pid), pid)


def _resolve(host: str, port: int | None, path: str, sdk_provider: str) -> Endpoint:
    hosts = _mapping()
    if hosts:
        value = hosts.get(f"{host}:{port}") if port is not None else None
        if value is None:
            value = hosts.get(host)
        if value is not None:
            return _mapped(value)
    from otel_llm._price_data import snapshot

    url = f"https://{host}{path}"
    for prov in snapshot().providers:
        if prov.api_pattern and re.match(prov.api_pattern, url):
            return Endpoint(semconv_name(prov.id, host), prov.id)
    if _is_loopback(host) or SDK_DEFAULT_HOSTS.get(sdk_provider) == host:
        return Endpoint(sdk_provider, price_id(sdk_provider))
    return Endpoint(sdk_provider, None, unresolved=True)


def resolve(url: str, sdk_provider: str) -> Endpoint:
    """The provider of a call to ``url`` made by a client of family ``sdk_provider``.

    Never raises: a URL that cannot be read resolves like an unknown host.
    """
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port
        path = parts.path
    except ValueError:
        host, port, path = "", None, ""
    return resolve_host(host, port, path, sdk_provider)


def resolve_host(host: str, port: int | None, path: str, sdk_provider: str) -> Endpoint:
    """:func:`resolve` for an already split URL (``host`` in lower case)."""
    # the first path segment is enough for the patterns that carry a path (Cloudflare,
    # Hugging Face's router) and keeps the cache bounded by hosts, not models
    head = path.split("/", 2)
    first = "/" + head[1] if len(head) > 1 else ""
    if host in ("api.cloudflare.com",):
        first = path  # account-scoped pattern: the whole path decides
    key = (host, port, first, sdk_provider)
    hit = _state.cache.get(key)
    if hit is not None:
        return hit
    try:
        found = _resolve(host, port, path if first == path else first, sdk_provider)
    except Exception:
        logger.debug("otel-llm: provider lookup failed for %s", host, exc_info=True)
        found = Endpoint(sdk_provider, None, unresolved=True)
    with _state.lock:
        if len(_state.cache) >= _CACHE_LIMIT:
            _state.cache.clear()
        _state.cache[key] = found
    return found
