"""Per-call overhead of otel-llm's LLM SDK instrumentation, next to the official
``opentelemetry-instrumentation-openai-v2`` 2.4b0.

The OpenAI SDK talks to an in-process ``httpx2.MockTransport`` (``http_client=``), so no
network is timed; spans go to an exporter that does nothing, so export is not timed.
Modes, each against its own uninstrumented baseline in the same process:

- ``otel-llm``: ``instrument_llm_sdks`` (official genai-openai 1.3b0 + our layer) and
  ``GenAISpanProcessor`` (pricing, Prometheus metrics) in front of a no-op exporter;
- ``openai-v2``: the official openai-v2 instrumentation with a no-op exporter. It does not
  import beside util-genai 1.3b0, so it runs in a separate venv
  (``~/.cache/otel-llm/bench-venv``, built with uv on first use) in a subprocess.

Baseline and instrumented blocks of ``--block`` calls alternate (measure, instrument,
measure, uninstrument...) and the medians of the paired block differences are reported:
short blocks keep a shared machine's drift out of the differences (300-call rounds let
a neighbour's build swing single differences by several hundred µs).

    uv run python bench/bench_overhead.py [--calls 300] [--rounds 7] [--block 25] [--json out.json]

``--wire`` adds the wire-format layer's figures: ``no-wire`` (everything but the wire
layer; ``otel-llm`` minus it is what the wire layer costs under an official span) and
``wire-own`` (the wire layer making its own span, streams read event by event).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_compare import (  # the same in-process provider bodies and openai-v2 venv
    MODEL,
    _completion,
    _noop_exporter,
    _openai_v2_setup,
    _stream,
    ensure_bench_venv,
)

# --- the in-process provider ------------------------------------------------------------


def make_client(chunked: bool = False) -> Any:
    """``chunked``: stream bodies arrive event by event (as over a socket) instead of
    pre-read, so the wire layer's stream tap is on the timed path."""
    import httpx2
    import openai

    completion = _completion()
    streams = {True: _stream(True), False: _stream(False)}
    headers = {"content-type": "application/json", "x-request-id": "req_bench"}
    sse_headers = {"content-type": "text/event-stream", "x-request-id": "req_bench"}

    def handler(request: Any) -> Any:
        body = request.content
        if b'"stream":true' in body.replace(b" ", b""):
            include = b'"include_usage":true' in body.replace(b" ", b"")
            if chunked:
                return httpx2.Response(200, stream=_Events(streams[include]), headers=sse_headers)
            return httpx2.Response(200, content=streams[include], headers=sse_headers)
        return httpx2.Response(200, content=completion, headers=headers)

    http_client = httpx2.Client(transport=httpx2.MockTransport(handler))
    return openai.OpenAI(api_key="bench", http_client=http_client, max_retries=0)


def _events_class() -> Any:
    import httpx2

    class Events(httpx2.SyncByteStream):
        def __init__(self, body: bytes) -> None:
            self.parts = [part + b"\n\n" for part in body.split(b"\n\n") if part]

        def __iter__(self) -> Any:
            yield from self.parts

    return Events


def _Events(body: bytes) -> Any:
    global _EVENTS
    if _EVENTS is None:
        _EVENTS = _events_class()
    return _EVENTS(body)


_EVENTS: Any = None


MESSAGES = [
    {"role": "system", "content": "You are a terse assistant."},
    {"role": "user", "content": "Say twenty words."},
]


def _call(client: Any) -> None:
    client.chat.completions.create(model=MODEL, messages=MESSAGES)


def _call_stream(client: Any) -> None:
    for _ in client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True):
        pass


CALLS: dict[str, Callable[[Any], None]] = {"chat": _call, "chat_stream": _call_stream}


def _time_per_call(fn: Callable[[Any], None], client: Any, calls: int) -> float:
    """CPU µs per call of this process: on a shared machine, time spent waiting for a
    core is not ours, and everything here (SDK, transport, telemetry) runs on-CPU."""
    gc.collect()
    start = time.process_time()
    for _ in range(calls):
        fn(client)
    return (time.process_time() - start) / calls * 1e6


# --- instrumentation setups -------------------------------------------------------------


def _otel_llm_setup() -> tuple[Callable[[], None], Callable[[], None], str]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from otel_llm.config import Settings
    from otel_llm.genai import instrument_llm_sdks, uninstrument_llm_sdks

    settings = Settings(exporter="none")
    provider = TracerProvider()
    downstream = SimpleSpanProcessor(_noop_exporter())
    what = "instrument_llm_sdks"
    try:
        from otel_llm.processor import GenAISpanProcessor

        provider.add_span_processor(GenAISpanProcessor(settings, downstream=downstream))
        what += " + GenAISpanProcessor"
    except ImportError:
        provider.add_span_processor(downstream)

    def on() -> None:
        instrument_llm_sdks(settings, tracer_provider=provider)

    return on, uninstrument_llm_sdks, what


