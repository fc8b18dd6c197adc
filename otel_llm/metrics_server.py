"""Where the metrics are served: a small HTTP server, an ASGI app, a FastAPI mount.

All three speak OpenMetrics (with exemplars) when the scraper's ``Accept`` header asks for
``application/openmetrics-text`` and the plain Prometheus text format otherwise; the
content negotiation is prometheus-client's own (``choose_encoder``).

Several worker processes (uvicorn ``--workers``, gunicorn): each process has its own
registry and takes the first free port of ``OTEL_LLM_METRICS_PORT`` ..
``OTEL_LLM_METRICS_PORT + OTEL_LLM_METRICS_PORT_COUNT - 1``; Prometheus scrapes every port as
its own target (the ``instance`` label tells the workers apart) and sums. A restarted
worker starts from zero on a free port, which Prometheus reads as the real counter reset it
is. Exemplars keep working, unlike prometheus-client's multiprocess mode. See
docs/multiprocess.md for the reasoning and the scrape configuration.

prometheus-client is imported when a server starts or an app serves its first scrape, not
with this module; an app can be given a function that returns the registry, called at
the first scrape (``configure()``'s apps: the registry is made then).
"""

from __future__ import annotations

import asyncio
import errno
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from otel_llm._asgi import Receive, Scope, Send
from otel_llm.config import Settings

if TYPE_CHECKING:
    from typing import TypeAlias

    from prometheus_client import CollectorRegistry

    RegistrySource: TypeAlias = CollectorRegistry | Callable[[], CollectorRegistry]
    """A registry, or a function that returns it (called at the first scrape)."""

__all__ = [
    "MetricsApp",
    "MetricsServer",
    "MetricsServerError",
    "metrics_app",
    "mount_metrics",
    "start_metrics_server",
]


class MetricsServerError(OSError):
    """The metrics server could not bind; the message names the address and ports tried."""


@dataclass
class MetricsServer:
    """A running metrics server (daemon thread). ``worker`` is the offset from the base port."""

    port: int
    addr: str
    worker: int
    _httpd: Any = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.addr in ("0.0.0.0", "", "::") else self.addr
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving and release the port (idempotent)."""
        if self._thread.is_alive():
            self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=2)


def start_metrics_server(
    settings_or_port: Settings | int,
    registry: CollectorRegistry,
    *,
    addr: str | None = None,
    port_count: int | None = None,
) -> MetricsServer:
    """Serve ``registry`` on the first free port of the configured range, in a daemon thread.

    ``settings_or_port``: :class:`Settings` (``metrics_port``, ``metrics_addr``,
    ``metrics_port_count``) or a port number (0 = any free port, for tests). Raises
    :class:`MetricsServerError` (an ``OSError``) naming the address and ports when none binds.
    """
    if isinstance(settings_or_port, Settings):
        if settings_or_port.metrics_port is None:
            raise ValueError("OTEL_LLM_METRICS_PORT is not set: no port to serve /metrics on")
        port = settings_or_port.metrics_port
        addr = addr if addr is not None else settings_or_port.metrics_addr
        count = port_count if port_count is not None else settings_or_port.metrics_port_count
    else:
        port = settings_or_port
        addr = addr if addr is not None else "0.0.0.0"
        count = port_count if port_count is not None else 1
    if not 0 <= port <= 65535 or count < 1 or port + count - 1 > 65535:
        raise ValueError(f"invalid metrics port range: {port} (+{count})")
    if port == 0:
        count = 1
    from prometheus_client import start_http_server

    errors: list[str] = []
    in_use = False
    for offset in range(count):
        try:
            httpd, thread = start_http_server(port + offset, addr=addr, registry=registry)
        except OSError as exc:
            errors.append(f"{port + offset}: {exc.strerror or exc}")
            in_use = exc.errno == errno.EADDRINUSE
            if in_use:
                continue
            break
        return MetricsServer(int(httpd.server_port), addr, offset, httpd, thread)
    tried = f"port {port}" if count == 1 else f"ports {port}-{port + count - 1}"
    hint = (
        "; with several worker processes set OTEL_LLM_METRICS_PORT_COUNT to the number of workers"
        if in_use
        else ""
    )
    raise MetricsServerError(f"cannot serve /metrics on {addr} {tried}: {'; '.join(errors)}{hint}")


class MetricsApp:
    """ASGI app serving one registry; the exposition is rendered off the event loop.

    ``registry``: the registry, or a function that returns it, called (off the event loop)
    at the first scrape; prometheus-client is imported then too.
    """

    def __init__(self, registry: RegistrySource) -> None:
        self._source: RegistrySource = registry
        self._registry: CollectorRegistry | None = None if callable(registry) else registry
        self._lock = threading.Lock()

    @property
    def registry(self) -> CollectorRegistry:
        """The registry served (the function is called once, at the first scrape)."""
        registry = self._registry
        if registry is None:
            with self._lock:  # concurrent first scrapes run in the executor's threads
                registry = self._registry
                if registry is None:
                    source = self._source
                    registry = self._registry = source() if callable(source) else source
        return registry

    def render(self, accept: str) -> tuple[bytes, str]:
        """The exposition the ``Accept`` header asks for, and its content type."""
        from prometheus_client.exposition import choose_encoder

        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") == "lifespan":  # when run on its own: accept start and stop
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope.get("type") != "http":
            return
        method = scope.get("method", "GET")
        if method not in ("GET", "HEAD"):
            await _respond(
                send, 405, b"method not allowed\n", "text/plain", [(b"allow", b"GET, HEAD")]
            )
            return
        accept = ",".join(
            value.decode("latin-1")
            for name, value in scope.get("headers", ())
            if name.lower() == b"accept"
        )
        loop = asyncio.get_running_loop()
        body, content_type = await loop.run_in_executor(None, self.render, accept)
        await _respond(send, 200, b"" if method == "HEAD" else body, content_type)


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    content_type: str,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type.encode()), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": body})


def metrics_app(registry: RegistrySource) -> MetricsApp:
    """An ASGI app that serves ``registry`` (OpenMetrics when asked, Prometheus text else);
    given a function, it is called at the first scrape."""
    return MetricsApp(registry)


def mount_metrics(app: Any, registry: RegistrySource, path: str = "/metrics") -> None:
    """Serve ``registry`` (or what a function returns at the first scrape) at ``path`` of
    a FastAPI/Starlette app (hidden from the schema)."""
    app.add_route(path, metrics_app(registry), methods=["GET"], include_in_schema=False)
