"""``otel-llm demo`` end to end, as a user runs it."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import pytest

from otel_llm.store import FileStore
from otel_llm.store.base import SpanRecord
from tests.e2e.contract import check_genai_span, expected_cost
from tests.integration.backends import REPO, run_cli


def test_demo_with_its_defaults_from_the_repository_root() -> None:
    """``uv run otel-llm demo`` as a new user types it: no arguments, from the repository
    root.  The example printed at the end is one whole two-service trace: exactly one root
    (the Node gateway's server span), every span carrying the request ID; the traffic
    driver's own client spans are in no trace; the gateway's span file is filled."""
    run = run_cli("demo", timeout=300, env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert run.returncode == 0, run.stderr + run.stdout
    out = run.stdout
    assert "requests entered through the Node gateway" in out, out
    match = re.search(r"Example request ID: (\S+)", out)
    assert match, out
    rid = match.group(1)

    files = [REPO / ".otel-llm" / "demo-spans.jsonl", REPO / ".otel-llm" / "demo-spans-node.jsonl"]
    assert all(f.stat().st_size > 0 for f in files), [f.stat().st_size for f in files]
    spans = list(FileStore(*files).spans())
    traces: dict[str, list[SpanRecord]] = defaultdict(list)
    for span in spans:
        traces[span.trace_id].append(span)

    def roots(trace: list[SpanRecord]) -> list[SpanRecord]:
        ids = {s.span_id for s in trace}
        return [s for s in trace if s.parent_span_id not in ids]

    # the example: one trace, one root (the gateway's server span), both services
    example_ids = {s.trace_id for s in spans if s.request_id == rid}
    assert len(example_ids) == 1, example_ids
    example = traces[example_ids.pop()]
    assert [(r.service, r.kind) for r in roots(example)] == [("node-gateway", "SERVER")]
    assert {s.service for s in example} == {"node-gateway", "otel-llm-demo"}
    assert all(s.request_id == rid for s in example), [(s.name, s.request_id) for s in example]
    # and the tree printed for it is that one trace, naming both services
    headers = [line for line in out.splitlines() if line.startswith("trace ")]
    assert headers == [f"trace {example[0].trace_id}  request.id={rid}"], out
    assert "node-gateway" in out and "otel-llm-demo" in out

    # every trace of the run: one root, a server span (never the driver's client span),
    # one request ID on every span
    for trace_id, trace in traces.items():
        (root,) = roots(trace)
        assert root.kind == "SERVER", (trace_id, root.name, root.service)
        assert {s.request_id for s in trace} == {root.request_id} and root.request_id


def test_demo_table_and_span_file(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    run = run_cli(
        "demo",
        "--requests",
        "80",
        "--latency-scale",
        "0.05",
        "--out",
        str(out),
        "--no-progress",
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    table = run.stdout
    for model in ("gpt-4o-mini", "claude-haiku-4-5", "o4-mini", "acme-llm-1", "total"):
        assert model in table, table
    assert "Example request ID" in table and "otel-llm trace" in table
    assert "unpriced" in table

    # setup.sh builds the Node package, so the demo runs its Node gateway too
    assert "requests entered through the Node gateway" in table, table
    spans = list(FileStore(out / "demo-spans.jsonl", out / "demo-spans-node.jsonl").spans())
    services_by_trace: dict[str, set[str]] = {}
    for s in spans:
        services_by_trace.setdefault(s.trace_id, set()).add(s.service)
    assert any(v >= {"node-gateway", "otel-llm-demo"} for v in services_by_trace.values())
    genai = [s for s in spans if s.attributes.get("gen_ai.operation.name")]
    assert len(genai) >= 70
    for span in genai:
        check_genai_span(span)
        assert span.request_id
        if span.status != "ERROR" and "gen_ai.usage.cost.amount" in span.attributes:
            want = expected_cost(span)
            assert want is not None, span.attributes
            assert span.attributes["gen_ai.usage.cost.amount"] == pytest.approx(
                float(want), rel=1e-9
            )
    assert any(s.status == "ERROR" for s in genai), "the demo should include provider errors"
    assert any(s.attributes.get("gen_ai.usage.cache_read.input_tokens") for s in genai)
    assert any(s.attributes.get("gen_ai.usage.reasoning.output_tokens") for s in genai)
    assert any(s.attributes.get("gen_ai.request.stream") for s in genai)
    # every span of a request shares its trace and request ID
    servers = [s for s in spans if s.kind == "SERVER"]
    assert servers and all(s.request_id for s in servers)

    # the service's log lines carry the contract's correlation fields
    lines = [json.loads(x) for x in (out / "demo-service.log").read_text().splitlines() if x]
    completed = [x for x in lines if x["event"] == "chat completed"]
    assert len(completed) >= 60
    by_rid = {s.request_id: s for s in spans if s.kind == "SERVER"}
    for line in completed:
        for key in ("timestamp", "level", "logger", "service", "request_id", "trace_id", "span_id"):
            assert key in line, line
        assert by_rid[line["request_id"]].trace_id == line["trace_id"]

    rid = next(s.request_id for s in genai if s.status != "ERROR")
    trace = run_cli(
        "trace",
        str(rid),
        "--file",
        str(out / "demo-spans.jsonl"),
        "--file",
        str(out / "demo-spans-node.jsonl"),
    )
    assert trace.returncode == 0, trace.stderr
    assert "POST /chat" in trace.stdout and "cost=" in trace.stdout

    # the manual speech-to-text call: in the table, its trace tree, the report by source
    assert "chirp-2" in table and "s audio" in table, table
    stt = [s for s in genai if s.attributes.get("otel_llm.manual") and s.status != "ERROR"]
    assert stt and all(s.attributes.get("gen_ai.usage.cost.amount", 0) > 0 for s in stt)
    tree = run_cli("trace", str(stt[0].request_id), "--file", str(out / "demo-spans.jsonl"))
    assert tree.returncode == 0, tree.stderr
    assert "POST /transcribe" in tree.stdout and "speech_to_text chirp-2" in tree.stdout
    assert "seconds=" in tree.stdout and "cost=" in tree.stdout
    by_source = run_cli(
        "report", "--file", str(out / "demo-spans.jsonl"), "--by", "source", "--format", "json"
    )
    rows = {r["key"]: r for r in json.loads(by_source.stdout)}
    stt_cost = sum(s.attributes["gen_ai.usage.cost.amount"] for s in stt)
    sources_cost = sum(rows[k]["cost_usd"] for k in ("voicemail", "meeting-notes") if k in rows)
    assert sources_cost == pytest.approx(stt_cost, rel=1e-6)
    counter = re.search(r"gen_ai_client_cost_usd_total = \$([0-9.]+)", table)
    assert counter and float(counter.group(1)) == pytest.approx(stt_cost, abs=1e-6), table


def test_demo_json_summary(tmp_path: Path) -> None:
    run = run_cli(
        "demo",
        "--requests",
        "30",
        "--latency-scale",
        "0.02",
        "--out",
        str(tmp_path),
        "--json",
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["requests"] == 30
    rows = {r["key"]: r for r in summary["by_model"]}
    assert sum(r["requests"] for r in rows.values()) >= 28
    for row in rows.values():
        if row["requests"] - row["errors"] > 0:
            assert row["p50_s"] is not None and row["p50_s"] <= row["p95_s"] <= row["p99_s"]
