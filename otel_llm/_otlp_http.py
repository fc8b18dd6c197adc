"""The default trace exporter, OTLP/HTTP protobuf, without ``requests``.

The official ``OTLPSpanExporter`` (opentelemetry-exporter-otlp-proto-http) sends through
opentelemetry-exporter-otlp-common's ``_OTLPHTTPClient`` (retries, backoff, Retry-After,
timeout, compression) over a pluggable transport, but its ``_common`` module imports the
``requests`` transport (and with it ``requests``, about 3.8 MiB) at import time.
:class:`ProtobufHTTPSpanExporter` is the same exporter assembled from the same official
parts: proto-common's ``encode_spans``, the client, the exporter metrics, over a
transport of opentelemetry-exporter-http-transport's ``BaseHTTPTransport`` interface.
That package's own transports are over ``requests`` and urllib3; this one
(``StdlibHTTPTransport``, about 100 lines) is over the standard library's
``http.client`` (already loaded by any process that speaks HTTP), with the urllib3
transport's settings (TLS verification and files, no redirects, no retries of its own:
the client retries connection errors and 429/502/503/504 with backoff): urllib3's 1.2
MiB of modules are not loaded. Its ``export``/``shutdown``/``force_flush`` mirror the
official ones line for line and log under the official exporter's logger, so its records
and failures read the same. What the official module keeps private and behind
``requests`` (resolving the endpoint, headers, timeout, compression and TLS files from
the environment) is mirrored here.

It is used only where its parts are the ones checked (:func:`composable`): the versions
in :data:`CHECKED_VERSIONS`, or parts whose names and signatures are still the expected
ones; anything else gets the official exporter. A credential-provider session
(``OTEL_PYTHON_EXPORTER_OTLP_HTTP_[TRACES_]CREDENTIAL_PROVIDER``) is a
``requests.Session``: set, the official exporter is used too.

One difference in how the body is built, not in what it holds: a batch of more than
:data:`ENCODE_SLICE` spans is encoded :data:`ENCODE_SLICE` spans at a time and the
serialized messages are concatenated into the one request body. Concatenated protobuf
messages of one type read as one message with the repeated fields joined, so the body is
one valid ``ExportTraceServiceRequest`` with the same spans; each slice carries its own
``ResourceSpans``/``ScopeSpans`` (the same resource and scope repeated, about 300 bytes
a slice; spans are grouped by scope within a slice instead of the whole batch).
Encoding 512 spans at once built the whole message tree (upb) next to the queued spans:
about 3.5 MiB more peak RSS in ``bench/bench_rss.py``.
"""

from __future__ import annotations

