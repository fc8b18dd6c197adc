"""The Tempo reader against response bodies written from Tempo's documented HTTP API.

The suite runs Jaeger for real (tests/integration); Tempo only here, against the bodies
in ``tempo_api_docs.py`` (written from the docs, not recorded), served by a local HTTP
server so ``otel-llm trace --tempo`` runs unchanged and can be compared with the file
reader on the same spans.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from otel_llm.cli import main
from otel_llm.store.base import parse_otlp_json
from otel_llm.store.tempo import TempoError, TempoStore, to_otlp_json, traceql_string
from tests.unit import tempo_api_docs as docs


class FakeTempo:
    """Answers /api/search and /api/v2/traces (or only the v1 API) with the doc bodies."""

    def __init__(self, *, v2: bool = True) -> None:
        self.v2 = v2
        self.queries: list[dict[str, list[str]]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                status, body = fake.answer(url.path, parse_qs(url.query))
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        if path == "/api/search":
            self.queries.append(query)
            wanted = f"{{ span.request.id = {traceql_string(docs.REQUEST_ID)} }}"
            return 200, docs.SEARCH if query.get("q") == [wanted] else docs.SEARCH_EMPTY
        known = docs.TRACE_ID
        if path.startswith("/api/v2/traces/"):
            if not self.v2:
                return 404, "404 page not found\n"
            return 200, docs.TRACE_V2 if path.endswith(known) else docs.TRACE_V2_EMPTY
        if path.startswith("/api/traces/"):
            if path.endswith(known):
                return 200, docs.TRACE_V1
            return 404, "trace not found"
        return 404, "404 page not found\n"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(params=[True, False], ids=["v2-api", "v1-api"])
def tempo(request: pytest.FixtureRequest) -> Iterator[FakeTempo]:
    fake = FakeTempo(v2=request.param)
    try:
        yield fake
    finally:
        fake.close()


def test_search_finds_the_request_and_pads_the_trace_id(tempo: FakeTempo) -> None:
    store = TempoStore(tempo.url)
    assert store.find_trace_ids(docs.REQUEST_ID) == [docs.TRACE_ID]
    (query,) = tempo.queries
    # an explicit window, so Tempo searches its blocks as well as recent data
    assert int(query["end"][0]) > int(query["start"][0])
    assert store.find_trace_ids("never-sent") == []


def test_trace_by_id_reads_as_otlp_json_with_hex_ids(tempo: FakeTempo) -> None:
    spans = parse_otlp_json(TempoStore(tempo.url).get_trace(docs.TRACE_ID))
    by_id = {s.span_id: s for s in spans}
    assert set(by_id) == {docs.SERVER_SPAN, docs.CLIENT_SPAN}
    client = by_id[docs.CLIENT_SPAN]
    assert client.trace_id == docs.TRACE_ID
    assert client.parent_span_id == docs.SERVER_SPAN
    assert client.kind == "CLIENT" and client.status == "OK"
    assert client.attributes["gen_ai.usage.input_tokens"] == 1200
    assert client.attributes["gen_ai.usage.cost.amount"] == pytest.approx(0.000228)
    assert {s.service for s in spans} == {"support-bot"}
    assert all(s.request_id == docs.REQUEST_ID for s in spans)


def test_unknown_trace_is_a_clear_error(tempo: FakeTempo) -> None:
    with pytest.raises(TempoError, match="not found"):
        TempoStore(tempo.url).get_trace("0123456789abcdef0123456789abcdef")
    with pytest.raises(ValueError):
        TempoStore(tempo.url).get_trace("not-hex")


def test_a_200_answer_without_json_is_a_clear_error(tempo: FakeTempo) -> None:
    """A proxy's HTML page in front of Tempo: TempoError naming it, not a bare ValueError."""
    tempo.answer = lambda path, query: (200, "<html>sign in</html>")  # type: ignore[method-assign]
    with pytest.raises(TempoError, match="without JSON"):
        TempoStore(tempo.url).find_trace_ids(docs.REQUEST_ID)
    with pytest.raises(TempoError, match="without JSON"):
        TempoStore(tempo.url).get_trace(docs.TRACE_ID)


def test_cli_prints_the_same_tree_as_from_the_span_file(
    tempo: FakeTempo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spans_file = tmp_path / "spans.jsonl"
    spans_file.write_text(json.dumps(to_otlp_json(docs.TRACE_V2)) + "\n")
    outputs = {}
    for source in (["--tempo", tempo.url], ["--file", str(spans_file)]):
        for fmt in ([], ["--json"]):
            assert main(["trace", docs.REQUEST_ID, *source, *fmt]) == 0
            outputs[(source[0], bool(fmt))] = capsys.readouterr().out
    assert outputs[("--tempo", True)] == outputs[("--file", True)]
    assert outputs[("--tempo", False)] == outputs[("--file", False)]
    (trace,) = json.loads(outputs[("--tempo", True)])
    assert trace["trace_id"] == docs.TRACE_ID
    assert [s["name"] for s in trace["spans"]] == ["POST /chat", "chat gpt-4o-mini"]
    assert "chat gpt-4o-mini" in outputs[("--tempo", False)]
    assert main(["trace", "never-sent", "--tempo", tempo.url]) == 1
