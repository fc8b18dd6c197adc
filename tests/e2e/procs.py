"""Start the project's commands as real processes on free loopback ports."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from tests.integration.backends import free_port, http_ok, stop_process, wait_ready

__all__ = ["BIN", "ROOT", "free_port", "mock_llm", "process"]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@contextmanager
def process(
    args: list[str], ready_url: str, env: Mapping[str, str] | None = None, log: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    out = log.open("wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen(args, env=full_env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_ready(proc, lambda: http_ok(ready_url), 30.0, what=args[0])
        yield proc
    finally:
        stop_process(proc, 10)
        if log:
            out.close()  # type: ignore[union-attr]


@contextmanager
def mock_llm(tmp: Path) -> Iterator[str]:
    port = free_port()
    with process(
        [str(BIN / "otel-llm"), "mock-llm", "--port", str(port), "--latency-scale", "0.02"],
        f"http://127.0.0.1:{port}/healthz",
        log=tmp / "mock.log",
    ):
        yield f"http://127.0.0.1:{port}"
