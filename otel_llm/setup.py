"""``configure()``: the one place that wires providers, processors, exporters and propagators.

Order matters and is shown here once:

1. settings from the environment (``otel_llm.config``), overridable by arguments;
2. a ``TracerProvider`` with the service resource, whose first processor is the GenAI
   span processor (request-ID stamping, pricing, Prometheus metrics) wrapping a bounded
   ``BatchSpanProcessor`` for the chosen exporter (OTLP: ``http/protobuf`` by default,
   ``http/json`` or ``grpc`` by ``OTEL_EXPORTER_OTLP_PROTOCOL``; OTLP-JSON file,
   console, none);
   a batch the exporter cannot write is counted in
   ``otel_llm_spans_dropped_total{reason="export_failed"}`` and logged once with the
   reason (:class:`ReportingExporter`);
3. the global propagator: W3C tracecontext + baggage + ``X-Request-ID``;
4. structlog (JSON or console) with correlation and redaction;
5. ``/metrics``: inside every FastAPI app and, if ``OTEL_LLM_METRICS_PORT`` is set, on a
   small server of its own; the Prometheus registry behind it (and prometheus-client) is
   made by the first reader: the server's start, the first scrape, ``Telemetry.registry``;
6. instrumentation: FastAPI (its native telemetry where present, else the OTel
   instrumentation), the request-ID edge middleware, httpx and httpx2 clients, and every
   installed LLM SDK.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry import propagate, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.sampling import _get_from_env_or_default
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from otel_llm.config import Settings, load_settings

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Metric

    from otel_llm.metrics import GenAIMetrics

log = logging.getLogger("otel_llm")

# The SDK's exporters say why an export failed only in their own log records (under
# this logger); ReportingExporter keeps what they logged to name the reason.
_EXPORTER_LOGGER = "opentelemetry.exporter"
EXPORT_FAILED = "export_failed"
SHUTDOWN = "shutdown"  # the reason the span processor counts spans left queued under


class _ExporterRecords(logging.Handler):
    """Keeps, per thread, the first and the last warning an exporter logged since the
    last ``take()``: the cause (say, connection refused) and the verdict (gave up)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # pragma: no cover - a bad format string in someone's record
            message = str(record.msg)
        first = getattr(self._local, "first", None)
        if first is None:
            self._local.first = message
        self._local.last = message

    def take(self) -> str | None:
        first: str | None = getattr(self._local, "first", None)
        last: str | None = getattr(self._local, "last", None)
        self._local.first = self._local.last = None
        if first is None or first == last:
            return last
        return f"{last} (first: {first})"


_exporter_records = _ExporterRecords()


