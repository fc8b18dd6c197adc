"""Price resolution and cost arithmetic for GenAI spans.

Prices come from genai-prices' bundled data (never its network updater) plus an optional
local pricing file. ``genai_prices.calc_price`` costs about 100-160 us per call, far too much
for a per-span hot path, so a :class:`PriceBook` resolves each (provider, model) once (hits
and misses are cached), compiles the model's prices into per-token rates and then does the
arithmetic itself. ``tests/unit/test_pricing.py`` holds the figure equal to ``calc_price``
across the bundled models.

Cost rules (the same as genai-prices' leaf decomposition, restricted to the token kinds a
span reports; input includes cached tokens, output includes reasoning tokens):

- uncached input = input - cache_read - cache_creation, at the input price; cache_read at
  the cache-read price and cache_creation at the cache-write price. A cache kind the model
  does not price separately stays inside input at the input price.
- output = output - reasoning at the output price; reasoning at the reasoning price only
  when the model prices it apart (``output_reasoning_mtok``), else at the output price.
- a per-request price (``requests_kcount``) counts one request per operation.
- tiered prices follow genai-prices' threshold ("cliff") rule: when the total input tokens
  exceed a tier's start, that tier's rate applies to all tokens of that price.
- price periods (``ConditionalPrice`` with start dates or time-of-day windows) are chosen
  with genai-prices' own constraint objects at the span's start time.

Simplifications, stated precisely: price variants selected by request context (e.g. a
service tier) are not applied, as ``calc_price`` without ``price_context``; all cache
creation is priced at ``cache_write_mtok`` (Anthropic's 1-hour cache writes are not split
out). Audio, image and prediction tokens and non-token units (seconds, characters,
pages, images, requests) are priced by :mod:`otel_llm.pricing_units` through
:meth:`PriceBook.cost_extended`; search tool calls are not reported by spans and count as
zero. Usage that contradicts the "input includes cached" rule (cache_read +
cache_creation > input) is read as the provider's raw shape (input excludes the cache) and
normalised by adding the cache tokens to input; likewise reasoning > output adds reasoning
to output (see :meth:`Usage.normalized`).

Model matching is strict: genai-prices matches by prefixes and substrings, so a made-up
``claude-sonnet-4-5-foo`` would get Claude Sonnet 4.5's price. A match is accepted only
when what the matching clause leaves over is a version tag (``-20250929``,
``-2024-07-18``, ``-0613``, ``@001``, ``-latest``, ``-v1:0``) or, before the matched text,
a namespace ending in ``.``, ``/`` or ``:`` (Bedrock regions, Vertex resource paths).
Anything else is unpriced and counted, never priced as another model.

Providers: semconv provider names (``gen_ai.provider.name`` and the older
``gen_ai.system`` values) map to genai-prices provider ids (:data:`PROVIDER_IDS`); a
genai-prices id is accepted as is. A provider we cannot map leaves the call unpriced
(a local ``ollama`` model is not priced as a cloud one). Without any provider, the model
is searched across all providers and priced only when that is unambiguous: every provider
that lists it charges the same, or one of them is the provider genai-prices designates as
the home of that model name (e.g. ``gpt-*`` -> ``openai``).

Pricing file (``OTEL_LLM_PRICING_FILE``, ``.json``, ``.yaml`` or ``.yml``)::

    models:
      - model: my-finetune          # required; matched exactly, case-insensitively
        provider: openai            # optional; semconv name or genai-prices id; omitted
                                    # = any provider (and spans without a provider)
        prices:                     # USD per million tokens (requests_kcount: per 1000 calls)
          input_mtok: 0.30
          output_mtok: 1.20
          cache_read_mtok: 0.03     # optional
          cache_write_mtok: 0.375   # optional
          output_reasoning_mtok: 1.2  # optional
          requests_kcount: 0.0      # optional
          # and the keys of otel_llm.pricing_units.FILE_PRICE_KEYS: input_audio_mtok,
          # output_audio_mtok, input_image_mtok, output_image_mtok,
          # accepted_prediction_mtok, rejected_prediction_mtok, per_second, per_minute,
          # per_1k_characters, per_page, per_image, per_request
          # any price may be tiered: {base: 3, tiers: [{start: 200000, price: 6}]}

An entry overrides the bundled price of the same model (exact provider first, then
provider-less entries, then bundled data). Unknown keys, negative or non-numeric prices
and a missing model raise :class:`PricingFileError` at load, naming the file and entry.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

from otel_llm.pricing_units import (
    FILE_PRICE_KEYS,
    ExtendedUsage,
    Price,
    UnitRates,
    extended_cost,
    price_per_unit,
    tier_rate,
    unit_rates,
)
from otel_llm.providers import PRICING_IDS

if TYPE_CHECKING:
    from genai_prices import types as gp_types

# genai-prices is imported where it is used, not with this module: its package imports
# its price updater's HTTP client (httpx2) and its data set is one 1.6 MB module, which a
# service that never prices a call (no LLM client imported) should not load.

__all__ = [
    "PROVIDER_IDS",
    "PriceBook",
    "PricingFileError",
    "Rates",
    "Usage",
    "normalized_totals",
]

logger = logging.getLogger(__name__)

PROVIDER_IDS: Final[Mapping[str, str]] = {**PRICING_IDS, "mistral": "mistral"}
"""Semconv provider names (current and older spellings) -> genai-prices provider ids
(:data:`otel_llm.providers.PRICING_IDS`; the older value ``mistral`` is its own id)."""

_PRICE_KEYS: Final = (
    "input_mtok",
    "output_mtok",
    "cache_read_mtok",
    "cache_write_mtok",
    "output_reasoning_mtok",
    "requests_kcount",
)
_CACHE_LIMIT: Final = 4096
"""Resolved (provider, model) entries kept; the cache is cleared when it grows past this."""

# What a prefix/substring match may leave after the matched text: version tags only.
_VERSION_TAIL: Final = re.compile(
    r"(?:[-@](?:\d{8}|\d{4}-\d{2}-\d{2}|\d{2}-\d{2,4}|\d{3,4}|latest|preview|exp|v\d+(?::\d+)?)"
    r"|:\d+)*"
)
# A matched text ending in "-" or "-0" (a version being spelled) may continue with digits.
_OPEN_VERSION: Final = re.compile(r"[-@]0*$")
# What a suffix/substring match may leave before the matched text: a namespace.
_NAMESPACE_HEAD: Final = re.compile(r"(?:.*[./:])?")


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one operation, as the GenAI conventions define them.

    ``input`` includes ``cache_read`` and ``cache_creation``; ``output`` includes
    ``reasoning``.
    """

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_creation: int = 0
    reasoning: int = 0

    def normalized(self) -> Usage:
        """The usage with cached tokens inside input and reasoning inside output.

        Some instrumentations report the provider's raw shape (Anthropic: input without
        cache tokens; Gemini: output without thinking tokens). When the parts exceed the
        whole, that is the only consistent reading, so the parts are added to the whole.
        """
        total_in, total_out = normalized_totals(
            self.input, self.output, self.cache_read, self.cache_creation, self.reasoning
        )
        if total_in == self.input and total_out == self.output:
            return self
        return Usage(
            input=total_in,
            output=total_out,
            cache_read=self.cache_read,
            cache_creation=self.cache_creation,
            reasoning=self.reasoning,
        )


