"""Peak RSS per service shape: uninstrumented against ``otel_llm.configure()``.

Each row is a fresh process (bytecode compiled first, as an installed package has it)
that imports what a service of that shape imports, sets the configuration up, and reads
``VmHWM`` (peak RSS) and ``VmRSS`` from ``/proc/self/status``: once right after set-up,
once after ``--calls`` calls on every path its SDKs have (over an in-process
``httpx2.MockTransport``). otel-llm runs with its defaults and the default exporter
(OTLP/HTTP protobuf, sending to a loopback sink in this parent process that accepts
everything) and, in the same run, with each protocol of ``--protocols`` (by default
``http/json`` too: ``otel-llm:http/json`` rows, and ``official``: the default protocol
through the official ``OTLPSpanExporter``, which imports ``requests``, instead of
otel-llm's composition of its parts over http.client).

By default the processes run in a venv as a service has it (built with uv on first use
under ``~/.cache/otel-llm/rss-venv``): otel-llm without extras, the OpenAI and Anthropic
SDKs, FastAPI and uvicorn, versions from requirements.lock; ``--venv current`` measures
this venv instead (the dev set-up, where the ``cli`` extra's rich and httpx are installed
and get imported by structlog and the official instrumentations).

Shapes: ``none`` (a process that imports neither LLM SDK nor a web framework),
``openai``, ``anthropic``, ``both``, ``web`` (a FastAPI service under uvicorn, no LLM SDK:
its calls are requests to one route, sent straight to the ASGI app), ``web+scrape`` (the
same, then one ``GET /metrics`` as Prometheus sends it: what a scraped service pays; the
uninstrumented app answers it 404) and ``web+openai`` (the same as ``web``, each request
making one chat completion). Configurations: ``none``
(uninstrumented), ``otel-llm`` (plain ``configure()``), and, for the OpenAI-only shape, the official
``opentelemetry-instrumentation-openai-v2`` in its own venv (see bench_compare.py; chat
and stream only, the paths it instruments, for it and its baseline; its spans go to a
no-op exporter there, as that venv has no OTLP exporter).

    uv run python bench/bench_rss.py [--calls 200]
        [--shapes none,openai,anthropic,both,web,web+scrape,web+openai]
        [--venv service|current] [--repeat 3] [--protocols official,http/json,grpc]
        [--skip-openai-v2] [--json out.json]

Every shape also has an ``otel-sdk`` row: the OpenTelemetry SDK's tracer provider with a
batch processor and the official OTLP/HTTP exporter, nothing instrumented; what any
OpenTelemetry set-up that exports OTLP loads, next to what otel-llm loads.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
SERVICE_VENV = Path(os.environ.get("OTEL_LLM_RSS_VENV", "~/.cache/otel-llm/rss-venv")).expanduser()

SHAPES = ("none", "openai", "anthropic", "both", "web", "web+scrape", "web+openai")
SDKS = {
    "none": (),
    "openai": ("openai",),
    "anthropic": ("anthropic",),
    "both": ("openai", "anthropic"),
    "web": (),
    "web+scrape": (),
    "web+openai": ("openai",),
}
# a FastAPI service run by uvicorn: its calls are requests to a route (which makes one
# chat completion in ``web+openai``), sent straight to the ASGI app
WEB_SHAPES = ("web", "web+scrape", "web+openai")
SERVICE_PACKAGES = ("openai", "anthropic", "fastapi", "uvicorn")
PATHS = {"openai": ("chat", "stream", "responses"), "anthropic": ("anthropic", "anthropic_stream")}


def _status() -> dict[str, float]:
    out: dict[str, float] = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                out[key] = round(int(value.split()[0]) / 1024, 1)
    return out


def child(shape: str, mode: str, calls: int, v2_paths: bool = False) -> dict[str, Any]:
    """Runs in the measured process: imports, set-up, calls (``v2_paths``: only the paths
    openai-v2 instruments, for it and its baseline)."""
    sdks = SDKS[shape]
    for name in sdks + (("fastapi", "uvicorn") if shape in WEB_SHAPES else ()):
        __import__(name)  # the service's own imports come first
    what = "uninstrumented"
    ours = mode.startswith("otel-llm")
    if ours:
        os.environ.setdefault("OTEL_LLM_LOG_LEVEL", "WARNING")  # no start-up line on stdout
        _, _, protocol = mode.partition(":")
        if protocol == "official":  # the official http/protobuf exporter (over requests)
            import otel_llm._otlp_http as composed

            composed.composable = lambda: (False, "bench: the official exporter")
        elif protocol:
            os.environ["OTEL_EXPORTER_OTLP_PROTOCOL"] = protocol
        import otel_llm

        otel_llm.configure("bench-rss")
        what = f"otel_llm.configure() defaults, OTLP {protocol or 'default (http/protobuf)'}"
    elif mode == "otel-sdk":
        # what any OpenTelemetry set-up that exports OTLP loads: the SDK's tracer provider,
        # its batch processor and the official OTLP/HTTP exporter, no instrumentation
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
        with provider.get_tracer("bench-rss").start_as_current_span("set-up"):
            pass
        what = "the OpenTelemetry SDK and the official OTLP/HTTP exporter, nothing instrumented"
    elif mode == "openai-v2":
        from bench_compare import SETUPS

        on, _, what = SETUPS["openai-v2"]()
        on()
    after_setup = _status()
    modules = len(sys.modules)
    after_calls: dict[str, float] = {}
    if shape in WEB_SHAPES and calls:
        app = _web_app(_clients(sdks) if sdks else None)
        _serve(app, calls)
        if shape == "web+scrape":  # Prometheus' scrape: OpenMetrics asked for
            _serve(app, 1, "/metrics", 200 if ours else 404)
        after_calls = _status()
    elif sdks and calls:
        import bench_compare as bc

        clients = _clients(sdks)
        for sdk in sdks:
            for path in PATHS[sdk]:
                if v2_paths and path not in bc.SUPPORTED["openai-v2"]:
                    continue
                for _ in range(calls):
                    bc.CALLS[path](clients)
        after_calls = _status()
    if ours:
        import otel_llm

        otel_llm.shutdown()
    return {
        "shape": shape,
        "mode": mode,
        "what": what,
        "setup": after_setup,
        "calls": after_calls,
        "modules": modules,
        "modules_after_calls": len(sys.modules),
    }


def _web_app(clients: tuple[Any, Any] | None) -> Any:
    """The web shapes' service: one route, a chat completion in it when there is a client
    (a plain ``def``: FastAPI runs it in its thread pool, as a blocking handler is run)."""
    import fastapi

    app = fastapi.FastAPI()

    @app.get("/answer")
    def answer() -> dict[str, str]:
        if clients is not None:
            import bench_compare as bc

            bc.CALLS["chat"](clients)
        return {"ok": "yes"}

    return app


# what Prometheus sends when it scrapes a target
SCRAPE_ACCEPT = (
    b"application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
    b"application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;q=0.4,"
    b"text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
)


def _serve(app: Any, requests: int, path: str = "/answer", status: int = 200) -> None:
    """``requests`` GETs of ``path`` straight to the ASGI ``app`` (as uvicorn hands them
    over), each answered with ``status``."""
    import asyncio

    headers = [(b"host", b"service.local")]
    if path != "/answer":
        headers.append((b"accept", SCRAPE_ACCEPT))

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }

    async def one() -> None:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(dict(scope), receive, send)
        if sent[0].get("status") != status:
            raise RuntimeError(f"the service answered {sent[0]}")

    async def main() -> None:
        for _ in range(requests):
            await one()

    asyncio.run(main())


def _clients(sdks: tuple[str, ...]) -> tuple[Any, Any]:
    """bench_compare's mock clients, only for the SDKs this shape imports."""
    from bench_compare import mock_http_client as http

    oai = claude = None
    if "openai" in sdks:
        import openai

        oai = openai.OpenAI(api_key="bench", http_client=http(), max_retries=0)
    if "anthropic" in sdks:
        import anthropic

        claude = anthropic.Anthropic(api_key="bench", http_client=http(), max_retries=0)
    return oai, claude