class _Batch:
    """One export under way; whoever settles it first (the export's own result or the
    shutdown that gives up on it) decides how it is counted, under the exporter's lock."""

    __slots__ = ("abandoned", "done", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self.done = False  # the export returned
        self.abandoned = False  # counted as reason="shutdown" while it was still running


class ReportingExporter(SpanExporter):
    """The chosen exporter, made loud when it cannot write.

    Every span of a batch that fails (an error result or an exception) is counted in
    ``otel_llm_spans_dropped_total{reason="export_failed"}``; the first failure is logged
    at ERROR with the target and the reason, and the next one only after an export
    succeeded again, so an outage is one log line, not one per batch.  Nothing escapes.

    A batch still being exported when the exporter is shut down (the batch processor's
    shutdown timed out while the exporter retries a dead endpoint) would be lost with the
    process, uncounted: :meth:`shutdown` counts it as ``reason="shutdown"`` and logs it,
    and its export's later failure, if the process lives to see it, is not counted again.
    """

    def __init__(self, inner: SpanExporter, metrics: GenAIMetrics, target: str) -> None:
        self.inner = inner
        self.metrics = metrics
        self.target = target
        self._failing = False
        self._lock = threading.Lock()
        self._in_flight: list[_Batch] = []  # one at a time from the SDK's batch processor
        logger = logging.getLogger(_EXPORTER_LOGGER)
        if _exporter_records not in logger.handlers:
            logger.addHandler(_exporter_records)

    before_export: Callable[[], None] | None = None
    """Called first at every export: the span processor's drain, so that no GenAI span
    leaves before it is priced (:meth:`GenAISpanProcessor.defer_measurement`)."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self.before_export is not None:
            try:
                self.before_export()
            except Exception:  # the drain never raises; the export goes on regardless
                log.debug("otel-llm: measuring before export failed", exc_info=True)
        batch = _Batch(len(spans))
        with self._lock:
            self._in_flight.append(batch)
        try:
            return self._export(spans, batch)
        finally:
            with self._lock:
                batch.done = True
                self._in_flight.remove(batch)

    def _settled_by_shutdown(self, batch: _Batch) -> bool:
        """True when shutdown already counted ``batch``; else marks it as counted here."""
        with self._lock:
            batch.done = True
            return batch.abandoned

    def _export(self, spans: Sequence[ReadableSpan], batch: _Batch) -> SpanExportResult:
        _exporter_records.take()
        reason: str | None = None
        try:
            result = self.inner.export(spans)
        except Exception as exc:
            result, reason = SpanExportResult.FAILURE, f"{type(exc).__name__}: {exc}"
        late = self._settled_by_shutdown(batch)
        if result is SpanExportResult.SUCCESS:
            if late:
                log.warning(
                    "span export to %s finished after shutdown: %d spans counted as dropped "
                    '(reason="shutdown") were sent after all',
                    self.target,
                    batch.size,
                )
            elif self._failing:
                log.warning("span export to %s works again", self.target)
            self._failing = False
            return result
        if late:
            return result  # counted (and logged) when shutdown gave up on it
        reason = reason or _exporter_records.take() or "the exporter reported a failure"
        self.metrics.record_dropped(EXPORT_FAILED, len(spans))
        if not self._failing:
            self._failing = True
            log.error(
                "span export to %s failed, %d spans dropped: %s (every dropped span is "
                'counted in otel_llm_spans_dropped_total{reason="export_failed"}; '
                "logged again only after an export succeeds)",
                self.target,
                len(spans),
                reason,
            )
        return result

    def shutdown(self) -> None:
        try:
            self.abandon_in_flight()
        except Exception:  # pragma: no cover - counting must not stop the shutdown
            log.warning("counting the spans still in export at shutdown failed", exc_info=True)
        try:
            self.inner.shutdown()
        except Exception as exc:
            log.warning("span exporter shutdown failed: %s", exc)

    def abandon_in_flight(self) -> int:
        """Count the spans of an export still under way as dropped (``reason="shutdown"``),
        once; returns how many. The SDK's batch processor shuts its exporter down after
        waiting for its worker: an export under way then is one the process will not wait
        for (the worker is a daemon thread)."""
        with self._lock:
            batches = [b for b in self._in_flight if not b.done and not b.abandoned]
            for batch in batches:
                batch.abandoned = True
        spans = sum(b.size for b in batches)
        if spans:
            self.metrics.record_dropped(SHUTDOWN, spans)
            log.error(
                "span export to %s still under way at shutdown, %d spans abandoned (counted "
                'in otel_llm_spans_dropped_total{reason="shutdown"})',
                self.target,
                spans,
            )
        return spans

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        try:
            return bool(self.inner.force_flush(timeout_millis))
        except Exception:
            return False


class _UnopenableFile(SpanExporter):
    """The file exporter's stand-in when its file cannot be opened: every export fails
    with the reason, so ReportingExporter counts and reports it."""

    def __init__(self, error: OSError) -> None:
        self.error = error

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        raise self.error

    def shutdown(self) -> None:
        return None


@dataclass
class Telemetry:
    """What :func:`configure` set up; keep it to flush and shut down cleanly."""

    settings: Settings
    tracer_provider: TracerProvider
    metrics: GenAIMetrics
    """The GenAI metrics the span processor records (:attr:`registry` exposes them)."""
    processor: SpanProcessor
    instrumented: list[str] = field(default_factory=list)
    metrics_server: Any = None
    _closed: bool = False

    @property
    def registry(self) -> CollectorRegistry:
        """The Prometheus registry of the metrics: the one passed to :func:`configure`,
        else a dedicated one (``auto_describe=True``) made on the first read, the same
        object on every read. The metrics server, the in-app ``/metrics`` and any other
        reader go through here, so prometheus-client is imported only once something
        serves or reads the metrics."""
        return self.metrics.registry

    def force_flush(self, timeout_millis: int = 5000) -> bool:
        return self.tracer_provider.force_flush(timeout_millis)

    def shutdown(self) -> None:
        """Flush spans, stop the metrics server and undo instrumentation (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self.tracer_provider.shutdown()
        except Exception:  # pragma: no cover - shutdown must not raise at exit
            log.exception("tracer provider shutdown failed")
        if self.metrics_server is not None:
            try:
                self.metrics_server.close()
            except Exception:  # pragma: no cover
                log.exception("metrics server close failed")


_lock = threading.Lock()
_current: Telemetry | None = None


def current() -> Telemetry | None:
    """The active :class:`Telemetry`, if :func:`configure` ran."""
    return _current


def _service_name(explicit: str | None, settings: Settings) -> str:
    # OTEL_SERVICE_NAME set by operators wins over the name written in code.
    return settings.service_name or explicit or "unknown_service"


def _exporter(settings: Settings) -> SpanExporter | None:
    if settings.exporter == "none":
        return None
    if settings.exporter == "console":
        return ConsoleSpanExporter()
    if settings.exporter == "file":
        from opentelemetry.exporter.otlp.json.file import FileSpanExporter

        directory = os.path.dirname(os.path.abspath(settings.traces_file))
        try:
            os.makedirs(directory, exist_ok=True)
            return FileSpanExporter(settings.traces_file)  # type: ignore[no-any-return]
        except OSError as exc:
            return _UnopenableFile(exc)
    protocol = _otlp_protocol()
    # Each exporter is imported only when chosen. http/json (on urllib3) does not load
    # protobuf (about 1 MiB less after set-up than the default, bench/bench_rss.py), but its
    # encoder's per-value objects set the garbage collector off: about 2.4x protobuf's
    # export CPU per span, and encoding a batch peaks about as high as protobuf's imports
    # (bench/bench_export.py, bench/README.md "Memory"); protobuf stays the default.
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcExporter,
        )

        return GrpcExporter()
    if protocol == "http/json":
        from opentelemetry.exporter.otlp.json.http.trace_exporter import (
            OTLPSpanExporter as JsonExporter,
        )

        return JsonExporter()
    # The official http/protobuf exporter imports requests (3.8 MiB) for its transport;
    # the default is the same exporter composed from its official parts over the
    # standard library's http.client (no urllib3 either), where those parts are the
    # checked ones (otel_llm/_otlp_http.py).
    from otel_llm._otlp_http import span_exporter

    return span_exporter()


OTLP_PROTOCOLS = ("http/protobuf", "http/json", "grpc")
DEFAULT_OTLP_PROTOCOL = "http/protobuf"


def _otlp_protocol(report: bool = True) -> str:
    """``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL``, else ``OTEL_EXPORTER_OTLP_PROTOCOL``, else
    ``http/protobuf``; a value that names no OTLP protocol is logged (``report``) and the
    default used."""
    raw = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or DEFAULT_OTLP_PROTOCOL
    )
    protocol = raw.strip().lower()
    if protocol not in OTLP_PROTOCOLS:
        if report:
            log.warning(
                "unknown OTLP protocol %r (expected one of %s); exporting with %s",
                raw,
                ", ".join(OTLP_PROTOCOLS),
                DEFAULT_OTLP_PROTOCOL,
            )
        return DEFAULT_OTLP_PROTOCOL
    return protocol


