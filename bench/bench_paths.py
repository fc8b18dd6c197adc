"""The one-step chat path and the lean invocation, on and off in one process.

Configurations run minutes apart in separate processes (``bench_compare.py``) carry the
machine's drift between them, which on this shared machine is as large as what one layer
saves. Here one process runs ``otel_llm.configure()``'s defaults and alternates blocks of
calls: uninstrumented, otel-llm with every call through the official wrappers' own
invocation (``_fastchat.Switch.on = False``), and otel-llm as it runs by default. The
medians of the paired block differences are printed, CPU time (``time.process_time``:
every thread of the process).

    uv run python bench/bench_paths.py [--path chat|responses|stream] [--pairs 60] [--block 20]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", choices=("chat", "responses", "stream"), default="chat")
    parser.add_argument("--pairs", type=int, default=60, help="rounds of the three blocks")
    parser.add_argument("--block", type=int, default=20, help="calls per block")
    args = parser.parse_args(argv)

    import bench_compare as bc

    from otel_llm.genai import _fastchat

    on, off, _ = bc._otel_llm_setup()
    on()
    clients = bc.make_clients()
    bare = bc.make_clients(anthropic_tracing=False)
    call = bc.CALLS[args.path]

    def block(target: Any) -> float:
        gc.collect()
        start = time.process_time()
        for _ in range(args.block):
            call(target)
        return (time.process_time() - start) / args.block * 1e6

    for _ in range(100):  # warm-up
        call(clients)
    none: list[float] = []
    official: list[float] = []
    ours: list[float] = []
    for _ in range(args.pairs):
        off()
        none.append(block(bare))
        on()
        _fastchat.Switch.on = False
        official.append(block(clients))
        _fastchat.Switch.on = True
        ours.append(block(clients))
    base = statistics.median(none)
    print(f"{args.path}: {args.pairs} rounds of {args.block} calls, CPU µs per call")
    print(f"  uninstrumented                 {base:8.1f}")
    for label, row in (("official invocation", official), ("otel-llm defaults", ours)):
        added = statistics.median(b - a for a, b in zip(none, row, strict=True))
        print(f"  {label:<30} {statistics.median(row):8.1f}  {added:+7.1f}")
    saved = [a - b for a, b in zip(official, ours, strict=True)]
    print(f"  saved per call (paired median)  {statistics.median(saved):+7.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