def normalized_totals(
    input: int, output: int, cache_read: int, cache_creation: int, reasoning: int
) -> tuple[int, int]:
    """(input, output) of :meth:`Usage.normalized`: the cache tokens added to input when
    they exceed it, reasoning added to output when it exceeds it."""
    cached = cache_read + cache_creation
    return (
        input + cached if cached > input else input,
        output + reasoning if reasoning > output else output,
    )


class PricingFileError(ValueError):
    """The pricing file cannot be read or does not follow the documented format."""


@dataclass(frozen=True, slots=True)
class Rates:
    """One model's prices in USD per token (per request for ``request``); None = unpriced kind."""

    input: Price | None = None
    output: Price | None = None
    cache_read: Price | None = None
    cache_write: Price | None = None
    reasoning: Price | None = None
    request: float = 0.0
    extra: UnitRates | None = None
    """Audio/image/prediction token and non-token unit rates (:mod:`otel_llm.pricing_units`)."""
    flat: bool = field(init=False, repr=False, compare=False, default=False)
    """Input and output prices are floats, the others floats or None: no tier anywhere."""

    def __post_init__(self) -> None:
        flat = type(self.input) is float and type(self.output) is float
        for price in (self.cache_read, self.cache_write, self.reasoning):
            flat = flat and (price is None or type(price) is float)
        object.__setattr__(self, "flat", flat)

    def cost(self, usage: Usage) -> float:
        """USD for ``usage`` (already normalised), following genai-prices' rules."""
        return self.cost_of(
            usage.input, usage.output, usage.cache_read, usage.cache_creation, usage.reasoning
        )

    def cost_of(
        self, input: int, output: int, cache_read: int, cache_creation: int, reasoning: int
    ) -> float:
        """:meth:`cost` of the normalised counts themselves, without a :class:`Usage` (the
        span processor's hot path builds none)."""
        if self.flat:  # every price a float (the usual case): each is its own rate
            uncached = input
            total = 0.0
            price = self.cache_read
            if price is not None:
                uncached -= cache_read
                total += cache_read * price  # type: ignore[operator]
            price = self.cache_write
            if price is not None:
                uncached -= cache_creation
                total += cache_creation * price  # type: ignore[operator]
            visible = output
            price = self.reasoning
            if price is not None:
                visible -= reasoning
                total += reasoning * price  # type: ignore[operator]
            total += uncached * self.input + visible * self.output  # type: ignore[operator]
            return total + self.request
        # a flat price (a float) is its own rate: tier_rate only for tiers
        n = input
        uncached = n
        total = 0.0
        price = self.cache_read
        if price is not None:
            uncached -= cache_read
            total += cache_read * (price if type(price) is float else tier_rate(price, n))
        price = self.cache_write
        if price is not None:
            uncached -= cache_creation
            total += cache_creation * (price if type(price) is float else tier_rate(price, n))
        visible = output
        price = self.reasoning
        if price is not None:
            visible -= reasoning
            total += reasoning * (price if type(price) is float else tier_rate(price, n))
        price = self.input
        rate_in = price if type(price) is float else tier_rate(price, n)
        price = self.output
        rate_out = price if type(price) is float else tier_rate(price, n)
        total += uncached * rate_in + visible * rate_out
        return total + self.request

    @classmethod
    def from_model_price(cls, price: Any) -> Rates:
        """Compile a genai-prices ``ModelPrice`` (or our parsed file prices) into rates."""

        def conv(key: str, per: float) -> Price | None:
            value = getattr(price, key, None)
            return None if value is None else price_per_unit(value, per)

        request = conv("requests_kcount", 1000)
        return cls(
            input=conv("input_mtok", 1e6),
            output=conv("output_mtok", 1e6),
            cache_read=conv("cache_read_mtok", 1e6),
            cache_write=conv("cache_write_mtok", 1e6),
            reasoning=conv("output_reasoning_mtok", 1e6),
            request=request if isinstance(request, float) else 0.0,
            extra=unit_rates(price),
        )


