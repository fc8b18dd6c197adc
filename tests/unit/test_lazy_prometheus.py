"""prometheus-client is loaded by the first reader of the metrics, not by configure() or by
recording: fresh interpreters for what sys.modules shows, in-process for the rest."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from otel_llm.config import Settings
from otel_llm.genai.wire import PARSE_ERRORS_HELP
from otel_llm.metrics import GenAIMetrics
from otel_llm.metrics_server import MetricsApp
from otel_llm.setup import WireParseErrors
from tests.e2e.test_configure import run_py

# a closed port: nothing is exported, and nothing waits long on it (retries within 1 s)
ENV = {
    "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
    "OTEL_EXPORTER_OTLP_TIMEOUT": "1",
    "OTEL_BSP_EXPORT_TIMEOUT": "100",
}

CHAT = """
    import json, sys
    import httpx2, openai
    import otel_llm
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    def loaded():
        return "prometheus_client" in sys.modules
    t = otel_llm.configure("svc")
    spans = InMemorySpanExporter()  # beside the default exporter: the call's span
    t.tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    at_configure = loaded()
    client = openai.OpenAI(api_key="k", max_retries=0, http_client=httpx2.Client(
        transport=httpx2.MockTransport(lambda request: httpx2.Response(200, json={
            "id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "hi"}}],
            "usage": {"prompt_tokens": 300, "completion_tokens": 20, "total_tokens": 320}}))))
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    t.force_flush()  # the processor measures what it queued
    after_call = loaded()
    (span,) = [s for s in spans.get_finished_spans() if s.name == "chat gpt-4o-mini"]
    from genai_prices import Usage, calc_price
    price = calc_price(Usage(input_tokens=300, output_tokens=20), model_ref="gpt-4o-mini",
                       provider_id="openai").total_price
    registry = t.registry
    after_read = loaded()
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families
    text = generate_latest(registry).decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.labels.get("gen_ai_request_model") == "gpt-4o-mini":
                key = s.name + "|" + s.labels.get("gen_ai_token_type", "") + "|" + (
                    s.labels.get("le", ""))
                samples[key] = s.value
    print(json.dumps({
        "at_configure": at_configure, "after_call": after_call, "after_read": after_read,
        "same": t.registry is registry and t.processor.metrics.registry is registry,
        "samples": samples,
        "span": {"cost": float(price),
                 "seconds": (span.end_time - span.start_time) / 1e9,
                 "input": span.attributes["gen_ai.usage.input_tokens"],
                 "output": span.attributes["gen_ai.usage.output_tokens"]},
        "wire": "otel_llm_wire_parse_errors_total counter" in text}))
    """


def test_configure_and_a_call_do_not_import_prometheus_client_reading_the_registry_does() -> None:
    out = run_py(CHAT, ENV)
    assert out["at_configure"] is False
    assert out["after_call"] is False
    assert out["after_read"] is True
    assert out["same"] is True
    assert out["wire"] is True  # the wire layer's counter is exposed with the rest
    samples: dict[str, float] = out["samples"]  # type: ignore[assignment]
    span: dict[str, float] = out["span"]  # type: ignore[assignment]
    assert span["input"] == 300 and span["output"] == 20
    duration = "gen_ai_client_operation_duration_seconds"
    assert samples[f"{duration}_count||"] == 1.0
    assert samples[f"{duration}_sum||"] == pytest.approx(span["seconds"], rel=1e-9)
    assert samples[f"{duration}_bucket||+Inf"] == 1.0
    tokens = "gen_ai_client_token_usage"
    assert samples[f"{tokens}_sum|input|"] == 300.0
    assert samples[f"{tokens}_sum|output|"] == 20.0
    assert samples[f"{tokens}_bucket|input|256.0"] == 0.0  # 300 is in the (256, 1024] bucket
    assert samples[f"{tokens}_bucket|input|1024.0"] == 1.0
    assert span["cost"] > 0
    assert samples["gen_ai_client_cost_usd_total||"] == pytest.approx(span["cost"], rel=1e-12)
    assert samples["otel_llm_operation_cost_usd_count||"] == 1.0


WEB = """
    import asyncio, json, sys
    import fastapi
    import otel_llm
    t = otel_llm.configure("svc")
    app = fastapi.FastAPI()
    @app.get("/answer")
    def answer():
        return {"ok": True}
    def get(path, accept=None):
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
                 "query_string": b"", "root_path": "", "client": ("127.0.0.1", 5),
                 "server": ("127.0.0.1", 80),
                 "headers": [(b"host", b"svc")] + ([(b"accept", accept)] if accept else [])}
        sent = []
        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}
        async def send(message):
            sent.append(message)
        asyncio.run(app(scope, receive, send))
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return sent[0]["status"], dict(sent[0]["headers"]).get(b"content-type", b"").decode(), body
    status = [get("/answer")[0] for _ in range(3)]
    after_requests = "prometheus_client" in sys.modules
    code, content_type, body = get("/metrics", b"application/openmetrics-text; version=1.0.0")
    t.force_flush()
    print(json.dumps({"status": status, "after_requests": after_requests,
                      "after_scrape": "prometheus_client" in sys.modules,
                      "scrape": [code, content_type.split(";")[0]],
                      "families": body.decode().count("# TYPE "),
                      "eof": body.endswith(b"# EOF\\n"),
                      "same": t.registry is t.processor.metrics.registry}))
    """


def test_the_in_app_metrics_path_imports_prometheus_client_at_its_first_scrape() -> None:
    out = run_py(WEB, ENV)
    assert out == {
        "status": [200, 200, 200],
        "after_requests": False,  # requests to the app build its edge, not the registry
        "after_scrape": True,
        "scrape": [200, "application/openmetrics-text"],
        "families": 9,  # the contract's eight and the wire layer's counter
        "eof": True,
        "same": True,
    }


SERVER = """
    import json, socket, sys, urllib.request
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    import os
    os.environ["OTEL_LLM_METRICS_PORT"] = str(port)
    os.environ["OTEL_LLM_METRICS_ADDR"] = "127.0.0.1"
    import otel_llm
    t = otel_llm.configure("svc", instrument=False)
    at_configure = "prometheus_client" in sys.modules
    t.metrics.record_dropped("queue_full", 2)
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    t.shutdown()
    print(json.dumps({"at_configure": at_configure, "server": t.metrics_server is not None,
                      "dropped": 'otel_llm_spans_dropped_total{reason="queue_full"} 2.0' in body}))
    """


def test_the_metrics_server_makes_the_registry_when_it_starts() -> None:
    out = run_py(SERVER, ENV)
    assert out == {"at_configure": True, "server": True, "dropped": True}


CUSTOM = """
    import json, sys
    from prometheus_client import CollectorRegistry, generate_latest
    import otel_llm
    mine = CollectorRegistry()
    t = otel_llm.configure("svc", registry=mine)
    t.metrics.record_dropped("queue_full")
    text = generate_latest(mine).decode()
    print(json.dumps({"same": t.registry is mine,
                      "ours": 'otel_llm_spans_dropped_total{reason="queue_full"} 1.0' in text,
                      "wire": "# TYPE otel_llm_wire_parse_errors_total counter" in text}))
    """


def test_a_registry_passed_in_is_used_at_once() -> None:
    # as before: the collector and the wire layer's own Counter registered in it at configure()
    assert run_py(CUSTOM, ENV) == {"same": True, "ours": True, "wire": True}


WIRE = """
    import json, re
    import httpx2
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.openmetrics.exposition import generate_latest as openmetrics
    import otel_llm
    from otel_llm.genai import wire
    t = otel_llm.configure("svc", exporter="none")
    # the wire layer as it was installed with a registry, beside configure()'s collector
    wire.uninstall()
    reference = CollectorRegistry()
    wire.install(tracer_provider=t.tracer_provider, registry=reference)
    bodies = [b'{"id": "c", "choi', b'{"id": "c", "choi', b""]
    for body in bodies:
        client = httpx2.Client(transport=httpx2.MockTransport(
            lambda request, body=body: httpx2.Response(
                200, headers={"content-type": "application/json"}, content=body)))
        client.post("https://api.openai.com/v1/chat/completions",
                    json={"model": "gpt-4o-mini", "messages": []})
    def wire_lines(text):
        lines = [l for l in text.splitlines() if "otel_llm_wire_parse_errors" in l]
        return [re.sub(r"(_created\\{.*\\}) \\S+$", r"\\1 T", l) for l in lines]
    print(json.dumps({
        "text": [wire_lines(generate_latest(r).decode()) for r in (t.registry, reference)],
        "openmetrics": [wire_lines(openmetrics(r).decode()) for r in (t.registry, reference)],
        "counts": {"/".join(k): v for k, v in wire.parse_error_counts().items()}}))
    """


def test_the_wire_parse_error_counter_is_exposed_as_the_wire_layers_own() -> None:
    out = run_py(WIRE, {**ENV, "OTEL_LLM_EXPORTER": "none"})
    ours, reference = out["text"]  # type: ignore[misc]
    assert ours == reference  # name, help, type, labels, values, series order; _created: T
    assert any('reason="not_json"} 2.0' in line for line in ours)
    ours, reference = out["openmetrics"]  # type: ignore[misc]
    assert ours == reference
    assert sum(out["counts"].values()) == 3  # type: ignore[union-attr]


def test_the_wire_counter_reads_as_the_wire_layers_own(monkeypatch: pytest.MonkeyPatch) -> None:
    from otel_llm.genai import wire

    # the layer counts since the process started; this comparison starts from none
    monkeypatch.setattr(wire, "_counts", {})
    reference = CollectorRegistry()
    wire.uninstall()
    wire.install(registry=reference)
    try:
        ours = CollectorRegistry()
        ours.register(WireParseErrors())
        assert generate_latest(ours) == generate_latest(reference)  # no series yet
        assert PARSE_ERRORS_HELP in generate_latest(reference).decode()
    finally:
        wire.uninstall()


def test_recording_without_a_registry_and_the_same_exposition_after() -> None:
    # the registry made on first read exposes what was recorded before it existed, byte
    # for byte as a registry given up front
    lazy, eager = GenAIMetrics(Settings()), GenAIMetrics(Settings(), registry=CollectorRegistry())
    assert lazy._registry is None
    for m in (lazy, eager):
        route = m.route("chat", "openai", "gpt-4o-mini", "gpt-4o-mini", None)
        m.observe(route, 0.25, 0.1, [("input", 12), ("output", 3)], 0.002, (5, 6), False, 1.5)
        m.record_unpriced("openai", "x")
    for collector in (lazy.collector, eager.collector):  # the same _created times
        for family in collector.families:
            for series in family.series.values():
                series.created = 1700000000.0
    assert generate_latest(lazy.registry) == generate_latest(eager.registry)
    assert generate_openmetrics(lazy.registry) == generate_openmetrics(eager.registry)
    assert b"trace_id" in generate_openmetrics(lazy.registry)


def test_invalid_attribution_labels_fail_at_construction_without_a_registry() -> None:
    for bad in ("bad-name", "__x", "le", "gen_ai_request_model", "9x"):
        with pytest.raises(ValueError, match="attribution label"):
            GenAIMetrics(Settings(attribution_labels=(bad,)))


@pytest.mark.parametrize("label", ["user", "tenant", "_x", "a1", "feature_flag", "quantile_"])
def test_labels_accepted_here_are_accepted_by_prometheus_client(label: str) -> None:
    # spelling at the first exposition cannot fail for what construction accepted
    m = GenAIMetrics(Settings(attribution_labels=(label,)))
    Counter("x_total", "x", ("gen_ai_operation_name", label), registry=None)
    m.record_operation(
        operation="chat",
        provider="openai",
        request_model="m",
        response_model="m",
        error_type=None,
        duration_s=0.1,
        cost_usd=0.5,
        attribution=["v"],
    )
    (line,) = [
        line
        for line in generate_latest(m.registry).decode().splitlines()
        if line.startswith("gen_ai_client_cost_usd_total{")
    ]
    assert f'{label}="v"' in line and line.endswith(" 0.5")


def test_the_registry_is_made_once_whichever_thread_reads_first() -> None:
    for _ in range(20):
        m = GenAIMetrics(Settings())
        extra = WireParseErrors()
        m.expose(extra)
        barrier = threading.Barrier(8)
        seen: list[CollectorRegistry] = []

        def read(m: GenAIMetrics = m, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            seen.append(m.registry)

        threads = [threading.Thread(target=read) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(seen) == 8 and all(r is seen[0] for r in seen)
        names = [f.name for f in seen[0].collect()]
        assert len(names) == len(set(names)) == 9  # eight instruments and the wire counter


def test_expose_after_the_registry_exists_registers_at_once() -> None:
    m = GenAIMetrics(Settings())
    registry = m.registry
    m.expose(WireParseErrors())
    assert "otel_llm_wire_parse_errors" in [f.name for f in registry.collect()]


def test_an_app_given_a_function_calls_it_once_at_the_first_scrape() -> None:
    m = GenAIMetrics(Settings())
    calls: list[int] = []

    def source() -> CollectorRegistry:
        calls.append(1)
        return m.registry

    app = MetricsApp(source)
    assert calls == []

    async def scrape() -> int:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "GET", "path": "/metrics", "headers": []}
        await app(scope, receive, send)
        return int(sent[0]["status"])

    async def many() -> list[int]:
        return list(await asyncio.gather(*(scrape() for _ in range(8))))

    assert asyncio.run(many()) == [200] * 8
    assert calls == [1]
    assert app.registry is m.registry
