"""Cross-language end to end: the Node gateway calls the Python demo service.

Starts the mock LLM, the Python demo service (``otel-llm demo-app``) and the example Node
gateway (``node --import @otel-llm/node/register node/examples/gateway/server.mjs``),
each exporting OTLP JSON lines to its own temporary file, sends one request with a chosen
``X-Request-ID`` to the gateway, and checks that the spans of both services form one
trace and all carry that ``request.id``.

Needs the Node package built (``cd node && npm ci && npm run build``, which ``setup.sh``
does); builds it here when ``node/dist`` is missing but ``node/node_modules`` exists, and
fails (never skips) when Node or the installed packages are missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.backends import (
    GATEWAY,
    NODE_DIR,
    free_port,
    http_ok,
    node_package_ready,
    stop_process,
    wait_ready,
)

ROOT = Path(__file__).resolve().parents[2]
OTEL_LLM = Path(sys.executable).parent / "otel-llm"
REQUEST_ID = "itest-node-python-0001"


def _wait_http(url: str, proc: subprocess.Popen[bytes]) -> None:
    """Until ``url`` answers 200; fails with the process output if it exits first."""

    def output() -> str:
        return proc.stdout.read().decode(errors="replace") if proc.stdout else ""

    wait_ready(proc, lambda: http_ok(url), 30.0, what=repr(proc.args), output=output)


def _spans(path: Path) -> list[dict[str, Any]]:
    """Spans of an OTLP JSON lines file, each with its service name and flat attributes."""
    out: list[dict[str, Any]] = []
    if not path.exists():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        for rs in json.loads(line).get("resourceSpans", []):
            resource = {a["key"]: a["value"] for a in rs.get("resource", {}).get("attributes", [])}
            service = resource.get("service.name", {}).get("stringValue")
            for ss in rs.get("scopeSpans", []):
                for span in ss.get("spans", []):
                    attrs = {}
                    for kv in span.get("attributes", []):
                        value = kv["value"]
                        attrs[kv["key"]] = next(iter(value.values())) if value else None
                    out.append({**span, "service": service, "attrs": attrs})
    return out


@pytest.fixture
def services(tmp_path: Path) -> Iterator[dict[str, Any]]:
    node_package_ready()
    if not OTEL_LLM.exists():
        pytest.fail("the otel-llm command is not installed: run ./setup.sh")
    mock_port, demo_port, gateway_port = free_port(), free_port(), free_port()
    files = {"python": tmp_path / "python.jsonl", "node": tmp_path / "node.jsonl"}
    base_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OPENAI_", "ANTHROPIC_"))
    }
    base_env |= {"OTEL_LLM_EXPORTER": "file", "OTEL_BSP_SCHEDULE_DELAY": "100"}
    procs: list[subprocess.Popen[bytes]] = []

    def start(args: list[str], env: dict[str, str], cwd: Path = ROOT) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        procs.append(proc)
        return proc

    try:
        mock = start(
            [str(OTEL_LLM), "mock-llm", "--port", str(mock_port), "--latency-scale", "0.05"],
            base_env,
        )
        _wait_http(f"http://127.0.0.1:{mock_port}/healthz", mock)
        mock_url = f"http://127.0.0.1:{mock_port}"
        demo = start(
            [str(OTEL_LLM), "demo-app", "--port", str(demo_port), "--llm-base-url", mock_url],
            base_env
            | {"OTEL_SERVICE_NAME": "demo-python", "OTEL_LLM_TRACES_FILE": str(files["python"])},
        )
        gateway = start(
            ["node", "--import", "@otel-llm/node/register", str(GATEWAY)],
            base_env
            | {
                "OTEL_SERVICE_NAME": "gateway-node",
                "OTEL_LLM_TRACES_FILE": str(files["node"]),
                "PORT": str(gateway_port),
                "DEMO_URL": f"http://127.0.0.1:{demo_port}",
                "OPENAI_BASE_URL": f"{mock_url}/v1",
            },
            cwd=NODE_DIR,
        )
        _wait_http(f"http://127.0.0.1:{demo_port}/healthz", demo)
        _wait_http(f"http://127.0.0.1:{gateway_port}/healthz", gateway)
        yield {"gateway": f"http://127.0.0.1:{gateway_port}", "files": files, "procs": procs}
    finally:
        for proc in reversed(procs):
            stop_process(proc, 15)


def _wait_for_spans(path: Path, predicate: Any, timeout: float = 15.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    spans: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        spans = _spans(path)
        if predicate(spans):
            return spans
        time.sleep(0.2)
    return spans


def ask_gateway(gateway_url: str, request_id: str) -> dict[str, Any]:
    """POST the gateway's /ask with ``request_id``; it answers 200 and echoes the ID."""
    body = json.dumps({"prompt": "What is OpenTelemetry?", "model": "gpt-4o-mini"}).encode()
    req = urllib.request.Request(
        f"{gateway_url}/ask",
        data=body,
        headers={"content-type": "application/json", "X-Request-ID": request_id},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200
        assert resp.headers["X-Request-ID"] == request_id
        answer: dict[str, Any] = json.loads(resp.read())
    return answer


def test_gateway_and_demo_share_trace_and_request_id(services: dict[str, Any]) -> None:
    answer = ask_gateway(services["gateway"], REQUEST_ID)
    assert answer["answer"]
    assert answer["summary"]

    def ours(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # the readiness probes made traces of their own; keep the /ask request's
        return [s for s in spans if s["attrs"].get("request.id") == REQUEST_ID]

    def node_done(spans: list[dict[str, Any]]) -> bool:
        mine = ours(spans)
        return any(s["name"] == "chat gpt-4o-mini" for s in mine) and any(
            s["kind"] == 2 for s in mine
        )

    def python_done(spans: list[dict[str, Any]]) -> bool:
        return any(s["attrs"].get("gen_ai.operation.name") == "chat" for s in ours(spans))

    all_node = _wait_for_spans(services["files"]["node"], node_done)
    all_python = _wait_for_spans(services["files"]["python"], python_done)
    assert node_done(all_node), [(s["name"], s["attrs"].get("request.id")) for s in all_node]
    assert python_done(all_python), [(s["name"], s["attrs"].get("request.id")) for s in all_python]

    # one trace across both services: the gateway's server span starts it
    root = next(s for s in ours(all_node) if s["kind"] == 2 and not s.get("parentSpanId"))
    trace_id = root["traceId"]
    node_spans = [s for s in all_node if s["traceId"] == trace_id]
    python_spans = [s for s in all_python if s["traceId"] == trace_id]
    assert python_spans, "the demo service's spans continue the gateway's trace"
    assert {s["traceId"] for s in ours(all_node) + ours(all_python)} == {trace_id}
    assert {s["service"] for s in node_spans} == {"gateway-node"}
    assert {s["service"] for s in python_spans} == {"demo-python"}

    # every span of that trace, in both services, carries the request ID
    for span in node_spans + python_spans:
        assert span["attrs"].get("request.id") == REQUEST_ID, (span["service"], span["name"])
    assert any(s["attrs"].get("gen_ai.operation.name") == "chat" for s in python_spans)

    # the demo service's entry span is a child of a gateway client span
    node_ids = {s["spanId"] for s in node_spans}
    python_ids = {s["spanId"] for s in python_spans}
    entries = [s for s in python_spans if s.get("parentSpanId") not in python_ids]
    assert entries
    assert all(s.get("parentSpanId") in node_ids for s in entries)

    # the gateway's own LLM call: contract attributes and a local cost
    llm = next(s for s in node_spans if s["name"] == "chat gpt-4o-mini")
    assert llm["attrs"]["gen_ai.provider.name"] == "openai"
    assert int(llm["attrs"]["gen_ai.usage.input_tokens"]) > 0
    assert llm["attrs"]["gen_ai.usage.cost.source"] == "local"
    assert float(llm["attrs"]["gen_ai.usage.cost.amount"]) > 0