class _Constraint(Protocol):
    """genai-prices' StartDateConstraint / TimeOfDateConstraint."""

    def active(self, request_timestamp: datetime) -> bool: ...


@dataclass(frozen=True, slots=True)
class _Resolved:
    """A model's compiled prices; ``periods`` are tried last to first, like genai-prices."""

    rates: Rates
    periods: tuple[tuple[_Constraint | None, Rates], ...] = ()
    """(genai-prices constraint or None, rates) per price period."""
    model_id: str = ""
    provider_id: str = ""

    def rates_at(self, timestamp_ns: int | None) -> Rates:
        if not self.periods:
            return self.rates
        if timestamp_ns is None:
            when = datetime.now(tz=UTC)
        else:  # integer arithmetic: no float rounding across a period boundary
            seconds, nanos = divmod(timestamp_ns, 1_000_000_000)
            when = datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=nanos // 1000)
        for constraint, rates in reversed(self.periods):
            if constraint is None or constraint.active(when):
                return rates
        return self.periods[0][1]


def _compile_model(model: gp_types.ModelInfo, provider_id: str) -> _Resolved:
    from genai_prices import types as gp_types

    prices = model.prices
    if isinstance(prices, gp_types.ModelPrice):
        return _Resolved(Rates.from_model_price(prices), (), model.id, provider_id)
    periods = tuple((cp.constraint, Rates.from_model_price(cp.prices)) for cp in prices)
    return _Resolved(periods[0][1], periods, model.id, provider_id)


# --- strict matching ---------------------------------------------------------------


def _tail_ok(matched: str, rest: str) -> bool:
    if _OPEN_VERSION.search(matched) is not None:
        rest = rest.lstrip("0123456789")
    return _VERSION_TAIL.fullmatch(rest) is not None