def ensure_service_venv() -> Path:
    """A venv as a service has it: ``otel-llm`` without extras (editable, so it is this
    checkout's code), the OpenAI and Anthropic SDKs, FastAPI and uvicorn, every version
    as requirements.lock pins it, and nothing else (no rich, no httpx, no dev tools)."""
    import hashlib  # not at the top: the measured child must not load OpenSSL for it

    python = SERVICE_VENV / "bin" / "python"
    marker = SERVICE_VENV / ".otel-llm-inputs"
    key = hashlib.sha256(  # the checkout too: the venv's otel-llm is an editable install of it
        str(ROOT).encode()
        + " ".join(SERVICE_PACKAGES).encode()
        + (ROOT / "pyproject.toml").read_bytes()
        + (ROOT / "requirements.lock").read_bytes()
    ).hexdigest()
    if not (python.exists() and marker.exists() and marker.read_text() == key):
        subprocess.run(
            ["uv", "venv", "-q", "--clear", "--python", "3.11", str(SERVICE_VENV)], check=True
        )
        subprocess.run(
            [
                "uv", "pip", "install", "-q", "--python", str(python),
                "-c", str(ROOT / "requirements.lock"),
                "-e", str(ROOT), *SERVICE_PACKAGES,
            ],
            check=True,
        )  # fmt: skip
        marker.write_text(key)
    return python