def _export_target(settings: Settings) -> str:
    """Where the configured exporter writes, for the failure report."""
    if settings.exporter == "file":
        return f"file {os.path.abspath(settings.traces_file)}"
    if settings.exporter == "otlp":
        endpoint = (
            os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
            or "the default OTLP endpoint"
        )
        return f"OTLP {endpoint} ({_otlp_protocol(report=False)})"
    return settings.exporter


def _propagator(settings: Settings) -> CompositePropagator:
    from otel_llm.requestid import RequestIDPropagator

    return CompositePropagator(
        [
            TraceContextTextMapPropagator(),
            W3CBaggagePropagator(),
            RequestIDPropagator(settings),
        ]
    )


# What can make a priced call: the bundled prices (genai-prices' data set, and through its
# package the HTTP client of its updater) load when one of these is imported, not before,
# and not on the first call's path either.
# The SDKs' own providers get their model lists built then too (the others on first use).
_LLM_CALLERS: dict[str, tuple[str, ...]] = {
    "openai": ("openai",),
    "anthropic": ("anthropic",),
    "botocore": (),
    "httpx": (),
    "httpx2": (),
}


def _warm_prices_on_import(processor: SpanProcessor) -> None:
    from otel_llm._imports import when_imported
    from otel_llm.processor import GenAISpanProcessor

    if not isinstance(processor, GenAISpanProcessor):  # pragma: no cover
        return
    book = processor.pricebook

    def warmer(providers: tuple[str, ...]) -> Callable[[], None]:
        def warm() -> None:
            try:
                book.warm(*providers)
            except Exception:  # the first priced call retries and reports it
                log.warning("otel-llm: loading the bundled prices failed", exc_info=True)

        return warm

    for name, providers in _LLM_CALLERS.items():
        when_imported(name, warmer(providers))