def _leaf_accepts(clause: Any, ref: str) -> bool:
    """Whether ``clause`` matches ``ref`` leaving at most a version tag or namespace."""
    from genai_prices import types as gp_types

    if isinstance(clause, gp_types.ClauseOr):
        return any(_leaf_accepts(c, ref) for c in clause.or_)
    if isinstance(clause, gp_types.ClauseAnd):
        # every member matches (genai-prices checked); one must be strict, the rest filter
        return clause.is_match(ref) and any(_leaf_accepts(c, ref) for c in clause.and_)
    if isinstance(clause, gp_types.ClauseEquals):
        return ref == clause.equals.lower()
    if isinstance(clause, gp_types.ClauseStartsWith):
        head = clause.starts_with.lower()
        if not ref.startswith(head):
            return False
        # OpenAI fine-tunes ("ft:<base>:org::id") are priced by prefix on purpose
        return head.startswith("ft:") or _tail_ok(head, ref[len(head) :])
    if isinstance(clause, gp_types.ClauseEndsWith):
        tail = clause.ends_with.lower()
        return ref.endswith(tail) and _NAMESPACE_HEAD.fullmatch(ref[: -len(tail)]) is not None
    if isinstance(clause, gp_types.ClauseContains):
        part = clause.contains.lower()
        start = ref.find(part)
        while start >= 0:
            end = start + len(part)
            if _NAMESPACE_HEAD.fullmatch(ref[:start]) is not None and _tail_ok(part, ref[end:]):
                return True
            start = ref.find(part, start + 1)
        return False
    if isinstance(clause, gp_types.ClauseRegex):
        found = re.search(clause.regex, ref)
        if found is None or found.end() == 0:
            return False  # zero-width filters (negative lookaheads) never accept alone
        rest = ref[found.end() :].lstrip("0123456789")
        return (
            _NAMESPACE_HEAD.fullmatch(ref[: found.start()]) is not None
            and _VERSION_TAIL.fullmatch(rest) is not None
        )
    return False


def _normalize_compact_date(ref: str) -> str:
    from genai_prices import types as gp_types

    normalize = getattr(gp_types, "_normalize_compact_dated_ref", None)
    return normalize(ref) if callable(normalize) else ref


def strict_match(model: gp_types.ModelInfo, ref: str) -> bool:
    """Whether ``ref`` names ``model`` itself, not a longer or made-up name it prefixes."""
    ref = ref.lower()
    if ref == model.id.lower() and model.is_match(ref):
        return True
    if _leaf_accepts(model.match, ref):
        return True
    normalized = _normalize_compact_date(ref)
    return normalized != ref and _leaf_accepts(model.match, normalized)


# --- the price book ----------------------------------------------------------------


def _provider_id(provider: str | None, known: Iterable[str]) -> str | None:
    """The genai-prices id for a span's provider value, or None when we cannot map it."""
    if provider is None:
        return None
    key = provider.strip().lower()
    mapped = PROVIDER_IDS.get(key)
    if mapped is not None:
        return mapped
    return key if key in known else None


_MISSING: Final = object()


