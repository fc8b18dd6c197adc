"""The scale-out tier on loopback: agent (loadbalancing) -> gateways (tail_sampling) -> Jaeger.

Used by tests/integration/test_scaleout.py and bench/bench_tier.py. Every process runs the
shipped collector/agent.yaml or collector/gateway.yaml; only environment variables differ
(addresses, thresholds, a short decision wait).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.integration import backends
from tests.integration.backends import ManagedProcess

REPO = Path(__file__).resolve().parents[2]
AGENT_CONFIG = REPO / "collector" / "agent.yaml"
GATEWAY_CONFIG = REPO / "collector" / "gateway.yaml"


# ------------------------------------------------------------------ Jaeger ---
# backends.start_jaeger (the repository's jaeger/jaeger.yaml), with a larger store and a
# span view keyed by resource for the tier checks.


@dataclass
class JaegerLocal:
    process: ManagedProcess
    query_url: str
    otlp_grpc: str  # host:port

    def stop(self) -> None:
        self.process.stop()

    def trace(self, trace_id_hex: str) -> list[dict[str, Any]]:
        """Spans of one trace as (resource attributes, span) dicts; [] when not stored."""
        resp = httpx.get(f"{self.query_url}/api/v3/traces/{trace_id_hex}", timeout=10)
        if resp.status_code == 404:
            return []
        resp.raise_for_status()
        body = resp.json()
        result = body.get("result", body)
        spans: list[dict[str, Any]] = []
        for rs in result.get("resourceSpans", []):
            res = {
                a["key"]: next(iter(a["value"].values()), None)
                for a in rs.get("resource", {}).get("attributes", [])
            }
            for ss in rs.get("scopeSpans", []):
                for span in ss.get("spans", []):
                    spans.append({"resource": res, "span": span})
        return spans


def start_jaeger_for_scaleout(workdir: Path) -> JaegerLocal:
    """Jaeger v2 (memory store, jaeger/jaeger.yaml) on free loopback ports."""
    inst = backends.start_jaeger(workdir, max_traces=200_000)
    return JaegerLocal(process=inst.process, query_url=inst.url, otlp_grpc=inst.otlp_grpc)


# --------------------------------------------------------------- Collectors ---


@dataclass
class TierCollector:
    name: str
    process: ManagedProcess
    otlp_grpc: str  # host:port
    metrics_url: str

    def stop(self) -> None:
        self.process.stop()

    def start(self) -> None:
        self.process.start()

    def metric_sum(self, name: str, **labels: str) -> float:
        """Sum of a metric of the Collector's own telemetry (both ``_total`` spellings)."""
        text = httpx.get(self.metrics_url, timeout=5).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            m = re.match(r"([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)", line)
            if not m or m.group(1) not in (name, f"{name}_total"):
                continue
            lbl = m.group(2) or ""
            if all(f'{k}="{v}"' in lbl for k, v in labels.items()):
                total += float(m.group(3))
        return total

    def pid(self) -> int:
        assert self.process.proc is not None
        return self.process.proc.pid


def _start_collector(
    name: str, workdir: Path, config: Path, env: Mapping[str, str], ports: Sequence[int]
) -> TierCollector:
    grpc_port, http_port, health_port, metrics_port = ports
    full_env = {
        "OTELCOL_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{grpc_port}",
        "OTELCOL_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{http_port}",
        "OTELCOL_HEALTH_ENDPOINT": f"127.0.0.1:{health_port}",
        "OTELCOL_METRICS_HOST": "127.0.0.1",
        "OTELCOL_METRICS_PORT": str(metrics_port),
        **env,
    }
    health = f"http://127.0.0.1:{health_port}/"
    process = ManagedProcess(
        name,
        [str(backends.stack_binary("otelcol")), f"--config={config}"],
        log_path=workdir / f"{name}.log",
        env=full_env,
        ready=lambda: backends.http_ok(health),
        start_timeout=60,
    )
    process.start()
    return TierCollector(
        name=name,
        process=process,
        otlp_grpc=f"127.0.0.1:{grpc_port}",
        metrics_url=f"http://127.0.0.1:{metrics_port}/metrics",
    )


def start_gateway(
    name: str, workdir: Path, *, traces_endpoint: str, env: Mapping[str, str] | None = None
) -> TierCollector:
    """collector/gateway.yaml; ``env`` overrides thresholds (OTELCOL_SLOW_GENAI_MS, ...)."""
    ports = [backends.free_port() for _ in range(4)]
    return _start_collector(
        name,
        workdir,
        GATEWAY_CONFIG,
        {
            "OTELCOL_TRACES_ENDPOINT": traces_endpoint,
            "OTELCOL_GATEWAY_ID": name,
            "OTELCOL_RETRY_MAX_INTERVAL": "2s",
            **(env or {}),
        },
        ports,
    )


def start_agent(
    workdir: Path, gateways: Sequence[str], *, env: Mapping[str, str] | None = None
) -> TierCollector:
    """collector/agent.yaml routing to ``gateways`` (host:port list) by trace ID."""
    ports = [backends.free_port() for _ in range(4)]
    return _start_collector(
        "agent",
        workdir,
        AGENT_CONFIG,
        {
            "OTELCOL_GATEWAYS": json.dumps(list(gateways)),
            "OTELCOL_PROMETHEUS_ENDPOINT": f"127.0.0.1:{backends.free_port()}",
            "OTELCOL_RETRY_MAX_INTERVAL": "2s",
            **(env or {}),
        },
        ports,
    )


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (and its waited-for children) from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(x) for x in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")
