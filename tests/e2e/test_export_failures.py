"""No silent span loss (Python): an exporter that cannot write is counted and logged once.

Each case runs configure() in a fresh interpreter with the exporter settings a user would
get wrong: a span file whose directory cannot exist (its parent is a regular file), and
OTLP (gRPC, HTTP protobuf, HTTP JSON, the default) pointed at a closed loopback port.
Two batches fail; both are counted in
``otel_llm_spans_dropped_total{reason="export_failed"}`` and the service's log has exactly
one line about it, naming the target and the reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.e2e.procs import ROOT, free_port

PROGRAM = textwrap.dedent(
    """
    import json, sys
    import otel_llm
    from opentelemetry import trace
    from prometheus_client import generate_latest
    t = otel_llm.configure("svc", instrument=False)
    tracer = trace.get_tracer("t")
    for batch in (3, 2):
        for i in range(batch):
            tracer.start_span(f"s{i}").end()
        t.force_flush(15_000)
    text = generate_latest(t.registry).decode()
    line = next((l for l in text.splitlines()
                 if l.startswith('otel_llm_spans_dropped_total{reason="export_failed"}')), "")
    print(json.dumps({"dropped": line}), file=sys.stdout)
    """
)


def run_service(env: dict[str, str]) -> tuple[float, list[dict[str, object]]]:
    proc = subprocess.run(
        [sys.executable, "-c", PROGRAM],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "PATH": "/usr/bin:/bin",
            "OTEL_LLM_LOG_FORMAT": "json",
            "OTEL_BSP_SCHEDULE_DELAY": "50",
            **env,
        },
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    dropped = float(out["dropped"].rsplit(" ", 1)[1]) if out["dropped"] else 0.0
    logs = []
    for line in proc.stderr.splitlines():
        try:
            logs.append(json.loads(line))
        except ValueError:
            continue
    failures = [x for x in logs if "span export to" in str(x.get("event", ""))]
    return dropped, failures


def test_unwritable_span_file_is_counted_and_logged_once(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    target = blocker / "spans.jsonl"
    dropped, failures = run_service(
        {"OTEL_LLM_EXPORTER": "file", "OTEL_LLM_TRACES_FILE": str(target)}
    )
    assert dropped == 5.0
    (line,) = failures
    assert line["level"] == "error"
    assert str(target) in str(line["event"])
    assert "[Errno" in str(line["event"])  # the OS error that stopped the file


@pytest.mark.parametrize(
    "protocol", ["grpc", "http/protobuf", "http/json", pytest.param("", id="default")]
)
def test_otlp_to_a_closed_port_is_counted_and_logged_once(protocol: str) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    dropped, failures = run_service(
        {
            "OTEL_LLM_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_EXPORTER_OTLP_TIMEOUT": "1",  # seconds in the Python SDK
        }
    )
    assert dropped == 5.0
    (line,) = failures
    assert line["level"] == "error"
    assert endpoint in str(line["event"])
    # the reason is the exporter's own, not a generic placeholder
    assert "the exporter reported a failure" not in str(line["event"]), line
