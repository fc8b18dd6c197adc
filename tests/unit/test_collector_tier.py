"""collector/agent.yaml and collector/gateway.yaml: valid for our Collector build, and the
agent redacts exactly as collector/config.yaml does."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.backends import stack_binary

COLLECTOR = Path(__file__).resolve().parents[2] / "collector"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((COLLECTOR / name).read_text())
    return data


@pytest.mark.parametrize("name", ["agent.yaml", "gateway.yaml"])
def test_tier_config_validates(name: str) -> None:
    proc = subprocess.run(
        [str(stack_binary("otelcol", timeout=1800)), "validate", f"--config={COLLECTOR / name}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_agent_redacts_like_the_single_collector() -> None:
    assert (
        load("agent.yaml")["processors"]["transform/redact"]
        == load("config.yaml")["processors"]["transform/redact"]
    )
    assert "transform/redact" in load("agent.yaml")["service"]["pipelines"]["traces"]["processors"]


def test_agent_routes_traces_by_trace_id() -> None:
    agent = load("agent.yaml")
    assert agent["exporters"]["loadbalancing"]["routing_key"] == "traceID"
    assert agent["service"]["pipelines"]["traces"]["exporters"] == ["loadbalancing"]


def test_gateway_policies_cover_errors_latency_cost_and_a_share() -> None:
    policies = load("gateway.yaml")["processors"]["tail_sampling"]["policies"]
    types = {p["name"]: p["type"] for p in policies}
    assert types == {
        "errors": "status_code",
        "slow-genai": "ottl_condition",
        "expensive-genai": "ottl_condition",
        "baseline": "probabilistic",
    }
    expensive = next(p for p in policies if p["name"] == "expensive-genai")
    assert 'span.attributes["gen_ai.usage.cost.amount"] >' in expensive["ottl_condition"]["span"][0]
