from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from otel_llm.report import build_tree, percentile, summarize, total
from otel_llm.store import FileStore
from otel_llm.store.base import normalize_id, parse_otlp_json
from tests.unit.spanfile import genai_attrs, write_trace


def test_percentile_nearest_rank() -> None:
    values = [float(i) for i in range(1, 101)]
    assert percentile(values, 50) == 50
    assert percentile(values, 95) == 95
    assert percentile(values, 99) == 99
    assert percentile([], 50) is None
    assert percentile([3.0], 99) == 3.0


def test_ids_hex_and_base64() -> None:
    raw = bytes(range(16))
    assert normalize_id(raw.hex(), 16) == raw.hex()
    assert normalize_id(base64.b64encode(raw).decode(), 16) == raw.hex()
    assert normalize_id("", 16) is None
    assert normalize_id("0" * 32, 16) is None
    assert normalize_id("not an id!", 16) is None


def test_file_roundtrip_and_tree(tmp_path: Path) -> None:
    f = tmp_path / "spans.jsonl"
    tid = write_trace(
        f,
        "req-1",
        [
            genai_attrs("gpt-4o-mini", request_id="req-1"),
            genai_attrs("o4-mini", request_id="req-1"),
        ],
    )
    write_trace(f, "req-2", [genai_attrs("gpt-4o-mini", request_id="req-2")])
    store = FileStore(f)
    assert store.find_trace_ids("req-1") == [tid]
    spans = store.trace(tid)
    assert len(spans) == 3
    roots = build_tree(spans)
    assert len(roots) == 1
    assert roots[0].span.kind == "SERVER"
    assert [c.span.name for c in roots[0].children] == ["chat gpt-4o-mini", "chat o4-mini"]
    child = roots[0].children[0].span
    assert child.attributes["gen_ai.usage.input_tokens"] == 100
    assert child.service == "svc"


def test_torn_line_is_skipped(tmp_path: Path) -> None:
    f = tmp_path / "spans.jsonl"
    write_trace(f, "req-1", [genai_attrs("gpt-4o-mini", request_id="req-1")])
    with f.open("a") as fh:
        fh.write('{"resourceSpans": [')
    assert len(list(FileStore(f).spans())) == 2


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no span file"):
        list(FileStore(tmp_path / "nope.jsonl").spans())


def test_summary_by_model_user_session(tmp_path: Path) -> None:
    f = tmp_path / "spans.jsonl"
    write_trace(
        f,
        "a",
        [genai_attrs("gpt-4o-mini", request_id="a", cost=0.25, cache_read=40, reasoning=5)],
        durations_s=[1.0],
    )
    write_trace(f, "b", [genai_attrs("gpt-4o-mini", request_id="b", cost=0.5, user="bob")])
    write_trace(f, "c", [genai_attrs("acme-llm-1", request_id="c", cost=None)])
    write_trace(f, "d", [genai_attrs("gpt-4o-mini", request_id="d", cost=None)], error=True)
    spans = list(FileStore(f).spans())
    by_model = {u.key: u for u in summarize(spans, "model")}
    mini = by_model["gpt-4o-mini"]
    assert mini.requests == 3
    assert mini.errors == 1
    assert mini.cost_usd == pytest.approx(0.75)
    assert mini.cache_read_tokens == 40
    assert mini.reasoning_tokens == 5
    assert by_model["acme-llm-1"].unpriced == 1
    assert by_model["acme-llm-1"].cost_usd == 0
    by_user = {u.key: u for u in summarize(spans, "user")}
    assert by_user["bob"].cost_usd == pytest.approx(0.5)
    by_session = {u.key for u in summarize(spans, "session")}
    assert by_session == {"alice-session", "bob-session"}
    t = total(summarize(spans, "model"))
    assert t.requests == 4
    assert json.dumps(t.as_dict())  # serialisable
    with pytest.raises(ValueError, match="cannot group by"):
        summarize(spans, "colour")


def test_time_window(tmp_path: Path) -> None:
    f = tmp_path / "spans.jsonl"
    write_trace(f, "a", [genai_attrs("gpt-4o-mini", request_id="a")])
    spans = list(FileStore(f).spans())
    start = spans[0].start_ns
    assert summarize(spans, since_ns=start + 10**12) == []
    assert len(summarize(spans, since_ns=start - 1)) == 1


def test_tempo_batches_shape() -> None:
    doc = {
        "batches": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "s"}}]
                },
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": base64.b64encode(b"\x01" * 16).decode(),
                                "spanId": base64.b64encode(b"\x02" * 8).decode(),
                                "name": "x",
                                "kind": "SPAN_KIND_CLIENT",
                                "startTimeUnixNano": "1",
                                "endTimeUnixNano": "2",
                                "status": {"code": "STATUS_CODE_ERROR"},
                                "attributes": [{"key": "n", "value": {"intValue": "3"}}],
                            }
                        ]
                    }
                ],
            }
        ]
    }
    (span,) = parse_otlp_json(doc)
    assert span.trace_id == "01" * 16
    assert span.kind == "CLIENT"
    assert span.status == "ERROR"
    assert span.attributes == {"n": 3}
    assert span.service == "s"
