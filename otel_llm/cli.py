"""``otel-llm``: demo, trace look-up, usage report, mock LLM and demo service."""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import sys
import time
from collections.abc import Sequence

from otel_llm import __version__

DEFAULT_SPANS_GLOB = os.path.join(".otel-llm", "demo-spans*.jsonl")
_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> int:
    """``90s``, ``15m``, ``6h``, ``7d``, ``2w`` -> seconds; raise a clear error otherwise."""
    match = _DURATION.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"expected a duration like 15m, 6h or 7d, got {text!r}")
    return int(match.group(1)) * _UNIT_S[match.group(2)]


def _spans_files(args: argparse.Namespace) -> list[str]:
    """--file (repeatable), else OTEL_LLM_TRACES_FILE, else the demo's files."""
    if args.file:
        return list(args.file)
    if os.environ.get("OTEL_LLM_TRACES_FILE"):
        return [os.environ["OTEL_LLM_TRACES_FILE"]]
    found = sorted(glob.glob(DEFAULT_SPANS_GLOB))
    if not found:
        raise FileNotFoundError(
            f"no span file given and none at {DEFAULT_SPANS_GLOB}: "
            "run `otel-llm demo` or pass --file"
        )
    return found


def cmd_demo(args: argparse.Namespace) -> int:
    from otel_llm.demo.run import result_json, run_demo
    from otel_llm.render import console, usage_table

    out = console()
    if not args.json:
        out.print(
            f"[bold]otel-llm demo[/]: mock LLM + instrumented FastAPI service, "
            f"{args.requests} requests, spans to {args.out}/"
        )
    result = run_demo(
        use_node=False if args.no_node else None,
        requests=args.requests,
        out_dir=args.out,
        seed=args.seed,
        concurrency=args.concurrency,
        progress=not args.json and not args.no_progress,
        latency_scale=args.latency_scale,
    )
    if args.json:
        print(result_json(result))
        return 0
    for note in result.notes:
        out.print(f"[dim]{note}[/]")
    if result.gateway:
        via = sum(1 for s in result.sent if s.via_gateway)
        out.print(f"{via} requests entered through the Node gateway (one trace across both).")
    out.print(usage_table(result.groups, "model", title="LLM calls by model (from the span files)"))
    lines = result.metrics_sample.count("\n")
    exemplars = sum(
        1 for line in result.metrics_sample.splitlines() if " # {" in line and "trace_id=" in line
    )
    out.print(
        f"/metrics served {lines} lines in OpenMetrics format, {exemplars} with trace exemplars."
    )
    out.print(f"Service logs (JSON lines with request_id, trace_id, span_id): {result.log_file}")
    if result.example_request_id:
        rid = result.example_request_id
        out.print(f"\nExample request ID: [bold]{rid}[/]")
        files = " ".join(f"--file {f}" for f in result.spans_files)
        out.print(f"  otel-llm trace {rid} {files}")
        out.print(f"  otel-llm report {files} --by user")
        out.print(f"  grep {rid} {result.log_file}")
        out.print(f'  Tempo (full stack): {{ span.request.id = "{rid}" }}')
    return 0


def cmd_trace(args: argparse.Namespace) -> int:
    from otel_llm.render import console, trace_tree
    from otel_llm.report import build_tree, walk
    from otel_llm.store.base import SpanRecord

    out = console()
    traces: list[tuple[str, list[SpanRecord]]] = []
    if args.tempo:
        from otel_llm.store.base import parse_otlp_json
        from otel_llm.store.tempo import TempoStore

        tempo = TempoStore(args.tempo)
        for trace_id in tempo.find_trace_ids(args.request_id):
            traces.append((trace_id, parse_otlp_json(tempo.get_trace(trace_id))))
    else:
        from otel_llm.store import FileStore

        store = FileStore(*_spans_files(args))
        by_trace: dict[str, list[SpanRecord]] = {}
        wanted: set[str] = set()
        for span in store.spans():
            by_trace.setdefault(span.trace_id, []).append(span)
            if span.request_id == args.request_id:
                wanted.add(span.trace_id)
        traces = [(t, by_trace[t]) for t in by_trace if t in wanted]
    if not traces:
        print(f"no trace found for request ID {args.request_id!r}", file=sys.stderr)
        return 1
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "trace_id": trace_id,
                        "spans": [
                            {
                                "span_id": s.span_id,
                                "parent_span_id": s.parent_span_id,
                                "name": s.name,
                                "service": s.service,
                                "kind": s.kind,
                                "status": s.status,
                                "duration_s": s.duration_s,
                                "attributes": s.attributes,
                            }
                            for s in walk(build_tree(spans))
                        ],
                    }
                    for trace_id, spans in traces
                ],
                indent=2,
                default=str,
            )
        )
        return 0
    for trace_id, spans in traces:
        out.print(trace_tree(args.request_id, trace_id, build_tree(spans)))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from otel_llm import report
    from otel_llm.render import console, usage_table

    if args.prometheus:
        from otel_llm.store.prometheus import PrometheusStore

        rows = PrometheusStore(args.prometheus).usage_by_model(args.since or "1d")
        if args.format == "json":
            print(json.dumps(rows, indent=2))
        else:
            from rich.table import Table

            table = Table(title=f"Usage by model over the last {args.since or '1d'} (Prometheus)")
            keys = list(rows[0]) if rows else ["model"]
            for key in keys:
                table.add_column(key)
            for row in rows:
                table.add_row(*(str(row.get(k, "")) for k in keys))
            console().print(table)
        return 0
    from otel_llm.store import FileStore

    now_ns = time.time_ns()
    since_ns = now_ns - parse_duration(args.since) * 10**9 if args.since else None
    until_ns = now_ns - parse_duration(args.until) * 10**9 if args.until else None
    groups = report.summarize(
        FileStore(*_spans_files(args)).spans(), by=args.by, since_ns=since_ns, until_ns=until_ns
    )
    if args.format == "json":
        print(json.dumps([g.as_dict() for g in groups], indent=2))
        return 0
    if not groups:
        print("no GenAI spans in that window", file=sys.stderr)
    window = f" in the last {args.since}" if args.since else ""
    console().print(usage_table(groups, args.by, title=f"LLM usage by {args.by}{window}"))
    return 0


