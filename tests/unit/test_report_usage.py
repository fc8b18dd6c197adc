"""`otel-llm report` over manual calls: by source, distinct lists, CSV/JSON export, a user's
month; and the Prometheus variant's queries against a recorded answer."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.json.file import FileSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

import otel_llm
from otel_llm import report
from otel_llm.cli import main
from otel_llm.config import Settings
from otel_llm.context import RequestState, request_state
from otel_llm.metrics import GenAIMetrics
from otel_llm.pricing import PriceBook
from otel_llm.processor import GenAISpanProcessor
from otel_llm.store.prometheus import PrometheusStore

PRICING = Path(__file__).parents[2] / "spec" / "vectors" / "manual_pricing.yaml"


def _ns(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()) * 10**9


@pytest.fixture
def spans_file(tmp_path: Path) -> Path:
    """Manual calls of two users in two months, through the real processor to a span file."""
    path = tmp_path / "spans.jsonl"
    settings = Settings(attribution_labels=("user", "source"), pricing_file=str(PRICING))
    provider = TracerProvider(resource=Resource.create({"service.name": "voice-api"}))
    provider.add_span_processor(
        GenAISpanProcessor(
            settings,
            metrics=GenAIMetrics(settings),
            pricebook=PriceBook.load(str(PRICING)),
            downstream=SimpleSpanProcessor(FileSpanExporter(str(path))),
        )
    )
    tracer = provider.get_tracer("t")
    calls = [  # (day, user, session, source, operation, model, provider, usage)
        (
            "2026-10-30",
            "alice",
            "s1",
            "voicemail",
            "speech_to_text",
            "chirp-2",
            "gcp.vertex_ai",
            {"otel_llm.usage.seconds": 60},
        ),
        (
            "2026-11-02",
            "alice",
            "s2",
            "voicemail",
            "speech_to_text",
            "chirp-2",
            "gcp.vertex_ai",
            {"otel_llm.usage.seconds": 90},
        ),
        (
            "2026-11-03",
            "alice",
            "s2",
            "docs",
            "translation",
            "deepl-pro",
            "deepl",
            {"otel_llm.usage.characters": 4000},
        ),
        (
            "2026-11-04",
            "bob",
            "s3",
            "docs",
            "translation",
            "deepl-pro",
            "deepl",
            {"otel_llm.usage.characters": 1000},
        ),
    ]
    for day, user, session, source, op, model, prov, usage in calls:
        with request_state(
            RequestState(f"req-{day}", {"user": user, "session": session, "source": source})
        ):
            start = _ns(day)
            span = tracer.start_span(
                f"{op} {model}",
                attributes={
                    "gen_ai.operation.name": op,
                    "gen_ai.provider.name": prov,
                    "gen_ai.request.model": model,
                    "otel_llm.manual": True,
                    **usage,
                },
                start_time=start,
            )
            span.end(end_time=start + 10**9)
    with otel_llm.track(
        "search", "acme", "web-search", tracer_provider=provider, user="carol", source="kb"
    ):
        pass  # now: outside November 2026
    provider.shutdown()
    return path


def test_by_source_and_distinct_lists(spans_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--file", str(spans_file), "--by", "source", "--format", "json"]) == 0
    rows = {r["key"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["voicemail"]["requests"] == 2 and rows["voicemail"]["seconds"] == 150
    assert rows["voicemail"]["cost_usd"] == pytest.approx(0.04)  # 150 s at $0.016/min
    assert rows["docs"]["characters"] == 5000
    assert rows["docs"]["cost_usd"] == pytest.approx(0.125)
    assert rows["kb"]["cost_usd"] == pytest.approx(0.005)
    for what, expected in (
        ("users", {"alice", "bob", "carol"}),
        ("sessions", {"s1", "s2", "s3", "-"}),
        ("sources", {"voicemail", "docs", "kb"}),
    ):
        assert main(["report", "--file", str(spans_file), "--list", what, "--format", "json"]) == 0
        assert {r["key"] for r in json.loads(capsys.readouterr().out)} == expected


def test_a_users_month_as_csv_file(spans_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "alice-2026-11.csv"
    args = ["report", "--file", str(spans_file), "--user", "alice", "--month", "2026-11"]
    assert main([*args, "--by", "source", "--format", "csv", "--output", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["source"] for r in rows] == ["docs", "voicemail", "total"]
    by = {r["source"]: r for r in rows}
    assert float(by["voicemail"]["seconds"]) == 90  # the October call is outside the month
    assert float(by["docs"]["cost_usd"]) == pytest.approx(0.1)
    assert float(by["total"]["cost_usd"]) == pytest.approx(0.124)
    assert int(by["total"]["requests"]) == 2


def test_table_shows_other_usage(spans_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--file", str(spans_file), "--by", "model", "--month", "2026-11"]) == 0
    out = capsys.readouterr().out
    assert "other usage" in out and "90 s audio" in out and "5,000 chars" in out


def test_bad_month_is_rejected(spans_file: Path) -> None:
    with pytest.raises(SystemExit):
        main(["report", "--file", str(spans_file), "--month", "2026-13"])


def test_csv_is_safe_for_spreadsheets() -> None:
    usage = report.Usage("=HYPERLINK(1)")
    assert "'=HYPERLINK" in report.to_csv([usage], "user")


def test_user_filter_matches_the_pseudonym(spans_file: Path) -> None:
    from otel_llm.metrics import pseudonymize
    from otel_llm.store import FileStore

    records = list(FileStore(str(spans_file)).spans())
    for r in records:
        if r.attributes.get("user.id") == "alice":
            r.attributes["user.id"] = pseudonymize("k", "alice")
    got = report.summarize(records, "user", filters=report.Filters(user="alice", user_hash_key="k"))
    assert [g.requests for g in got] == [3]


def _prometheus(answers: dict[str, list[dict[str, Any]]], seen: list[str]) -> PrometheusStore:
    def handler(request: httpx.Request) -> httpx.Response:
        query = dict(httpx.QueryParams(request.content.decode()))["query"]
        seen.append(query)
        result = next((v for k, v in answers.items() if k in query), [])
        return httpx.Response(
            200, json={"status": "success", "data": {"resultType": "vector", "result": result}}
        )

    return PrometheusStore("http://prometheus.test", transport=httpx.MockTransport(handler))


def test_prometheus_by_source_for_a_user() -> None:
    seen: list[str] = []
    store = _prometheus(
        {
            "gen_ai_client_cost_usd_total": [
                {"metric": {"source": "voicemail"}, "value": [0, "0.024"]},
                {"metric": {"source": "docs"}, "value": [0, "0.1"]},
            ]
        },
        seen,
    )
    rows = report.prometheus_usage(store, "source", "30d", match={"user": 'al"ice'})
    assert [r["key"] for r in rows] == ["docs", "voicemail"]
    assert rows[0]["cost_usd"] == pytest.approx(0.1) and rows[0]["requests"] is None
    assert seen == [
        'sum by (source) (increase(gen_ai_client_cost_usd_total{user="al\\"ice"}[30d]))'
    ]


def test_prometheus_by_operation_reads_calls_tokens_and_cost() -> None:
    seen: list[str] = []
    store = _prometheus(
        {
            "seconds_count[": [
                {"metric": {"gen_ai_operation_name": "speech_to_text"}, "value": [0, "3"]}
            ],
            "gen_ai_token_type": [
                {
                    "metric": {"gen_ai_operation_name": "chat", "gen_ai_token_type": "audio_input"},
                    "value": [0, "400"],
                }
            ],
        },
        seen,
    )
    rows = {r["key"]: r for r in report.prometheus_usage(store, "operation", "1d")}
    assert rows["speech_to_text"]["requests"] == 3
    assert rows["chat"]["audio_input_tokens"] == 400
    assert len(seen) == 4
