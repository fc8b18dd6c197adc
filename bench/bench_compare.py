"""Per-call overhead and memory of otel-llm with its defaults, next to the official
OpenTelemetry instrumentations, in one run.

The OpenAI and Anthropic SDKs talk to an in-process ``httpx2.MockTransport``
(``http_client=``), so no network is timed; spans go to an exporter that does nothing, so
export is not timed. Configurations, each in its own subprocess:

- ``otel-llm``: plain ``otel_llm.configure()`` (the defaults: batch export, JSON logging,
  span-derived Prometheus metrics, request ID, pricing, provider from the endpoint), with
  a no-op span exporter in place of the OTLP one;
- ``openai-v2``: ``opentelemetry-instrumentation-openai-v2`` 2.4b0 (chat completions
  only). It does not import beside util-genai 1.3b0, so it runs in its own venv
  (``~/.cache/otel-llm/bench-venv``, built with uv on first use);
- ``genai-1.3b0``: the official ``opentelemetry-instrumentation-genai-openai`` and
  ``-genai-anthropic`` 1.3b0 alone (the newer official packages otel-llm builds on; the
  only official instrumentation of the Responses API and of Anthropic);
- ``otel-llm-nofast`` (``--breakdown``): otel-llm with its fast paths over the official
  packages off (the official wrappers' own code for every call);
- ``genai-1.3b0-batch`` (``--breakdown``): the official packages with the SDK's
  ``BatchSpanProcessor`` (as otel-llm's defaults) instead of ``SimpleSpanProcessor``;
- ``openllmetry`` and ``openlit`` (``--others``), each in its own venv
  (``~/.cache/otel-llm/bench-<name>-venv``): OpenLLMetry's
  ``opentelemetry-instrumentation-openai``/``-anthropic`` 0.62.4 on the same SDKs, and
  ``openlit.init()`` 1.45.0, which requires openai < 3 and anthropic < 1 (its venv has
  openai 2.54 and anthropic 0.125 over ``httpx``). Both with their defaults (message
  content captured), an SDK batch processor over a no-op exporter and metrics recorded
  in memory; OpenLIT's events go to a no-op exporter instead of its console default,
  and its prices come from a file (it fetches them over the network otherwise). Neither
  uninstruments cleanly, so their wrappers are switched off and on between blocks.

Paths: ``chat`` and ``stream`` (chat completions, 22-23 chunks), ``responses`` (Responses
API), ``anthropic`` (messages) and ``anthropic_stream`` (messages, stream=True, 20 text
deltas). In each subprocess baseline and instrumented blocks of ``--block`` calls
alternate (measure, instrument, measure, uninstrument, ...) and the medians of the paired
block differences are reported, wall time and CPU time (``time.process_time``, every
thread of the process: a batch exporter's thread counts). Peak RSS (``ru_maxrss``) is
measured per configuration in a fresh subprocess that imports the SDKs, sets the
configuration up (otel-llm: the default OTLP/HTTP exporter, sending to a loopback sink
that accepts everything) and makes
``--rss-calls`` calls on every path; ``none`` is the same process uninstrumented.

    uv run python bench/bench_compare.py [--calls 200] [--rounds 5] [--block 20]
        [--passes 1] [--breakdown] [--skip-openai-v2] [--others] [--json out.json]

``--passes N`` runs every configuration's timing N times, one configuration after
another in each pass, and shows the medians over the passes and, pass by pass,
otel-llm's overhead over the official package's: configurations run minutes apart in
separate processes, and the spread of those ratios shows the machine's drift.
"""

from __future__ import annotations

