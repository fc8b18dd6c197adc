"""Session fixtures running the real backends (see backends.py).

Fixtures (all session-scoped, all on 127.0.0.1 with free ports and temp dirs):
  jaeger         JaegerInstance (the trace store): .url, .otlp_grpc, .store(), .stop()/.start()
  otelcol        CollectorInstance exporting traces to ``jaeger``: .otlp_grpc, .otlp_http,
                 .metrics_url (its own telemetry), .metric_sum(name), .stop()/.start()
  prometheus     PrometheusInstance scraping the collector's telemetry (job "otelcol")
                 and whatever ``add_target`` registers; .url, .store(), .configure()
  webhook        WebhookReceiver: .url, .alerts, .wait_for_alert(name)
  alertmanager   AlertmanagerInstance sending every alert to ``webhook``
  mock_llm_service  ``otel-llm mock-llm`` (ServiceProcess: .url)
  demo_app       ``otel-llm demo-app`` exporting to ``otelcol``, scraped by
                 ``prometheus`` as job "otel-llm-demo" (ServiceProcess: .url)

A backend that cannot be obtained or started fails the test (BackendError), and
a failing test gets every backend's log tail attached to its report.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration import backends
from tests.integration.backends import (
    AlertmanagerInstance,
    CollectorInstance,
    JaegerInstance,
    PrometheusInstance,
    ServiceProcess,
    WebhookReceiver,
)

DEMO_JOB = "otel-llm-demo"


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Get the binaries before any test starts, so a first-run build (minutes) does not
    count against a test's timeout.  Failures are left for the fixtures to report."""
    if not any(item.get_closest_marker("integration") for item in session.items):
        return
    for name in ("jaeger", "otelcol", "prometheus", "alertmanager"):
        with contextlib.suppress(backends.BackendError):
            backends.stack_binary(name)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed and "integration" in item.keywords:
        for proc in backends.RUNNING:
            report.sections.append((f"{proc.name} log ({proc.log_path})", proc.log_tail()))


@pytest.fixture(scope="session")
def stack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stack")


@pytest.fixture(scope="session")
def jaeger(stack_dir: Path) -> Iterator[JaegerInstance]:
    inst = backends.start_jaeger(stack_dir / "jaeger")
    try:
        yield inst
    finally:
        inst.stop()


@pytest.fixture(scope="session")
def otelcol(stack_dir: Path, jaeger: JaegerInstance) -> Iterator[CollectorInstance]:
    inst = backends.start_collector(stack_dir / "otelcol", jaeger.otlp_grpc)
    try:
        yield inst
    finally:
        inst.stop()


@pytest.fixture(scope="session")
def prometheus(stack_dir: Path, otelcol: CollectorInstance) -> Iterator[PrometheusInstance]:
    inst = backends.start_prometheus(stack_dir / "prometheus")
    try:
        inst.add_target("otelcol", otelcol.metrics_target)
        inst.add_target("otelcol-exporter", otelcol.exporter_target)
        yield inst
    finally:
        inst.stop()


@pytest.fixture(scope="session")
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    try:
        yield receiver
    finally:
        receiver.close()


@pytest.fixture(scope="session")
def alertmanager(stack_dir: Path, webhook: WebhookReceiver) -> Iterator[AlertmanagerInstance]:
    inst = backends.start_alertmanager(stack_dir / "alertmanager", webhook.url)
    try:
        yield inst
    finally:
        inst.stop()


@pytest.fixture(scope="session")
def mock_llm_service(stack_dir: Path) -> Iterator[ServiceProcess]:
    svc = backends.start_mock_llm(stack_dir / "services", latency_scale=0.1)
    try:
        yield svc
    finally:
        svc.stop()


@pytest.fixture(scope="session")
def demo_app(
    stack_dir: Path,
    mock_llm_service: ServiceProcess,
    otelcol: CollectorInstance,
    prometheus: PrometheusInstance,
) -> Iterator[ServiceProcess]:
    svc = backends.start_demo_app(
        stack_dir / "services",
        llm_url=mock_llm_service.url,
        collector=otelcol,
        service_name=DEMO_JOB,
    )
    try:
        prometheus.add_target(DEMO_JOB, f"127.0.0.1:{svc.port}")
        yield svc
    finally:
        prometheus.remove_target(DEMO_JOB, f"127.0.0.1:{svc.port}")
        svc.stop()
