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


def _month_arg(text: str) -> str:
    from otel_llm.report import month_window

    try:
        month_window(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


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
    from otel_llm.store.base import SpanRecord

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
    stt = _counter_usd(result.metrics_sample, "gen_ai_client_cost_usd_total", "chirp-2")
    if stt is not None:
        out.print(
            f"Manual speech-to-text calls (otel_llm.track, chirp-2 priced per minute): "
            f"gen_ai_client_cost_usd_total = ${stt:.6f}"
        )
    out.print(f"Service logs (JSON lines with request_id, trace_id, span_id): {result.log_file}")
    if result.example_request_id:
        from otel_llm.render import trace_tree
        from otel_llm.report import build_tree

        rid = result.example_request_id
        out.print(f"\nExample request ID: [bold]{rid}[/]")
        by_trace: dict[str, list[SpanRecord]] = {}
        for span in result.example_spans:
            by_trace.setdefault(span.trace_id, []).append(span)
        for trace_id, spans in by_trace.items():
            out.print(trace_tree(rid, trace_id, build_tree(spans)))
        files = " ".join(f"--file {f}" for f in result.spans_files)
        out.print(f"  otel-llm trace {rid} {files}")
        out.print(f"  otel-llm report {files} --by user")
        out.print(f"  otel-llm report {files} --by source --format csv --output usage.csv")
        out.print(f"  grep {rid} {result.log_file}")
        out.print(f'  Tempo (full stack): {{ span.request.id = "{rid}" }}')
        out.print(f"  Jaeger (full stack): otel-llm trace {rid} --jaeger http://localhost:16686")
    return 0


def _counter_usd(metrics_text: str, name: str, model: str) -> float | None:
    """Sum of a counter's series for one request model in a /metrics answer."""
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    total = None
    try:
        for family in text_string_to_metric_families(metrics_text):  # type: ignore[no-untyped-call]
            for sample in family.samples:
                if sample.name == name and sample.labels.get("gen_ai_request_model") == model:
                    total = (total or 0.0) + sample.value
    except ValueError:
        return None
    return total


def cmd_trace(args: argparse.Namespace) -> int:
    from otel_llm.render import console, trace_tree
    from otel_llm.report import build_tree, walk
    from otel_llm.store.base import SpanRecord

    out = console()
    traces: list[tuple[str, list[SpanRecord]]] = []
    if args.tempo or args.jaeger:
        from otel_llm.store.base import TraceStore, parse_otlp_json

        backend: TraceStore
        if args.jaeger:
            from otel_llm.store.jaeger import JaegerStore

            backend = JaegerStore(args.jaeger)
        else:
            from otel_llm.store.tempo import TempoStore

            backend = TempoStore(args.tempo)
        try:
            for trace_id in backend.find_trace_ids(args.request_id):
                traces.append((trace_id, parse_otlp_json(backend.get_trace(trace_id))))
        finally:
            backend.close()
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


def _report_window(args: argparse.Namespace) -> tuple[int | None, int | None]:
    """[since, until) in ns from --month or --since/--until."""
    from otel_llm import report

    if args.month:
        return report.month_window(args.month)
    now_ns = time.time_ns()
    since_ns = now_ns - parse_duration(args.since) * 10**9 if args.since else None
    until_ns = now_ns - parse_duration(args.until) * 10**9 if args.until else None
    return since_ns, until_ns


def _report_filters(args: argparse.Namespace) -> dict[str, str]:
    return {
        name: getattr(args, name)
        for name in ("user", "session", "source", "model", "provider")
        if getattr(args, name, None)
    }


def _emit(text: str, output: str | None) -> None:
    if output:
        with open(output, "w", encoding="utf-8", newline="") as fh:
            fh.write(text if text.endswith("\n") else text + "\n")
        print(f"wrote {output}", file=sys.stderr)
    else:
        print(text, end="" if text.endswith("\n") else "\n")


def cmd_report(args: argparse.Namespace) -> int:
    from otel_llm import report
    from otel_llm.render import console, usage_table

    by = report.LISTABLE[args.list] if args.list else args.by
    filters = _report_filters(args)
    if args.prometheus:
        return _report_prometheus(args, by, filters)
    from otel_llm.store import FileStore

    since_ns, until_ns = _report_window(args)
    groups = report.summarize(
        FileStore(*_spans_files(args)).spans(),
        by=by,
        since_ns=since_ns,
        until_ns=until_ns,
        filters=report.Filters(**filters, user_hash_key=os.environ.get("OTEL_LLM_USER_HASH_KEY")),
    )
    if args.format == "json":
        _emit(report.to_json(groups), args.output)
        return 0
    if args.format == "csv":
        _emit(report.to_csv(groups, by), args.output)
        return 0
    if not groups:
        print("no GenAI spans in that window", file=sys.stderr)
    window = (
        f" in {args.month}" if args.month else f" in the last {args.since}" if args.since else ""
    )
    where = "".join(f" {k}={v}" for k, v in filters.items())
    title = (
        f"{len(groups)} distinct {args.list}{window}{where}"
        if args.list
        else f"LLM usage by {by}{window}{where}"
    )
    if args.output:
        from otel_llm.render import Console

        with open(args.output, "w", encoding="utf-8") as fh:
            Console(file=fh, width=160).print(usage_table(groups, by, title=title))
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        console().print(usage_table(groups, by, title=title))
    return 0


def _report_prometheus(args: argparse.Namespace, by: str, filters: dict[str, str]) -> int:
    import csv
    import io

    from otel_llm import report
    from otel_llm.store.prometheus import PrometheusStore

    at: float | None = None
    window = args.since or "1d"
    if args.month:
        start_ns, end_ns = report.month_window(args.month)
        at = min(end_ns / 1e9, time.time())
        window = f"{max(1, int(at - start_ns / 1e9))}s"
    store = PrometheusStore(args.prometheus)
    if by == "model" and not filters:
        rows = store.usage_by_model(window, at)
    else:
        try:
            rows = report.prometheus_usage(store, by, window, at=at, match=filters)
        except ValueError as exc:
            print(f"otel-llm: {exc}", file=sys.stderr)
            return 2
    if args.format == "json":
        _emit(json.dumps(rows, indent=2), args.output)
        return 0
    keys = list(rows[0]) if rows else ["key"]
    if args.format == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        _emit(buf.getvalue(), args.output)
        return 0
    from otel_llm.render import Table, console

    span = args.month or f"the last {window}"
    table = Table(title=f"Usage by {by} over {span} (Prometheus)")
    for key in keys:
        table.add_column(key)
    for row in rows:
        table.add_row(*(str(row.get(k, "")) for k in keys))
    console().print(table)
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
    src.add_argument(
        "--jaeger", metavar="URL", help="read from Jaeger instead, e.g. http://localhost:16686"
    )
    trace.add_argument("--json", action="store_true")
    trace.set_defaults(func=cmd_trace)

    rep = sub.add_parser(
        "report",
        help="usage and cost by model, user, session, source, day or month; CSV/JSON export",
        description=(
            "Usage and cost from span files (exact) or Prometheus (estimates). "
            "A user's bill for a month: otel-llm report --user U --month 2026-11 --by source "
            "--format csv --output u-2026-11.csv"
        ),
    )
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
        choices=[
            "model",
            "provider",
            "user",
            "session",
            "source",
            "tenant",
            "service",
            "operation",
            "day",
            "month",
        ],
    )
    rep.add_argument(
        "--list",
        choices=["users", "sessions", "sources", "models", "providers", "services"],
        help="list the distinct values (with their usage) instead of grouping by --by",
    )
    for name in ("user", "session", "source", "model", "provider"):
        rep.add_argument(f"--{name}", default=None, help=f"only calls of this {name}")
    when = rep.add_mutually_exclusive_group()
    when.add_argument("--since", type=str, default=None, help="window start, e.g. 1h, 7d (ago)")
    when.add_argument("--month", type=_month_arg, default=None, help="a UTC month, YYYY-MM")
    rep.add_argument("--until", type=str, default=None, help="window end, e.g. 10m (ago)")
    rep.add_argument("--format", choices=["table", "csv", "json"], default="table")
    rep.add_argument("--output", metavar="FILE", help="write the report to FILE")
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
    from otel_llm.store.base import TraceStoreError
    from otel_llm.store.prometheus import PrometheusError

    try:
        code: int = args.func(args)
    except FileNotFoundError as exc:
        print(f"otel-llm: {exc}", file=sys.stderr)
        return 2
    except (TraceStoreError, PrometheusError) as exc:
        print(f"otel-llm: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    raise SystemExit(main())
