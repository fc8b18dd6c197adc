"""Instructions per operation, counted by valgrind: stable where timings on a shared
machine are not.

Run: ``uv run python bench/bench_instructions.py TARGET [--n N]`` with TARGET one of

- ``call:<config>:<path>``: one SDK call as in ``bench_compare.py`` (config ``none``,
  ``otel-llm``, ``otel-llm-nowire``, ``genai-1.3b0``; path ``chat``, ``stream``,
  ``responses``, ``anthropic``, ``anthropic_stream``), after 40 warm-up calls; a config
  ending in ``-sdkoff`` gives the Anthropic client a no-op tracer provider, as ``none``
  does (anthropic 2.x's own tracing otherwise runs through the global provider);
- ``processor:<ours|noop>``: one GenAI chat span of ``bench_processor.py`` (request ID,
  user, tenant) through ``GenAISpanProcessor`` or a no-op processor;
- ``wire-dispatch:<openai|anthropic>``: the wire layer's dispatch of one fresh SDK request
  while the official instrumentation's span is open (what every chat call pays);
- ``part:<name>``: one piece of what the genai layers add, on fresh SDK spans: ``start``
  (start attributes), ``request-id`` (the provider request ID), ``usage`` (usage details
  of a chat completion), ``lookup`` (the official span looked up by the SDK layer, then
  by the wire layer), ``chat-chunk`` (one chunk through our tap and the official chat
  stream wrapper), ``stream-clock`` (the chunk clock of a stream the official wrappers
  read themselves).

Each target runs twice under ``valgrind --tool=cachegrind`` (N operations,
then 0, after the same warm-up); the difference over N is printed. All threads count.
The children run with ``PYTHONHASHSEED=0`` unless it is set: with a random seed, dict
and set layouts move counts by 0.1-0.3M per call between runs; with a fixed one a
repeated run of a processor target gives the same count to within 1k. A ``call`` target
also freezes the warm-up's heap (``gc.freeze``) and keeps the batch export thread's timer
out of the run (``OTEL_BSP_SCHEDULE_DELAY`` one hour, a flush at the end): whole calls
still spread by about 20-30k between runs of the same code at N=100. ``--cache-sim``
adds L1 instruction and data cache misses and last-level misses per operation
(valgrind's cache simulation).
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _call(config: str, path: str, n: int) -> None:
    sys.path.insert(0, str(HERE))
    import bench_compare as bc

    if config == "none":
        clients = bc.make_clients(anthropic_tracing=False)
    else:
        sdk_off = config.endswith("-sdkoff")
        config = config.removesuffix("-sdkoff")
        on, _off, _what = bc.SETUPS[config.removesuffix("-nowire")]()
        clients = bc.make_clients(anthropic_tracing=not sdk_off)
        on()
        if config.endswith("-nowire"):
            from otel_llm.genai import wire

            wire.uninstall()
    fn = bc.CALLS[path]
    for _ in range(40):
        fn(clients)
    # what the warm-up left is out of the collector's reach: a full collection walks the
    # whole heap (several M instructions), and whether one falls inside a run moves
    # with every allocation the code under test saves or adds
    gc.collect()
    gc.freeze()
    for _ in range(n):
        fn(clients)
    # every span exported in both runs: otherwise how many the batch thread exported
    # before the exit depends on how long valgrind took (0.1-0.2M per call of spread)
    from opentelemetry import trace

    flush = getattr(trace.get_tracer_provider(), "force_flush", None)
    if flush is not None:
        flush()


def _processor(which: str, n: int) -> None:
    sys.path.insert(0, str(HERE))
    import bench_processor as bp
    from opentelemetry.sdk.trace import SpanProcessor

    from otel_llm.config import Settings
    from otel_llm.context import RequestState, request_state
    from otel_llm.pricing import PriceBook
    from otel_llm.processor import GenAISpanProcessor

    settings = Settings(attribution_labels=("user", "tenant"), user_hash_key="bench-key")
    state = RequestState("req-bench", {"user": "alice", "tenant": "acme"})
    processor = (
        GenAISpanProcessor(settings, pricebook=PriceBook.load(None), downstream=SpanProcessor())
        if which == "ours"
        else SpanProcessor()
    )
    with request_state(state):
        one = bp._span_loop(processor, True)
        for _ in range(500 + n):
            one()


HEADERS = [  # what openai 3.54 sends
    (b"Host", b"api.openai.com"),
    (b"Accept-Encoding", b"gzip, deflate"),
    (b"Connection", b"keep-alive"),
    (b"authorization", b"Bearer bench"),
    (b"accept", b"application/json"),
    (b"content-type", b"application/json"),
    (b"user-agent", b"OpenAI/Python 3.54.0"),
    (b"x-stainless-lang", b"python"),
    (b"x-stainless-package-version", b"3.54.0"),
    (b"x-stainless-os", b"Linux"),
    (b"x-stainless-arch", b"x64"),
    (b"x-stainless-runtime", b"CPython"),
    (b"x-stainless-runtime-version", b"3.11.7"),
    (b"x-stainless-async", b"false"),
    (b"x-stainless-retry-count", b"0"),
    (b"x-stainless-read-timeout", b"600"),
]
BODY = (
    b'{"messages":[{"role":"system","content":"You are a terse assistant."},'
    b'{"role":"user","content":"Say twenty words."}],"model":"gpt-4o-mini"}'
)


def _wire_dispatch(provider: str, n: int) -> None:
    import httpx2
    from opentelemetry import context, trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.util.genai.invocation import CLIENT_INFERENCE_CONTEXT_KEY, InferenceData

    from otel_llm.genai import wire

    url = {
        "openai": "https://api.openai.com/v1/chat/completions",
        "anthropic": "https://api.anthropic.com/v1/messages",
    }[provider]
    wire.install()
    span = (
        TracerProvider()
        .get_tracer("bench")
        .start_span(
            "chat gpt-4o-mini",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": provider,
                "gen_ai.request.model": "gpt-4o-mini",
                "server.address": url.split("/")[2],
                "server.port": 443,
            },
        )
    )
    ctx = trace.set_span_in_context(span)
    context.attach(context.set_value(CLIENT_INFERENCE_CONTEXT_KEY, InferenceData(), ctx))
    # fresh requests in both runs, as the SDK makes one per call
    requests = [httpx2.Request("POST", url, headers=HEADERS, content=BODY) for _ in range(5200)]
    for request in requests[: 200 + n]:
        wire._guarded_begin(request)


def _part(name: str, n: int) -> None:
    """One piece of what the genai layers add per call (or per chunk), through entry points
    that keep their names across versions, so the same target measures an older
    ``otel_llm`` too (``PYTHONPATH=<its copy>``)."""
    sys.path.insert(0, str(HERE))
    import json

    import bench_compare as bc
    import openai
    from openai.types.chat import ChatCompletion, ChatCompletionChunk
    from opentelemetry import context, trace
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.util.genai.handler import TelemetryHandler
    from opentelemetry.util.genai.invocation import CLIENT_INFERENCE_CONTEXT_KEY, InferenceData

    from otel_llm.config import Settings
    from otel_llm.genai import _common, instrument_llm_sdks
    from otel_llm.genai import openai as layer
    from otel_llm.genai._streams import TappedStream

    provider = TracerProvider()
    instrument_llm_sdks(Settings(), tracer_provider=provider)
    tracer = provider.get_tracer("bench")
    start = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "server.address": "api.openai.com",
    }
    count = 200 + n
    made = 200 + 5000  # the same objects made in both runs, whatever N
    spans = iter([tracer.start_span("chat gpt-4o-mini", attributes=start) for _ in range(made)])
    resource = openai.OpenAI(api_key="bench").chat.completions
    one: Any
    if name == "start":

        def one() -> None:
            _common.set_start_attributes(next(spans), resource, False)

    elif name == "request-id":

        def one() -> None:
            _common.set_request_id(next(spans), "req_bench")

    elif name == "usage":
        usage = ChatCompletion.model_validate(json.loads(bc._completion())).usage

        def one() -> None:
            layer._add_cache_creation(next(spans), usage)

    elif name == "lookup":  # the SDK layer's look, then the wire layer's, in one context
        span = tracer.start_span("chat gpt-4o-mini", attributes=start)
        ctx = trace.set_span_in_context(span)
        context.attach(context.set_value(CLIENT_INFERENCE_CONTEXT_KEY, InferenceData(), ctx))
        look: Any = _common.current_genai_span
        try:
            look(remember=True)
        except TypeError:  # before the look was remembered
            look = lambda remember: _common.current_genai_span()  # noqa: E731

        def one() -> None:
            look(remember=True)
            _common.current_genai_span()
            _common._span_memo = getattr(_common, "_NO_MEMO", None)

    elif name in ("chat-chunk", "stream-clock"):
        handler = TelemetryHandler(tracer_provider=provider, meter_provider=NoOpMeterProvider())
        invocation = handler.inference("openai")
        invocation.suspend()
        if name == "stream-clock":

            def one() -> None:
                invocation._on_stream_chunk(5.0)

        else:
            from opentelemetry.instrumentation.genai.openai.chat_wrappers import (
                ChatStreamWrapper,
            )

            raw = {
                "id": "chatcmpl-bench",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "gpt-4o-mini",
                "choices": [{"index": 0, "delta": {"content": "word "}, "finish_reason": None}],
                "usage": None,
            }
            chunks = [ChatCompletionChunk.model_validate(raw) for _ in range(made)]
            tap = layer._ChatTap(trace.INVALID_SPAN, None, True)
            tapped = TappedStream(iter(chunks), tap, fast=True)
            wrapper = ChatStreamWrapper(tapped, invocation, True)  # type: ignore[arg-type]

            def one() -> None:
                next(wrapper)

    else:
        raise SystemExit(f"unknown part {name!r}")
    for _ in range(count):
        one()


def _child(target: str, n: int) -> None:
    kind, _, rest = target.partition(":")
    if kind == "call":
        config, path = rest.split(":")
        _call(config, path, n)
    elif kind == "processor":
        _processor(rest, n)
    elif kind == "wire-dispatch":
        _wire_dispatch(rest, min(n, 5000))
    elif kind == "part":
        _part(rest, min(n, 5000))
    else:
        raise SystemExit(f"unknown target {target!r}")
    os._exit(0)  # exit handlers (exporter shutdown) are not the operation's


_COUNTS = {
    "instructions": r"I\s+refs:\s+([\d,]+)",
    "L1 instruction misses": r"I1\s+misses:\s+([\d,]+)",
    "L1 data misses": r"D1\s+misses:\s+([\d,]+)",
    "last-level misses": r"LL\s+misses:\s+([\d,]+)",
}


def _count(target: str, n: int, cache_sim: bool = False) -> dict[str, int]:
    env = {**os.environ}
    env.setdefault("PYTHONHASHSEED", "0")
    # the batch export thread never wakes on its timer inside a run (it would export at
    # moments that depend on how long valgrind takes); _call flushes at the end instead
    env.setdefault("OTEL_BSP_SCHEDULE_DELAY", "3600000")
    out = subprocess.run(
        [
            "valgrind",
            "--tool=cachegrind",
            f"--cache-sim={'yes' if cache_sim else 'no'}",
            "--cachegrind-out-file=/dev/null",
            sys.executable,
            __file__,
            "--child",
            target,
            "--n",
            str(n),
        ],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    counts = {}
    for name, pattern in _COUNTS.items():
        found = re.search(pattern, out.stderr)
        if found is not None:
            counts[name] = int(found.group(1).replace(",", ""))
    if "instructions" not in counts:
        raise SystemExit(f"valgrind gave no count for {target} (n={n}):\n{out.stderr[-2000:]}")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target")
    parser.add_argument("--n", type=int, default=None, help="operations (default per target)")
    parser.add_argument(
        "--cache-sim",
        action="store_true",
        help="also L1 instruction and data cache misses (valgrind's cache simulation)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    defaults = {"call": 40, "processor": 3000, "wire-dispatch": 5000, "part": 5000}
    n: int = args.n if args.n is not None else defaults.get(args.target.partition(":")[0], 40)
    if args.child:
        _child(args.target, n)
        return
    with_n, without = _count(args.target, n, args.cache_sim), _count(args.target, 0, args.cache_sim)
    per_op = (with_n["instructions"] - without["instructions"]) / n / 1000
    print(f"{args.target}: {per_op:.1f}k instructions per operation")
    for name in list(with_n)[1:]:
        print(f"  {name}: {(with_n[name] - without[name]) / n / 1000:.2f}k per operation")


if __name__ == "__main__":
    main()
