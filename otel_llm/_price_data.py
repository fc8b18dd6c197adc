"""genai-prices' bundled price data, each provider built whole on first use.

genai-prices 0.2.3 keeps its data set in one 1.6 MB module (``genai_prices/data.py``)
that builds every provider and model at import: about 3 MiB of objects, with a 4 MiB
transient peak, for 47 providers of which a service calls one or two.
``otel_llm/_price_data.bin`` is a compact form of the same module, written by
``scripts/gen_price_data.py`` from the installed genai-prices: the constructor calls of
``data.py``, per provider. The fields every lookup reads across all providers (``id``,
``api_pattern``, ``provider_match``, ``model_match``: :data:`EAGER`) are built at once
in genai-prices' own types; the rest of a provider (its models, usage extractors,
fallbacks, names and comments; kept zlib-compressed, about 120 KB for all) on the first
read of any of them, when the provider becomes a plain ``Provider`` built by the same
constructor call as ``data.py``'s. genai-prices' own matching, extraction and price code
runs on the result, through its public hook
(``genai_prices.data_snapshot.set_custom_snapshot``).

The form is used only when the installed genai-prices is the version it was written from
and its ``data.py`` has the same SHA-256; otherwise (logged once at info) genai-prices'
bundled data loads as before. It never replaces a snapshot the application set itself
(``genai_prices.UpdatePrices`` or its own ``set_custom_snapshot``), and is not installed
when the bundled data is already loaded. ``tests/unit/test_price_data.py`` holds every
provider and model equal to the bundled ones and fails when the form is stale: after a
genai-prices upgrade, run ``uv run python scripts/gen_price_data.py``.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
import threading
import zlib
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from genai_prices.data_snapshot import DataSnapshot

__all__ = ["DATA_FILE", "EAGER", "FORMAT", "data_sha256", "decode", "lazy_snapshot", "snapshot"]

log = logging.getLogger("otel_llm.pricing")

DATA_FILE: Final = Path(__file__).with_name("_price_data.bin")
FORMAT: Final = 1
"""Bumped when the layout of :data:`DATA_FILE` changes."""

EAGER: Final = ("id", "api_pattern", "provider_match", "model_match")
"""The ``Provider`` fields built for every provider up front."""
_REST_KEY: Final = "_otel_llm_rest"  # the other fields' compressed calls, until first read
_CONSTANTS: Final = {"datetime.UTC": datetime.UTC, "datetime.timezone.utc": datetime.UTC}
_lock = threading.Lock()  # installation
_rest_lock = threading.Lock()  # providers completed on first read
_installed: bool | None = None  # None: not tried yet


def data_sha256(path: Path) -> str:
    """SHA-256 of ``path``, read in 64 KiB blocks (no 1.6 MB transient)."""
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(65536):
            digest.update(block)
    return digest.hexdigest()


def _constructors() -> dict[str, Any]:
    from genai_prices import types

    names: dict[str, Any] = {
        "Decimal": Decimal,
        "datetime.date": datetime.date,
        "datetime.time": datetime.time,
        "datetime.datetime": datetime.datetime,
    }
    for name in getattr(types, "__all__", None) or dir(types):
        value = getattr(types, name, None)
        if isinstance(value, type) and value.__module__ == types.__name__:
            names[name] = value
    return names


def _hook(names: dict[str, Any]) -> Callable[[dict[str, Any]], Any]:
    """``json.loads``' ``object_hook`` that replays the encoded nodes of ``data.py``:
    ``{"@": callee, "*": [args], **kwargs}`` is a call of one of ``names``,
    ``{"=": {...}}`` a dict literal, ``{"$": name}`` one of :data:`_CONSTANTS`; lists and
    JSON scalars are themselves. Called innermost first, as the parser reads, so no parsed
    tree of a provider's models is ever held whole."""

    def hook(node: dict[str, Any]) -> Any:
        if "@" in node:
            callee = names[node.pop("@")]  # KeyError on an unknown name: the form is bad
            return callee(*node.pop("*", ()), **node)
        if "=" in node:
            return node["="]
        if "$" in node:
            return _CONSTANTS[node["$"]]
        return node

    return hook


def decode(node: Any, names: dict[str, Any]) -> Any:
    """:func:`_hook` applied to an already parsed tree."""
    hook = _hook(names)

    def walk(item: Any) -> Any:
        if isinstance(item, list):
            return [walk(x) for x in item]
        if isinstance(item, dict):
            return hook({k: walk(v) for k, v in item.items()})
        return item

    return walk(node)


