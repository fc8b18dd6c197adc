"""otel_llm._price_data: the compact form of genai-prices' bundled data, each provider's
models built on first read, equals the bundled data in every lookup otel-llm and
genai-prices make (providers by id, URL and model; models with fallbacks; prices; usage
extraction), and is used only where it matches the installed genai-prices."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from genai_prices import data_snapshot
from genai_prices.data_snapshot import DataSnapshot
from genai_prices.types import Provider, Usage

from otel_llm import _price_data

ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location(
        "gen_price_data", ROOT / "scripts/gen_price_data.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bundled() -> DataSnapshot:
    from genai_prices.data import providers

    return DataSnapshot(providers=providers, from_auto_update=False)


@pytest.fixture()
def lazy() -> DataSnapshot:
    snap = _price_data.lazy_snapshot()
    assert snap is not None, "the form does not match the installed genai-prices"
    return snap


def _outcome(call: Callable[[], Any]) -> Any:
    try:
        return ("ok", call())
    except Exception as exc:  # both sides must fail the same way
        return ("error", type(exc).__name__, str(exc))


def test_the_form_is_current_for_the_installed_genai_prices() -> None:
    # fails after a genai-prices upgrade: run `uv run python scripts/gen_price_data.py`
    built = _generator().build()
    assert built == _price_data.DATA_FILE.read_bytes(), (
        "otel_llm/_price_data.bin is stale: run `uv run python scripts/gen_price_data.py`"
    )
    head, _ = _price_data._read(_price_data.DATA_FILE)
    assert _price_data._mismatch(head) is None
    assert len(built) < 200_000  # the form stays small


def test_a_provider_is_completed_on_first_read_only(lazy: DataSnapshot) -> None:
    assert all(
        type(p) is not Provider and set(vars(p)) <= {*_price_data.EAGER, "_otel_llm_rest"}
        for p in lazy.providers
    )
    openai = next(p for p in lazy.providers if p.id == "openai")
    assert len(openai.models) > 50
    assert type(openai) is Provider and "models" in vars(openai)
    others = [p for p in lazy.providers if p is not openai]
    assert all(type(p) is not Provider for p in others)


def test_every_provider_and_model_equals_the_bundled_one(
    lazy: DataSnapshot, bundled: DataSnapshot
) -> None:
    assert [p.id for p in lazy.providers] == [p.id for p in bundled.providers]
    fields = [f.name for f in dataclasses.fields(Provider)]
    for ours, theirs in zip(lazy.providers, bundled.providers, strict=True):
        for name in fields:
            assert getattr(ours, name) == getattr(theirs, name), (ours.id, name)
        assert ours == theirs and type(ours) is type(theirs)
        assert repr(ours) == repr(theirs)
    assert sum(len(p.models) for p in lazy.providers) == sum(
        len(p.models) for p in bundled.providers
    )


def _urls(snap: DataSnapshot) -> Iterator[str]:
    for p in snap.providers:
        yield from p.pricing_urls or ()
        yield f"https://api.{p.id}.com/v1/chat/completions"
    for vector in sorted((ROOT / "spec/vectors/wire").glob("*.json")):
        yield json.loads(vector.read_text())["request"]["url"]
    yield "https://llm-gateway.internal/v1/chat/completions"


def test_find_provider_by_id_url_and_model(lazy: DataSnapshot, bundled: DataSnapshot) -> None:
    ids = [p.id for p in bundled.providers]
    queries: list[tuple[str | None, str | None, str | None]] = []
    for pid in [*ids, "Google-Vertex", " AWS ", "azure-openai", "litellm", "nobody"]:
        queries.append((None, pid, None))
    queries += [(None, None, url) for url in _urls(bundled)]
    models = sorted({m.id for p in bundled.providers for m in p.models})
    queries += [(m, None, None) for m in [*models, "unknown-model-x"]]
    queries += [("openai/gpt-4o", "litellm", None)]
    assert len(queries) > 2000
    for query in queries:
        ours = _outcome(lambda q=query: lazy.find_provider(*q).id)
        theirs = _outcome(lambda q=query: bundled.find_provider(*q).id)
        assert ours == theirs, query


def test_find_model_with_cross_provider_fallbacks(
    lazy: DataSnapshot, bundled: DataSnapshot
) -> None:
    by_id = {p.id: p for p in bundled.providers}
    fallbacks = 0
    for ours, theirs in zip(lazy.providers, bundled.providers, strict=True):
        refs = {m.id for m in theirs.models}
        for other in theirs.fallback_model_providers or ():
            refs |= {m.id for m in by_id[other].models}
            fallbacks += 1
        refs |= {"unknown-model-x", "gpt-5.2-20251211", "claude-sonnet-4-5-20250929"}
        for ref in sorted(refs):
            found = ours.find_model(ref, all_providers=lazy.providers)
            expected = theirs.find_model(ref, all_providers=bundled.providers)
            assert found == expected, (theirs.id, ref)
    assert fallbacks > 5


def test_prices_of_every_model_at_a_fixed_time(lazy: DataSnapshot, bundled: DataSnapshot) -> None:
    usage = Usage(
        input_tokens=250_000,
        cache_read_tokens=20_000,
        cache_write_tokens=3_000,
        output_tokens=40_000,
        input_audio_tokens=1_000,
    )
    n = 0
    for prov in bundled.providers:
        for model in prov.models:
            ours = _outcome(lambda: lazy.calc(usage, model.id, prov.id, None, AT))
            theirs = _outcome(lambda: bundled.calc(usage, model.id, prov.id, None, AT))
            if ours[0] == "ok" and theirs[0] == "ok":
                a, b = ours[1], theirs[1]
                assert (a.input_price, a.output_price, a.total_price) == (
                    b.input_price,
                    b.output_price,
                    b.total_price,
                ), (prov.id, model.id)
                assert (a.provider.id, a.model.id) == (b.provider.id, b.model.id)
                n += 1
            else:
                assert ours == theirs, (prov.id, model.id)
    assert n > 2000


def _response(extractor: Any, model: str) -> dict[str, Any] | None:
    """A response with every mapped usage value (None where a path needs an array match)."""
    paths = [(extractor.model_path, model)]
    paths += [
        ([*([extractor.root] if isinstance(extractor.root, str) else extractor.root),
          *([m.path] if isinstance(m.path, str) else m.path)], 7 + i)
        for i, m in enumerate(extractor.mappings)
    ]  # fmt: skip
    data: dict[str, Any] = {}
    for path, value in paths:
        steps = [path] if isinstance(path, str) else list(path)
        if not all(isinstance(s, str) for s in steps):
            return None
        node = data
        for step in steps[:-1]:
            node = node.setdefault(step, {})
            if not isinstance(node, dict):
                return None
        node.setdefault(steps[-1], value)
    return data


def test_extract_usage_for_every_extractor(lazy: DataSnapshot, bundled: DataSnapshot) -> None:
    n = 0
    for prov in bundled.providers:
        model = prov.models[0].id if prov.models else "unknown-model-x"
        for extractor in prov.extractors or ():
            data = _response(extractor, model)
            if data is None:
                continue
            flavor = extractor.api_flavor

            def run(snap: DataSnapshot, data: Any = data, flavor: str = flavor) -> Any:
                got = snap.extract_usage(data, prov.id, None, flavor)
                return got.usage, got.model and got.model.id, got.provider.id

            assert _outcome(lambda: run(lazy)) == _outcome(lambda: run(bundled)), prov.id
            n += 1
    assert n > 30


def test_a_stale_form_falls_back_to_the_bundled_data(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    head, blobs = _price_data._read(_price_data.DATA_FILE)
    head["genai_prices"] = "0.0.1"
    packed = zlib.compress(json.dumps(head).encode())
    stale = tmp_path / "stale.bin"
    stale.write_bytes(len(packed).to_bytes(4, "big") + packed + blobs)
    with caplog.at_level(logging.INFO, logger="otel_llm.pricing"):
        assert _price_data.lazy_snapshot(stale) is None
    assert "loads whole" in caplog.text and "0.0.1" in caplog.text
    (tmp_path / "bad.bin").write_bytes(b"\0\0\0\x05junk")
    assert _price_data.lazy_snapshot(tmp_path / "bad.bin") is None


def test_a_snapshot_the_application_set_is_never_replaced(
    monkeypatch: pytest.MonkeyPatch, bundled: DataSnapshot
) -> None:
    mine = DataSnapshot(providers=bundled.providers[:3], from_auto_update=True)
    monkeypatch.setattr(data_snapshot, "_custom_snapshot", mine)
    monkeypatch.setattr(_price_data, "_installed", None)
    assert _price_data.snapshot() is mine
    assert _price_data._installed is False


PROBE = """
import json, sys
import genai_prices
from genai_prices.types import Usage
from otel_llm import _price_data
from otel_llm.pricing import PriceBook
snap = _price_data.snapshot()
book = PriceBook()
book.warm("openai")
cost = book.resolve("openai", "gpt-4o-mini") is not None
calc = genai_prices.calc_price(Usage(input_tokens=1000, output_tokens=100), "claude-sonnet-4-5",
                               provider_id="anthropic").total_price