import argparse
import compileall
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH_VENV = Path(
    os.environ.get("OTEL_LLM_BENCH_VENV", "~/.cache/otel-llm/bench-venv")
).expanduser()
OPENAI_V2_PINS = (
    "openai==3.54.0",
    "opentelemetry-instrumentation-openai-v2==2.4b0",
    "opentelemetry-util-genai==1.1b0",
    "opentelemetry-sdk==1.45.2",
    "opentelemetry-api==1.45.2",
    "httpx==0.28.1",  # openai-v2 imports httpx although openai 3.x uses httpx2
)
# ``--others``: the two best-known third-party instrumentations, each in its own venv.
# OpenLLMetry runs on the SDKs this project pins; OpenLIT 1.45.0 requires openai < 3 and
# anthropic < 1, so its venv has the newest releases below those (its rows are measured
# against its own venv's uninstrumented calls, as every row is).
OTHER_PINS: dict[str, tuple[str, ...]] = {
    "openllmetry": (
        "openai==3.54.0",
        "anthropic==2.12.0",
        "opentelemetry-instrumentation-openai==0.62.4",
        "opentelemetry-instrumentation-anthropic==0.62.4",
        "opentelemetry-sdk==1.45.2",
        "opentelemetry-api==1.45.2",
    ),
    "openlit": ("openlit==1.45.0", "openai==2.54.0", "anthropic==0.125.0"),
}
MODEL = "gpt-4o-mini"
CLAUDE = "claude-sonnet-4-6"  # not on the SDK's deprecated list (its warning re-printed per block)
N_CHUNKS = 20
PATHS = ("chat", "stream", "responses", "anthropic", "anthropic_stream")
SUPPORTED = {
    "otel-llm": PATHS,
    "otel-llm-nofast": ("stream",),
    "genai-1.3b0": PATHS,
    "genai-1.3b0-batch": PATHS,
    "openai-v2": ("chat", "stream"),
    "openllmetry": PATHS,
    "openlit": PATHS,
    "none": PATHS,
}
OFFICIAL = {  # the official instrumentation each path is held against
    "chat": "openai-v2",
    "stream": "openai-v2",
    "responses": "genai-1.3b0",
    "anthropic": "genai-1.3b0",
    "anthropic_stream": "genai-1.3b0",
}


# --- the in-process providers ----------------------------------------------------------


def _usage() -> dict[str, Any]:
    return {
        "prompt_tokens": 12,
        "completion_tokens": 20,
        "total_tokens": 32,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def _completion() -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1,
            "model": MODEL,
            "system_fingerprint": "fp_bench",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "word " * 20, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(),
        }
    ).encode()


def _sse(events: list[tuple[str | None, dict[str, Any]]], done: bool) -> bytes:
    out = b""
    for name, data in events:
        if name:
            out += b"event: " + name.encode() + b"\n"
        out += b"data: " + json.dumps(data).encode() + b"\n\n"
    return out + (b"data: [DONE]\n\n" if done else b"")


def _stream(include_usage: bool) -> bytes:
    def chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:
            data["usage"] = None
        return data

    events = [chunk({"role": "assistant", "content": ""}, None)]
    events += [chunk({"content": " word"}, None) for _ in range(N_CHUNKS)]
    events.append(chunk({}, "stop"))
    if include_usage:
        final = chunk({}, None)
        final["choices"] = []
        final["usage"] = {"prompt_tokens": 12, "completion_tokens": 20, "total_tokens": 32}
        events.append(final)
    return _sse([(None, e) for e in events], done=True)


def _response() -> bytes:
    return json.dumps(
        {
            "id": "resp_bench",
            "object": "response",
            "created_at": 1,
            "status": "completed",
            "model": MODEL,
            "output": [
                {
                    "type": "message",
                    "id": "msg_bench",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "word " * 20, "annotations": []}],
                }
            ],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": {
                "input_tokens": 12,
                "output_tokens": 20,
                "total_tokens": 32,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens_details": {"reasoning_tokens": 0},
            },
        }
    ).encode()


def _message() -> bytes:
    return json.dumps(
        {
            "id": "msg_bench",
            "type": "message",
            "role": "assistant",
            "model": CLAUDE,
            "content": [{"type": "text", "text": "word " * 20}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": 12,
                "output_tokens": 20,
                "cache_read_input_tokens": 0,
                "cache_creation_input_tokens": 0,
            },
        }
    ).encode()


