"""What a steady stream of calls costs, garbage collection included, per configuration.

``bench_compare.py`` runs a full ``gc.collect()`` before each timed block, so the timed
calls pay for young collections only. A service never does: spans that wait in a batch
export queue survive the young collections, are promoted, and bring on full collections
over the whole heap (the SDKs' modules and models: about 220,000 objects here). This
script makes ``--calls`` calls in a row per configuration, each in a fresh process, after
a warm-up, and prints user and system CPU per call (``getrusage``), the collections per
generation and the time they took (``gc.callbacks``), and how many objects a queued span
keeps tracked by the collector (reachable from it alone).

Configurations are ``bench_compare.py``'s: ``none``, ``genai-1.3b0`` (the official
packages with ``SimpleSpanProcessor``: each span exported to nothing as it ends),
``genai-1.3b0-batch`` (the same with the SDK's ``BatchSpanProcessor``, as a production
set-up and otel-llm's defaults have it) and ``otel-llm`` (its defaults, no-op exporter).

    uv run python bench/bench_gc.py [--calls 8000] [--path chat] [--repeat 2]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MODES = ("none", "genai-1.3b0", "genai-1.3b0-batch", "otel-llm")


def _tracked_per_queued_span() -> float | None:
    """Collector-tracked objects reachable from one queued span and no other one."""
    queues = [o for o in gc.get_objects() if type(o).__name__ == "BatchProcessor"]
    spans = [s for q in queues for s in list(getattr(q, "_queue", ()))[:6]]
    if len(spans) < 2:
        return None

    def reach(root: Any) -> dict[int, Any]:
        seen: dict[int, Any] = {}
        stack = [root]
        while stack and len(seen) < 5000:
            o = stack.pop()
            if id(o) in seen or isinstance(o, type) or type(o).__name__ in ("module", "function"):
                continue
            seen[id(o)] = o
            stack.extend(gc.get_referents(o))
        return seen

    counts = []
    for span in spans:
        others: dict[int, Any] = {}
        for other in spans:
            if other is not span:
                others.update(reach(other))
        own = [o for k, o in reach(span).items() if k not in others]
        counts.append(sum(1 for o in own if gc.is_tracked(o)))
    return statistics.median(counts)


def child(mode: str, path: str, calls: int) -> dict[str, Any]:
    sys.path.insert(0, str(HERE))
    import bench_compare as bc

    clients = bc.make_clients()
    if mode != "none":
        on, _off, _what = bc.SETUPS[mode]()
        on()
    call = bc.CALLS[path]
    for _ in range(300):
        call(clients)
    stats = {g: [0, 0.0] for g in range(3)}
    started = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            entry = stats[info["generation"]]
            entry[0] += 1
            entry[1] += time.perf_counter() - started[0]

    gc.callbacks.append(on_gc)
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(calls):
        call(clients)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    gc.callbacks.remove(on_gc)
    for _ in range(6):  # spans in the queue to inspect, whenever the export timer last ran
        call(clients)
    return {
        "user_us": (r1.ru_utime - r0.ru_utime) / calls * 1e6,
        "sys_us": (r1.ru_stime - r0.ru_stime) / calls * 1e6,
        "collections": {g: c for g, (c, _) in stats.items()},
        "gc_us": {g: s / calls * 1e6 for g, (_, s) in stats.items()},
        "tracked_per_span": _tracked_per_queued_span(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=8000)
    parser.add_argument("--path", default="chat", choices=("chat", "stream", "responses"))
    parser.add_argument("--repeat", type=int, default=2, help="processes per configuration")
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.path, args.calls)))
        return 0
    sys.path.insert(0, str(HERE))
    from bench_compare import worker

    rows: dict[str, list[dict[str, Any]]] = {m: [] for m in MODES}
    for _ in range(args.repeat):  # configurations take turns
        for mode in MODES:
            child_args = ["--child", mode, "--path", args.path, "--calls", str(args.calls)]
            rows[mode].append(
                worker(
                    Path(sys.executable),
                    *child_args,
                    script=__file__,
                    OTEL_LLM_LOG_LEVEL="WARNING",
                    PYTHONWARNINGS="ignore",
                )
            )
    load = os.getloadavg()
    print(
        f"{args.calls} {args.path} calls in a row per process, {args.repeat} processes per "
        f"configuration; load average {load[0]:.1f}; medians"
    )
    print(
        f"{'config':<19}{'user µs':>9}{'sys µs':>8}{'+CPU':>7}"
        f"{'gen0/1/2 collections':>22}{'GC µs/call':>11}{'tracked/span':>13}"
    )
    base = None
    for mode in MODES:
        runs = rows[mode]
        user = statistics.median(r["user_us"] for r in runs)
        system = statistics.median(r["sys_us"] for r in runs)
        base = user + system if base is None else base
        counts = "/".join(
            str(statistics.median(r["collections"][str(g)] for r in runs)) for g in range(3)
        )
        gc_us = statistics.median(sum(r["gc_us"].values()) for r in runs)
        tracked = [r["tracked_per_span"] for r in runs if r["tracked_per_span"] is not None]
        per_span = f"{statistics.median(tracked):.0f}" if tracked else "-"
        print(
            f"{mode:<19}{user:>9.1f}{system:>8.1f}{user + system - base:>+7.0f}"
            f"{counts:>22}{gc_us:>11.1f}{per_span:>13}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