built = sorted(p.id for p in snap.providers if "models" in vars(p))
print(json.dumps({"installed": _price_data._installed,
                  "bundled": "genai_prices.data" in sys.modules,
                  "priced": cost, "calc": str(calc), "built": built}))
"""


def test_installed_in_a_fresh_process_without_loading_the_bundled_module(
    bundled: DataSnapshot,
) -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, cwd=ROOT
    )
    got = json.loads(out.stdout)
    expected = str(
        bundled.calc(
            Usage(input_tokens=1000, output_tokens=100),
            "claude-sonnet-4-5",
            "anthropic",
            None,
            None,
        ).total_price
    )
    assert got == {
        "installed": True,
        "bundled": False,
        "priced": True,
        "calc": expected,  # genai-prices' own calc_price runs on the lazy data
        "built": ["anthropic", "openai"],
    }


def test_threads_completing_one_provider_at_once_see_the_same_fields() -> None:

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        _read_at_once()
    finally:
        sys.setswitchinterval(interval)


def _read_at_once() -> None:
    import threading

    for _ in range(30):
        snap = _price_data.lazy_snapshot()
        assert snap is not None
        openai = next(p for p in snap.providers if p.id == "openai")
        start = threading.Barrier(8)
        seen: list[Any] = []

        def read(p: Any = openai) -> None:
            start.wait()
            try:
                seen.append((len(p.models), p.name, len(p.extractors or ())))
            except Exception as exc:  # what the test is for: no thread may fail
                seen.append(exc)

        threads = [threading.Thread(target=read) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(set(map(repr, seen))) == 1 and not isinstance(seen[0], Exception), seen
        assert type(openai) is Provider