def _official_only_setup() -> tuple[Callable[[], None], Callable[[], None], str]:
    """Breakdown: the official genai-openai 1.3b0 alone (no-op meter, no-op exporter)."""
    from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_noop_exporter()))

    def on() -> None:
        OpenAIInstrumentor().instrument(
            tracer_provider=provider, meter_provider=NoOpMeterProvider()
        )

    def off() -> None:
        OpenAIInstrumentor().uninstrument()

    return on, off, "opentelemetry-instrumentation-genai-openai 1.3b0 alone"


def _layer_no_fast_path_setup() -> tuple[Callable[[], None], Callable[[], None], str]:
    """Breakdown: instrument_llm_sdks without GenAISpanProcessor and with the official
    stream wrappers unpatched (the fast path's version check made to fail)."""
    from otel_llm.genai import _fastpath

    on, off, _ = _layer_only_setup()

    def on_without_fast_path() -> None:
        pinned = dict(_fastpath.PINNED)
        _fastpath.PINNED["opentelemetry-util-genai"] = "not-pinned"
        try:
            on()
        finally:
            _fastpath.PINNED.update(pinned)

    return on_without_fast_path, off, "instrument_llm_sdks alone, stream fast path off"


def _layer_only_setup() -> tuple[Callable[[], None], Callable[[], None], str]:
    """Breakdown: instrument_llm_sdks without GenAISpanProcessor."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from otel_llm.config import Settings
    from otel_llm.genai import instrument_llm_sdks, uninstrument_llm_sdks

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_noop_exporter()))

    def on() -> None:
        instrument_llm_sdks(Settings(exporter="none"), tracer_provider=provider)

    return on, uninstrument_llm_sdks, "instrument_llm_sdks alone"


def _no_wire_setup() -> tuple[Callable[[], None], Callable[[], None], str]:
    """Wire-path breakdown: instrument_llm_sdks + GenAISpanProcessor without the wire layer
    (the difference to ``otel-llm`` is what the wire layer adds under an official span)."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from otel_llm.config import Settings
    from otel_llm.genai import instrument_llm_sdks, uninstrument_llm_sdks
    from otel_llm.processor import GenAISpanProcessor

    settings = Settings(exporter="none")
    provider = TracerProvider()
    provider.add_span_processor(
        GenAISpanProcessor(settings, downstream=SimpleSpanProcessor(_noop_exporter()))
    )

    def on() -> None:
        instrument_llm_sdks(settings, tracer_provider=provider, wire_layer=False)

    return on, uninstrument_llm_sdks, "instrument_llm_sdks without the wire layer"


