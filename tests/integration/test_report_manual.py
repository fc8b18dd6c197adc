"""Manual calls (otel_llm.track) through a real Prometheus: the cost counter carries the
bounded ``user`` and ``source`` labels, and ``otel-llm report --prometheus`` groups and
filters by them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

import otel_llm
from otel_llm import report
from otel_llm.config import Settings
from otel_llm.metrics import GenAIMetrics
from otel_llm.metrics_server import start_metrics_server
from otel_llm.pricing import PriceBook
from otel_llm.processor import GenAISpanProcessor
from otel_llm.store.prometheus import PrometheusStore
from tests.integration.backends import PrometheusInstance, run_cli, start_prometheus, wait_until

PRICING = Path(__file__).parents[2] / "spec" / "vectors" / "manual_pricing.yaml"
JOB = "manual-calls"


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusInstance]:
    inst = start_prometheus(tmp_path_factory.mktemp("prom-manual"))
    try:
        yield inst
    finally:
        inst.stop()


def _calls(provider: TracerProvider) -> None:
    def stt(user: str, source: str, seconds: float) -> None:
        with otel_llm.track(
            "speech_to_text",
            "gcp.vertex_ai",
            "chirp-2",
            tracer_provider=provider,
            user=user,
            source=source,
        ) as call:
            call.update(seconds=seconds)

    stt("alice", "voicemail", 60)  # $0.016
    stt("alice", "meeting-notes", 120)  # $0.032
    stt("bob", "voicemail", 30)  # $0.008
    with otel_llm.track(
        "translation", "deepl", "deepl-pro", tracer_provider=provider, user="bob", source="docs"
    ) as call:
        call.update(characters=4000)  # $0.1


def test_report_by_source_from_prometheus(prom: PrometheusInstance) -> None:
    settings = Settings(attribution_labels=("user", "source"), pricing_file=str(PRICING))
    metrics = GenAIMetrics(settings)
    provider = TracerProvider()
    provider.add_span_processor(
        GenAISpanProcessor(settings, metrics=metrics, pricebook=PriceBook.load(str(PRICING)))
    )
    server = start_metrics_server(0, metrics.registry)
    try:
        prom.add_target(JOB, f"127.0.0.1:{server.port}")
        prom.wait_for_target(JOB)
        # increase() needs two samples of a series: the calls twice, scraped in between
        _calls(provider)
        store = PrometheusStore(prom.url)

        def series(n: int) -> Any:
            def ok() -> bool:
                got = store.query(f'count(gen_ai_client_cost_usd_total{{job="{JOB}"}})')
                return bool(got) and float(got[0]["value"][1]) >= n

            return ok

        wait_until(series(4), 30, what="the cost series scraped")
        time.sleep(2.5)
        _calls(provider)
        time.sleep(2.5)  # scraped again (1 s interval)
        at = time.time()
        rows = {r["key"]: r for r in report.prometheus_usage(store, "source", "5m", at=at)}
        assert set(rows) == {"voicemail", "meeting-notes", "docs"}
        for key, row in rows.items():
            direct = store.query(
                f'sum(increase(gen_ai_client_cost_usd_total{{source="{key}"}}[5m]))', at
            )
            assert row["cost_usd"] == pytest.approx(float(direct[0]["value"][1]), rel=1e-6)
            assert row["cost_usd"] > 0 and row["requests"] is None  # cost counter only
        alice = report.prometheus_usage(store, "source", "5m", at=at, match={"user": "alice"})
        assert {r["key"] for r in alice} == {"voicemail", "meeting-notes"}
        users = report.prometheus_usage(store, "user", "5m", at=at)
        assert {r["key"] for r in users} == {"alice", "bob"}
        by_op = {r["key"]: r for r in report.prometheus_usage(store, "operation", "5m", at=at)}
        assert by_op["speech_to_text"]["requests"] >= 3  # the duration histogram's count
        assert by_op["translation"]["cost_usd"] > 0

        cli = run_cli(
            "report",
            "--prometheus",
            prom.url,
            "--by",
            "source",
            "--user",
            "bob",
            "--since",
            "5m",
            "--format",
            "json",
        )
        assert cli.returncode == 0, cli.stderr
        assert {r["key"] for r in json.loads(cli.stdout)} == {"voicemail", "docs"}
    finally:
        prom.remove_target(JOB, f"127.0.0.1:{server.port}")
        server.close()
        provider.shutdown()