class PriceBook:
    """Resolves (provider, model) to compiled prices once and prices usage in microseconds."""

    def __init__(
        self,
        custom: Mapping[tuple[str | None, str], Rates] | None = None,
        *,
        providers: Sequence[gp_types.Provider] | None = None,
    ) -> None:
        # The bundled data set loads at the first lookup (or load_bundled_prices()).
        self._given = list(providers) if providers is not None else None
        self._loaded: tuple[list[gp_types.Provider], dict[str, gp_types.Provider]] | None = None
        self._custom = {
            (prov, model.lower()): _Resolved(rates, (), model, prov or "")
            for (prov, model), rates in (custom or {}).items()
        }
        self._cache: dict[tuple[str | None, ...], _Resolved | None] = {}

    def _data(self) -> tuple[list[gp_types.Provider], dict[str, gp_types.Provider]]:
        if self._loaded is None:
            if self._given is not None:
                providers = self._given
            else:
                from otel_llm._price_data import snapshot

                providers = list(snapshot().providers)
            self._loaded = providers, {p.id: p for p in providers}
        return self._loaded

    def warm(self, *providers: str) -> None:
        """Load the bundled data set now, and the model lists of ``providers`` (genai-prices
        ids; the others are built on first use: :mod:`otel_llm._price_data`).
        ``configure()`` does when an LLM client is imported, so that the first priced call
        does not pay for it."""
        by_id = self._data()[1]
        for pid in providers:
            prov = by_id.get(pid)
            if prov is not None:
                len(prov.models)

    @property
    def _providers(self) -> list[gp_types.Provider]:
        return self._data()[0]

    @property
    def _by_id(self) -> dict[str, gp_types.Provider]:
        return self._data()[1]

    @classmethod
    def load(cls, pricing_file: str | None) -> PriceBook:
        """The bundled prices plus the overrides in ``pricing_file`` (if any)."""
        custom = _read_pricing_file(pricing_file) if pricing_file else None
        return cls(custom)

    def cost(
        self,
        provider: str | None,
        model: str | None,
        usage: Usage,
        *,
        timestamp_ns: int | None = None,
        bundled: bool = True,
    ) -> float | None:
        """USD for ``usage`` of ``model`` at ``provider``; None when the model has no price.

        ``bundled=False``: only the pricing file may price it (an endpoint that matched no
        known provider, see :mod:`otel_llm.providers`).
        """
        resolved = self.resolve(provider, model, bundled=bundled)
        if resolved is None:
            return None
        return resolved.rates_at(timestamp_ns).cost(usage.normalized())

    def cost_extended(
        self,
        provider: str | None,
        model: str | None,
        usage: Usage,
        extended: ExtendedUsage | None,
        *,
        timestamp_ns: int | None = None,
        **resolve_options: Any,
    ) -> tuple[float | None, str | None]:
        """USD for token usage plus audio/image/prediction tokens and units
        (:func:`otel_llm.pricing_units.extended_cost`); (None, "no_price") for an unknown
        model, (None, "no_price_for:<kind>") when a reported kind has no price.
        ``resolve_options`` go to :meth:`resolve` as they are.
        """
        resolved = self.resolve(provider, model, **resolve_options)
        if resolved is None:
            return None, "no_price"
        cost, missing = extended_cost(resolved.rates_at(timestamp_ns), usage.normalized(), extended)
        return cost, (None if missing is None else f"no_price_for:{missing}")

    def resolve(
        self, provider: str | None, model: str | None, *, bundled: bool = True
    ) -> _Resolved | None:
        """The compiled prices of ``model`` (cached, misses included), or None."""
        if not model:
            return None
        key = (provider, model) if bundled else ("\0file-only", provider, model)
        hit = self._cache.get(key, _MISSING)
        if hit is not _MISSING:
            return hit  # type: ignore[return-value]
        resolved = (
            self._resolve(provider, model) if bundled else self._resolve(provider, model, False)
        )
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = resolved
        return resolved

    def _resolve(self, provider: str | None, model: str, bundled: bool = True) -> _Resolved | None:
        ref = model.strip().lower()
        named = provider.strip().lower() if provider and provider.strip() else None
        pid = _provider_id(named, self._by_id)
        custom = self._custom.get((pid or named, ref)) if named is not None else None
        if custom is None:
            custom = self._custom.get((None, ref))
        if custom is not None or not bundled:
            return custom
        if named is None:
            return self._resolve_any_provider(ref)
        prov = self._by_id.get(pid) if pid is not None else None
        if prov is None:
            return None  # a provider we cannot map is never priced as another one
        found = prov.find_model(ref, all_providers=self._providers)
        if found is None or not strict_match(found, ref):
            return None
        return _compile_model(found, prov.id)

    def _resolve_any_provider(self, ref: str) -> _Resolved | None:
        candidates: list[tuple[gp_types.Provider, gp_types.ModelInfo]] = []
        for prov in self._providers:
            found = prov.find_model(ref)
            if found is not None and strict_match(found, ref):
                candidates.append((prov, found))
        if not candidates:
            return None
        compiled = [(_compile_model(m, p.id), p) for p, m in candidates]
        first = compiled[0][0]
        if all((c.rates, c.periods) == (first.rates, first.periods) for c, _ in compiled):
            return first
        for c, prov in compiled:
            if prov.model_match is not None and prov.model_match.is_match(ref):
                return c
        return None


# --- pricing file ------------------------------------------------------------------


def _read_pricing_file(path_str: str) -> dict[tuple[str | None, str], Rates]:
    path = Path(path_str)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PricingFileError(f"pricing file {path}: cannot read: {exc}") from exc
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            data = json.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            raise PricingFileError(f"pricing file {path}: use a .json, .yaml or .yml file")
    except PricingFileError:
        raise
    except Exception as exc:  # json/yaml syntax errors
        raise PricingFileError(f"pricing file {path}: not valid {suffix[1:]}: {exc}") from exc
    return parse_pricing(data, source=str(path))