def _wire_own_setup() -> tuple[Callable[[], None], Callable[[], None], str]:
    """The wire layer alone making its own span (what a client with no official
    instrumentation gets: google-genai, litellm, cohere...), + GenAISpanProcessor;
    stream bodies arrive event by event, so the SSE tap is timed."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from otel_llm.config import Settings
    from otel_llm.genai import wire
    from otel_llm.processor import GenAISpanProcessor

    settings = Settings(exporter="none")
    provider = TracerProvider()
    provider.add_span_processor(
        GenAISpanProcessor(settings, downstream=SimpleSpanProcessor(_noop_exporter()))
    )

    def on() -> None:
        wire.install(tracer_provider=provider)

    return on, wire.uninstall, "wire layer's own span + GenAISpanProcessor (chunked streams)"


SETUPS = {
    "otel-llm": _otel_llm_setup,
    "no-wire": _no_wire_setup,
    "wire-own": _wire_own_setup,
    "openai-v2": _openai_v2_setup,
    "official": _official_only_setup,
    "layer": _layer_only_setup,
    "layer-nofast": _layer_no_fast_path_setup,
}


def measure(mode: str, calls: int, rounds: int, block: int = 25) -> dict[str, Any]:
    """Alternate baseline and instrumented blocks; medians in µs per call."""
    import importlib.metadata as md

    on, off, what = SETUPS[mode]()
    client = make_client(chunked=mode == "wire-own")
    for fn in CALLS.values():  # warm up imports, pools and caches on both paths
        _time_per_call(fn, client, 200)
        on()
        _time_per_call(fn, client, 200)
        off()
    results: dict[str, Any] = {"mode": mode, "what": what, "openai": md.version("openai")}
    for name, fn in CALLS.items():
        base: list[float] = []
        inst: list[float] = []
        for _ in range(rounds * max(1, calls // block)):
            base.append(_time_per_call(fn, client, block))
            on()
            inst.append(_time_per_call(fn, client, block))
            off()
        b, i = statistics.median(base), statistics.median(inst)
        overhead = statistics.median(x - y for x, y in zip(inst, base, strict=True))
        results[name] = {
            "baseline_us": b,
            "instrumented_us": i,
            "overhead_us": overhead,
            "ratio": statistics.median(x / y for x, y in zip(inst, base, strict=True)),
            "blocks": {"baseline": base, "instrumented": inst},
        }
    return results


# --- the openai-v2 venv -----------------------------------------------------------------


def run_openai_v2(calls: int, rounds: int, block: int) -> dict[str, Any]:
    python = ensure_bench_venv()
    out = subprocess.run(
        [
            str(python),
            __file__,
            "--worker",
            "openai-v2",
            "--calls",
            str(calls),
            "--rounds",
            str(rounds),
            "--block",
            str(block),
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd="/",  # keep the repository (and otel_llm) off its path
    )
    return json.loads(out.stdout)


# --- report -----------------------------------------------------------------------------


def report(ours: dict[str, Any], v2: dict[str, Any] | None, target: float) -> str:
    lines = [
        f"{'call':<12} {'mode':<10} {'baseline µs':>12} {'instr. µs':>10} "
        f"{'overhead µs':>12} {'ratio':>6}",
    ]
    for name in CALLS:
        for res in (ours, v2):
            if res is None:
                continue
            r = res[name]
            lines.append(
                f"{name:<12} {res['mode']:<10} {r['baseline_us']:>12.1f} "
                f"{r['instrumented_us']:>10.1f} {r['overhead_us']:>12.1f} {r['ratio']:>6.3f}"
            )
        if v2 is not None:
            mine, theirs = ours[name]["overhead_us"], v2[name]["overhead_us"]
            rel = mine / theirs if theirs > 0 else float("inf")
            verdict = "within" if rel <= target else "OVER"
            lines.append(
                f"{'':<12} otel-llm overhead / openai-v2 overhead = {rel:.2f}x "
                f"({verdict} the {target}x target)"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="calls per round (default 300)")
    parser.add_argument("--rounds", type=int, default=7, help="rounds per mode (default 7)")
    parser.add_argument(
        "--block", type=int, default=25, help="calls per alternating block (default 25)"
    )
    parser.add_argument(
        "--target", type=float, default=1.5, help="allowed overhead ratio vs openai-v2"
    )
    parser.add_argument("--skip-openai-v2", action="store_true", help="do not build/run the venv")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument(
        "--breakdown",
        nargs="*",
        default=["official", "layer", "layer-nofast"],
        choices=["official", "layer", "layer-nofast", "no-wire", "wire-own"],
        help="extra modes to show where the overhead comes from (default: all)",
    )
    parser.add_argument(
        "--wire",
        action="store_true",
        help="add the wire-path modes (no-wire, wire-own) to the breakdown",
    )
    parser.add_argument("--worker", choices=sorted(SETUPS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.calls < 1 or args.rounds < 1 or args.block < 1:
        parser.error("--calls, --rounds and --block must be positive")

    if args.worker:
        print(json.dumps(measure(args.worker, args.calls, args.rounds, args.block)))
        return 0

    ours = measure("otel-llm", args.calls, args.rounds, args.block)
    v2 = None if args.skip_openai_v2 else run_openai_v2(args.calls, args.rounds, args.block)
    modes = list(args.breakdown) + (["no-wire", "wire-own"] if args.wire else [])
    breakdown = [measure(m, args.calls, args.rounds, args.block) for m in dict.fromkeys(modes)]
    print(
        f"python {sys.version.split()[0]}, openai {ours['openai']}, "
        f"{args.rounds} rounds x {args.calls} calls in blocks of {args.block}, "
        "CPU µs per call, medians"
    )
    print(f"otel-llm: {ours['what']}; openai-v2: {v2['what'] if v2 else 'skipped'}")
    print(report(ours, v2, args.target))
    for res in breakdown:
        print(
            f"breakdown {res['what']}: "
            + ", ".join(
                f"{n} +{res[n]['overhead_us']:.1f} µs ({res[n]['ratio']:.3f}x)" for n in CALLS
            )
        )
    if args.json:
        raw = {"otel-llm": ours, "openai-v2": v2, "breakdown": breakdown}
        args.json.write_text(json.dumps(raw, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
