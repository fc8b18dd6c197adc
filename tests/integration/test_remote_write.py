"""Metrics past one Prometheus: an edge Prometheus in agent mode remote-writes to a central
Prometheus 2.42 (--web.enable-remote-write-receiver, exemplar storage) that runs the shipped
recording and alert rules. Both are real binaries on loopback.

The edge runs prometheus/prometheus-agent.yml (generated from prometheus.yml) with only the
scrape target and the remote-write URL substituted, so the shipped 15 s scrape interval
applies. The service is a small prometheus-client exporter speaking the contract's names,
with trace_id/span_id exemplars as the otel-llm packages attach them.

Checked at the central store: the contract's metric names and labels arrive unchanged, the
exemplars arrive with their trace IDs, the recording rules compute the spend from the
written samples (once: the agent evaluates no rules), and a budget alert fires there.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from tests.integration import backends
from tests.integration.backends import ManagedProcess, load_script, prometheus_query

REPO = Path(__file__).resolve().parents[2]
PROM_DIR = REPO / "prometheus"
gen = load_script(PROM_DIR / "generate.py", "otel_llm_prom_generate")

LABELS = {
    "gen_ai_operation_name": "chat",
    "gen_ai_provider_name": "openai",
    "gen_ai_request_model": "gpt-4o",
}
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"


class ContractService:
    """Cost counter, duration histogram and per-call cost histogram, with exemplars."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.cost = Counter(
            "gen_ai_client_cost_usd", "Cost in USD.", [*LABELS, "user"], registry=self.registry
        )
        self.duration = Histogram(
            "gen_ai_client_operation_duration_seconds",
            "GenAI operation duration.",
            [*LABELS, "gen_ai_response_model", "error_type"],
            buckets=(0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24),
            registry=self.registry,
        )
        self.call_cost = Histogram(
            "otel_llm_operation_cost_usd",
            "Cost of one call in USD.",
            list(LABELS),
            buckets=(0.0001, 0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100),
            registry=self.registry,
        )
        self.port = backends.free_port()
        self.server, _ = start_http_server(self.port, "127.0.0.1", self.registry)
        self.cost.labels(**LABELS, user="alice")

    def call(self, usd: float, seconds: float) -> None:
        exemplar = {"trace_id": TRACE_ID, "span_id": SPAN_ID}
        self.cost.labels(**LABELS, user="alice").inc(usd, exemplar=exemplar)
        self.duration.labels(
            **LABELS, gen_ai_response_model="gpt-4o-2024-08-06", error_type=""
        ).observe(seconds, exemplar=exemplar)
        self.call_cost.labels(**LABELS).observe(usd, exemplar=exemplar)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_agent_remote_write_keeps_names_exemplars_and_rules(tmp_path: Path) -> None:
    service = ContractService()
    central = backends.start_prometheus(tmp_path / "central")
    edge: ManagedProcess | None = None
    try:
        central.configure(
            rule_files=[
                PROM_DIR / "rules" / f for f in ("recording.yml", "budgets.yml", "alerts.yml")
            ]
        )
        config = yaml.safe_load(
            gen.render_agent_config(
                remote_write_url=f"{central.url}/api/v1/write",
                targets={"demo-app": [f"127.0.0.1:{service.port}"]},
            )
        )
        shipped = yaml.safe_load((PROM_DIR / "prometheus-agent.yml").read_text())
        assert config["global"] == shipped["global"]  # the shipped scrape interval
        assert config["remote_write"][0]["send_exemplars"] is True
        config["remote_write"][0]["queue_config"]["batch_send_deadline"] = "1s"
        (tmp_path / "edge").mkdir()
        config_path = tmp_path / "edge" / "prometheus-agent.yml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        port = backends.free_port()
        edge_url = f"http://127.0.0.1:{port}"
        edge = ManagedProcess(
            "prometheus-agent",
            [
                str(backends.stack_binary("prometheus")),
                "--enable-feature=agent,exemplar-storage",
                f"--config.file={config_path}",
                f"--storage.agent.path={tmp_path / 'edge' / 'wal'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            log_path=tmp_path / "edge" / "prometheus-agent.log",
            ready=lambda: backends.http_ok(f"{edge_url}/-/ready"),
            start_timeout=60,
        )
        edge.start()

        service.call(0.5, 1.7)
        series = 'gen_ai_client_cost_usd_total{job="demo-app"}'
        got = backends.wait_until(
            lambda: prometheus_query(central.url, f"{series} == 0.5"),
            60,
            what="cost written to central",
        )
        # the contract's names and labels, as the service exposes them
        assert got[0]["metric"] == {
            "__name__": "gen_ai_client_cost_usd_total",
            "job": "demo-app",
            "instance": f"127.0.0.1:{service.port}",
            "user": "alice",
            **LABELS,
        }
        for name in (
            "gen_ai_client_operation_duration_seconds_bucket",
            "gen_ai_client_operation_duration_seconds_count",
            "otel_llm_operation_cost_usd_bucket",
            'up{job="demo-app"}',
        ):
            assert prometheus_query(central.url, name), f"{name} missing at the central store"

        # exemplars survive the remote write, with their trace IDs
        now = time.time()

        def exemplars() -> list[dict[str, Any]]:
            body = httpx.get(
                f"{central.url}/api/v1/query_exemplars",
                params={
                    "query": "gen_ai_client_operation_duration_seconds_bucket",
                    "start": now - 600,
                    "end": now + 600,
                },
                timeout=5,
            ).json()
            return [e for s in body.get("data") or [] for e in s["exemplars"]]

        found = backends.wait_until(exemplars, 30, what="exemplars at the central store")
        assert found[0]["labels"] == {"trace_id": TRACE_ID, "span_id": SPAN_ID}
        assert float(found[0]["value"]) == 1.7

        # the central store runs the shipped rules on the written samples, once
        service.call(20.0, 0.4)  # $20.50 today: over the $10 daily budget
        breach = time.monotonic()
        backends.wait_until(
            lambda: prometheus_query(
                central.url, 'ALERTS{alertname="LLMDailyBudgetExceeded",alertstate="firing"}'
            ),
            60,
            what="LLMDailyBudgetExceeded at the central store",
        )
        seconds = time.monotonic() - breach
        recorded = prometheus_query(central.url, "global:gen_ai_client_cost_usd:increase24h")
        assert len(recorded) == 1  # recorded centrally only; the agent has no rules
        assert float(recorded[0]["value"][1]) >= 20.5
        # the per-model rate lives in another rule group, evaluated on its own tick
        backends.wait_until(
            lambda: prometheus_query(
                central.url, 'job_model:gen_ai_client_cost_usd:rate5m{job="demo-app"}'
            ),
            30,
            what="the recorded per-model spend rate at the central store",
        )
        print(
            f"\nremote write: names, labels and exemplars (trace_id {TRACE_ID}) arrived; "
            f"breach -> alert firing at the central store {seconds:.1f} s "
            "(15 s scrape, 1 s write deadline, central rules every 1 s in this test)"
        )
    finally:
        if edge is not None:
            edge.stop()
        central.stop()
        service.close()
