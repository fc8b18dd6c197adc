"""configure() with the defaults loads only what the configuration uses and leaves other
libraries' log levels alone (fresh interpreters: sys.modules and logging are global)."""

from __future__ import annotations

from tests.e2e.test_configure import run_py

PROBE = """
    import json, logging, sys
    import httpx, openai
    names = ("", "httpx", "httpx2", "httpcore", "openai", "anthropic", "urllib3")
    levels = lambda: [(logging.getLogger(n).level, logging.getLogger(n).getEffectiveLevel())
                      for n in names]
    before = levels()
    import otel_llm
    from otel_llm.genai import instrumented_sdks
    t = otel_llm.configure("svc")
    loaded = {m: m in sys.modules for m in ("grpc", "anthropic", "fastapi")}
    serializers = {m: m in sys.modules for m in ("google.protobuf", "requests")}
    # openai imported: the price data is set up at configure(), genai-prices' 1.6 MB data
    # module is not imported (otel_llm._price_data), openai's models only are built
    from genai_prices.data_snapshot import get_snapshot
    built = sorted(p.id for p in get_snapshot().providers if "models" in vars(p))
    prices = {"bundled_module": "genai_prices.data" in sys.modules, "models_built": built}
    now = [n for n in instrumented_sdks() if n != "llm-wire"]
    exporter = t.processor.downstream.span_exporter  # otel-llm's failure-reporting wrapper
    import anthropic  # the application imports it after configure(): instrumented then
    print(json.dumps({"loaded": loaded, "serializers": serializers,
                      "levels_kept": levels() == before, "prices": prices,
                      "before_import": now,
                      "after_import": [n for n in instrumented_sdks() if n != "llm-wire"],
                      "exporter": type(getattr(exporter, "inner", exporter)).__module__}))
    """
# a closed port: nothing is exported, and nothing waits on it at exit
ENV = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_BSP_EXPORT_TIMEOUT": "100"}


def test_defaults_do_not_import_grpc_or_unused_sdks_nor_change_log_levels() -> None:
    out = run_py(PROBE, ENV)
    assert out == {
        "loaded": {"grpc": False, "anthropic": False, "fastapi": False},
        # the default (OTLP/HTTP protobuf) is composed over http.client: no requests
        "serializers": {"google.protobuf": True, "requests": False},
        "levels_kept": True,
        "prices": {"bundled_module": False, "models_built": ["openai"]},
        "before_import": ["openai"],
        "after_import": ["openai", "anthropic"],
        "exporter": "otel_llm._otlp_http",
    }


FIRST_EXPORT = """
    import json, sys, threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    received = []
    class Sink(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def do_POST(self):
            received.append((self.path, self.headers["content-type"],
                             len(self.rfile.read(int(self.headers["content-length"])))))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()
        def log_message(self, *args):
            pass
    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    import os
    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{server.server_address[1]}"
    import otel_llm
    from opentelemetry import trace
    t = otel_llm.configure("svc", instrument=False)
    trace.get_tracer("t").start_span("s").end()
    flushed = t.force_flush(10_000)
    t.shutdown()
    print(json.dumps({"flushed": flushed, "received": received,
                      "requests": "requests" in sys.modules, "urllib3": "urllib3" in sys.modules}))
    """


def test_the_default_exporter_sends_without_importing_requests() -> None:
    env = {k: v for k, v in ENV.items() if k != "OTEL_EXPORTER_OTLP_ENDPOINT"}
    out = run_py(FIRST_EXPORT, env)
    assert out["flushed"] is True
    ((path, content_type, size),) = out["received"]
    assert (path, content_type) == ("/v1/traces", "application/x-protobuf") and size > 0
    assert out["requests"] is False
    assert out["urllib3"] is False  # sent over http.client, which prometheus-client loads


