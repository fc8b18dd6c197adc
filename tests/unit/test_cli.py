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


# An install without the cli extra: no rich and no httpx (hidden in a fresh interpreter).
WITHOUT_CLI_EXTRA = """
import sys
sys.modules["rich"] = sys.modules["httpx"] = None  # import of either raises ImportError
from otel_llm.cli import main
code = main(sys.argv[1:])
assert "rich" not in sys.modules or sys.modules["rich"] is None
sys.exit(code)
"""


def _plain_cli(*args: str) -> str:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", WITHOUT_CLI_EXTRA, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_cli_prints_plain_text_without_the_cli_extra(spans_file: Path) -> None:
    tree = _plain_cli("trace", "req-123", "--file", str(spans_file))
    assert "── POST /chat" in tree and "cost=$0.000195" in tree
    assert "[bold]" not in tree and "[/]" not in tree
    table = _plain_cli("report", "--file", str(spans_file), "--by", "model")
    lines = table.splitlines()
    header = next(line for line in lines if line.startswith("model"))
    assert "requests" in header and "cost" in header
    assert any(line.startswith("gpt-4o-mini") for line in lines)
    assert any("unpriced" in line for line in lines)


def test_trace_stores_fall_back_to_httpx2_without_httpx() -> None:
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['httpx'] = None\n"
        "from otel_llm.store import http, prometheus\n"
        "print(http.httpx.__name__, prometheus.httpx.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["httpx2", "httpx2"], out.stderr
