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
    assert out["urllib3"] is False  # sent over the standard library's http.client


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


DEFERRED = """
    import json, sys
    import openai, httpx2, wrapt
    import otel_llm
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from otel_llm.genai import instrument_llm_sdks, uninstrument_llm_sdks
    MODULES = ("openai.resources.chat.completions", "openai.resources.responses.responses",
               "openai.resources.embeddings")
    loaded = lambda: [m.rsplit(".", 1)[-1] for m in MODULES if m in sys.modules]
    exported = InMemorySpanExporter()
    t = otel_llm.configure("svc", span_exporter=exported)
    at_setup = loaded()
    usage = {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
    def answer(request):
        if request.url.path.endswith("/responses"):
            return httpx2.Response(200, json={
                "id": "r1", "object": "response", "created_at": 1, "model": "gpt-4o-mini",
                "status": "completed", "output": [], "parallel_tool_calls": True,
                "tool_choice": "auto", "tools": [],
                "usage": {"input_tokens": 3, "output_tokens": 1, "total_tokens": 4,
                          "input_tokens_details": {"cached_tokens": 0},
                          "output_tokens_details": {"reasoning_tokens": 0}}})
        return httpx2.Response(200, json={
            "id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "hi"}}],
            "usage": usage})
    client = openai.OpenAI(api_key="k", max_retries=0,
                           http_client=httpx2.Client(transport=httpx2.MockTransport(answer)))
    def layers(owner):  # how many wrappers are around create()
        n, f = 0, vars(owner)["create"]
        while isinstance(f, wrapt.FunctionWrapper):
            n, f = n + 1, f.__wrapped__
        return n
    def spans():
        t.force_flush()
        out = [(s.attributes["gen_ai.operation.name"],
                "gen_ai.usage.cost.amount" in s.attributes)
               for s in exported.get_finished_spans() if "gen_ai.operation.name" in s.attributes]
        exported.clear()
        return out
    msgs = [{"role": "user", "content": "x"}]
    client.chat.completions.create(model="gpt-4o-mini", messages=msgs)
    after_chat = loaded()
    chat_spans = spans()
    from openai.resources.chat.completions import Completions
    chat_layers = layers(Completions)
    client.responses.create(model="gpt-4o-mini", input="x")
    from openai.resources.responses.responses import Responses
    responses_spans, responses_layers = spans(), layers(Responses)
    uninstrument_llm_sdks()
    client.chat.completions.create(model="gpt-4o-mini", messages=msgs)
    off_spans, off_layers = spans(), layers(Completions)
    # uninstrumented before embeddings were imported: nothing waits for them any more
    from openai.resources.embeddings import Embeddings
    embeddings_layers = layers(Embeddings)
    instrument_llm_sdks(t.settings, tracer_provider=t.tracer_provider)
    client.chat.completions.create(model="gpt-4o-mini", messages=msgs)
    print(json.dumps({"at_setup": at_setup, "after_chat": after_chat,
                      "chat": [chat_spans, chat_layers],
                      "responses": [responses_spans, responses_layers],
                      "off": [off_spans, off_layers], "embeddings_off": embeddings_layers,
                      "again": [spans(), layers(Completions), layers(Embeddings)]}))
    """


def test_resource_modules_are_wrapped_when_the_application_first_imports_them() -> None:
    # openai loads chat completions, Responses (3.4 MiB) and embeddings on first use:
    # configure() imports none of them; each is wrapped (ours under the official
    # instrumentor's) when the application first uses it, and unwrapped by uninstrument
    out = run_py(DEFERRED, {**ENV, "OTEL_LLM_EXPORTER": "none"})
    assert out == {
        "at_setup": [],
        "after_chat": ["completions"],
        "chat": [[["chat", True]], 2],
        "responses": [[["chat", True]], 2],
        "off": [[], 0],
        "embeddings_off": 0,
        "again": [[["chat", True]], 2, 2],
    }
