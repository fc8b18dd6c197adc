from __future__ import annotations

import json
from pathlib import Path

import pytest

from otel_llm.cli import main, parse_duration
from tests.unit.spanfile import genai_attrs, write_trace


@pytest.fixture
def spans_file(tmp_path: Path) -> Path:
    f = tmp_path / "spans.jsonl"
    write_trace(
        f,
        "req-123",
        [genai_attrs("gpt-4o-mini", request_id="req-123", cost=0.000195, cache_read=200)],
        service="gateway",
    )
    write_trace(f, "req-456", [genai_attrs("acme-llm-1", request_id="req-456", cost=None)])
    return f


def test_trace_prints_tree(spans_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", "req-123", "--file", str(spans_file)]) == 0
    out = capsys.readouterr().out
    assert "POST /chat" in out
    assert "chat gpt-4o-mini" in out
    assert "gateway" in out
    assert "cost=$0.000195" in out
    assert "cached=200" in out


def test_trace_json(spans_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", "req-456", "--file", str(spans_file), "--json"]) == 0
    (trace,) = json.loads(capsys.readouterr().out)
    names = [s["name"] for s in trace["spans"]]
    assert names == ["POST /chat", "chat acme-llm-1"]
    assert trace["spans"][1]["attributes"]["otel_llm.cost.unpriced"] is True


def test_trace_unknown_id(spans_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", "nope", "--file", str(spans_file)]) == 1
    assert "no trace found" in capsys.readouterr().err


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--file", str(tmp_path / "x.jsonl")]) == 2
    assert "no span file" in capsys.readouterr().err


def test_report_table_and_json(spans_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--file", str(spans_file), "--by", "model"]) == 0
    out = capsys.readouterr().out
    assert "gpt-4o-mini" in out and "acme-llm-1" in out and "unpriced" in out
    assert main(["report", "--file", str(spans_file), "--by", "user", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["key"] == "alice"
    assert rows[0]["requests"] == 2
    assert rows[0]["cost_usd"] == pytest.approx(0.000195)


def test_bad_duration_is_rejected(spans_file: Path) -> None:
    with pytest.raises(SystemExit):
        main(["report", "--file", str(spans_file), "--since", "yesterday"])
    assert parse_duration("15m") == 900
    assert parse_duration("7d") == 7 * 86400


def test_unreachable_backends_are_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", "abc", "--tempo", "http://127.0.0.1:9"]) == 3
    assert "cannot reach Tempo" in capsys.readouterr().err
    assert main(["trace", "abc", "--jaeger", "http://127.0.0.1:9"]) == 3
    assert "cannot reach Jaeger" in capsys.readouterr().err
    assert main(["report", "--prometheus", "http://127.0.0.1:9"]) == 3
    assert "cannot reach Prometheus" in capsys.readouterr().err
