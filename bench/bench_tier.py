"""Throughput and CPU of the scale-out tier: agent (loadbalancing) -> 2 gateways (tail_sampling).

Run: ``uv run python bench/bench_tier.py [--spans N] [--senders K] [--sample-percent P]``.

Starts the real binaries on loopback, each with the shipped config (collector/agent.yaml,
collector/gateway.yaml) and Jaeger v2 as the trace store, then pushes N spans as fast as K
OTLP/gRPC senders can (pre-built requests of 100 traces x 3 spans: the client does no
encoding while timed). Printed:

- spans/s the tier held: spans sent / time until the gateways had received every one
  (the agent routed them all), with the spans refused (must be 0 to count); the decisions
  come a decision wait (--decision-wait) later and are not throughput;
- CPU seconds per 10 000 spans of the agent, of the two gateways together and of Jaeger
  (from /proc), counted until every trace was decided and exported;
- the same for the baseline: ONE collector with collector/config.yaml (no sampling,
  every span to Jaeger), and the ratios tier / baseline.

A run on a shared machine measures the machine too: read the figures with the core
count and the load printed in the header.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration import backends
from tests.integration.scaleout_tier import (
    TierCollector,
    cpu_seconds,
    start_agent,
    start_gateway,
    start_jaeger_for_scaleout,
)

TRACES_PER_REQUEST = 100
SPANS_PER_TRACE = 3


def _attr(key: str, value: str | float) -> common_pb2.KeyValue:
    if isinstance(value, float):
        return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(double_value=value))
    return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(string_value=value))


def build_request(index: int) -> trace_service_pb2.ExportTraceServiceRequest:
    """100 traces: request span + GenAI call (chat-api) + retrieval (retriever).

    Every 20th trace has an error, every 20th (offset 1) an expensive call: about 10 % of
    traces are kept by policy, the rest by the probabilistic share.
    """
    now = time.time_ns()
    chat: list[trace_pb2.Span] = []
    retr: list[trace_pb2.Span] = []
    for i in range(TRACES_PER_REQUEST):
        tid = secrets.token_bytes(16)
        root_id, call_id, ret_id = (secrets.token_bytes(8) for _ in range(3))
        n = index * TRACES_PER_REQUEST + i
        status = trace_pb2.Status(
            code=trace_pb2.Status.STATUS_CODE_ERROR
            if n % 20 == 0
            else trace_pb2.Status.STATUS_CODE_UNSET
        )
        cost = 0.5 if n % 20 == 1 else 0.002
        chat.append(
            trace_pb2.Span(
                trace_id=tid,
                span_id=root_id,
                name="POST /chat",
                kind=trace_pb2.Span.SPAN_KIND_SERVER,
                start_time_unix_nano=now - 900_000_000,
                end_time_unix_nano=now,
            )
        )
        chat.append(
            trace_pb2.Span(
                trace_id=tid,
                span_id=call_id,
                parent_span_id=root_id,
                name="chat gpt-4o",
                kind=trace_pb2.Span.SPAN_KIND_CLIENT,
                start_time_unix_nano=now - 800_000_000,
                end_time_unix_nano=now - 100_000_000,
                status=status,
                attributes=[
                    _attr("gen_ai.operation.name", "chat"),
                    _attr("gen_ai.provider.name", "openai"),
                    _attr("gen_ai.request.model", "gpt-4o"),
                    _attr("gen_ai.usage.cost.amount", cost),
                ],
            )
        )
        retr.append(
            trace_pb2.Span(
                trace_id=tid,
                span_id=ret_id,
                parent_span_id=root_id,
                name="retrieve documents",
                start_time_unix_nano=now - 890_000_000,
                end_time_unix_nano=now - 850_000_000,
            )
        )

    def rs(service: str, spans: list[trace_pb2.Span]) -> trace_pb2.ResourceSpans:
        return trace_pb2.ResourceSpans(
            resource=resource_pb2.Resource(attributes=[_attr("service.name", service)]),
            scope_spans=[trace_pb2.ScopeSpans(spans=spans)],
        )

    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[rs("chat-api", chat), rs("retriever", retr)]
    )


def push(endpoint: str, requests: list[trace_service_pb2.ExportTraceServiceRequest], k: int) -> int:
    """Send every request over ``k`` concurrent channels; return the spans rejected."""
    rejected = 0
    lock = threading.Lock()

    def worker(part: list[trace_service_pb2.ExportTraceServiceRequest]) -> None:
        nonlocal rejected
        with grpc.insecure_channel(endpoint) as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)  # type: ignore[no-untyped-call]
            for req in part:
                try:
                    resp = stub.Export(req, timeout=30)
                    bad = resp.partial_success.rejected_spans
                except grpc.RpcError:
                    bad = TRACES_PER_REQUEST * SPANS_PER_TRACE
                if bad:
                    with lock:
                        rejected += bad

    threads = [threading.Thread(target=worker, args=(requests[i::k],)) for i in range(k)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return rejected


def run(
    label: str,
    entry: TierCollector,
    measured: dict[str, list[int]],
    received: Callable[[], bool],
    done: Callable[[], bool],
    requests: list[trace_service_pb2.ExportTraceServiceRequest],
    senders: int,
) -> dict[str, float]:
    total = len(requests) * TRACES_PER_REQUEST * SPANS_PER_TRACE
    before = {name: sum(cpu_seconds(p) for p in pids) for name, pids in measured.items()}
    client_before = time.process_time()
    start = time.perf_counter()
    rejected = push(entry.otlp_grpc, requests, senders)
    sent = time.perf_counter() - start
    backends.wait_until(received, 300, what=f"{label}: every span received", interval=0.05)
    ingested = time.perf_counter() - start
    backends.wait_until(done, 300, what=f"{label}: every span processed", interval=0.1)
    elapsed = time.perf_counter() - start
    out: dict[str, float] = {
        "spans": total,
        "rejected": rejected,
        "send_s": sent,
        "ingest_s": ingested,
        "elapsed_s": elapsed,
        "spans_per_s": total / ingested,
        "client_cpu_s": time.process_time() - client_before,
    }
    for name, pids in measured.items():
        out[f"cpu_{name}"] = (sum(cpu_seconds(p) for p in pids) - before[name]) / total * 10_000
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=300_000, help="spans per run")
    parser.add_argument("--senders", type=int, default=4, help="concurrent OTLP senders")
    parser.add_argument("--sample-percent", type=float, default=10)
    parser.add_argument("--decision-wait", default="2s")
    args = parser.parse_args()

    n_requests = max(1, args.spans // (TRACES_PER_REQUEST * SPANS_PER_TRACE))
    print(
        f"bench_tier: {n_requests * TRACES_PER_REQUEST * SPANS_PER_TRACE} spans, "
        f"{args.senders} senders, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}, "
        f"sampling {args.sample_percent}% + errors/expensive (~10% of traces)"
    )
    build_start = time.perf_counter()
    tier_requests = [build_request(i) for i in range(n_requests)]
    base_requests = [build_request(i) for i in range(n_requests)]
    print(f"(built requests in {time.perf_counter() - build_start:.1f} s, not timed)")

    with tempfile.TemporaryDirectory(prefix="bench-tier-") as tmp:
        work = Path(tmp)
        stop: list[Callable[[], None]] = []
        try:
            jaeger = start_jaeger_for_scaleout(work / "jaeger")
            stop.append(jaeger.stop)
            gw_env = {
                "OTELCOL_DECISION_WAIT": args.decision_wait,
                "OTELCOL_SAMPLE_PERCENT": str(args.sample_percent),
            }
            gateways = []
            for name in ("gw-a", "gw-b"):
                gw = start_gateway(name, work, traces_endpoint=jaeger.otlp_grpc, env=gw_env)
                stop.append(gw.stop)
                gateways.append(gw)
            agent = start_agent(work, [g.otlp_grpc for g in gateways])
            stop.append(agent.stop)
            total = n_requests * TRACES_PER_REQUEST * SPANS_PER_TRACE
            jaeger_pid = jaeger.process.proc.pid if jaeger.process.proc else 0

            def tier_received() -> bool:
                got = sum(g.metric_sum("otelcol_receiver_accepted_spans") for g in gateways)
                return bool(got >= total)

            def tier_done() -> bool:
                held = sum(
                    g.metric_sum("otelcol_processor_tail_sampling_sampling_traces_on_memory")
                    for g in gateways
                )
                return bool(held == 0)

            tier = run(
                "tier",
                agent,
                {
                    "agent": [agent.pid()],
                    "gateways": [g.pid() for g in gateways],
                    "jaeger": [jaeger_pid],
                },
                tier_received,
                tier_done,
                tier_requests,
                args.senders,
            )
            dropped = sum(
                g.metric_sum("otelcol_processor_tail_sampling_sampling_trace_dropped_too_early")
                for g in gateways
            ) + agent.metric_sum("otelcol_exporter_send_failed_spans")
            kept = sum(g.metric_sum("otelcol_exporter_sent_spans") for g in gateways)
            for proc in (agent, *gateways):
                proc.stop()

            single = backends.start_collector(work / "single", jaeger.otlp_grpc)
            stop.append(single.process.stop)
            single_pid = single.process.proc.pid if single.process.proc else 0
            single_tc = TierCollector(
                "single", single.process, single.otlp_grpc.split("://", 1)[1], single.metrics_url
            )

            def single_done() -> bool:
                return bool(single_tc.metric_sum("otelcol_exporter_sent_spans") >= total)

            base = run(
                "single collector",
                single_tc,
                {"agent": [single_pid], "gateways": [], "jaeger": [jaeger_pid]},
                single_done,
                single_done,
                base_requests,
                args.senders,
            )
        finally:
            for fn in reversed(stop):
                fn()

    def row(name: str, r: dict[str, float], gw: bool) -> str:
        gws = f"{r['cpu_gateways']:>10.2f}" if gw else f"{'-':>10}"
        return (
            f"{name:<28}{r['spans_per_s']:>10.0f}{r['rejected']:>9.0f}"
            f"{r['cpu_agent']:>9.2f}{gws}{r['cpu_jaeger']:>9.2f}"
        )

    print()
    print(f"{'':<28}{'spans/s':>10}{'refused':>9}{'agent':>9}{'gateways':>10}{'jaeger':>9}")
    print(f"{'':<47}{'CPU seconds per 10k spans':>28}")
    print(row("tier (agent + 2 gateways)", tier, True))
    print(row("baseline: one collector", base, False))
    tier_cpu = tier["cpu_agent"] + tier["cpu_gateways"]
    print(
        f"(the senders used {tier['client_cpu_s']:.1f} / {base['client_cpu_s']:.1f} CPU s of "
        f"{tier['ingest_s']:.1f} / {base['ingest_s']:.1f} s: on a 2-core machine they share the "
        "cores with the collectors, so spans/s is what this machine sustains, not the tier's "
        "ceiling)"
    )
    print(
        f"\ntier / baseline: throughput {tier['spans_per_s'] / base['spans_per_s']:.2f}x, "
        f"collector CPU per span {tier_cpu / base['cpu_agent']:.2f}x, trace-store CPU per "
        f"span {tier['cpu_jaeger'] / max(base['cpu_jaeger'], 1e-9):.2f}x"
    )
    print(
        f"tier: {kept:.0f} of {tier['spans']:.0f} spans kept and exported "
        f"({kept / tier['spans']:.1%}); dropped before decision or failed to send: {dropped:.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