def _message_stream() -> bytes:
    usage = {"input_tokens": 12, "output_tokens": 1, "cache_read_input_tokens": 0}
    start = {"id": "msg_bench", "type": "message", "role": "assistant", "model": CLAUDE}
    start |= {"content": [], "stop_reason": None, "stop_sequence": None, "usage": usage}
    events: list[tuple[str | None, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
    ]
    delta = {"type": "text_delta", "text": " word"}
    events += [
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
        for _ in range(N_CHUNKS)
    ]
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 20},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return _sse(events, done=False)


def _http_module(sdk: Any) -> Any:
    """The HTTP client library ``sdk`` (the openai or anthropic module) is built on:
    ``httpx2`` for openai 3.x / anthropic 2.x, ``httpx`` for the earlier majors."""
    import importlib

    base = next(c for c in sdk.DefaultHttpxClient.__mro__ if c.__name__ == "Client")
    return importlib.import_module(base.__module__.split(".")[0])


def mock_http_client(httpx2: Any = None) -> Any:
    """A client of ``httpx2`` (or the module given, of the same API: ``httpx`` for the
    SDKs' earlier majors) over an in-process ``MockTransport`` that answers chat
    completions (plain, and streamed with or without the usage chunk), Responses and
    Anthropic messages (plain and streamed) with the bodies above."""
    if httpx2 is None:
        import httpx2

    completion, response, message = _completion(), _response(), _message()
    streams = {True: _stream(True), False: _stream(False)}
    message_stream = _message_stream()
    json_headers = {"content-type": "application/json", "x-request-id": "req_bench"}
    sse_headers = {"content-type": "text/event-stream", "x-request-id": "req_bench"}

    def handler(request: Any) -> Any:
        body = request.content.replace(b" ", b"")
        stream = b'"stream":true' in body
        path = request.url.path
        if path.endswith("/messages"):
            if stream:
                return httpx2.Response(200, content=message_stream, headers=sse_headers)
            return httpx2.Response(200, content=message, headers=json_headers)
        if path.endswith("/responses"):
            return httpx2.Response(200, content=response, headers=json_headers)
        if stream:
            include = b'"include_usage":true' in body
            return httpx2.Response(200, content=streams[include], headers=sse_headers)
        return httpx2.Response(200, content=completion, headers=json_headers)

    return httpx2.Client(transport=httpx2.MockTransport(handler))


def make_clients(*, anthropic_tracing: bool = True) -> tuple[Any, Any]:
    """(OpenAI client, Anthropic client or None where anthropic is not installed).

    anthropic 2.x traces itself through the global tracer provider once one is set (as
    ``configure()`` does). An application without tracing has no SDK provider, so its
    client's spans are no-ops: ``anthropic_tracing=False`` gives the client a no-op
    provider, the baseline of a process in which ``configure()`` has run."""
    import openai

    oai = openai.OpenAI(
        api_key="bench", http_client=mock_http_client(_http_module(openai)), max_retries=0
    )
    try:
        import anthropic
    except ImportError:
        return oai, None
    extra: dict[str, Any] = {}
    if int(anthropic.__version__.split(".")[0]) >= 2:  # the first major that traces itself
        extra["open_telemetry"] = None
        if not anthropic_tracing:
            from opentelemetry.trace import NoOpTracerProvider

            extra["open_telemetry"] = {"tracer_provider": NoOpTracerProvider()}
    claude = anthropic.Anthropic(
        api_key="bench",
        http_client=mock_http_client(_http_module(anthropic)),
        max_retries=0,
        **extra,
    )
    return oai, claude


MESSAGES = [
    {"role": "system", "content": "You are a terse assistant."},
    {"role": "user", "content": "Say twenty words."},
]
CLAUDE_MESSAGES = [{"role": "user", "content": "Say twenty words."}]


def _chat(clients: tuple[Any, Any]) -> None:
    clients[0].chat.completions.create(model=MODEL, messages=MESSAGES)


