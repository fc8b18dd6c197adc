"""Write otel_llm/_price_data.bin from the installed genai-prices' bundled data.

Run after upgrading genai-prices (``scripts/relock.sh --upgrade``, then
``uv run python scripts/gen_price_data.py``); ``tests/unit/test_price_data.py`` fails
while the file is stale. The file holds, for each provider of ``genai_prices/data.py``,
the arguments of its ``Provider(...)`` call: those of ``_price_data.EAGER`` and, apart, the
others (its models and the rest), as zlib-compressed JSON (layout: :func:`build`);
``otel_llm/_price_data.py`` replays them. The calls are read from the module's source
(its syntax tree), not from the built objects, so what is replayed is exactly what
``data.py`` runs.

    uv run python scripts/gen_price_data.py [--check]
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import zlib
from importlib.metadata import version
from importlib.util import find_spec
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from otel_llm._price_data import DATA_FILE, EAGER, FORMAT, data_sha256  # noqa: E402


def _callee(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_callee(node.value)}.{node.attr}"
    raise ValueError(f"unexpected callee {ast.unparse(node)}")


def encode(node: ast.expr) -> Any:
    """One expression of data.py as JSON (the inverse of ``_price_data._hook``)."""
    if isinstance(node, ast.Constant):
        if not isinstance(node.value, str | int | float | bool | type(None)):
            raise ValueError(f"unexpected constant {node.value!r}")
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        value = encode(node.operand)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ValueError(f"unexpected operand {ast.unparse(node)}")
        return -value
    if isinstance(node, ast.List):
        return [encode(item) for item in node.elts]
    if isinstance(node, ast.Dict):
        out: dict[str, Any] = {}
        for key, value in zip(node.keys, node.values, strict=True):
            if (
                not isinstance(key, ast.Constant)
                or not isinstance(key.value, str)
                or key.value in ("@", "*", "=", "$")
            ):
                raise ValueError(f"unexpected dict key in {ast.unparse(node)}")
            out[key.value] = encode(value)
        return {"=": out}
    if isinstance(node, ast.Call):
        call: dict[str, Any] = {"@": _callee(node.func)}
        if node.args:
            call["*"] = [encode(arg) for arg in node.args]
        for kw in node.keywords:
            if kw.arg is None or kw.arg in ("@", "*", "=", "$"):
                raise ValueError(f"unexpected keyword in {ast.unparse(node)}")
            call[kw.arg] = encode(kw.value)
        return call
    if isinstance(node, ast.Name | ast.Attribute):  # a constant such as datetime.UTC
        return {"$": _callee(node)}
    raise ValueError(f"unexpected expression {ast.unparse(node)[:80]}")


def _providers_list(tree: ast.Module) -> ast.List:
    for stmt in tree.body:
        target = None
        if isinstance(stmt, ast.AnnAssign):
            target, value = stmt.target, stmt.value
        elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target, value = stmt.targets[0], stmt.value
        if isinstance(target, ast.Name) and target.id == "providers":
            if not isinstance(value, ast.List):
                raise ValueError("providers is not a list literal")
            return value
    raise ValueError("no providers = [...] in data.py")


def build() -> bytes:
    """The file's bytes: a 4-byte big-endian length, the zlib-compressed JSON head
    (format, genai-prices version, data.py's SHA-256, and per provider its EAGER arguments
    and the offset and length of its other ones), then each provider's other arguments,
    zlib-compressed JSON, one after the other."""
    spec = find_spec("genai_prices.data")
    assert spec is not None and spec.origin is not None
    source = Path(spec.origin)
    providers: list[list[Any]] = []
    blobs = bytearray()
    for node in _providers_list(ast.parse(source.read_text(encoding="utf-8"))).elts:
        call = encode(node)
        if not isinstance(call, dict) or call.get("@") != "Provider" or "*" in call:
            raise ValueError("a provider is not a Provider(...) call with keywords")
        del call["@"]
        eager = {k: call.pop(k) for k in EAGER if k in call}
        blob = zlib.compress(json.dumps(call, separators=(",", ":")).encode(), 9)
        providers.append([eager, len(blobs), len(blob)])
        blobs += blob
    head = {
        "format": FORMAT,
        "genai_prices": version("genai-prices"),
        "data_sha256": data_sha256(source),
        "providers": providers,
    }
    packed = zlib.compress(json.dumps(head, separators=(",", ":")).encode(), 9)
    return len(packed).to_bytes(4, "big") + packed + bytes(blobs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    data = build()
    if args.check:
        current = DATA_FILE.read_bytes() if DATA_FILE.exists() else b""
        if current != data:
            print(f"{DATA_FILE} is stale: run scripts/gen_price_data.py", file=sys.stderr)
            return 1
        return 0
    DATA_FILE.write_bytes(data)
    print(f"wrote {DATA_FILE.relative_to(ROOT)} ({len(data) / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