def _lazy_provider_class() -> type:
    from genai_prices.types import Provider

    class _LazyProvider(Provider):
        """A bundled provider holding only its :data:`EAGER` fields until another one is
        read or set; it then becomes a plain ``Provider`` (same class, fields and
        equality as genai-prices' own)."""

        # called through the class, never on the instance: another thread may have made
        # the instance a plain Provider (which has no _complete) since the lookup
        def _complete(self) -> None:
            with _rest_lock:
                if self.__class__ is Provider:  # another thread got here first
                    return
                state = self.__dict__
                hook = _hook(_constructors())
                rest = json.loads(zlib.decompress(state[_REST_KEY]), object_hook=hook)
                eager = {k: state[k] for k in EAGER if k in state}
                built = Provider(**eager, **rest)  # data.py's own call
                state.update((k, v) for k, v in vars(built).items() if k not in state)
                del state[_REST_KEY]
                self.__class__ = Provider  # type: ignore[assignment]  # a plain one now

        def __eq__(self, other: object) -> bool:
            _LazyProvider._complete(self)
            return self == other

        __hash__ = None  # type: ignore[assignment]  # as the dataclass's

        def __repr__(self) -> str:
            _LazyProvider._complete(self)
            return repr(self)

    def field(name: str) -> property:
        # a property, not __getattr__: fields with a default have a class attribute
        def get(self: Any) -> Any:
            _LazyProvider._complete(self)
            return self.__dict__[name]

        def set_(self: Any, value: Any) -> None:
            _LazyProvider._complete(self)
            self.__dict__[name] = value

        return property(get, set_)

    for name in Provider.__dataclass_fields__:
        if name not in EAGER:
            setattr(_LazyProvider, name, field(name))
    return _LazyProvider


def _read(path: Path) -> tuple[dict[str, Any], bytes]:
    """The head (JSON) and the providers' blobs of the form (``gen_price_data.build``)."""
    data = path.read_bytes()
    size = int.from_bytes(data[:4], "big")
    head: dict[str, Any] = json.loads(zlib.decompress(data[4 : 4 + size]))
    return head, data[4 + size :]


def _mismatch(form: dict[str, Any]) -> str | None:
    """Why the form does not describe the installed genai-prices, or None."""
    from importlib.metadata import version
    from importlib.util import find_spec

    if form.get("format") != FORMAT:
        return f"format {form.get('format')!r}, expected {FORMAT}"
    installed = version("genai-prices")
    if form.get("genai_prices") != installed:
        return f"written from genai-prices {form.get('genai_prices')}, {installed} is installed"
    spec = find_spec("genai_prices.data")
    if spec is None or spec.origin is None:
        return "genai_prices.data not found"
    if form.get("data_sha256") != data_sha256(Path(spec.origin)):
        return f"genai-prices {installed}'s data.py differs from the one it was written from"
    return None


def lazy_snapshot(path: Path = DATA_FILE, *, check: bool = True) -> DataSnapshot | None:
    """A ``DataSnapshot`` of the bundled data with per-provider lazy fields, or None (and
    an info line) when the form at ``path`` does not match the installed genai-prices."""
    from genai_prices.data_snapshot import DataSnapshot

    try:
        form, blobs = _read(path)
        why = _mismatch(form) if check else None
    except Exception as exc:  # unreadable: genai-prices' own data still works
        why = f"cannot read {path.name}: {exc!r}"
    if why is not None:
        log.info("otel-llm: bundled genai-prices data loads whole (%s)", why)
        return None
    names = _constructors()
    lazy = _lazy_provider_class()
    providers = []
    for header, start, size in form["providers"]:
        provider: Any = object.__new__(lazy)  # its fields as Provider.__init__ sets them
        provider.__dict__.update((k, decode(v, names)) for k, v in header.items())
        provider.__dict__[_REST_KEY] = blobs[start : start + size]
        providers.append(provider)
    return DataSnapshot(providers=providers, from_auto_update=False)


def _install() -> bool:
    """Install the lazy snapshot unless the application set one or the bundled data is
    already loaded; True when installed."""
    from genai_prices import data_snapshot

    # genai-prices keeps the application's snapshot (UpdatePrices, set_custom_snapshot)
    # in this module global; it has no public reader that would not load the bundled data
    if getattr(data_snapshot, "_custom_snapshot", True) is not None:
        return False
    if "genai_prices.data" in sys.modules:
        return False  # loaded already: a second copy would only cost memory
    lazy = lazy_snapshot()
    if lazy is None:
        return False
    data_snapshot.set_custom_snapshot(lazy)
    log.debug("otel-llm: genai-prices data loads per provider (%s)", DATA_FILE.name)
    return True


def snapshot() -> DataSnapshot:
    """genai-prices' current snapshot (``get_snapshot()``), the lazy form installed first
    if nothing else is (once per process)."""
    global _installed
    from genai_prices.data_snapshot import get_snapshot

    if _installed is None:
        with _lock:
            if _installed is None:
                try:
                    _installed = _install()
                except Exception:  # never worse than the bundled data
                    log.info("otel-llm: lazy genai-prices data not used", exc_info=True)
                    _installed = False
    return get_snapshot()