def parse_pricing(data: Any, *, source: str = "pricing") -> dict[tuple[str | None, str], Rates]:
    """Validate a decoded pricing document; raise :class:`PricingFileError` naming the entry."""
    from genai_prices import types as gp_types

    from otel_llm._price_data import snapshot

    if not isinstance(data, Mapping) or set(data) - {"models"}:
        raise PricingFileError(f"{source}: expected a mapping with one key, 'models'")
    models = data.get("models")
    if not isinstance(models, list):
        raise PricingFileError(f"{source}: 'models' must be a list")
    known = {p.id for p in snapshot().providers}
    out: dict[tuple[str | None, str], Rates] = {}
    for i, entry in enumerate(models):
        where = f"{source}: models[{i}]"
        if not isinstance(entry, Mapping):
            raise PricingFileError(f"{where}: must be a mapping")
        extra = set(entry) - {"model", "provider", "prices"}
        if extra:
            raise PricingFileError(f"{where}: unknown keys {sorted(extra)}")
        model = entry.get("model")
        if not isinstance(model, str) or not model.strip():
            raise PricingFileError(f"{where}.model: a non-empty string is required")
        provider = entry.get("provider")
        if provider is not None and (not isinstance(provider, str) or not provider.strip()):
            raise PricingFileError(f"{where}.provider: must be a non-empty string if given")
        pid = None
        if provider is not None:
            pid = _provider_id(provider, known) or provider.strip().lower()
        prices = entry.get("prices")
        if not isinstance(prices, Mapping) or not prices:
            raise PricingFileError(f"{where}.prices: a mapping of prices is required")
        unknown = set(prices) - set(_PRICE_KEYS) - set(FILE_PRICE_KEYS)
        if unknown:
            known_keys = ", ".join((*_PRICE_KEYS, *FILE_PRICE_KEYS))
            raise PricingFileError(
                f"{where}.prices: unknown keys {sorted(unknown)} (known: {known_keys})"
            )
        parsed = {k: _parse_price(v, f"{where}.prices.{k}") for k, v in prices.items()}
        _per_request(parsed, where)
        key = (pid, model.strip().lower())
        if key in out:
            raise PricingFileError(f"{where}: duplicate entry for {model!r}")
        out[key] = Rates.from_model_price(gp_types.ModelPrice(**parsed))
    return out


def _per_request(parsed: dict[str, Any], where: str) -> None:
    """``per_request`` (USD per call) is ``requests_kcount`` (USD per 1000 calls) / 1000."""
    if "per_request" not in parsed:
        return
    value = parsed.pop("per_request")
    if "requests_kcount" in parsed:
        raise PricingFileError(f"{where}.prices: give per_request or requests_kcount, not both")
    if not isinstance(value, Decimal):
        raise PricingFileError(f"{where}.prices.per_request: must be a number (no tiers)")
    parsed["requests_kcount"] = value * 1000


def _number(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PricingFileError(f"{where}: must be a non-negative number")
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise PricingFileError(f"{where}: must be a non-negative number") from None
    if not number.is_finite() or number < 0:
        raise PricingFileError(f"{where}: must be a non-negative number")
    return number


def _parse_price(value: Any, where: str) -> Decimal | gp_types.TieredPrices:
    from genai_prices import types as gp_types

    if not isinstance(value, Mapping):
        return _number(value, where)
    if set(value) != {"base", "tiers"} or not isinstance(value["tiers"], list):
        raise PricingFileError(f"{where}: a tiered price is {{base: n, tiers: [{{start, price}}]}}")
    tiers = []
    for j, tier in enumerate(value["tiers"]):
        tw = f"{where}.tiers[{j}]"
        if not isinstance(tier, Mapping) or set(tier) != {"start", "price"}:
            raise PricingFileError(f"{tw}: must be {{start: tokens, price: n}}")
        start = tier["start"]
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise PricingFileError(f"{tw}.start: must be a non-negative integer")
        tiers.append(gp_types.Tier(start=start, price=_number(tier["price"], f"{tw}.price")))
    return gp_types.TieredPrices(base=_number(value["base"], f"{where}.base"), tiers=tiers)