import functools
import http.client
import inspect
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from opentelemetry.sdk.environment_variables import (
    _OTEL_PYTHON_EXPORTER_OTLP_HTTP_CREDENTIAL_PROVIDER,
    _OTEL_PYTHON_EXPORTER_OTLP_HTTP_TRACES_CREDENTIAL_PROVIDER,
    OTEL_EXPORTER_OTLP_CERTIFICATE,
    OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE,
    OTEL_EXPORTER_OTLP_CLIENT_KEY,
    OTEL_EXPORTER_OTLP_COMPRESSION,
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_HEADERS,
    OTEL_EXPORTER_OTLP_TIMEOUT,
    OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE,
    OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE,
    OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY,
    OTEL_EXPORTER_OTLP_TRACES_COMPRESSION,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    OTEL_EXPORTER_OTLP_TRACES_HEADERS,
    OTEL_EXPORTER_OTLP_TRACES_TIMEOUT,
    OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.semconv.attributes.http_attributes import HTTP_RESPONSE_STATUS_CODE

if TYPE_CHECKING:
    from opentelemetry.exporter.http.transport._base import BaseHTTPTransport

log = logging.getLogger(__name__)

# The official exporter's logger: its records (and ReportingExporter's reading of them,
# under "opentelemetry.exporter") are the same whichever of the two exports.
_logger = logging.getLogger("opentelemetry.exporter.otlp.proto.http.trace_exporter")

# distribution -> the version whose source this module mirrors (and the tests run on)
CHECKED_VERSIONS = {
    "opentelemetry-exporter-otlp-proto-http": "1.45.1",
    "opentelemetry-exporter-otlp-proto-common": "1.45.1",
    "opentelemetry-exporter-otlp-common": "0.66b1",
    "opentelemetry-exporter-http-transport": "0.66b1",
}
_VERSION_MODULES = {
    "opentelemetry-exporter-otlp-proto-http": "opentelemetry.exporter.otlp.proto.http.version",
    "opentelemetry-exporter-otlp-proto-common": (
        "opentelemetry.exporter.otlp.proto.common.version"
    ),
    "opentelemetry-exporter-otlp-common": "opentelemetry.exporter.otlp.common.version",
    "opentelemetry-exporter-http-transport": "opentelemetry.exporter.http.transport.version",
}

# as the official exporter (proto/http/_common and trace_exporter)
_DEFAULT_ENDPOINT = "http://localhost:4318"
_DEFAULT_TRACES_EXPORT_PATH = "v1/traces"
_DEFAULT_TIMEOUT = 10
_DEFAULT_MAX_REQUEST_SIZE = 64 * 1024 * 1024  # bytes, measured before compression

ENCODE_SLICE = 32
"""Spans encoded at a time into one request body (see the module's docstring)."""

_CLIENT_PARAMETERS = ("transport", "endpoint", "kind", "timeout", "compression", "headers")


def installed_versions() -> dict[str, str | None]:
    """The installed version of each part, read from the parts' own version modules."""
    import importlib

    versions: dict[str, str | None] = {}
    for dist, module in _VERSION_MODULES.items():
        try:
            versions[dist] = str(importlib.import_module(module).__version__)
        except Exception:
            versions[dist] = None
    return versions


def _shapes_match() -> str | None:
    """None when the private parts this exporter uses exist with the expected
    signatures; else what differs."""
    try:
        from opentelemetry.exporter.http.transport._base import (
            BaseHTTPResult,
            BaseHTTPTransport,
        )
        from opentelemetry.exporter.otlp.common import http as _http
        from opentelemetry.exporter.otlp.common._exporter_metrics import (
            create_exporter_metrics,
        )
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
        from opentelemetry.exporter.otlp.proto.http import _OTLP_HTTP_HEADERS
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    client = inspect.signature(_http._OTLPHTTPClient.__init__).parameters
    missing = [p for p in (*_CLIENT_PARAMETERS, "logger") if p not in client]
    if missing:
        return f"_OTLPHTTPClient takes no {missing}"
    for name in ("export", "shutdown"):
        if not callable(getattr(_http._OTLPHTTPClient, name, None)):
            return f"_OTLPHTTPClient has no {name}()"
    abstract = getattr(BaseHTTPTransport, "__abstractmethods__", None)
    if abstract != {"request", "close", "is_connection_error"}:
        return f"BaseHTTPTransport's abstract methods are {abstract}"
    if getattr(BaseHTTPResult, "__abstractmethods__", None) != {"content", "headers"} or [
        f for f in BaseHTTPResult.__dataclass_fields__
    ] != ["status_code", "reason", "error"]:
        return "BaseHTTPResult changed"
    if [c.value for c in _http.Compression] != ["none", "deflate", "gzip"]:
        return "otlp-common's Compression changed"
    if len(inspect.signature(create_exporter_metrics).parameters) != 5:
        return "create_exporter_metrics' signature changed"
    if not callable(encode_spans) or "Content-Type" not in _OTLP_HTTP_HEADERS:
        return "proto-common/proto-http parts changed"
    return None


def composable() -> tuple[bool, str]:
    """Whether :class:`ProtobufHTTPSpanExporter` may stand for the official exporter,
    and why (for the debug log)."""
    if os.environ.get(_OTEL_PYTHON_EXPORTER_OTLP_HTTP_CREDENTIAL_PROVIDER) or os.environ.get(
        _OTEL_PYTHON_EXPORTER_OTLP_HTTP_TRACES_CREDENTIAL_PROVIDER
    ):
        return False, "a credential provider (a requests.Session) is configured"
    differs = _shapes_match()
    if differs is not None:
        return False, f"its parts are not the expected ones ({differs})"
    versions = installed_versions()
    if versions == CHECKED_VERSIONS:
        return True, "checked versions"
    return True, f"unchecked versions {versions} with the expected names and signatures"


def span_exporter() -> SpanExporter:
    """The default OTLP/HTTP protobuf trace exporter: the composed one where its parts
    are the checked ones, else the official one (logged at debug, either way)."""
    ok, why = composable()
    if ok:
        try:
            exporter = ProtobufHTTPSpanExporter()
        except Exception as exc:  # a part behaves unlike the checked one: the official path
            why = f"{type(exc).__name__}: {exc}"
        else:
            log.debug("OTLP/HTTP protobuf trace exporter: otel-llm's, over http.client (%s)", why)
            return exporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    log.debug("OTLP/HTTP protobuf trace exporter: the official one, over requests (%s)", why)
    return OTLPSpanExporter()


def _env(*names: str) -> str | None:
    for name in names:
        if value := os.environ.get(name):
            return value
    return None


def _resolve_endpoint() -> str:
    # the signal's variable is the full URL; the general one is a base the path is added to
    if endpoint := os.environ.get(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT):
        return endpoint
    base = os.environ.get(OTEL_EXPORTER_OTLP_ENDPOINT) or _DEFAULT_ENDPOINT
    return f"{base.removesuffix('/')}/{_DEFAULT_TRACES_EXPORT_PATH}"


def _resolve_headers() -> dict[str, str]:
    from opentelemetry.exporter.otlp.proto.http import _OTLP_HTTP_HEADERS
    from opentelemetry.util.re import parse_env_headers

    headers = {k.lower(): v for k, v in _OTLP_HTTP_HEADERS.items()}
    raw = _env(OTEL_EXPORTER_OTLP_TRACES_HEADERS, OTEL_EXPORTER_OTLP_HEADERS) or ""
    headers.update(parse_env_headers(raw, liberal=True))
    return headers


def _resolve_timeout() -> float:
    raw: Any = (
        _env(OTEL_EXPORTER_OTLP_TRACES_TIMEOUT, OTEL_EXPORTER_OTLP_TIMEOUT) or _DEFAULT_TIMEOUT
    )
    try:
        return float(raw)
    except ValueError:
        _logger.warning(
            "Invalid timeout value %r, using default of %s seconds", raw, _DEFAULT_TIMEOUT
        )
        return float(_DEFAULT_TIMEOUT)


def _resolve_compression() -> Any:
    from opentelemetry.exporter.otlp.common import http as _http

    value = (
        (_env(OTEL_EXPORTER_OTLP_TRACES_COMPRESSION, OTEL_EXPORTER_OTLP_COMPRESSION) or "none")
        .lower()
        .strip()
    )
    try:
        return _http.Compression.from_str(value)
    except ValueError:
        _logger.warning("Unsupported compression type: %s", value)
        return _http.Compression.NONE


def _build_transport() -> BaseHTTPTransport:
    verify: bool | str = (
        _env(OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE, OTEL_EXPORTER_OTLP_CERTIFICATE) or True
    )
    key = _env(OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY, OTEL_EXPORTER_OTLP_CLIENT_KEY)
    certificate = _env(
        OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE, OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE
    )
    cert = (certificate, key) if certificate and key else certificate
    transport: BaseHTTPTransport = _transport_class()(verify=verify, cert=cert)  # type: ignore[call-arg]
    return transport


@functools.cache
def _transport_class() -> type[BaseHTTPTransport]:
    """:class:`StdlibHTTPTransport` (defined here: its base class loads with the exporter)."""
    from opentelemetry.exporter.http.transport._base import BaseHTTPResult, BaseHTTPTransport

    @dataclass(frozen=True, slots=True)
    class _Result(BaseHTTPResult):
        body: bytes = b""
        response_headers: Any = field(default=None, compare=False)  # an HTTPMessage

        def content(self) -> bytes:
            return self.body

        def headers(self) -> Mapping[str, str]:
            # http.client's HTTPMessage: case-insensitive get(), as the interface asks
            headers: Mapping[str, str] = self.response_headers or {}
            return headers

    class StdlibHTTPTransport(BaseHTTPTransport):
        """opentelemetry-exporter-http-transport's ``BaseHTTPTransport`` over the
        standard library's ``http.client``, with the settings of its
        ``Urllib3HTTPTransport``: TLS verified against the system's or ``verify``'s CA
        file (``verify=False``: not verified), an optional client certificate and key, no
        redirects and no retries of its own (the OTLP client retries), a keep-alive
        connection per host reused. ``http.client`` is part of the standard library
        (an HTTP client or server has it loaded already); urllib3 is about 1.2 MiB of
        modules only the exporter would load."""

        def __init__(self, *, verify: bool | str = True, cert: Any = None) -> None:
            self.verify, self.cert = verify, cert
            self._context: Any = None  # ssl.SSLContext, built on the first https request
            self._lock = threading.Lock()
            self._idle: dict[tuple[str, str, int], http.client.HTTPConnection] = {}
            self._closed = False

        def ssl_context(self) -> Any:
            import ssl

            if self._context is None:  # as urllib3's: verified, unless verify is False
                ctx = ssl.create_default_context(
                    cafile=self.verify if isinstance(self.verify, str) else None
                )
                if self.verify is False:
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                if isinstance(self.cert, tuple):
                    ctx.load_cert_chain(self.cert[0], self.cert[1])
                elif self.cert:
                    ctx.load_cert_chain(self.cert)
                self._context = ctx
            return self._context

        def request(
            self,
            method: str,
            url: str,
            *,
            headers: dict[str, str] | None = None,
            timeout: float | None = None,
            data: bytes | None = None,
        ) -> BaseHTTPResult:
            try:
                parts = urlsplit(url)
                https = parts.scheme == "https"
                if parts.scheme not in ("http", "https") or not parts.hostname:
                    raise ValueError(f"not an http(s) URL: {url!r}")
                host, port = parts.hostname, parts.port or (443 if https else 80)
                target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
                key = (parts.scheme, host, port)
                with self._lock:  # one request at a time on a connection
                    conn = self._idle.pop(key, None)
                if conn is None:
                    conn = (
                        http.client.HTTPSConnection(
                            host, port, timeout=timeout, context=self.ssl_context()
                        )
                        if https
                        else http.client.HTTPConnection(host, port, timeout=timeout)
                    )
                else:
                    conn.timeout = timeout
                    if conn.sock is not None:
                        conn.sock.settimeout(timeout)
                try:
                    conn.request(method, target, body=data, headers=headers or {})
                    response = conn.getresponse()
                    body = response.read()
                except BaseException:
                    conn.close()
                    raise
                spare = None
                if not response.will_close:
                    with self._lock:  # kept for the next request, unless closed meanwhile
                        spare = None if self._closed else self._idle.setdefault(key, conn)
                if spare is not conn:
                    conn.close()
                return _Result(
                    status_code=response.status,
                    reason=response.reason,
                    body=body,
                    response_headers=response.headers,
                )
            except Exception as error:  # the client reads errors from the result
                return _Result(error=error)

        def is_connection_error(self, exception: Exception | None) -> bool:
            # refused, reset, timed out, name resolution, TLS, a stale keep-alive
            # connection the server closed: the client retries these
            return isinstance(exception, OSError | http.client.HTTPException)

        def close(self) -> None:
            with self._lock:
                self._closed = True
                idle, self._idle = list(self._idle.values()), {}
            for conn in idle:
                conn.close()

    return StdlibHTTPTransport


class ProtobufHTTPSpanExporter(SpanExporter):
    """OTLP/HTTP protobuf span exporter configured from the environment exactly as the
    official ``OTLPSpanExporter()`` (endpoint and its ``v1/traces`` path, headers,
    timeout, compression, CA/client certificate and key), sending over http.client."""

    def __init__(self, *, max_request_size: int | None = None) -> None:
        from opentelemetry.exporter.otlp.common import http as _http
        from opentelemetry.exporter.otlp.common._exporter_metrics import (
            create_exporter_metrics,
        )
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
        from opentelemetry.semconv._incubating.attributes.otel_attributes import (
            OtelComponentTypeValues,
        )

        self._encode = encode_spans
        self._endpoint = _resolve_endpoint()
        self._compression = _resolve_compression()
        self._max_request_size = (
            _DEFAULT_MAX_REQUEST_SIZE if max_request_size is None else max_request_size
        )
        self._client = _http._OTLPHTTPClient(
            transport=_build_transport(),
            endpoint=self._endpoint,
            kind="spans",
            timeout=_resolve_timeout(),
            compression=self._compression,
            headers=_resolve_headers(),
            logger=_logger,
        )
        self._shutdown = False
        self._metrics = create_exporter_metrics(
            OtelComponentTypeValues.OTLP_HTTP_SPAN_EXPORTER,
            "traces",
            self._endpoint,
            None,
            os.environ.get(OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED, "").strip().lower() == "true",
        )

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shutdown:
            _logger.warning("Exporter already shutdown, ignoring batch")
            return SpanExportResult.FAILURE

        with self._metrics.export_operation(len(spans)) as result:
            try:
                serialized = self._serialize(spans)
            except Exception as error:
                _logger.error("Failed to encode span batch: %s", error)
                result.error = error
                return SpanExportResult.FAILURE

            if 0 < self._max_request_size < len(serialized):
                _logger.warning(
                    "Dropping span batch: serialized size %d bytes exceeds "
                    "max_request_size %d bytes.",
                    len(serialized),
                    self._max_request_size,
                )
                result.error = RequestPayloadTooLargeError(
                    f"Serialized span request size {len(serialized)} bytes exceeds "
                    f"max_request_size {self._max_request_size} bytes."
                )
                return SpanExportResult.FAILURE

            export_result = self._client.export(serialized)  # type: ignore[arg-type]  # bytes-like
            if not export_result.success:
                result.error = export_result.error
                result.error_attrs = (
                    {HTTP_RESPONSE_STATUS_CODE: export_result.status_code}
                    if export_result.status_code is not None
                    else None
                )
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def _serialize(self, spans: Sequence[ReadableSpan]) -> bytes | bytearray:
        """One ``ExportTraceServiceRequest``: a small batch encoded as the official
        exporter does, a large one :data:`ENCODE_SLICE` spans at a time, concatenated."""
        if len(spans) <= ENCODE_SLICE:
            return bytes(self._encode(spans).SerializePartialToString())
        body = bytearray()
        for start in range(0, len(spans), ENCODE_SLICE):
            body += self._encode(spans[start : start + ENCODE_SLICE]).SerializePartialToString()
        # sent as it is (the client compresses or passes it on, http.client sends any
        # bytes-like body): a bytes copy would double the body at the export's peak
        return body

    def shutdown(self) -> None:
        if self._shutdown:
            _logger.warning("Exporter already shutdown, ignoring call")
            return
        self._shutdown = True
        self._client.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing is buffered in this exporter."""
        return True


class RequestPayloadTooLargeError(Exception):
    """A serialized request exceeded ``max_request_size`` (the official exporter's
    error of the same name lives in its ``requests``-importing module; the class name is
    what its failed-export metric's ``error.type`` carries)."""