def cmd_demo_app(args: argparse.Namespace) -> int:
    from otel_llm.demo.app import create_app
    from otel_llm.setup import configure

    configure(os.environ.get("OTEL_SERVICE_NAME") or "otel-llm-demo")
    import uvicorn

    uvicorn.run(
        create_app(args.llm_base_url),
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
    )
    return 0


def cmd_mock_llm(args: argparse.Namespace) -> int:
    from otel_llm.demo.mock_llm import run_from_args

    return run_from_args(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otel-llm", description="LLM observability on OpenTelemetry: demo, look-up, report."
    )
    parser.add_argument("--version", action="version", version=f"otel-llm {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser(
        "demo", help="run the mock LLM, a traced service and traffic; print a table"
    )
    demo.add_argument("--requests", type=int, default=200)
    demo.add_argument("--concurrency", type=int, default=8)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--out", default=".otel-llm", help="directory for the span file")
    demo.add_argument("--latency-scale", type=float, default=1.0, help="scale mock latencies")
    demo.add_argument("--no-progress", action="store_true")
    demo.add_argument("--json", action="store_true", help="print the summary as JSON")
    demo.add_argument("--no-node", action="store_true", help="do not start the Node gateway")
    demo.set_defaults(func=cmd_demo)

    trace = sub.add_parser("trace", help="print the trace of one request ID as a tree")
    trace.add_argument("request_id")
    src = trace.add_mutually_exclusive_group()
    src.add_argument(
        "--file",
        action="append",
        help=f"OTLP JSON lines span file, repeatable ({DEFAULT_SPANS_GLOB})",
    )
    src.add_argument(
        "--tempo", metavar="URL", help="read from Tempo instead, e.g. http://localhost:3200"
    )
    trace.add_argument("--json", action="store_true")
    trace.set_defaults(func=cmd_trace)

    rep = sub.add_parser("report", help="usage and cost by model, user, session or time window")
    src = rep.add_mutually_exclusive_group()
    src.add_argument(
        "--file",
        action="append",
        help=f"OTLP JSON lines span file, repeatable ({DEFAULT_SPANS_GLOB})",
    )
    src.add_argument("--prometheus", metavar="URL", help="aggregate from Prometheus instead")
    rep.add_argument(
        "--by",
        default="model",
        choices=["model", "provider", "user", "session", "service", "operation"],
    )
    rep.add_argument("--since", type=str, default=None, help="window start, e.g. 1h, 7d (ago)")
    rep.add_argument("--until", type=str, default=None, help="window end, e.g. 10m (ago)")
    rep.add_argument("--format", choices=["table", "json"], default="table")
    rep.set_defaults(func=cmd_report)

    app = sub.add_parser("demo-app", help="serve the instrumented demo FastAPI service")
    app.add_argument("--host", default="127.0.0.1")
    app.add_argument("--port", type=int, default=8000)
    app.add_argument("--llm-base-url", default="http://127.0.0.1:8100")
    app.set_defaults(func=cmd_demo_app)

    mock = sub.add_parser("mock-llm", help="serve the OpenAI/Anthropic-compatible mock LLM")
    try:
        from otel_llm.demo.mock_llm import add_arguments

        add_arguments(mock)
    except ImportError:  # pragma: no cover - the demo extra is not installed
        pass
    mock.set_defaults(func=cmd_mock_llm)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("since", "until"):
        value = getattr(args, name, None)
        if value and not getattr(args, "prometheus", None):
            try:
                parse_duration(value)
            except argparse.ArgumentTypeError as exc:
                parser.error(str(exc))
    from otel_llm.store.prometheus import PrometheusError
    from otel_llm.store.tempo import TempoError

    try:
        code: int = args.func(args)
    except FileNotFoundError as exc:
        print(f"otel-llm: {exc}", file=sys.stderr)
        return 2
    except (TempoError, PrometheusError) as exc:
        print(f"otel-llm: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    raise SystemExit(main())
