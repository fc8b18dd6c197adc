"""``otel-llm demo``: the whole path on an embedded default, no Docker and no collector.

mock LLM (real HTTP) <- demo FastAPI service (configured by otel-llm, real SDKs)
<- traffic driver (X-Request-ID per request). When Node and the built Node package are
present, a quarter of the chat requests enter through the example Node gateway first, so
one request ID spans both services. Spans go to OTLP JSON lines files (one per service),
metrics to ``/metrics`` of the service; the closing table is computed from the span files,
the same way ``otel-llm report`` does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.instrumentation.utils import suppress_instrumentation

from otel_llm import report
from otel_llm.store import FileStore
from otel_llm.store.base import SpanRecord

NODE_DIR = Path(__file__).resolve().parents[2] / "node"
GATEWAY = NODE_DIR / "examples" / "gateway" / "server.mjs"
NODE_REGISTER = NODE_DIR / "dist" / "esm" / "register-esm.js"


@dataclass
class DemoResult:
    spans_files: list[Path]
    log_file: Path
    metrics_url: str
    sent: list[Any]
    groups: list[report.Usage]
    example_request_id: str | None
    metrics_sample: str
    gateway: str | None = None
    notes: list[str] = field(default_factory=list)
    # every span of the example request's trace(s), from all span files
    example_spans: list[SpanRecord] = field(default_factory=list)


def gateway_available() -> str | None:
    """Why the Node gateway cannot run (None when it can)."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not GATEWAY.exists() or not NODE_REGISTER.exists():
        return "the Node package is not built (./setup.sh builds it)"
    return None


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def node_gateway(out: Path, service_url: str, llm_url: str) -> Iterator[str]:
    """Run the example Node gateway (zero-code instrumented) until the block ends."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OPENAI_"))}
    env |= {
        "OTEL_SERVICE_NAME": "node-gateway",
        "OTEL_LLM_EXPORTER": "file",
        # absolute: the gateway's working directory is node/, not the caller's
        "OTEL_LLM_TRACES_FILE": str((out / "demo-spans-node.jsonl").resolve()),
        "OTEL_LLM_ATTRIBUTION_LABELS": "user",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "PORT": str(port),
        "DEMO_URL": service_url,
        "OPENAI_BASE_URL": f"{llm_url}/v1",
    }
    node = shutil.which("node") or "node"
    log = (out / "demo-gateway.log").open("wb")
    proc = subprocess.Popen(  # noqa: S603 - fixed arguments, no user input
        [node, "--import", "@otel-llm/node/register", str(GATEWAY)],
        cwd=NODE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the Node gateway exited ({proc.returncode}); see {log.name}")
            with suppress(httpx.HTTPError), suppress_instrumentation():
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Node gateway did not start; see {log.name}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()  # the register hook flushes spans on SIGTERM
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def run_demo(
    *,
    requests: int = 200,
    out_dir: str | Path = ".otel-llm",
    seed: int = 7,
    concurrency: int = 8,
    progress: bool = True,
    latency_scale: float = 1.0,
    error_rate: float = 0.04,
    use_node: bool | None = None,
) -> DemoResult:
    """Run the demo end to end and return what it measured (rendering is the caller's).

    ``use_node``: None uses the Node gateway when available, True requires it, False skips it.
    """
    from otel_llm.config import load_settings
    from otel_llm.demo.app import DEMO_PRICING_FILE, create_app
    from otel_llm.demo.mock_llm import MockLLMConfig
    from otel_llm.demo.mock_llm import serve_in_thread as serve_mock
    from otel_llm.demo.server import serve_in_thread
    from otel_llm.demo.traffic import drive
    from otel_llm.logs import configure_logging
    from otel_llm.setup import configure, shutdown

    notes: list[str] = []
    why_not = gateway_available()
    if use_node and why_not:
        raise RuntimeError(f"the Node gateway cannot run: {why_not}")
    with_node = use_node is not False and why_not is None
    if use_node is None and why_not:
        notes.append(f"Node gateway skipped: {why_not}")

    # Absolute: the Node gateway runs with its working directory in node/.
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    spans_file = out / "demo-spans.jsonl"
    node_file = out / "demo-spans-node.jsonl"
    for f in (spans_file, node_file):
        f.write_text("")
    log_file = out / "demo-service.log"
    mock = serve_mock(MockLLMConfig(seed=seed, error_rate=error_rate, latency_scale=latency_scale))
    telemetry = configure(
        "otel-llm-demo",
        exporter="file",
        traces_file=str(spans_file),
        attribution_labels=("user", "source"),
        pricing_file=DEMO_PRICING_FILE,
        # its start-up line would land between the header and the progress bar; the
        # service's own level is set with its log file below
        log_level="WARNING",
    )
    # The service's own log lines (JSON, with request_id/trace_id/span_id) go to a file so
    # the terminal shows the progress bar and the table.
    log_stream = log_file.open("w", encoding="utf-8")
    configure_logging(
        telemetry.settings.with_(log_format="json", log_level=load_settings().log_level),
        service_name="otel-llm-demo",
        stream=log_stream,
    )
    service = serve_in_thread(create_app(mock.base_url))
    gateway_url: str | None = None
    try:
        with _maybe_gateway(with_node, out, service.base_url, mock.base_url) as gateway_url:
            sent = _drive_with_progress(
                lambda on_done: drive(
                    service.base_url,
                    requests,
                    concurrency=concurrency,
                    seed=seed,
                    on_done=on_done,
                    gateway_url=gateway_url,
                ),
                requests,
                progress,
            )
            with suppress_instrumentation():  # the harness is not part of the service
                metrics = httpx.get(
                    f"{service.base_url}/metrics",
                    headers={"Accept": "application/openmetrics-text; version=1.0.0"},
                    timeout=10,
                ).text
            telemetry.force_flush()
    finally:
        service.close()
        mock.close()
        shutdown()
        configure_logging(telemetry.settings.with_(log_level="WARNING"))
        log_stream.close()
    files = [spans_file] + ([node_file] if gateway_url else [])
    spans = list(FileStore(*files).spans())
    groups = report.summarize(spans, by="model")
    # the example: a request that went through the gateway when there is one
    preferred = [s for s in sent if s.status == 200 and (s.via_gateway or not gateway_url)]
    ok_ids = {s.request_id for s in preferred}
    example = next((s.request_id for s in spans if s.request_id in ok_ids), None)
    example_traces = {s.trace_id for s in spans if example and s.request_id == example}
    return DemoResult(
        spans_files=files,
        log_file=log_file,
        metrics_url=f"{service.base_url}/metrics",
        sent=sent,
        groups=groups,
        example_request_id=example,
        metrics_sample=metrics,
        gateway=gateway_url,
        notes=notes,
        example_spans=[s for s in spans if s.trace_id in example_traces],
    )


@contextmanager
def _maybe_gateway(enabled: bool, out: Path, service_url: str, llm_url: str) -> Iterator[Any]:
    if not enabled:
        yield None
        return
    with node_gateway(out, service_url, llm_url) as url:
        yield url


def _drive_with_progress(
    send: Callable[[Callable[[Any], None] | None], list[Any]], requests: int, progress: bool
) -> list[Any]:
    if not progress:
        return list(send(None))
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=False,
    ) as bar:
        task = bar.add_task("sending demo traffic", total=requests)
        return list(send(lambda _sent: bar.advance(task)))


def result_json(result: DemoResult) -> str:
    return json.dumps(
        {
            "spans_files": [str(f) for f in result.spans_files],
            "log_file": str(result.log_file),
            "requests": len(result.sent),
            "via_node_gateway": sum(1 for s in result.sent if s.via_gateway),
            "by_model": [g.as_dict() for g in result.groups],
            "example_request_id": result.example_request_id,
            "notes": result.notes,
        },
        indent=2,
    )
