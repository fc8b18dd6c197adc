"""``otel-llm demo``: the whole path on an embedded default, no Docker and no collector.

mock LLM (real HTTP) <- demo FastAPI service (configured by otel-llm, real SDKs)
<- traffic driver (X-Request-ID per request). Spans go to an OTLP JSON lines file, metrics
to ``/metrics`` of the service; the closing table is computed from the span file, the same
way ``otel-llm report`` does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from otel_llm import report
from otel_llm.store import FileStore


@dataclass
class DemoResult:
    spans_file: Path
    log_file: Path
    metrics_url: str
    sent: list[Any]
    groups: list[report.Usage]
    example_request_id: str | None
    metrics_sample: str


def run_demo(
    *,
    requests: int = 200,
    out_dir: str | Path = ".otel-llm",
    seed: int = 7,
    concurrency: int = 8,
    progress: bool = True,
    latency_scale: float = 1.0,
    error_rate: float = 0.04,
) -> DemoResult:
    """Run the demo end to end and return what it measured (rendering is the caller's)."""
    from otel_llm.demo.app import create_app
    from otel_llm.demo.mock_llm import MockLLMConfig
    from otel_llm.demo.mock_llm import serve_in_thread as serve_mock
    from otel_llm.demo.server import serve_in_thread
    from otel_llm.demo.traffic import drive
    from otel_llm.logs import configure_logging
    from otel_llm.setup import configure, shutdown

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    spans_file = out / "demo-spans.jsonl"
    spans_file.write_text("")
    log_file = out / "demo-service.log"
    mock = serve_mock(MockLLMConfig(seed=seed, error_rate=error_rate, latency_scale=latency_scale))
    telemetry = configure(
        "otel-llm-demo",
        exporter="file",
        traces_file=str(spans_file),
        attribution_labels=("user",),
    )
    # The service's own log lines (JSON, with request_id/trace_id/span_id) go to a file so
    # the terminal shows the progress bar and the table.
    log_stream = log_file.open("w", encoding="utf-8")
    configure_logging(
        telemetry.settings.with_(log_format="json"), service_name="otel-llm-demo", stream=log_stream
    )
    service = serve_in_thread(create_app(mock.base_url))
    try:
        sent = _drive_with_progress(drive, service.base_url, requests, concurrency, seed, progress)
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
    spans = list(FileStore(spans_file).spans())
    groups = report.summarize(spans, by="model")
    ok_ids = {s.request_id for s in sent if s.status == 200 and s.model.startswith("gpt-4o-mini")}
    example = next((s.request_id for s in spans if s.request_id in ok_ids), None)
    return DemoResult(
        spans_file=spans_file,
        log_file=log_file,
        metrics_url=f"{service.base_url}/metrics",
        sent=sent,
        groups=groups,
        example_request_id=example,
        metrics_sample=metrics,
    )


def _drive_with_progress(
    drive: Any, base_url: str, requests: int, concurrency: int, seed: int, progress: bool
) -> list[Any]:
    if not progress:
        return list(drive(base_url, requests, concurrency=concurrency, seed=seed))
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=False,
    ) as bar:
        task = bar.add_task("sending demo traffic", total=requests)
        return list(
            drive(
                base_url,
                requests,
                concurrency=concurrency,
                seed=seed,
                on_done=lambda _sent: bar.advance(task),
            )
        )


def result_json(result: DemoResult) -> str:
    return json.dumps(
        {
            "spans_file": str(result.spans_file),
            "log_file": str(result.log_file),
            "requests": len(result.sent),
            "by_model": [g.as_dict() for g in result.groups],
            "example_request_id": result.example_request_id,
        },
        indent=2,
    )
