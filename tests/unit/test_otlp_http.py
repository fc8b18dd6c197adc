"""otel-llm's OTLP/HTTP protobuf exporter (the default, over urllib3) against the official
``OTLPSpanExporter`` (over requests): the same configuration from the same environment,
the same request on the wire, the same failures; and the gate that picks one of them."""

from __future__ import annotations

import gzip
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_llm._otlp_http as composed
from otel_llm._otlp_http import ProtobufHTTPSpanExporter

OTLP_VARS = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
    "OTEL_EXPORTER_OTLP_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_CLIENT_KEY",
    "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
    "OTEL_PYTHON_EXPORTER_OTLP_HTTP_CREDENTIAL_PROVIDER",
    "OTEL_PYTHON_EXPORTER_OTLP_HTTP_TRACES_CREDENTIAL_PROVIDER",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OTLP_VARS:
        monkeypatch.delenv(name, raising=False)


class Capture:
    """A loopback OTLP/HTTP endpoint that keeps every request and answers ``status``."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.status = 200
        capture = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                capture.requests.append((self.path, headers, body))
                self.send_response(capture.status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def capture() -> Iterator[Capture]:
    c = Capture()
    yield c
    c.close()


def make_spans() -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "svc"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("t", "1.0")
    with tracer.start_as_current_span("chat gpt-4o-mini") as span:
        span.set_attribute("gen_ai.provider.name", "openai")
        span.set_attribute("gen_ai.usage.input_tokens", 12)
        span.set_attribute("gen_ai.usage.cost.amount", 0.000123)
        span.add_event("e", {"k": "v"})
        with tracer.start_as_current_span("child"):
            pass
    return list(memory.get_finished_spans())


# the headers each HTTP library adds on its own (requests: Accept, Accept-Encoding,
# Connection); everything the exporters set must be equal
TRANSPORT_HEADERS = {"accept", "accept-encoding", "connection", "host", "content-length"}


@pytest.mark.parametrize("compression", ["none", "gzip", "deflate"])
def test_same_request_as_the_official_exporter(
    compression: str, capture: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", capture.url + "/base/")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", compression)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20t,x-tenant=a")
    spans = make_spans()
    for exporter in (OTLPSpanExporter(), ProtobufHTTPSpanExporter()):
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        exporter.shutdown()
    (o_path, o_headers, o_body), (c_path, c_headers, c_body) = capture.requests
    assert c_path == o_path == "/base/v1/traces"
    strip = lambda h: {k: v for k, v in h.items() if k not in TRANSPORT_HEADERS}  # noqa: E731
    assert strip(c_headers) == strip(o_headers)
    assert c_headers["content-type"] == "application/x-protobuf"
    assert c_headers["authorization"] == "Bearer t" and c_headers["x-tenant"] == "a"
    if compression == "none":
        assert c_body == o_body
        assert "content-encoding" not in c_headers
    elif compression == "gzip":
        assert c_headers["content-encoding"] == "gzip"
        assert gzip.decompress(c_body) == gzip.decompress(o_body)
        assert len(gzip.decompress(c_body)) > 100  # the spans, not an empty request
    else:
        import zlib

        assert c_body == o_body and zlib.decompress(c_body)


ENVS: list[dict[str, str]] = [
    {},
    {"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4318"},
    {"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4318/"},
    {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "https://ignored:4318",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://c:9/custom/path",  # used as is
    },
    {"OTEL_EXPORTER_OTLP_TIMEOUT": "3", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "2.5"},
    {"OTEL_EXPORTER_OTLP_TIMEOUT": "soon"},  # invalid: the default, with a warning
    {"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"},
    {"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "none"},
    {"OTEL_EXPORTER_OTLP_COMPRESSION": "br"},  # unsupported: none, with a warning
    {"OTEL_EXPORTER_OTLP_HEADERS": "a=1", "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "b=2,C=3"},
    {"OTEL_EXPORTER_OTLP_HEADERS": "Content-Type=text/plain,User-Agent=me"},
]


@pytest.mark.parametrize("env", ENVS, ids=[",".join(e) or "defaults" for e in ENVS])
def test_configured_from_the_environment_as_the_official_exporter(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    official, ours = OTLPSpanExporter(), ProtobufHTTPSpanExporter()
    assert ours._endpoint == official._endpoint
    for attr in ("_endpoint", "_timeout", "_compression", "_headers", "_kind"):
        assert getattr(ours._client, attr) == getattr(official._client, attr), attr
    assert ours._max_request_size == official._max_request_size


@pytest.mark.parametrize(
    ("env", "verify", "cert"),
    [
        ({}, True, None),
        ({"OTEL_EXPORTER_OTLP_CERTIFICATE": "/ca.pem"}, "/ca.pem", None),
        (
            {
                "OTEL_EXPORTER_OTLP_CERTIFICATE": "/ca.pem",
                "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE": "/traces-ca.pem",
                "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": "/client.pem",
                "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY": "/client.key",
            },
            "/traces-ca.pem",
            ("/client.pem", "/client.key"),
        ),
        ({"OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE": "/both.pem"}, True, "/both.pem"),
    ],
)
def test_tls_files_as_the_official_exporter(
    env: dict[str, str], verify: Any, cert: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    session = OTLPSpanExporter()._client._transport._session  # type: ignore[attr-defined]
    assert (session.verify, session.cert) == (verify, cert)
    transport = ProtobufHTTPSpanExporter()._client._transport  # type: ignore[attr-defined]
    assert (transport.verify, transport.cert) == (verify, cert)


@pytest.mark.parametrize("exporter_type", [OTLPSpanExporter, ProtobufHTTPSpanExporter])
def test_failures_read_the_same(
    exporter_type: type[Any],
    capture: Capture,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A rejected batch fails with the official logger's records (ReportingExporter
    names the reason from them); a batch over max_request_size is not sent."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", capture.url + "/v1/traces")
    capture.status = 400
    caplog.set_level(logging.WARNING, logger="opentelemetry.exporter")
    exporter = exporter_type()
    assert exporter.export(make_spans()) is SpanExportResult.FAILURE
    (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.name == "opentelemetry.exporter.otlp.proto.http.trace_exporter"
    assert record.getMessage() == "Failed to export spans batch code: 400, reason: Bad Request"
    exporter.shutdown()
    assert exporter.export(make_spans()) is SpanExportResult.FAILURE  # after shutdown
    small = exporter_type(max_request_size=10)
    capture.requests.clear()
    assert small.export(make_spans()) is SpanExportResult.FAILURE
    assert capture.requests == []
    assert small.force_flush() is True


def test_the_checked_versions_are_installed() -> None:
    # a new release of a part is reviewed (its trace exporter's source against
    # ProtobufHTTPSpanExporter) and CHECKED_VERSIONS moved with it
    assert composed.installed_versions() == composed.CHECKED_VERSIONS
    assert composed.composable() == (True, "checked versions")
    assert isinstance(composed.span_exporter(), ProtobufHTTPSpanExporter)


def test_unexpected_parts_fall_back_to_the_official_exporter(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import abc

    from opentelemetry.exporter.http.transport import _base

    class Changed(abc.ABC):  # a release whose transport interface asks for more
        @abc.abstractmethod
        def request(self) -> None: ...

        @abc.abstractmethod
        def request_stream(self) -> None: ...

    monkeypatch.setattr(_base, "BaseHTTPTransport", Changed)
    caplog.set_level(logging.DEBUG, logger="otel_llm._otlp_http")
    assert composed.composable()[0] is False
    assert isinstance(composed.span_exporter(), OTLPSpanExporter)
    assert "the official one" in caplog.text and "abstract methods" in caplog.text


def test_unchecked_versions_with_the_expected_parts_still_compose(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    versions = {**composed.CHECKED_VERSIONS, "opentelemetry-exporter-http-transport": "0.67b0"}
    monkeypatch.setattr(composed, "installed_versions", lambda: versions)
    ok, why = composed.composable()
    assert ok and "unchecked versions" in why


def test_a_credential_provider_session_uses_the_official_exporter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the provider yields a requests.Session, which only the official exporter takes
    monkeypatch.setenv("OTEL_PYTHON_EXPORTER_OTLP_HTTP_TRACES_CREDENTIAL_PROVIDER", "mine")
    assert composed.composable() == (
        False,
        "a credential provider (a requests.Session) is configured",
    )


@pytest.mark.parametrize("exporter_type", [OTLPSpanExporter, ProtobufHTTPSpanExporter])
def test_a_batch_retrying_at_shutdown_is_counted_once_as_shutdown(
    exporter_type: type[Any], capture: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Collector answers 503: the exporter waits to retry when the process shuts
    down. ReportingExporter counts the batch as reason="shutdown", the exporter's shutdown
    ends the retry wait, and the failed export is not counted again."""
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from otel_llm.config import Settings
    from otel_llm.metrics import GenAIMetrics
    from otel_llm.setup import ReportingExporter

    capture.status = 503
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", capture.url + "/v1/traces")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "30")
    metrics = GenAIMetrics(Settings())
    reporting = ReportingExporter(exporter_type(), metrics, "OTLP test")
    batch = BatchSpanProcessor(reporting, max_export_batch_size=8, schedule_delay_millis=1)
    provider = TracerProvider()
    provider.add_span_processor(batch)
    for i in range(8):
        provider.get_tracer("t").start_span(f"s{i}").end()
    deadline = threading.Event()
    for _ in range(100):  # the first attempt was answered: the worker waits to retry
        if capture.requests:
            break
        deadline.wait(0.05)
    assert capture.requests
    batch._batch_processor.shutdown(timeout_millis=50)  # gives up on the worker
    worker = batch._batch_processor._worker_thread
    assert worker is not None
    worker.join(5)  # the exporter's shutdown ended the retry wait
    assert not worker.is_alive()

    def dropped() -> dict[str, float]:
        return {
            s.labels["reason"]: s.value
            for s in metrics.metric("spans_dropped").samples
            if s.name.endswith("_total")
        }

    assert dropped() == {"shutdown": 8.0}
    assert len(capture.requests) <= 2  # no retries after shutdown


