"""The wire layer wraps an HTTP client library only once the application imports it."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
from otel_llm.genai import wire

assert "httpx" not in sys.modules, "httpx imported before install"
assert wire.install() == ["httpx", "httpx2"] or "httpx2" in sys.modules
assert "httpx" not in sys.modules, "install() imported httpx"
import httpx

assert hasattr(httpx.Client.send, "__wrapped__"), "httpx.Client.send not wrapped on import"
assert hasattr(httpx.AsyncClient.send, "__wrapped__")
wire.uninstall()
assert not hasattr(httpx.Client.send, "__wrapped__")
wire.install()
assert hasattr(httpx.Client.send, "__wrapped__"), "not wrapped again after reinstall"
wire.uninstall()
print("ok")
"""


def test_httpx_wrapped_when_imported_not_before() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
