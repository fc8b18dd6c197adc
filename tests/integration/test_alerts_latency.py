"""Breach -> notification with the SHIPPED settings, on real Prometheus and Alertmanager.

Unlike test_alerts.py (every interval shortened), this runs prometheus/prometheus.yml,
prometheus/rules/*.yml and alertmanager/alertmanager.yml as shipped: 15 s scrape and
evaluation, the shipped budgets ($10 a day), `for:`/`keep_firing_for` and group_wait as
written. Only addresses are substituted: the scrape target, the rule file paths (absolute,
since the config is written to a temp dir), the Alertmanager address and the webhook URLs.

A service that has spent $1 today suddenly spends $20 more (a loop, a huge prompt); the
test measures the time from that moment to the webhook receiving LLMDailyBudgetExceeded
and asserts it is at most 60 s. One run samples one phase of the scrape and evaluation
timers; prometheus/README.md ("Alert latency") gives the worst case.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from tests.integration import backends
from tests.integration.backends import ManagedProcess, WebhookReceiver, load_script
from tests.integration.test_alerts import StandInService, start_prometheus_from_shipped_config

REPO = Path(__file__).resolve().parents[2]
PROM_DIR = REPO / "prometheus"
gen = load_script(PROM_DIR / "generate.py", "otel_llm_prom_generate")

LIMIT_S = 60.0


def shipped_alertmanager_config(webhook_url: str) -> str:
    """alertmanager/alertmanager.yml with only the webhook URLs replaced."""
    config: dict[str, Any] = yaml.safe_load(
        (REPO / "alertmanager" / "alertmanager.yml").read_text()
    )
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = f"{webhook_url}/{receiver['name']}"
    return str(yaml.safe_dump(config, sort_keys=False))


def shipped_prometheus_config(target: str, alertmanager: str) -> str:
    """prometheus/prometheus.yml with the target, rule paths and Alertmanager substituted."""
    shipped = yaml.safe_load((PROM_DIR / "prometheus.yml").read_text())
    text = gen.render_prometheus_config(
        targets={"demo-app": [target]},
        rule_files=[str(PROM_DIR / f) for f in shipped["rule_files"]],
        alertmanagers=[alertmanager],
    )
    rendered = yaml.safe_load(text)
    # the point of this test: timing settings exactly as shipped
    assert rendered["global"] == shipped["global"]
    return str(text)


def test_budget_breach_notifies_within_60s_with_shipped_settings(tmp_path: Path) -> None:
    service = StandInService()
    webhook = WebhookReceiver()
    (tmp_path / "am").mkdir()
    am = backends.start_alertmanager(tmp_path / "am", webhook.url)
    prom: ManagedProcess | None = None
    try:
        am.configure(shipped_alertmanager_config(webhook.url))
        config = tmp_path / "prometheus.yml"
        config.write_text(
            shipped_prometheus_config(f"127.0.0.1:{service.port}", am.url.split("://", 1)[1])
        )
        prom, prom_url = start_prometheus_from_shipped_config(
            tmp_path, config, "prometheus-shipped"
        )

        def query(expr: str) -> list[dict[str, Any]]:
            return backends.prometheus_query(prom_url, expr)

        service.call(1.0)  # $1 of the $10 daily budget before the breach
        backends.wait_until(
            lambda: query("gen_ai_client_cost_usd_total == 1"), 40, what="first scrape"
        )
        service.call(20.0)
        breach = time.monotonic()
        assert not [a for a in webhook.alerts if a["labels"].get("category") == "budget"]

        alert = webhook.wait_for_alert("LLMDailyBudgetExceeded", timeout=LIMIT_S + 30)
        seconds = time.monotonic() - breach
        payload = next(
            p
            for p in webhook.payloads
            if any(a["labels"]["alertname"] == "LLMDailyBudgetExceeded" for a in p["alerts"])
        )
        others = sorted(
            {a["labels"]["alertname"] for a in webhook.alerts if a.get("status") == "firing"}
        )
        print(
            f"\nbreach -> LLMDailyBudgetExceeded webhook: {seconds:.1f} s with the shipped "
            f"settings (limit {LIMIT_S:.0f} s); notified so far: {others}"
        )
        assert seconds <= LIMIT_S, f"{seconds:.1f} s from breach to notification"
        assert payload["receiver"] == "budget-critical"
        assert alert["labels"]["severity"] == "critical"
        assert "of $10.00" in alert["annotations"]["description"]
        # the warning of the same family is inhibited, never sent
        assert "LLMDailyBudgetNearlySpent" not in others
    finally:
        if prom is not None:
            prom.stop()
        am.stop()
        webhook.close()
        service.close()
