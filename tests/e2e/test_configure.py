"""configure() in fresh interpreters: global state (providers, propagators) stays isolated."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.e2e.procs import ROOT


def run_py(code: str, env: dict[str, str] | None = None) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "OTEL_LLM_LOG_FORMAT": "json", **(env or {})},
    )
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_joins_an_existing_sdk_provider_without_double_export() -> None:
    out = run_py(
        """
        import json
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        exp = InMemorySpanExporter()
        tp = TracerProvider(); tp.add_span_processor(SimpleSpanProcessor(exp))
        trace.set_tracer_provider(tp)
        import otel_llm
        from otel_llm.context import RequestState, request_state
        t = otel_llm.configure("svc", instrument=False)
        with request_state(RequestState("rid-7")):
            with trace.get_tracer("x").start_as_current_span("chat gpt-4o-mini") as s:
                s.set_attributes({"gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5})
        spans = exp.get_finished_spans()
        from prometheus_client import generate_latest
        text = generate_latest(t.registry).decode()
        print(json.dumps({"same": t.tracer_provider is tp, "n": len(spans),
            "rid": spans[0].attributes.get("request.id"),
            "metric": "gen_ai_client_token_usage_bucket{" in text}))
        """,
        {"OTEL_LLM_EXPORTER": "console"},
    )
    assert out == {"same": True, "n": 1, "rid": "rid-7", "metric": True}


def test_owns_the_provider_and_records_what_the_sampler_drops(tmp_path: object) -> None:
    out = run_py(
        """
        import json
        from opentelemetry import trace
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        import otel_llm
        exp = InMemorySpanExporter()
        t = otel_llm.configure("svc", instrument=False, span_exporter=exp)
        tracer = trace.get_tracer("x")
        for _ in range(20):
            with tracer.start_as_current_span("chat gpt-4o-mini") as s:
                s.set_attributes({"gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 100})
        t.force_flush()
        from prometheus_client import generate_latest
        text = generate_latest(t.registry).decode()
        count = [l for l in text.splitlines()
                 if l.startswith("gen_ai_client_operation_duration_seconds_count")]
        print(json.dumps({"exported": len(exp.get_finished_spans()),
            "counted": float(count[0].rsplit(" ", 1)[1]),
            "cost": exp.get_finished_spans()[0].attributes.get("gen_ai.usage.cost.amount")
                    if exp.get_finished_spans() else None}))
        """,
        {"OTEL_TRACES_SAMPLER": "always_off"},
    )
    # nothing is exported, yet every call is measured
    assert out["exported"] == 0
    assert out["counted"] == 20.0


def test_bad_setting_is_a_clear_error() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "import otel_llm; otel_llm.configure('svc')"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "OTEL_LLM_EXPORTER": "kafka"},
    )
    assert proc.returncode != 0
    assert "OTEL_LLM_EXPORTER" in proc.stderr
