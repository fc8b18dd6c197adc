"""A budget alert travels Prometheus -> Alertmanager -> webhook on the real binaries.

Prometheus runs a TEST copy of the shipped files rendered by prometheus/generate.py (tiny
daily budget, ``for: 0s``, 1 s intervals, loopback target); Alertmanager runs a copy of
alertmanager/alertmanager.yml with the test webhook's URL and zero waits. The metrics come
from a small prometheus-client exporter speaking the contract's names.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from tests.integration import backends
from tests.integration.backends import ManagedProcess, WebhookReceiver, load_script

REPO = Path(__file__).resolve().parents[2]
LABELS = {
    "gen_ai_operation_name": "chat",
    "gen_ai_provider_name": "openai",
    "gen_ai_request_model": "gpt-4o-mini",
}


gen = load_script(REPO / "prometheus" / "generate.py", "otel_llm_prom_generate")


def alertmanager_test_config(webhook_url: str) -> str:
    """The shipped config with every webhook sent to ``webhook_url`` and short waits.

    Waits keep the shipped order (critical routes 10 s -> 0 s, the rest 30 s -> 2 s), so a
    critical alert reaches Alertmanager's inhibitor before its warning is flushed, as it
    does in production.
    """
    config: dict[str, Any] = yaml.safe_load(
        (REPO / "alertmanager" / "alertmanager.yml").read_text()
    )

    def fast(route: dict[str, Any]) -> None:
        if "group_wait" in route:
            route["group_wait"] = "0s" if route["group_wait"] in ("0s", "5s", "10s") else "2s"
        route["group_interval"] = "1s"
        for child in route.get("routes", []):
            fast(child)

    fast(config["route"])
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = f"{webhook_url}/{receiver['name']}"
    return yaml.safe_dump(config, sort_keys=False)


class StandInService:
    """The contract's cost counter and duration histogram on a loopback /metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.cost = Counter(
            "gen_ai_client_cost_usd",
            "Cost of GenAI operations in USD.",
            [*LABELS, "user"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "gen_ai_client_operation_duration_seconds",
            "GenAI operation duration.",
            [*LABELS, "gen_ai_response_model", "error_type"],
            registry=self.registry,
        )
        self.port = backends.free_port()
        self.server, self.thread = start_http_server(self.port, "127.0.0.1", self.registry)
        # children exist at 0 before the first call, so increase() sees the whole spend
        self.cost.labels(**LABELS, user="alice")

    def call(self, usd: float) -> None:
        self.cost.labels(**LABELS, user="alice").inc(usd)
        self.duration.labels(**LABELS, gen_ai_response_model="gpt-4o-mini", error_type="").observe(
            0.4
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def service() -> Iterator[StandInService]:
    svc = StandInService()
    try:
        yield svc
    finally:
        svc.close()


def start_prometheus_from_shipped_config(
    workdir: Path, config: Path, name: str = "prometheus-alerts"
) -> tuple[ManagedProcess, str]:
    port = backends.free_port()
    url = f"http://127.0.0.1:{port}"
    process = ManagedProcess(
        name,
        [
            backends.stack_binary("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--enable-feature=exemplar-storage",
        ],
        log_path=workdir / "prometheus.log",
        ready=lambda: backends.http_ok(f"{url}/-/ready"),
        start_timeout=60,
    )
    process.start()
    return process, url


def am_alerts(am_url: str, alertname: str) -> list[dict[str, Any]]:
    resp = httpx.get(
        f"{am_url}/api/v2/alerts",
        params={"filter": f'alertname="{alertname}"', "inhibited": "true", "silenced": "true"},
        timeout=5,
    )
    resp.raise_for_status()
    alerts: list[dict[str, Any]] = resp.json()
    return alerts


def test_daily_budget_alert_reaches_the_webhook(
    tmp_path: Path, service: StandInService, webhook: WebhookReceiver
) -> None:
    started = time.monotonic()
    (tmp_path / "alertmanager").mkdir()
    am = backends.start_alertmanager(tmp_path / "alertmanager", webhook.url)
    prom: ManagedProcess | None = None
    try:
        am.configure(alertmanager_test_config(webhook.url))
        budgets = gen.load_budgets().with_values(daily_usd=0.05)
        config = gen.write_test_copy(
            tmp_path / "prometheus",
            budgets=budgets,
            targets={"demo-app": [f"127.0.0.1:{service.port}"]},
            alertmanagers=[am.url.split("://", 1)[1]],
        )
        prom, prom_url = start_prometheus_from_shipped_config(tmp_path / "prometheus", config)

        def query(expr: str) -> list[dict[str, Any]]:
            return backends.prometheus_query(prom_url, expr)

        backends.wait_until(lambda: query('up{job="demo-app"} == 1'), 30, what="target up")
        # Within budget: $0.01 + $0.01 of $0.05. Then $0.06 more crosses it.
        service.call(0.01)
        time.sleep(1.5)
        service.call(0.01)
        backends.wait_until(
            lambda: query("global:gen_ai_client_cost_usd:daily_budget_ratio > 0.3"),
            30,
            what="daily budget ratio recorded",
        )
        assert not query('ALERTS{alertname="LLMDailyBudgetExceeded"}')
        assert not [
            a for a in webhook.alerts if a["labels"]["alertname"] == "LLMDailyBudgetExceeded"
        ]
        service.call(0.06)
        crossed = time.monotonic()

        alert = webhook.wait_for_alert("LLMDailyBudgetExceeded", timeout=60)
        delivered = time.monotonic() - crossed
        assert alert["labels"]["severity"] == "critical"
        assert alert["labels"]["category"] == "budget"
        assert "of the daily budget" in alert["annotations"]["summary"]
        assert "of $0.05" in alert["annotations"]["description"]
        payload = next(
            p
            for p in webhook.payloads
            if any(a["labels"]["alertname"] == "LLMDailyBudgetExceeded" for a in p["alerts"])
        )
        assert payload["receiver"] == "budget-critical"  # routed by category and severity

        # The warning of the same family fires in Prometheus but is inhibited.
        warning = backends.wait_until(
            lambda: am_alerts(am.url, "LLMDailyBudgetNearlySpent"), 30, what="warning in AM"
        )
        assert warning[0]["status"]["state"] == "suppressed"
        assert warning[0]["status"]["inhibitedBy"]
        assert not [
            a for a in webhook.alerts if a["labels"]["alertname"] == "LLMDailyBudgetNearlySpent"
        ]
        print(
            f"budget crossed -> webhook {delivered:.1f} s; test {time.monotonic() - started:.1f} s"
        )
    finally:
        if prom is not None:
            prom.stop()
        am.stop()