def run(
    python: Path, shape: str, mode: str, calls: int, endpoint: str, v2_paths: bool = False
) -> dict[str, Any]:
    from bench_compare import worker

    args = ["--child", shape, mode, "--calls", str(calls)] + (["--v2-paths"] if v2_paths else [])
    return worker(
        python, *args, script=__file__, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, PYTHONPATH=str(HERE)
    )


def _median_row(runs: list[dict[str, Any]], v2: bool) -> dict[str, Any]:
    import statistics

    row = dict(runs[0])
    for stage in ("setup", "calls"):
        row[stage] = {key: statistics.median(r[stage][key] for r in runs) for key in runs[0][stage]}
        row[f"{stage}_runs"] = [r[stage].get("VmHWM") for r in runs]
    if v2:
        row["venv"] = "v2"
    return row


def report(rows: list[dict[str, Any]], calls: int) -> str:
    lines = [
        f"peak RSS (VmHWM), MiB: after set-up | after {calls} calls per path; "
        "+ = over the same shape uninstrumented",
        f"{'shape':<11}{'config':<24}{'set-up':>8}{'+':>7}{'calls':>9}{'+':>7}{'modules':>9}",
    ]
    base: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        venv = "v2" if row["mode"] == "openai-v2" or row.get("venv") == "v2" else "ours"
        if row["mode"] == "none":
            base[(row["shape"], venv)] = row
        ref = base.get((row["shape"], venv))

        def fmt(key: str, row: dict[str, Any] = row, ref: Any = ref) -> tuple[str, str]:
            value = row[key].get("VmHWM")
            if value is None:
                return "", ""
            if ref is None or row is ref or not ref[key].get("VmHWM"):
                return f"{value:.1f}", ""
            return f"{value:.1f}", f"{value - ref[key]['VmHWM']:+.1f}"

        s, sp = fmt("setup")
        c, cp = fmt("calls")
        label = row["mode"] + (" (v2 venv)" if venv == "v2" and row["mode"] == "none" else "")
        lines.append(f"{row['shape']:<11}{label:<24}{s:>8}{sp:>7}{c:>9}{cp:>7}{row['modules']:>9}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per path after set-up")
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument(
        "--venv",
        choices=("service", "current"),
        default="service",
        help="service: a venv with otel-llm (no extras) and the two SDKs only (default); "
        "current: this venv (the dev set-up: every extra and tool installed)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per row (median shown)")
    parser.add_argument(
        "--protocols",
        default="official,http/json",
        help="OTLP protocols measured besides the default (comma-separated; empty: none); "
        "official: the default protocol through the official exporter (over requests)",
    )
    parser.add_argument("--skip-openai-v2", action="store_true")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--v2-paths", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child, args.calls, args.v2_paths)))
        return 0

    import compileall

    from bench_compare import ensure_bench_venv, ensure_bytecode, otlp_sink

    ours = Path(sys.executable) if args.venv == "current" else ensure_service_venv()
    ensure_bytecode(ours)
    compileall.compile_dir(ROOT / "otel_llm", quiet=2)  # as an installed package has it
    endpoint = otlp_sink()
    modes = ["none", "otel-llm"] + [f"otel-llm:{p}" for p in args.protocols.split(",") if p]
    modes.append("otel-sdk")
    plan: list[tuple[Path, str, str, bool]] = [
        (ours, shape, mode, False) for shape in args.shapes.split(",") for mode in modes
    ]
    if not args.skip_openai_v2 and "openai" in args.shapes.split(","):
        v2 = ensure_bench_venv()
        ensure_bytecode(v2)
        plan += [(v2, "openai", mode, True) for mode in ("none", "openai-v2")]
    # repeats interleaved (every configuration once, then again), medians reported: the
    # peak after calls moves by a few MiB with where the batch exporter happens to be
    runs: list[list[dict[str, Any]]] = [[] for _ in plan]
    for r in range(args.repeat):
        for i, (python, shape, mode, v2_paths) in enumerate(plan):
            runs[i].append(run(python, shape, mode, args.calls, endpoint, v2_paths))
            print(f"  {r + 1}/{args.repeat} {shape:<10} {mode:<22}", file=sys.stderr)
    rows = [_median_row(rs, v2_paths) for rs, (_, _, _, v2_paths) in zip(runs, plan, strict=True)]
    print(report(rows, args.calls))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