def configure(
    service_name: str | None = None,
    *,
    settings: Settings | None = None,
    app: Any = None,
    instrument: bool = True,
    tracer_provider: TracerProvider | None = None,
    span_exporter: SpanExporter | None = None,
    registry: CollectorRegistry | None = None,
    **overrides: Any,
) -> Telemetry:
    """Set up tracing, metrics, logs and instrumentation for an LLM-calling service.

    Safe to call more than once: later calls return the first :class:`Telemetry`.
    ``settings`` replaces environment reading entirely (tests); ``overrides`` change
    single settings (``configure("svc", exporter="file", traces_file="spans.jsonl")``).
    ``tracer_provider``/``span_exporter``/``registry`` let tests inject in-memory parts.
    """
    global _current
    with _lock:
        if _current is not None and not _current._closed:
            if app is not None:
                from otel_llm.web import mount_app

                mount_app(app, _current)
            return _current
        settings = settings.with_(**overrides) if settings else load_settings(**overrides)
        name = _service_name(service_name, settings)
        settings = settings.with_(service_name=name)

        from otel_llm.logs import configure_logging
        from otel_llm.metrics import GenAIMetrics
        from otel_llm.processor import GenAISpanProcessor, RecordingSampler

        configure_logging(settings, service_name=name)

        # a registry passed in gets the collector now; else the first reader makes one
        metrics = GenAIMetrics(settings, registry=registry, auto_describe=True)
        existing = trace.get_tracer_provider()
        if tracer_provider is None and isinstance(existing, TracerProvider):
            # Someone (another distro, the application) already set an SDK provider: join
            # it rather than split spans across two providers. Its own processors keep
            # exporting; ours adds no exporter, so nothing is sent twice (and the cost
            # attributes, which ride on our export path, are not on those spans).
            log.warning(
                "a tracer provider was already set; otel-llm adds its span processor to it "
                "and leaves export to that provider's own processors"
            )
            tracer_provider = existing
            chosen = None
        elif span_exporter is not None:
            chosen = ReportingExporter(span_exporter, metrics, type(span_exporter).__name__)
        else:
            own = _exporter(settings)
            chosen = ReportingExporter(own, metrics, _export_target(settings)) if own else None
        downstream = (
            BatchSpanProcessor(chosen, max_queue_size=settings.max_queue_size)
            if chosen is not None
            else None
        )
        processor = GenAISpanProcessor(settings, metrics=metrics, downstream=downstream)
        if chosen is not None:
            # the exporter prices what waits before it sends a batch
            chosen.before_export = processor.drain
            processor.defer_measurement()
        if tracer_provider is None:
            tracer_provider = TracerProvider(
                resource=Resource.create({SERVICE_NAME: name}),
                # What OTEL_TRACES_SAMPLER drops is still recorded (not exported), so the
                # metrics and cost counters derived from spans stay complete.
                sampler=RecordingSampler(_get_from_env_or_default()),
            )
            trace.set_tracer_provider(tracer_provider)
        tracer_provider.add_span_processor(processor)

        propagate.set_global_textmap(_propagator(settings))

        telemetry = Telemetry(
            settings=settings,
            tracer_provider=tracer_provider,
            metrics=metrics,
            processor=processor,
        )
        if settings.metrics_port is not None:
            from otel_llm.metrics_server import start_metrics_server

            try:
                telemetry.metrics_server = start_metrics_server(settings, telemetry.registry)
            except OSError as exc:
                log.error("metrics server not started on port %s: %s", settings.metrics_port, exc)

        if instrument:
            from otel_llm.genai import instrument_llm_sdks
            from otel_llm.web import instrument_web

            telemetry.instrumented = instrument_web(telemetry)
            if registry is None:  # the wire layer's counter, read from its own counts
                metrics.expose(WireParseErrors())
            telemetry.instrumented += instrument_llm_sdks(
                settings, tracer_provider=tracer_provider, registry=registry
            )
            _warm_prices_on_import(processor)
        if app is not None:
            from otel_llm.web import mount_app

            mount_app(app, telemetry)
        _current = telemetry
        atexit.register(telemetry.shutdown)
        log.info(
            "otel-llm configured",
            extra={"exporter": settings.exporter, "instrumented": telemetry.instrumented},
        )
        return telemetry