def _chat_stream(clients: tuple[Any, Any]) -> None:
    for _ in clients[0].chat.completions.create(model=MODEL, messages=MESSAGES, stream=True):
        pass


def _responses(clients: tuple[Any, Any]) -> None:
    clients[0].responses.create(model=MODEL, input="Say twenty words.")


def _anthropic(clients: tuple[Any, Any]) -> None:
    clients[1].messages.create(model=CLAUDE, max_tokens=64, messages=CLAUDE_MESSAGES)


def _anthropic_stream(clients: tuple[Any, Any]) -> None:
    for _ in clients[1].messages.create(
        model=CLAUDE, max_tokens=64, messages=CLAUDE_MESSAGES, stream=True
    ):
        pass


CALLS: dict[str, Callable[[tuple[Any, Any]], None]] = {
    "chat": _chat,
    "stream": _chat_stream,
    "responses": _responses,
    "anthropic": _anthropic,
    "anthropic_stream": _anthropic_stream,
}


def _time_block(fn: Callable[[Any], None], clients: Any, calls: int) -> tuple[float, float]:
    """(wall µs, CPU µs) per call over ``calls`` calls."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        fn(clients)
    return (
        (time.perf_counter() - wall) / calls * 1e6,
        (time.process_time() - cpu) / calls * 1e6,
    )


# --- configurations -------------------------------------------------------------------


def _noop_exporter() -> Any:
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class NoopExporter(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    return NoopExporter()


Setup = tuple[Callable[[], None], Callable[[], None], str]


def _otel_llm_setup(fast_path: bool = True, exporter: Any = "noop") -> Setup:
    import otel_llm
    from otel_llm.genai import _fastpath, instrument_llm_sdks, uninstrument_llm_sdks
    from otel_llm.web import instrument_web, uninstrument_web

    span_exporter = _noop_exporter() if exporter == "noop" else None
    telemetry = otel_llm.configure("bench", span_exporter=span_exporter)

    def on() -> None:
        pinned = dict(_fastpath.PINNED)
        if not fast_path:
            _fastpath.PINNED["opentelemetry-util-genai"] = "not-pinned"
        try:
            instrument_web(telemetry)
            instrument_llm_sdks(telemetry.settings, tracer_provider=telemetry.tracer_provider)
        finally:
            _fastpath.PINNED.update(pinned)

    def off() -> None:
        uninstrument_llm_sdks()
        uninstrument_web()

    what = "otel_llm.configure() defaults" + ("" if fast_path else ", fast paths off")
    return on, off, what


def _genai_official_setup(batch: bool = False) -> Setup:
    from opentelemetry.instrumentation.genai.anthropic import AnthropicInstrumentor
    from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider()
    # SimpleSpanProcessor: each span is exported (to nothing) as it ends and its memory
    # reused at once; ``batch``: the SDK's BatchSpanProcessor, as otel-llm's defaults and a
    # production set-up have it, which keeps up to a batch of ended spans alive
    processor = BatchSpanProcessor if batch else SimpleSpanProcessor
    provider.add_span_processor(processor(_noop_exporter()))
    instrumentors = (OpenAIInstrumentor(), AnthropicInstrumentor())

    def on() -> None:
        for i in instrumentors:
            i.instrument(tracer_provider=provider, meter_provider=NoOpMeterProvider())

    def off() -> None:
        for i in instrumentors:
            i.uninstrument()

    what = "opentelemetry-instrumentation-genai-openai/-anthropic 1.3b0"
    return on, off, what + (", BatchSpanProcessor" if batch else "")


def _openai_v2_setup() -> Setup:
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_noop_exporter()))

    def on() -> None:
        OpenAIInstrumentor().instrument(tracer_provider=provider)

    def off() -> None:
        OpenAIInstrumentor().uninstrument()

    return on, off, "opentelemetry-instrumentation-openai-v2 2.4b0"


def _third_party_providers(set_global: bool) -> tuple[Any, Any]:
    """What a production set-up of a third-party instrumentation has: an SDK tracer
    provider with the batch processor over a no-op exporter, and an SDK meter provider
    whose reader keeps what is recorded in memory (their metrics are recorded, as
    otel-llm's are, and not exported); ``set_global``: set as the global providers too
    (OpenLIT uses global providers it finds instead of making its own)."""
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(_noop_exporter()))
    meters = MeterProvider(metric_readers=[InMemoryMetricReader()])
    if set_global:
        trace.set_tracer_provider(provider)
        metrics.set_meter_provider(meters)
    return provider, meters


def _openllmetry_setup() -> Setup:
    from opentelemetry.instrumentation.anthropic import (  # type: ignore[import-not-found]
        AnthropicInstrumentor,
    )
    from opentelemetry.instrumentation.openai import (  # type: ignore[import-not-found]
        OpenAIInstrumentor,
    )

    provider, meters = _third_party_providers(set_global=False)
    for i in (OpenAIInstrumentor(), AnthropicInstrumentor()):
        i.instrument(tracer_provider=provider, meter_provider=meters)
    # its uninstrument() leaves a chat completions wrapper in place: toggled as OpenLIT's
    on, off = _wrapt_toggle(("openai", "anthropic"))
    off()
    return on, off, "OpenLLMetry opentelemetry-instrumentation-openai/-anthropic 0.62.4"


def _wrapt_toggle(prefixes: tuple[str, ...]) -> tuple[Callable[[], None], Callable[[], None]]:
    """Turn wrapt wrappers installed on the classes and functions of the modules under
    ``prefixes`` off and on again, for an instrumentation whose ``uninstrument`` does
    nothing (OpenLIT's): the wrappers found now are remembered with what they wrap."""
    import inspect

    import wrapt

    proxy = getattr(wrapt, "BaseObjectProxy", wrapt.ObjectProxy)  # wrapt 2 / 1
    found: list[tuple[Any, str, Any]] = []
    for name, module in list(sys.modules.items()):
        if module is None or not (name in prefixes or name.startswith(prefixes)):
            continue
        owners = [module] + [
            c
            for c in vars(module).values()
            if inspect.isclass(c) and getattr(c, "__module__", None) == name
        ]
        for owner in owners:
            for attr, value in list(vars(owner).items()):
                if isinstance(value, proxy):
                    found.append((owner, attr, value))
    if not found:
        raise RuntimeError(f"no wrappers found under {prefixes}")

    def on() -> None:
        for owner, attr, wrapper in found:
            setattr(owner, attr, wrapper)

    def off() -> None:
        for owner, attr, wrapper in found:
            setattr(owner, attr, wrapper.__wrapped__)

    return on, off


def _openlit_setup() -> Setup:
    import tempfile

    import openlit  # type: ignore[import-not-found]
    from opentelemetry import _logs
    from opentelemetry.sdk import _logs as sdk_logs
    from opentelemetry.sdk._logs import export as log_export

    _third_party_providers(set_global=True)
    # its events (one per call, with the messages by default) go to a global SDK logger
    # provider it finds, exporting to nothing, instead of its own console exporter
    base = getattr(log_export, "LogRecordExporter", None) or log_export.LogExporter

    class NoopLogExporter(base):  # type: ignore[misc,valid-type]
        def export(self, batch: Any) -> Any:
            return log_export.LogExportResult.SUCCESS  # type: ignore[attr-defined]

        def shutdown(self) -> None:
            pass

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return True

    logs = sdk_logs.LoggerProvider()
    logs.add_log_record_processor(log_export.BatchLogRecordProcessor(NoopLogExporter()))
    _logs.set_logger_provider(logs)
    # OpenLIT fetches its price list over the network unless given a file: the bench's
    # models at their list prices (USD per 1k tokens, OpenLIT's format)
    prices = {
        "chat": {
            MODEL: {"promptPrice": 0.00015, "completionPrice": 0.0006},
            CLAUDE: {"promptPrice": 0.003, "completionPrice": 0.015},
        }
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(prices, f)
    openlit.init(pricing_json=f.name, collect_gpu_stats=False)
    on, off = _wrapt_toggle(("openai", "anthropic", "httpx"))
    off()
    return on, off, "OpenLIT 1.45.0 (openlit.init() defaults, its own price list)"


SETUPS: dict[str, Callable[[], Setup]] = {
    "otel-llm": _otel_llm_setup,
    "otel-llm-nofast": lambda: _otel_llm_setup(fast_path=False),
    "genai-1.3b0": _genai_official_setup,
    "genai-1.3b0-batch": lambda: _genai_official_setup(batch=True),
    "openai-v2": _openai_v2_setup,
    "openllmetry": _openllmetry_setup,
    "openlit": _openlit_setup,
}


def measure(mode: str, calls: int, rounds: int, block: int) -> dict[str, Any]:
    """Alternate baseline and instrumented blocks; medians in µs per call."""
    import importlib.metadata as md

    clients = make_clients()
    bare = make_clients(anthropic_tracing=False)
    paths = [p for p in SUPPORTED[mode] if clients[1] is not None or "anthropic" not in p]
    on, off, what = SETUPS[mode]()
    for name in paths:  # warm up imports, pools and caches on both sides
        _time_block(CALLS[name], bare, 50)
        on()
        _time_block(CALLS[name], clients, 50)
        off()
    results: dict[str, Any] = {"mode": mode, "what": what, "openai": md.version("openai")}
    for name in paths:
        base: list[tuple[float, float]] = []
        inst: list[tuple[float, float]] = []
        for _ in range(rounds * max(1, calls // block)):
            base.append(_time_block(CALLS[name], bare, block))
            on()
            inst.append(_time_block(CALLS[name], clients, block))
            off()
        row: dict[str, Any] = {}
        for k, label in ((0, "wall"), (1, "cpu")):
            b = [x[k] for x in base]
            i = [x[k] for x in inst]
            row[label] = {
                "baseline_us": statistics.median(b),
                "instrumented_us": statistics.median(i),
                "overhead_us": statistics.median(y - x for x, y in zip(b, i, strict=True)),
            }
        results[name] = row
    return results


def rss(mode: str, calls: int) -> dict[str, Any]:
    """Peak RSS after setting ``mode`` up and making ``calls`` calls on each path."""
    if mode.startswith("otel-llm"):
        os.environ.setdefault("OTEL_LLM_LOG_LEVEL", "WARNING")  # no start-up line in the JSON
        on, _, what = _otel_llm_setup(exporter="default")
        on()
    elif mode != "none":
        on, _, what = SETUPS[mode]()
        on()
    else:
        what = "uninstrumented"
    clients = make_clients()
    for name in SUPPORTED["none"]:
        if clients[1] is None and "anthropic" in name:
            continue
        for _ in range(calls):
            CALLS[name](clients)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"mode": mode, "what": what, "peak_rss_mib": round(peak, 1), "modules": len(sys.modules)}


# --- subprocesses and venvs -----------------------------------------------------------


def ensure_bytecode(python: Path) -> None:
    """Compile the venv's packages once: with PYTHONDONTWRITEBYTECODE set (as here) every
    import compiles from source, which inflates start-up time and peak RSS (a 1.6 MB data
    module alone peaks at +80 MiB), unlike an installed package."""
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    marker = Path(purelib) / ".otel-llm-bench-compiled"
    if not marker.exists():
        compileall.compile_dir(purelib, quiet=2, workers=2)
        marker.write_text("")


def ensure_bench_venv(venv: Path = BENCH_VENV, pins: tuple[str, ...] = OPENAI_V2_PINS) -> Path:
    """A venv at ``venv`` with exactly ``pins`` (built with uv when they change)."""
    python = venv / "bin" / "python"
    marker = venv / ".pins"
    text = "\n".join(pins)
    if not (python.exists() and marker.exists() and marker.read_text() == text):
        subprocess.run(["uv", "venv", "-q", "--clear", "--python", "3.11", str(venv)], check=True)
        subprocess.run(["uv", "pip", "install", "-q", "--python", str(python), *pins], check=True)
        marker.write_text(text)
    return python


def other_venv(name: str) -> Path:
    """The venv of a third-party instrumentation of ``--others``."""
    return ensure_bench_venv(BENCH_VENV.with_name(f"bench-{name}-venv"), OTHER_PINS[name])


def otlp_sink() -> str:
    """A loopback OTLP/HTTP endpoint that accepts every export (a Collector that is up)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Sink(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def worker(python: Path, *args: str, script: str = __file__, **extra_env: str) -> dict[str, Any]:
    """The last JSON line ``script`` (this one by default) prints when run with ``args``
    by ``python``, without the caller's OTEL_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")} | extra_env
    out = subprocess.run(
        [str(python), script, *args],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        # the other venv must not see the repository (and otel_llm) on its path
        cwd="/" if python != Path(sys.executable) else None,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


# --- report ---------------------------------------------------------------------------


def merge_passes(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One configuration's timing passes: medians of each figure over the passes, and
    each pass's CPU overhead per path under ``passes``."""
    merged: dict[str, Any] = {k: v for k, v in runs[0].items() if not isinstance(v, dict)}
    for name in PATHS:
        rows = [run[name] for run in runs if name in run]
        if not rows:
            continue
        merged[name] = {
            label: {
                key: statistics.median(row[label][key] for row in rows)
                for key in ("baseline_us", "instrumented_us", "overhead_us")
            }
            for label in ("wall", "cpu")
        }
        merged[name]["passes"] = [row["cpu"]["overhead_us"] for row in rows]
    return merged


def pass_ratios(results: dict[str, dict[str, Any]]) -> str:
    """otel-llm's CPU overhead over each official configuration's, pass by pass."""
    lines = ["otel-llm / official, CPU overhead, pass by pass:"]
    ours = results.get("otel-llm", {})
    for name in PATHS:
        row = ours.get(name)
        for official in dict.fromkeys(("genai-1.3b0", "genai-1.3b0-batch", OFFICIAL[name])):
            theirs = results.get(official, {}).get(name)
            if row is None or theirs is None:
                continue
            ratios = [
                f"{a / b:.2f}x ({a:+.0f}/{b:+.0f})" if b > 0 else "n/a"
                for a, b in zip(row["passes"], theirs["passes"], strict=True)
            ]
            lines.append(f"  {name:<17}{official:<19}" + "  ".join(ratios))
    return "\n".join(lines)


def report(results: dict[str, dict[str, Any]], rss_rows: dict[str, dict[str, Any]]) -> str:
    lines = [
        "µs per call: medians of paired block differences; overhead = instrumented - its "
        "own baseline",
        f"{'path':<17}{'config':<19}{'base wall':>10}{'+wall':>8}{'+CPU':>8}"
        f"{'ratio CPU':>10}{'vs official':>13}",
    ]
    for name in PATHS:
        official = OFFICIAL[name]
        ref = results.get(official, {}).get(name)
        for mode, res in results.items():
            row = res.get(name)
            if row is None:
                continue
            wall, cpu = row["wall"], row["cpu"]
            ratio = cpu["instrumented_us"] / cpu["baseline_us"]
            versus = ""
            if ref is not None and mode != official and not mode.startswith(("genai", "openai")):
                theirs = ref["cpu"]["overhead_us"]
                versus = f"{cpu['overhead_us'] / theirs:.2f}x" if theirs > 0 else "n/a"
            lines.append(
                f"{name:<17}{mode:<19}{wall['baseline_us']:>10.0f}{wall['overhead_us']:>+8.0f}"
                f"{cpu['overhead_us']:>+8.0f}{ratio:>10.3f}{versus:>13}"
            )
    lines.append("")
    lines.append(f"{'peak RSS':<28}{'MiB':>7}{'+ over none':>12}{'modules':>9}")
    for venv, rows in rss_rows.items():
        base = rows.get("none", {}).get("peak_rss_mib")
        for mode, row in rows.items():
            plus = "" if base is None or mode == "none" else f"{row['peak_rss_mib'] - base:+.1f}"
            label = f"{mode} ({venv})"
            lines.append(f"{label:<28}{row['peak_rss_mib']:>7.1f}{plus:>12}{row['modules']:>9}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per round (default 200)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per path (default 5)")
    parser.add_argument("--block", type=int, default=20, help="calls per block (default 20)")
    parser.add_argument("--rss-calls", type=int, default=200, help="calls per path for RSS")
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also the fast paths off, and the official batch set-up",
    )
    parser.add_argument("--skip-openai-v2", action="store_true", help="do not build/run the venv")
    parser.add_argument(
        "--others", action="store_true", help="also OpenLLMetry and OpenLIT, each in its venv"
    )
    parser.add_argument(
        "--passes",
        type=int,
        default=1,
        help="timing passes over every configuration, one after another (medians shown)",
    )
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--worker", choices=sorted(SETUPS), help=argparse.SUPPRESS)
    parser.add_argument("--rss", choices=[*sorted(SETUPS), "none"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.calls, args.rounds, args.block, args.passes) < 1:
        parser.error("--calls, --rounds, --block and --passes must be positive")

    if args.worker:
        print(json.dumps(measure(args.worker, args.calls, args.rounds, args.block)))
        return 0
    if args.rss:
        print(json.dumps(rss(args.rss, args.rss_calls)))
        return 0

    here = Path(sys.executable)
    ensure_bytecode(here)
    timing = ["--calls", str(args.calls), "--rounds", str(args.rounds), "--block", str(args.block)]
    modes = ["otel-llm", "genai-1.3b0"]
    if args.breakdown:
        modes += ["otel-llm-nofast", "genai-1.3b0-batch"]
    venvs: dict[str, tuple[Path, list[str]]] = {"ours": (here, modes)}
    if not args.skip_openai_v2:
        v2 = ensure_bench_venv()
        ensure_bytecode(v2)
        venvs["openai-v2 venv"] = (v2, ["openai-v2"])
    if args.others:
        for name in OTHER_PINS:
            python = other_venv(name)
            ensure_bytecode(python)
            venvs[f"{name} venv"] = (python, [name])
    results: dict[str, dict[str, Any]] = {}
    rss_rows: dict[str, dict[str, Any]] = {}
    sink = otlp_sink()
    for venv, (python, venv_modes) in venvs.items():
        rss_rows[venv] = {}
        for mode in ["none", *venv_modes]:
            if mode not in ("otel-llm-nofast", "genai-1.3b0-batch"):
                rss_rows[venv][mode] = worker(
                    python,
                    *("--rss", mode, "--rss-calls", str(args.rss_calls)),
                    OTEL_EXPORTER_OTLP_ENDPOINT=sink,
                )
    # timing passes: every configuration once per pass, passes one after another, so
    # drift between configurations shows as the spread of the per-pass ratios
    passes: dict[str, list[dict[str, Any]]] = {}
    for _ in range(args.passes):
        for python, venv_modes in venvs.values():
            for mode in venv_modes:
                passes.setdefault(mode, []).append(worker(python, "--worker", mode, *timing))
    for mode, runs in passes.items():
        results[mode] = merge_passes(runs)
    load = os.getloadavg()
    print(
        f"python {sys.version.split()[0]}, openai {results['otel-llm']['openai']}, "
        f"{args.rounds} rounds x {args.calls} calls per path in blocks of {args.block}; "
        f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} CPUs"
    )
    for mode, res in results.items():
        print(f"  {mode}: {res['what']} (openai {res['openai']})")
    print(report(results, rss_rows))
    if args.passes > 1:
        print(pass_ratios(results))
    if args.json:
        args.json.write_text(json.dumps({"timing": results, "rss": rss_rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