def test_grpc_is_imported_when_the_protocol_asks_for_it() -> None:
    out = run_py(PROBE, {**ENV, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    assert out["loaded"] == {"grpc": True, "anthropic": False, "fastapi": False}
    assert out["exporter"] == "opentelemetry.exporter.otlp.proto.grpc.trace_exporter"


def test_json_over_http_imports_neither_protobuf_nor_requests() -> None:
    out = run_py(PROBE, {**ENV, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"})
    assert out["loaded"] == {"grpc": False, "anthropic": False, "fastapi": False}
    assert out["serializers"] == {"google.protobuf": False, "requests": False}
    assert out["exporter"] == "opentelemetry.exporter.otlp.json.http.trace_exporter"


def test_the_traces_protocol_wins_over_the_general_one() -> None:
    out = run_py(
        PROBE,
        {
            **ENV,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json",
        },
    )
    assert out["loaded"]["grpc"] is False
    assert out["serializers"] == {"google.protobuf": False, "requests": False}
    assert out["exporter"] == "opentelemetry.exporter.otlp.json.http.trace_exporter"


def test_an_unknown_protocol_falls_back_to_the_default() -> None:
    out = run_py(PROBE, {**ENV, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/xml"})
    assert out["exporter"] == "otel_llm._otlp_http"


NO_CLIENT = """
    import json, sys
    import otel_llm
    t = otel_llm.configure("svc")
    watched = ("genai_prices", "genai_prices.data", "httpx2", "httpx", "pydantic",
               "opentelemetry.instrumentation.httpx", "opentelemetry.util.genai",
               "opentelemetry.instrumentation.genai.openai",
               "opentelemetry.instrumentation.genai.anthropic", "otel_llm.genai.openai",
               "otel_llm.genai.anthropic")
    loaded = {m: m in sys.modules for m in watched}
    import httpx2  # the application imports an HTTP client: prices load then (per provider)
    from genai_prices.data_snapshot import get_snapshot
    from otel_llm import _price_data
    prices = {"set_up": _price_data._installed,
              "bundled_module": "genai_prices.data" in sys.modules,
              "models_built": [p.id for p in get_snapshot().providers if "models" in vars(p)]}
    print(json.dumps({"loaded": loaded, "prices_after_client": prices}))
    """


def test_a_service_importing_no_llm_client_does_not_load_the_price_data() -> None:
    # genai-prices' package imports httpx2 (its updater), which brings the official httpx
    # instrumentation and with it httpx: none of it before something can make an LLM call;
    # nor the official GenAI instrumentations and util-genai before their SDK is imported.
    out = run_py(NO_CLIENT, ENV)
    assert out == {
        "loaded": dict.fromkeys(
            (
                "genai_prices",
                "genai_prices.data",
                "httpx2",
                "httpx",
                "pydantic",
                "opentelemetry.instrumentation.httpx",
                "opentelemetry.util.genai",
                "opentelemetry.instrumentation.genai.openai",
                "opentelemetry.instrumentation.genai.anthropic",
                "otel_llm.genai.openai",
                "otel_llm.genai.anthropic",
            ),
            False,
        ),
        "prices_after_client": {"set_up": True, "bundled_module": False, "models_built": []},
    }


SERVICE_INSTALL = """
    import json, sys
    # a service's install: otel-llm without the cli extra (no rich, no httpx, no click)
    for name in ("rich", "httpx", "click", "pygments"):
        sys.modules[name] = None  # an import of it raises ImportError, as if not installed
    import openai, httpx2
    import otel_llm
    from otel_llm.genai import instrumented_sdks
    t = otel_llm.configure("svc")
    client = openai.OpenAI(api_key="k", max_retries=0, http_client=httpx2.Client(
        transport=httpx2.MockTransport(lambda request: httpx2.Response(200, json={
            "id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "hi"}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}))))
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    t.force_flush()
    cost = t.registry.get_sample_value(
        "gen_ai_client_cost_usd_total",
        {"gen_ai_operation_name": "chat", "gen_ai_provider_name": "openai",
         "gen_ai_request_model": "gpt-4o-mini"})
    print(json.dumps({"instrumented": [n for n in instrumented_sdks() if n != "llm-wire"],
                      "priced": bool(cost),
                      "loaded": [m for m in ("rich", "httpx", "click", "pygments")
                                 if sys.modules.get(m) is not None]}))
    """


def test_a_service_install_without_the_cli_extra_traces_and_prices_calls() -> None:
    # structlog, the official instrumentations and the CLI's modules import rich and httpx
    # only when installed: configure() and a priced call work without them
    out = run_py(SERVICE_INSTALL, {**ENV, "OTEL_LLM_EXPORTER": "none"})
    assert out == {"instrumented": ["openai"], "priced": True, "loaded": []}