# The wire layer's own counter (``genai/wire``: a prometheus-client ``Counter`` it creates
# in the registry it is given) would load prometheus-client at configure(); without a
# registry passed in, configure() gives it none and this collector exposes the same
# counter from the layer's own counts when the metrics are read.


class WireParseErrors:
    """``otel_llm_wire_parse_errors_total{format,reason}`` from the wire layer's counts
    (:func:`otel_llm.genai.wire.parse_error_counts`), exposed as the layer's ``Counter``
    shows it: same name, help, labels, values and series order. A series' ``_created`` is
    the time this collector first saw it (at a scrape), as the counts keep no time."""

    def __init__(self) -> None:
        self._created: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def _family(self) -> Any:
        from prometheus_client.metrics_core import CounterMetricFamily

        from otel_llm.genai.wire import PARSE_ERRORS_HELP, PARSE_ERRORS_METRIC

        return CounterMetricFamily(
            PARSE_ERRORS_METRIC, PARSE_ERRORS_HELP, labels=("format", "reason")
        )

    def describe(self) -> list[Metric]:
        family: Metric = self._family()
        return [family]

    def collect(self) -> list[Metric]:
        import time

        import prometheus_client.metrics as prometheus_metrics

        from otel_llm.genai.wire import parse_error_counts

        use_created = getattr(prometheus_metrics, "_use_created", True)
        family = self._family()
        counts = parse_error_counts()
        with self._lock:
            for key in counts:
                self._created.setdefault(key, time.time())
            created = dict(self._created)
        for key, value in counts.items():
            family.add_metric(key, value, created[key] if use_created else None)
        metric: Metric = family
        return [metric]


def shutdown() -> None:
    """Flush and shut down what :func:`configure` set up (also runs at interpreter exit)."""
    global _current
    with _lock:
        if _current is not None:
            _current.shutdown()
            _current = None
