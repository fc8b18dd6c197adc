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
    prices = "genai_prices.data" in sys.modules  # openai imported: loaded at configure()
    now = [n for n in instrumented_sdks() if n != "llm-wire"]
    exporter = t.processor.downstream.span_exporter  # otel-llm's failure-reporting wrapper
    import anthropic  # the application imports it after configure(): instrumented then
    print(json.dumps({"loaded": loaded, "levels_kept": levels() == before, "prices": prices,
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
        "levels_kept": True,
        "prices": True,
        "before_import": ["openai"],
        "after_import": ["openai", "anthropic"],
        "exporter": "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    }


def test_grpc_is_imported_when_the_protocol_asks_for_it() -> None:
    out = run_py(PROBE, {**ENV, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    assert out["loaded"] == {"grpc": True, "anthropic": False, "fastapi": False}
    assert out["exporter"] == "opentelemetry.exporter.otlp.proto.grpc.trace_exporter"


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
    import httpx2  # the application imports an HTTP client: prices load then
    print(json.dumps({"loaded": loaded, "prices_after_client": "genai_prices.data" in sys.modules}))
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
        "prices_after_client": True,
    }
