"""Scale-out tier on real binaries: one agent (loadbalancing by trace ID), two gateways
(tail_sampling), Jaeger v2 as the trace store. Shipped collector/agent.yaml and
collector/gateway.yaml; environment sets addresses, a 3 s decision wait and thresholds.

Traffic: 400 traces, each with spans from two services (chat-api: the request span and a
GenAI call; retriever: a retrieval span in the same trace), of known kinds: errors, slow
GenAI calls, expensive GenAI calls, and ordinary traces, some of them just under a
threshold or with a slow non-GenAI span. Asserted:

- every error / slow-GenAI / expensive trace is stored, whole (all 3 spans, both services);
- no stored trace is split: all its spans carry the same otel_llm.sampling.gateway
  (written by the gateway that decided), and both gateways decided some traces;
- the ordinary traces are kept at OTELCOL_SAMPLE_PERCENT (20 %) within 4 standard
  deviations of a binomial draw (280 traces: 56 +- 27), each of them whole too;
- the gateways together received every span once (their own telemetry);
- a gateway restart (SIGTERM, start again) loses no error trace: spans the agent routes
  to the stopped gateway wait in the agent's per-gateway queue and are delivered when it
  is back; traces sent just before the stop (still within the decision wait) are decided
  at shutdown with the spans the gateway had (drop_pending_traces_on_shutdown is off).
  A gateway that is killed (no shutdown) loses the traces it held undecided.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from tests.integration import backends
from tests.integration.scaleout_tier import (
    JaegerLocal,
    TierCollector,
    start_agent,
    start_gateway,
    start_jaeger_for_scaleout,
)

SAMPLE_PERCENT = 20
SLOW_MS = 2000
EXPENSIVE_USD = 0.10
GATEWAY_ENV = {
    "OTELCOL_DECISION_WAIT": "3s",
    "OTELCOL_DECISION_WAIT_AFTER_ROOT": "1s",
    "OTELCOL_SLOW_GENAI_MS": str(SLOW_MS),
    "OTELCOL_EXPENSIVE_CALL_USD": str(EXPENSIVE_USD),
    "OTELCOL_SAMPLE_PERCENT": str(SAMPLE_PERCENT),
}
KEEP = ("error", "slow", "expensive")
SPANS_PER_TRACE = 3


@dataclass
class Tier:
    jaeger: JaegerLocal
    gateways: list[TierCollector]
    agent: TierCollector


@pytest.fixture
def tier(tmp_path: Path) -> Iterator[Tier]:
    started: list[TierCollector | JaegerLocal] = []
    try:
        jaeger = start_jaeger_for_scaleout(tmp_path / "jaeger")
        started.append(jaeger)
        gateways = []
        for name in ("gw-a", "gw-b"):
            gw = start_gateway(name, tmp_path, traces_endpoint=jaeger.otlp_grpc, env=GATEWAY_ENV)
            started.append(gw)
            gateways.append(gw)
        agent = start_agent(tmp_path, [g.otlp_grpc for g in gateways])
        started.append(agent)
        yield Tier(jaeger=jaeger, gateways=gateways, agent=agent)
    finally:
        for proc in reversed(started):
            proc.stop()


class Services:
    """Two instrumented services (SDK, OTLP/gRPC) sending to the agent."""

    def __init__(self, agent: TierCollector) -> None:
        self.providers = []
        for name in ("chat-api", "retriever"):
            provider = TracerProvider(resource=Resource.create({"service.name": name}))
            provider.add_span_processor(
                BatchSpanProcessor(
                    OTLPSpanExporter(endpoint=agent.otlp_grpc, insecure=True),
                    max_queue_size=20000,
                    schedule_delay_millis=200,
                )
            )
            self.providers.append(provider)
        self.chat = self.providers[0].get_tracer("scaleout-test")
        self.retriever = self.providers[1].get_tracer("scaleout-test")

    def request(self, kind: str, variant: int) -> str:
        """One request trace of ``kind``; returns its trace ID (hex)."""
        s = 1_000_000_000
        now = time.time_ns()
        genai_ms = 2500 if kind == "slow" else (1500 if variant % 3 == 0 else 300)
        cost = 0.35 if kind == "expensive" else (0.09 if variant % 3 == 1 else 0.002)
        retrieval_ms = 3000 if variant % 3 == 2 else 40  # a slow span, but not a GenAI call
        start = now - 4 * s
        root = self.chat.start_span("POST /chat", kind=SpanKind.SERVER, start_time=start)
        ctx = trace.set_span_in_context(root)
        retrieval = self.retriever.start_span(
            "retrieve documents", context=ctx, start_time=start + s // 100
        )
        retrieval.end(end_time=start + s // 100 + retrieval_ms * 1_000_000)
        call = self.chat.start_span(
            "chat gpt-4o",
            context=ctx,
            kind=SpanKind.CLIENT,
            start_time=now - genai_ms * 1_000_000 - s // 10,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.cost.amount": cost,
                "gen_ai.usage.cost.currency": "USD",
            },
        )
        if kind == "error":
            call.set_status(Status(StatusCode.ERROR, "rate limited"))
            call.set_attribute("error.type", "429")
        call.end(end_time=now - s // 10)
        root.end(end_time=now)
        return format(root.get_span_context().trace_id, "032x")

    def flush(self) -> None:
        for p in self.providers:
            p.force_flush()

    def shutdown(self) -> None:
        for p in self.providers:
            p.shutdown()


def send(services: Services, kinds: list[str]) -> dict[str, str]:
    ids = {services.request(kind, i): kind for i, kind in enumerate(kinds)}
    services.flush()
    return ids


def wait_stored(jaeger: JaegerLocal, trace_ids: list[str], timeout: float = 45) -> None:
    def whole() -> bool:
        return all(len(jaeger.trace(t)) == SPANS_PER_TRACE for t in trace_ids)

    backends.wait_until(whole, timeout, what="kept traces stored whole", interval=1.0)


def test_gateway_tier_keeps_whole_traces_by_error_latency_cost(tier: Tier) -> None:
    services = Services(tier.agent)
    try:
        kinds = [KEEP[i % 10] if i % 10 < 3 else "ordinary" for i in range(400)]
        ids = send(services, kinds)
        must_keep = [t for t, k in ids.items() if k != "ordinary"]
        wait_stored(tier.jaeger, must_keep)
        time.sleep(2)  # the ordinary traces are decided in the same rounds; let exports land

        stored = {t: tier.jaeger.trace(t) for t in ids}
        by_kind: dict[str, list[int]] = {}
        gateways_used: dict[str, int] = {}
        for trace_id, spans in stored.items():
            by_kind.setdefault(ids[trace_id], []).append(len(spans))
            if not spans:
                continue
            deciders = {s["resource"].get("otel_llm.sampling.gateway") for s in spans}
            assert len(deciders) == 1, f"trace {trace_id} split across gateways {deciders}"
            decider = str(deciders.pop())
            gateways_used[decider] = gateways_used.get(decider, 0) + 1
            services_seen = {s["resource"].get("service.name") for s in spans}
            assert services_seen == {"chat-api", "retriever"}, trace_id
            assert len(spans) == SPANS_PER_TRACE, f"trace {trace_id} partly stored"

        for kind in KEEP:
            assert by_kind[kind] == [SPANS_PER_TRACE] * 40, f"{kind} traces lost"
        ordinary = by_kind["ordinary"]
        kept = sum(1 for n in ordinary if n)
        n, p = len(ordinary), SAMPLE_PERCENT / 100
        tolerance = 4 * math.sqrt(n * p * (1 - p))
        assert abs(kept - n * p) <= tolerance, (kept, n * p, tolerance)
        assert set(gateways_used) == {"gw-a", "gw-b"}, gateways_used

        received = [g.metric_sum("otelcol_receiver_accepted_spans") for g in tier.gateways]
        assert sum(received) == len(ids) * SPANS_PER_TRACE, received
        assert min(received) > 0.25 * sum(received), f"unbalanced: {received}"
        print(
            f"\n400 traces / 1200 spans: kept {len(must_keep)}/120 error+slow+expensive whole, "
            f"{kept}/{n} ordinary ({kept / n:.1%}, configured {SAMPLE_PERCENT}% "
            f"+- {tolerance / n:.1%}); spans per gateway {received}; "
            f"traces decided per gateway {gateways_used}; no trace split"
        )

        # --- a gateway restarts ---------------------------------------------------------
        gw_b = tier.gateways[1]
        # (1) traces gw-b has received but not decided yet (3 s decision wait) when it stops
        accepted_before = [g.metric_sum("otelcol_receiver_accepted_spans") for g in tier.gateways]
        pending = send(services, ["error"] * 20)
        backends.wait_until(
            lambda: (
                sum(g.metric_sum("otelcol_receiver_accepted_spans") for g in tier.gateways)
                >= sum(accepted_before) + 20 * SPANS_PER_TRACE
            ),
            10,
            what="the 20 traces received by the gateways",
            interval=0.05,
        )
        in_gw_b = gw_b.metric_sum("otelcol_receiver_accepted_spans") - accepted_before[1]
        assert in_gw_b > 0
        gw_b.stop()
        # (2) traces sent while gw-b is down: its share waits in the agent's queue
        during = send(services, ["error"] * 20)
        time.sleep(3)
        gw_b.start()
        wait_stored(tier.jaeger, [*pending, *during], timeout=60)
        print(
            f"gateway restart: 20 error traces received ({in_gw_b:.0f} spans in gw-b) but "
            "undecided when gw-b stopped, and 20 sent while it was down: all stored whole"
        )
    finally:
        services.shutdown()
