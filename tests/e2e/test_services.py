"""Real processes: the zero-code launcher and the one-call demo service, against the mock LLM."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from otel_llm.store import FileStore
from otel_llm.store.base import SpanRecord
from tests.e2e.contract import check_genai_span, expected_cost
from tests.e2e.procs import BIN, free_port, mock_llm, process


def _spans_for(path: Path, request_id: str, want: int, timeout_s: float = 15.0) -> list[SpanRecord]:
    """The request's spans once ``want`` of them, its server span and its GenAI span are
    exported: a count alone can be reached by FastAPI's own inner spans, which end (and
    are flushed) before a streamed call's GenAI span."""
    deadline = time.monotonic() + timeout_s
    spans: list[SpanRecord] = []
    while time.monotonic() < deadline:
        if path.exists():
            spans = [s for s in FileStore(path).spans() if s.request_id == request_id]
            if (
                len(spans) >= want
                and any(s.kind == "SERVER" for s in spans)
                and any(s.attributes.get("gen_ai.operation.name") for s in spans)
            ):
                return spans
        time.sleep(0.2)
    raise AssertionError(f"{len(spans)} spans for {request_id} after {timeout_s} s (want {want})")


def _env(spans: Path) -> dict[str, str]:
    return {
        "OTEL_LLM_EXPORTER": "file",
        "OTEL_LLM_TRACES_FILE": str(spans),
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_LLM_LOG_FORMAT": "json",
    }


def test_zero_code_fastapi_openai_service(tmp_path: Path) -> None:
    """An unchanged FastAPI + OpenAI service gets the contract from otel-llm-instrument."""
    spans = tmp_path / "spans.jsonl"
    port = free_port()
    with mock_llm(tmp_path) as llm:
        env = {**_env(spans), "OTEL_SERVICE_NAME": "plain-app", "LLM_BASE_URL": llm}
        args = [
            str(BIN / "otel-llm-instrument"),
            str(BIN / "uvicorn"),
            "tests.e2e.plain_app:app",
            "--port",
            str(port),
        ]
        with process(args, f"http://127.0.0.1:{port}/docs", env=env, log=tmp_path / "app.log"):
            base = f"http://127.0.0.1:{port}"
            r = httpx.get(f"{base}/ask", headers={"X-Request-ID": "zero-code-1"}, timeout=10)
            assert r.status_code == 200, r.text
            assert r.headers["x-request-id"] == "zero-code-1"
            r = httpx.get(
                f"{base}/ask?stream=true", headers={"X-Request-ID": "bad\tid"}, timeout=10
            )
            assert r.status_code == 200, r.text
            assert "error" not in r.json(), r.json()
            minted = r.headers["x-request-id"]
            assert minted != "bad\tid" and len(minted) >= 32
            metrics = httpx.get(
                f"{base}/metrics", headers={"Accept": "application/openmetrics-text"}, timeout=10
            ).text
            got = _spans_for(spans, "zero-code-1", 2)
            streamed = _spans_for(spans, minted, 2)
    kinds = {s.kind for s in got}
    assert {"SERVER", "CLIENT"} <= kinds
    (genai,) = [s for s in got if s.attributes.get("gen_ai.operation.name")]
    check_genai_span(genai)
    assert genai.service == "plain-app"
    assert genai.attributes["gen_ai.usage.cost.amount"] == pytest.approx(
        float(expected_cost(genai) or 0), rel=1e-9
    )
    (sgenai,) = [s for s in streamed if s.attributes.get("gen_ai.operation.name")]
    check_genai_span(sgenai)
    assert sgenai.attributes["gen_ai.request.stream"] is True
    assert sgenai.attributes["gen_ai.usage.output_tokens"] > 0
    assert "gen_ai_client_operation_duration_seconds_bucket{" in metrics
    assert "trace_id=" in metrics


def test_one_call_demo_service(tmp_path: Path) -> None:
    """``otel-llm demo-app`` (configure() in code): /chat with Anthropic and OpenAI models."""
    spans = tmp_path / "spans.jsonl"
    port = free_port()
    with mock_llm(tmp_path) as llm:
        env = {**_env(spans), "OTEL_LLM_ATTRIBUTION_LABELS": "user"}
        args = [str(BIN / "otel-llm"), "demo-app", "--port", str(port), "--llm-base-url", llm]
        with process(args, f"http://127.0.0.1:{port}/healthz", env=env, log=tmp_path / "app.log"):
            base = f"http://127.0.0.1:{port}"
            for i, model in enumerate(["claude-haiku-4-5", "gpt-4o-mini", "acme-llm-1"]):
                r = httpx.post(
                    f"{base}/chat",
                    json={"model": model, "prompt": "hi", "user": "alice", "stream": i == 0},
                    headers={"X-Request-ID": f"one-call-{i}"},
                    timeout=10,
                )
                assert r.status_code == 200, r.text
                assert r.headers["x-request-id"] == f"one-call-{i}"
            metrics = httpx.get(f"{base}/metrics", timeout=10).text
            per_request = [_spans_for(spans, f"one-call-{i}", 2) for i in range(3)]
    for i, got in enumerate(per_request):
        (genai,) = [s for s in got if s.attributes.get("gen_ai.operation.name")]
        check_genai_span(genai)
        server = [s for s in got if s.kind == "SERVER"]
        assert server and server[0].trace_id == genai.trace_id
        if i == 2:
            assert genai.attributes.get("otel_llm.cost.unpriced") is True
        else:
            assert genai.attributes["gen_ai.usage.cost.amount"] == pytest.approx(
                float(expected_cost(genai) or -1), rel=1e-9
            )
    assert "gen_ai_client_cost_usd_total{" in metrics
    assert 'user="alice"' in metrics
    assert "otel_llm_unpriced_operations_total{" in metrics
    per_call = {  # the per-call cost histogram: priced calls only, no attribution labels
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == "otel_llm_operation_cost_usd_count"
    }
    assert sorted(dict(labels)["gen_ai_request_model"] for labels in per_call) == [
        "claude-haiku-4-5",
        "gpt-4o-mini",
    ]
    assert all("user" not in dict(labels) for labels in per_call)
    assert set(per_call.values()) == {1.0}