def _many_spans(n: int) -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "svc"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracers = [provider.get_tracer("genai", "1.0"), provider.get_tracer("httpx", "2.0")]
    for i in range(n):
        with tracers[i % 3 == 0].start_as_current_span(f"chat m{i}") as span:
            span.set_attribute("gen_ai.usage.input_tokens", i)
            span.set_attribute("gen_ai.request.model", f"m{i % 7}")
    return list(memory.get_finished_spans())


def _flat(body: bytes) -> tuple[int, list[tuple[bytes, bytes, bytes]]]:
    """(ResourceSpans count, sorted (resource, scope, span) of every span) of a request."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest.FromString(body)
    spans = [
        (rs.resource.SerializeToString(), ss.scope.SerializeToString(), s.SerializeToString())
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for s in ss.spans
    ]
    return len(request.resource_spans), sorted(spans)


@pytest.mark.parametrize(
    ("n", "compression"),
    [
        (composed.ENCODE_SLICE, "none"),
        (composed.ENCODE_SLICE + 1, "none"),
        (3 * composed.ENCODE_SLICE + 5, "none"),
        (512, "gzip"),
        (512, "deflate"),
    ],
)
def test_a_large_batch_is_encoded_in_slices_into_one_request_with_the_same_spans(
    n: int, compression: str, capture: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import zlib

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", capture.url)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", compression)
    spans = _many_spans(n)
    for exporter in (OTLPSpanExporter(), ProtobufHTTPSpanExporter()):
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        exporter.shutdown()
    unpack = {"none": bytes, "gzip": gzip.decompress, "deflate": zlib.decompress}[compression]
    (_, _, official), (_, _, ours) = [(p, h, unpack(b)) for p, h, b in capture.requests]
    slices = -(-n // composed.ENCODE_SLICE)
    if slices == 1:
        assert ours == official
    o_groups, o_spans = _flat(official)
    c_groups, c_spans = _flat(ours)
    assert (o_groups, c_groups) == (1, slices)
    assert c_spans == o_spans and len(c_spans) == n
    assert len(ours) - len(official) <= 300 * (slices - 1)  # the repeated resource and scopes


class Connections:
    """A loopback OTLP/HTTP endpoint that records each request's client port (one port:
    one connection) and, with ``drop``, closes every connection after its response
    without saying so (a keep-alive connection the server let go)."""

    def __init__(self, *, drop: bool = False, tls: tuple[str, str] | None = None) -> None:
        self.ports: list[int] = []
        record = self.ports

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                record.append(self.client_address[1])
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()
                self.close_connection = drop

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            import ssl

            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        port = self.server.server_address[1]
        self.url = f"{'https' if tls else 'http'}://{'localhost' if tls else '127.0.0.1'}:{port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_the_transport_keeps_one_connection_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    server = Connections()
    try:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", server.url)
        exporter = ProtobufHTTPSpanExporter()
        for _ in range(3):
            assert exporter.export(make_spans()) is SpanExportResult.SUCCESS
        exporter.shutdown()
        assert len(server.ports) == 3 and len(set(server.ports)) == 1
    finally:
        server.close()


def test_a_connection_the_server_closed_is_replaced_without_a_failure(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    server = Connections(drop=True)
    try:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", server.url)
        caplog.set_level(logging.WARNING, logger="opentelemetry.exporter")
        exporter = ProtobufHTTPSpanExporter()
        for _ in range(3):
            assert exporter.export(make_spans()) is SpanExportResult.SUCCESS
        exporter.shutdown()
        assert len(server.ports) == 3 and len(set(server.ports)) == 3
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    finally:
        server.close()


def test_tls_verified_against_the_configured_ca_file(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import subprocess

    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-keyout", key, "-out", cert],
        check=True, capture_output=True,
    )  # fmt: skip
    server = Connections(tls=(cert, key))
    try:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", server.url)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
        caplog.set_level(logging.ERROR, logger="opentelemetry.exporter")
        untrusted = ProtobufHTTPSpanExporter()  # the system's CAs: the self-signed is refused
        assert untrusted.export(make_spans()) is SpanExportResult.FAILURE
        untrusted.shutdown()
        # refused before a request was sent; retried as a connection error until the
        # timeout, as the urllib3 transport does (its MaxRetryError wraps the SSLError)
        assert server.ports == [] and "Failed to export spans batch" in caplog.text
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", cert)
        trusted = ProtobufHTTPSpanExporter()
        assert trusted.export(make_spans()) is SpanExportResult.SUCCESS
        trusted.shutdown()
        assert len(server.ports) == 1
    finally:
        server.close()
