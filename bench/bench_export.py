"""Export CPU per span: the default OTLP/HTTP protobuf exporter against the official one
and OTLP JSON over HTTP.

Real GenAI spans first: ``otel_llm.configure()`` instruments the OpenAI SDK (over an
in-process ``httpx2.MockTransport``, as bench_overhead.py) and its span processor stamps
them (request ID, tokens, cost); chat and stream calls, half each. Those spans, repeated to
``--batch`` (512, the batch processor's default batch), are then exported batch by batch
by each exporter (the default: otel-llm's composition of the official parts over http.client,
otel_llm/_otlp_http.py; the official ``OTLPSpanExporter`` over requests; the OTLP JSON
exporter), synchronously in this thread, to a loopback OTLP/HTTP sink running in a
separate process (so its work is not counted). CPU is this thread's (``thread_time``):
encoding and sending, the work the batch processor's worker does in a service, including
the cyclic garbage collections its allocations set off. Rounds are interleaved (every
exporter once, then again); the median round is reported, and the encoding alone is timed
the same way, with the garbage collector on and paused (what the collections cost).

    uv run python bench/bench_export.py [--batch 512] [--batches 8] [--rounds 7]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def sink_main() -> None:
    """The sink process: accepts every POST, answers 200 (a Collector that is up)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Sink(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the Collector

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


def genai_spans(calls: int) -> list[Any]:
    """GenAI spans as otel-llm's processor leaves them for export."""
    from bench_overhead import _call, _call_stream, make_client
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    import otel_llm

    kept: list[ReadableSpan] = []

    class Keep(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            kept.extend(spans)
            return SpanExportResult.SUCCESS

    telemetry = otel_llm.configure("bench-export", span_exporter=Keep())
    client = make_client()
    for i in range(calls):
        (_call_stream if i % 2 else _call)(client)
    telemetry.force_flush()
    return kept


def _median_us_per_span(fn: Callable[[], None], spans: int) -> float:
    start = time.thread_time_ns()
    fn()
    return (time.thread_time_ns() - start) / 1000 / spans


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=512, help="spans per export")
    parser.add_argument("--batches", type=int, default=8, help="exports per exporter per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=64, help="instrumented calls for spans")
    parser.add_argument("--sink", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.sink:
        sink_main()
        return 0

    import os

    os.environ.setdefault("OTEL_LLM_LOG_LEVEL", "WARNING")
    sink = subprocess.Popen([sys.executable, __file__, "--sink"], stdout=subprocess.PIPE, text=True)
    try:
        assert sink.stdout is not None
        endpoint = sink.stdout.readline().strip() + "/v1/traces"
        return _run(args, endpoint)
    finally:
        sink.terminate()
        sink.wait(10)


def _run(args: argparse.Namespace, endpoint: str) -> int:
    import os

    from google.protobuf.internal import api_implementation
    from opentelemetry.exporter.otlp.json.common._internal.trace_encoder import (
        encode_spans as encode_json,
    )
    from opentelemetry.exporter.otlp.json.http.trace_exporter import (
        OTLPSpanExporter as JsonExporter,
    )
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import (
        encode_spans as encode_proto,
    )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as ProtobufExporter,
    )
    from opentelemetry.sdk.trace.export import SpanExportResult

    from otel_llm import semconv
    from otel_llm._otlp_http import ProtobufHTTPSpanExporter, composable

    made = genai_spans(args.calls)
    genai = [s for s in made if semconv.is_genai_span(s.attributes)]
    batch = [genai[i % len(genai)] for i in range(args.batch)]
    attrs = statistics.median(len(s.attributes or {}) for s in genai)
    ok, why = composable()
    if not ok:
        raise SystemExit(f"otel-llm's OTLP/HTTP protobuf exporter is not used here: {why}")
    os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = endpoint  # it reads the environment
    default = ProtobufHTTPSpanExporter()
    exporters = {
        "http/json": (
            JsonExporter(endpoint=endpoint),
            lambda: encode_json(batch).to_json().encode(),
        ),
        "http/protobuf official": (
            ProtobufExporter(endpoint=endpoint),
            lambda: encode_proto(batch).SerializePartialToString(),
        ),
        "http/protobuf (default)": (
            default,
            lambda: bytes(default._serialize(batch)),  # its body: 32-span slices, joined
        ),
    }
    for exporter, encode in exporters.values():  # warm: connection, caches
        assert exporter.export(batch) is SpanExportResult.SUCCESS
        encode()
    export_us: dict[str, list[float]] = {name: [] for name in exporters}
    encode_us: dict[str, list[float]] = {name: [] for name in exporters}
    nogc_us: dict[str, list[float]] = {name: [] for name in exporters}
    n = args.batch * args.batches
    for _ in range(args.rounds):
        for name, (exporter, encode) in exporters.items():

            def send(exporter: Any = exporter, name: str = name) -> None:
                for _ in range(args.batches):
                    if exporter.export(batch) is not SpanExportResult.SUCCESS:
                        raise SystemExit(f"export to the sink failed ({name})")

            def encode_only(encode: Callable[[], bytes] = encode) -> None:
                for _ in range(args.batches):
                    encode()

            export_us[name].append(_median_us_per_span(send, n))
            encode_us[name].append(_median_us_per_span(encode_only, n))
            gc.disable()
            try:
                nogc_us[name].append(_median_us_per_span(encode_only, n))
            finally:
                gc.enable()
    sizes = {name: len(encode()) for name, (_, encode) in exporters.items()}
    for exporter, _ in exporters.values():
        exporter.shutdown()

    print(
        f"{len(genai)} GenAI spans from {args.calls} instrumented calls (chat and stream), "
        f"median {attrs:.0f} attributes, in batches of {args.batch}; "
        f"{args.batches} exports per exporter per round, median of {args.rounds} rounds; "
        f"protobuf runtime: {api_implementation.Type()}; {len(gc.get_objects())} objects "
        "tracked by the garbage collector"
    )
    print(
        f"{'exporter':<24}{'export CPU µs/span':>20}{'encode µs/span':>16}"
        f"{'(GC paused)':>13}{'bytes/span':>12}"
    )
    med = {name: statistics.median(v) for name, v in export_us.items()}
    enc = {name: statistics.median(v) for name, v in encode_us.items()}
    nogc = {name: statistics.median(v) for name, v in nogc_us.items()}
    for name in exporters:
        print(
            f"{name:<24}{med[name]:>20.1f}{enc[name]:>16.1f}{nogc[name]:>13.1f}"
            f"{sizes[name] / args.batch:>12.0f}"
        )
    json_name, official_name, proto_name = list(exporters)
    print(
        f"ratio default/official protobuf: export CPU {med[proto_name] / med[official_name]:.2f}x"
    )
    print(
        f"ratio json/protobuf: export CPU {med[json_name] / med[proto_name]:.2f}x, "
        f"encode {enc[json_name] / enc[proto_name]:.2f}x "
        f"({nogc[json_name] / nogc[proto_name]:.2f}x with GC paused), "
        f"bytes {sizes[json_name] / sizes[proto_name]:.2f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
