"""Metrics endpoints: server thread, ASGI app, FastAPI mount, several worker processes."""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import socket
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from otel_llm.config import Settings
from otel_llm.metrics import GenAIMetrics
from otel_llm.metrics_server import (
    MetricsServerError,
    metrics_app,
    mount_metrics,
    start_metrics_server,
)

OPENMETRICS = "application/openmetrics-text; version=1.0.0"
EXEMPLAR = {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7"}


def _metrics(cost: float = 0.5) -> GenAIMetrics:
    m = GenAIMetrics(Settings())
    m.record_operation(
        operation="chat",
        provider="openai",
        request_model="gpt-4o-mini",
        response_model="gpt-4o-mini",
        error_type=None,
        duration_s=0.2,
        cost_usd=cost,
        exemplar=EXEMPLAR,
    )
    return m


def _cost_total(text: str) -> float:
    return sum(
        s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name == "gen_ai_client_cost_usd_total"
    )


def _free_port_pair() -> int:
    for _ in range(50):
        base = random.randint(20000, 60000)
        socks = []
        try:
            for port in (base, base + 1):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no two consecutive free ports")


@pytest.fixture
def server() -> Iterator:
    handle = start_metrics_server(0, _metrics().registry, addr="127.0.0.1")
    yield handle
    handle.close()


def test_server_serves_prometheus_text_by_default(server) -> None:
    assert server.port > 0 and server.worker == 0
    response = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert _cost_total(response.text) == 0.5
    assert "trace_id" not in response.text


def test_server_serves_openmetrics_with_exemplars_when_asked(server) -> None:
    response = httpx.get(server.url, headers={"Accept": OPENMETRICS}, timeout=5)
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert f'trace_id="{EXEMPLAR["trace_id"]}"' in response.text
    assert response.text.rstrip().endswith("# EOF")


def test_close_releases_the_port() -> None:
    handle = start_metrics_server(0, CollectorRegistry(), addr="127.0.0.1")
    port = handle.port
    handle.close()
    handle.close()  # idempotent
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_bind_error_is_clear_and_next_port_is_taken() -> None:
    base = _free_port_pair()
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", base))
        blocker.listen()
        with pytest.raises(MetricsServerError) as info:
            start_metrics_server(base, CollectorRegistry(), addr="127.0.0.1")
        message = str(info.value)
        assert f"127.0.0.1 port {base}" in message and "OTEL_LLM_METRICS_PORT_COUNT" in message
        assert isinstance(info.value, OSError)
        handle = start_metrics_server(base, CollectorRegistry(), addr="127.0.0.1", port_count=2)
        try:
            assert (handle.port, handle.worker) == (base + 1, 1)
        finally:
            handle.close()


def test_settings_without_port_is_an_error() -> None:
    with pytest.raises(ValueError, match="OTEL_LLM_METRICS_PORT"):
        start_metrics_server(Settings(), CollectorRegistry())


def test_invalid_port_is_an_error() -> None:
    with pytest.raises(ValueError, match="invalid metrics port"):
        start_metrics_server(70000, CollectorRegistry())


async def _asgi_get(app, accept: str | None = None, method: str = "GET") -> httpx.Response:
    headers = {"Accept": accept} if accept else {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(method, "/metrics", headers=headers)


def test_asgi_app_negotiates_the_format() -> None:
    app = metrics_app(_metrics().registry)
    plain = asyncio.run(_asgi_get(app))
    assert plain.status_code == 200 and plain.headers["content-type"].startswith("text/plain")
    assert _cost_total(plain.text) == 0.5 and "trace_id" not in plain.text
    om = asyncio.run(_asgi_get(app, OPENMETRICS))
    assert om.headers["content-type"].startswith("application/openmetrics-text")
    assert EXEMPLAR["span_id"] in om.text
    head = asyncio.run(_asgi_get(app, method="HEAD"))
    assert head.status_code == 200 and head.content == b""
    post = asyncio.run(_asgi_get(app, method="POST"))
    assert post.status_code == 405


def test_mount_metrics_on_fastapi() -> None:
    fastapi = pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    app = fastapi.FastAPI()
    mount_metrics(app, _metrics().registry)
    with TestClient(app) as client:
        response = client.get("/metrics", headers={"Accept": OPENMETRICS})
        assert response.status_code == 200
        assert EXEMPLAR["trace_id"] in response.text
        assert "/metrics" not in client.get("/openapi.json").text


# --- several worker processes ---------------------------------------------------------


def _worker(base: int, cost: float, ports, stop) -> None:  # runs in a spawned process
    metrics = _metrics(cost)
    settings = Settings(metrics_port=base, metrics_port_count=2, metrics_addr="127.0.0.1")
    handle = start_metrics_server(settings, metrics.registry)
    ports.put(handle.port)
    stop.wait(30)
    handle.close()


def test_two_worker_processes_each_serve_their_own_port() -> None:
    ctx = multiprocessing.get_context("spawn")
    base = _free_port_pair()
    ports, stop = ctx.Queue(), ctx.Event()
    workers = [ctx.Process(target=_worker, args=(base, c, ports, stop)) for c in (0.25, 1.5)]
    for w in workers:
        w.start()
    try:
        got = sorted(ports.get(timeout=30) for _ in workers)
        assert got == [base, base + 1]
        texts = [
            httpx.get(
                f"http://127.0.0.1:{p}/metrics", headers={"Accept": OPENMETRICS}, timeout=5
            ).text
            for p in got
        ]
        # Prometheus scrapes both targets and sums: nothing is lost, exemplars survive
        assert sum(_cost_total(t) for t in texts) == pytest.approx(1.75)
        assert all(EXEMPLAR["trace_id"] in t for t in texts)
        # a third process finds the range taken and says what to change
        with pytest.raises(MetricsServerError, match="OTEL_LLM_METRICS_PORT_COUNT"):
            start_metrics_server(
                Settings(metrics_port=base, metrics_port_count=2, metrics_addr="127.0.0.1"),
                CollectorRegistry(),
            )
    finally:
        stop.set()
        for w in workers:
            w.join(10)
            if w.is_alive():
                w.terminate()
    assert [w.exitcode for w in workers] == [0, 0]
