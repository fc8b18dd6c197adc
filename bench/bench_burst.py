"""A burst with the Collector down: is every span that is not exported counted?

8 threads (pinned to 2 cores) make 5,000 OpenAI SDK calls as fast as they can over an
in-process mock transport, under plain ``otel_llm.configure()`` with the OTLP endpoint on
a closed port. Spans fill the bounded export queue faster than the exporter (which
cannot connect) empties it. Printed: calls, spans created (sampled, seen at span end),
spans handed to the exporter and exported, ``otel_llm_spans_dropped_total`` by reason,
and whether the counter equals what the exporter did not send.

    uv run python bench/bench_burst.py [--calls 5000] [--threads 8] [--cores 2]
        [--queue-size N] [--json out.json]

Export failures (the exporter got the spans and could not send them) are counted by the
exporter side, next to the queue's drops. The counter is read twice: right when
``shutdown()`` returns (what a process that exits then has counted, with the batch the
exporter is still retrying counted as ``reason="shutdown"``), and again after that export
has ended (the same counts: nothing counted twice). Both must equal created - exported.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the socket goes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--queue-size", type=int, help="OTEL_BSP_MAX_QUEUE_SIZE (default 2048)")
    parser.add_argument(
        "--export-timeout", type=float, help="OTEL_EXPORTER_OTLP_TIMEOUT, s (SDK default: 10)"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))[: args.cores]
        os.sched_setaffinity(0, cpus)
    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{_closed_port()}"
    if args.export_timeout:
        os.environ["OTEL_EXPORTER_OTLP_TIMEOUT"] = str(args.export_timeout)
    os.environ["OTEL_LLM_LOG_FORMAT"] = "json"
    if args.queue_size:
        os.environ["OTEL_BSP_MAX_QUEUE_SIZE"] = str(args.queue_size)
        os.environ["OTEL_BSP_MAX_EXPORT_BATCH_SIZE"] = str(min(512, args.queue_size))

    from bench_overhead import MESSAGES, MODEL, make_client
    from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    import otel_llm
    from otel_llm._otlp_http import span_exporter

    class Counting(SpanExporter):
        """The default OTLP exporter, counting what it is given and what it sends."""

        def __init__(self) -> None:
            self.inner = span_exporter()
            self.given = self.sent = self.failed = 0
            self._lock = threading.Lock()

        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            with self._lock:  # counted on entry: a batch may still be in flight at the end
                self.given += len(spans)
            result = self.inner.export(spans)
            with self._lock:
                if result is SpanExportResult.SUCCESS:
                    self.sent += len(spans)
                else:
                    self.failed += len(spans)
            return result

        def shutdown(self) -> None:
            self.inner.shutdown()

    class Created(SpanProcessor):
        def __init__(self) -> None:
            self.n = 0
            self._lock = threading.Lock()

        def on_end(self, span: ReadableSpan) -> None:
            if span.context is not None and span.context.trace_flags.sampled:
                with self._lock:
                    self.n += 1

    exporter = Counting()
    telemetry = otel_llm.configure("bench-burst", span_exporter=exporter)
    created = Created()
    telemetry.tracer_provider.add_span_processor(created)
    client = make_client()  # after configure(): the SDK is instrumented on import anyway

    per_thread = [args.calls // args.threads] * args.threads
    for i in range(args.calls % args.threads):
        per_thread[i] += 1
    errors: list[BaseException] = []
    barrier = threading.Barrier(args.threads)

    def worker(n: int) -> None:
        barrier.wait()
        try:
            for _ in range(n):
                client.chat.completions.create(model=MODEL, messages=MESSAGES)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in per_thread]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    burst_s = time.perf_counter() - started
    started = time.perf_counter()
    otel_llm.shutdown()  # flushes what it can within the SDK's shutdown timeout
    shutdown_s = time.perf_counter() - started

    def counter() -> dict[str, float]:
        out: dict[str, float] = {}
        for family in telemetry.registry.collect():
            if family.name == "otel_llm_spans_dropped":
                for sample in family.samples:
                    if sample.name.endswith("_total"):
                        out[sample.labels.get("reason", "")] = sample.value
        return out

    # What a process that exits right after shutdown() has counted: shutdown() returns
    # after its timeout while the worker may still be retrying one batch.
    at_exit = counter()
    not_sent_at_exit = created.n - exporter.sent
    in_export_at_exit = exporter.given - exporter.sent - exporter.failed
    # The process lives on here: wait for that export to end, then read it all again
    # (its failure must not be counted a second time).
    started = time.perf_counter()
    batch = getattr(telemetry.processor.downstream, "_batch_processor", None)
    worker_thread = getattr(batch, "_worker_thread", None)
    if worker_thread is not None:
        worker_thread.join(60)
    waited_s = time.perf_counter() - started

    dropped = counter()
    not_sent = created.n - exporter.sent
    export_failed = exporter.given - exporter.sent
    counter_total = sum(dropped.values())
    total_at_exit = sum(at_exit.values())
    result = {
        "calls": args.calls,
        "threads": args.threads,
        "cores": args.cores,
        "errors": len(errors),
        "burst_s": round(burst_s, 3),
        "calls_per_s": round(args.calls / burst_s),
        "shutdown_s": round(shutdown_s, 3),
        "spans_created": created.n,
        "given_to_exporter": exporter.given,
        "exported": exporter.sent,
        "export_failed": export_failed,
        "in_export_at_exit": in_export_at_exit,
        "dropped_counter_at_exit": at_exit,
        "not_sent_at_exit": not_sent_at_exit,
        "counter_equals_not_sent_at_exit": total_at_exit == not_sent_at_exit,
        "waited_for_export_s": round(waited_s, 3),
        "dropped_counter": dropped,
        "not_sent": not_sent,
        "counter_equals_not_sent": counter_total == not_sent,
        "counted_once": dropped == at_exit,
    }
    print(
        f"{args.calls} calls from {args.threads} threads on {args.cores} cores in "
        f"{burst_s:.2f} s ({args.calls / burst_s:.0f} calls/s), Collector down; "
        f"shutdown {shutdown_s:.1f} s"
    )
    print(f"spans created            {created.n}")
    given = f"{exporter.given} (sent {exporter.sent}, failed {export_failed})"
    print(f"given to the exporter    {given}")
    print(
        f"when shutdown() returns (a process that exits now), {in_export_at_exit} spans "
        "still in export:"
    )
    print(f"  not sent               {not_sent_at_exit}")
    for reason, value in sorted(at_exit.items()):
        print(f"  otel_llm_spans_dropped_total{{reason={reason!r}}} {value:.0f}")
    print(
        f"  counter total {total_at_exit:.0f} == not sent {not_sent_at_exit}: "
        f"{result['counter_equals_not_sent_at_exit']}"
    )
    print(f"after the export still under way ended ({waited_s:.1f} s later):")
    for reason, value in sorted(dropped.items()):
        print(f"  otel_llm_spans_dropped_total{{reason={reason!r}}} {value:.0f}")
    print(
        f"  counter total {counter_total:.0f} == not sent {not_sent}: "
        f"{result['counter_equals_not_sent']}; unchanged (counted once): "
        f"{result['counted_once']}"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    ok = result["counter_equals_not_sent_at_exit"] and result["counter_equals_not_sent"]
    return 0 if ok and result["counted_once"] and not errors else 1


if __name__ == "__main__":
    raise SystemExit(main())
