"""Prices for usage beyond text tokens: audio, image and prediction tokens, and non-token units.

A span may carry, besides the semconv token counts, the ``otel_llm.usage.*`` attributes of
:mod:`otel_llm.semconv` (set by ``otel_llm.track`` and by the OpenAI usage extraction):

- audio and image tokens, parts of input/output as OpenAI reports them
  (``prompt_tokens_details.audio_tokens`` is inside ``prompt_tokens``);
- accepted/rejected prediction tokens, parts of output (OpenAI bills both as completion
  tokens);
- units: seconds (of audio), characters, pages, images, requests.

Rates come from genai-prices where it has them (``input_audio_mtok``,
``output_audio_mtok``, ``input_image_mtok``, ``output_image_mtok``; ``audio_hours`` /
``input_audio_hours`` for seconds, ``input_mchars`` for characters,
``input_document_kpages`` for pages) and from the pricing file (keys in
:data:`FILE_PRICE_KEYS`). Rules, in both languages (``node/src/pricing-units.ts``):

- audio tokens are priced at the audio rate; a model with no audio rate leaves a call with
  audio tokens **unpriced** (genai-prices 0.2.3 lists ``gpt-4o-audio-preview`` at text rates
  only; OpenAI charges 16x more for its audio tokens, so a text-rate figure would be wrong);
- image tokens without an image rate are priced as the input/output tokens they are part
  of (how OpenAI and Anthropic bill image inputs), and so are prediction tokens without a
  prediction rate (as output tokens, how OpenAI bills them);
- a reported unit (seconds, characters, pages, images) the model has no price for leaves
  the call unpriced; a unit reported as 0 needs no price;
- ``requests`` (default 1) multiplies the per-request price;
- token tiers follow genai-prices' cliff rule on total input tokens; a unit's tiers apply
  the same rule to the call's quantity of that unit (``start`` in seconds, characters...).

Parts that exceed their whole (audio + image input tokens above input) are read as the
provider's raw shape and added to the whole, as :meth:`otel_llm.pricing.Usage.normalized`
does for cache tokens.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from decimal import Decimal
from typing import Any, Final

from otel_llm import semconv as sc

__all__ = [
    "FILE_PRICE_KEYS",
    "ExtendedUsage",
    "Price",
    "UnitRates",
    "extended_cost",
    "price_per_unit",
    "read_extended",
    "tier_rate",
    "unit_rates",
]

Price = float | tuple[float, tuple[tuple[float, float], ...]]
"""A price per unit: a flat rate, or (base rate, ((start, rate), ...) ascending) for tiers.
Token rates (:class:`otel_llm.pricing.Rates`) and unit rates (:class:`UnitRates`) alike."""

FILE_PRICE_KEYS: Final = (
    "input_audio_mtok",
    "output_audio_mtok",
    "input_image_mtok",
    "output_image_mtok",
    "accepted_prediction_mtok",
    "rejected_prediction_mtok",
    "per_second",
    "per_minute",
    "per_1k_characters",
    "per_page",
    "per_image",
    "per_request",
)
"""Pricing-file keys added to the token keys of :mod:`otel_llm.pricing` (USD; ``*_mtok`` per
million tokens, ``per_*`` per unit)."""

# (UnitRates field, source key, divisor): first source present wins.
_SOURCES: Final[tuple[tuple[str, str, float], ...]] = (
    ("audio_input", "input_audio_mtok", 1e6),
    ("audio_output", "output_audio_mtok", 1e6),
    ("image_input", "input_image_mtok", 1e6),
    ("image_output", "output_image_mtok", 1e6),
    ("accepted_prediction", "accepted_prediction_mtok", 1e6),
    ("rejected_prediction", "rejected_prediction_mtok", 1e6),
    ("seconds", "per_second", 1),
    ("seconds", "per_minute", 60),
    ("seconds", "input_audio_hours", 3600),
    ("seconds", "audio_hours", 3600),
    ("characters", "per_1k_characters", 1000),
    ("characters", "input_mchars", 1e6),
    ("pages", "per_page", 1),
    ("pages", "input_document_kpages", 1000),
    ("images", "per_image", 1),
)


@dataclass(frozen=True, slots=True)
class UnitRates:
    """USD per token (token kinds) or per unit; None = the model has no such price."""

    audio_input: Price | None = None
    audio_output: Price | None = None
    image_input: Price | None = None
    image_output: Price | None = None
    accepted_prediction: Price | None = None
    rejected_prediction: Price | None = None
    seconds: Price | None = None
    characters: Price | None = None
    pages: Price | None = None
    images: Price | None = None


def price_per_unit(value: Any, per: float) -> Price:
    """A genai-prices price (``Decimal`` or ``TieredPrices``, USD per ``per`` units) per unit."""
    tiers = getattr(value, "tiers", None)
    if tiers is not None:  # genai-prices TieredPrices
        return (
            float(Decimal(value.base) / Decimal(per)),
            tuple((float(t.start), float(Decimal(t.price) / Decimal(per))) for t in tiers),
        )
    return float(Decimal(value) / Decimal(per))


def unit_rates(price: Any) -> UnitRates | None:
    """The extra rates of a genai-prices ``ModelPrice`` (or a parsed file entry); None if none."""
    found: dict[str, Price] = {}
    for name, key, per in _SOURCES:
        if name in found:
            continue
        value = getattr(price, key, None)
        if value is not None:
            found[name] = price_per_unit(value, per)
    return UnitRates(**found) if found else None  # type: ignore[arg-type]


def tier_rate(price: Price | None, quantity: float) -> float:
    """The rate of ``price`` for ``quantity`` (0 for no price), by genai-prices' cliff rule:
    past a tier's start, that tier's rate applies to the whole quantity."""
    if price is None:
        return 0.0
    if isinstance(price, float):
        return price
    base, tiers = price
    for start, rate in reversed(tiers):
        if quantity > start:
            return rate
    return base


@dataclass(frozen=True, slots=True)
class ExtendedUsage:
    """The ``otel_llm.usage.*`` counts of one span (None = not reported)."""

    audio_input: int | None = None
    audio_output: int | None = None
    image_input: int | None = None
    image_output: int | None = None
    accepted_prediction: int | None = None
    rejected_prediction: int | None = None
    seconds: float | None = None
    characters: float | None = None
    pages: float | None = None
    images: float | None = None
    requests: float | None = None

    def tokens(self) -> list[tuple[str, int]]:
        """(``gen_ai_token_type``, count) of the extra token kinds reported."""
        out = []
        for kind in sc.EXTRA_TOKEN_TYPES:
            value = getattr(self, kind)
            if value is not None:
                out.append((kind, value))
        return out


_EXT_FIELDS: Final = tuple(
    (f.name, key)
    for f in fields(ExtendedUsage)
    for name, key in (*sc.EXTRA_TOKEN_ATTRIBUTES, *sc.UNIT_ATTRIBUTES)
    if name == f.name
)
_TOKEN_KINDS: Final = frozenset(sc.EXTRA_TOKEN_TYPES)


def _quantity(value: object, integral: bool) -> float | int | None:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value) if isinstance(value, str) else value
    except ValueError:
        return None
    if not math.isfinite(number) or number < 0:
        return None
    if integral:
        return int(number) if float(number).is_integer() else None
    return number


def read_extended(attrs: Mapping[str, Any]) -> ExtendedUsage | None:
    """The extended usage on a span's attributes, or None when it carries none (fast path)."""
    if sc.EXTENDED_USAGE_KEYS.isdisjoint(attrs):
        return None
    values: dict[str, Any] = {}
    for name, key in _EXT_FIELDS:
        value = _quantity(attrs.get(key), name in _TOKEN_KINDS)
        if value is not None:
            values[name] = value
    return ExtendedUsage(**values)


def extended_cost(
    rates: Any, usage: Any, ext: ExtendedUsage | None
) -> tuple[float | None, str | None]:
    """USD of ``usage`` (:class:`otel_llm.pricing.Usage`) plus ``ext`` at ``rates``
    (:class:`otel_llm.pricing.Rates`), or (None, the usage kind that has no price).
    """
    ext = ext or ExtendedUsage()
    extra: UnitRates = getattr(rates, "extra", None) or UnitRates()
    a_in, i_in = ext.audio_input or 0, ext.image_input or 0
    a_out, i_out = ext.audio_output or 0, ext.image_output or 0
    p_acc, p_rej = ext.accepted_prediction or 0, ext.rejected_prediction or 0
    if a_in + i_in > usage.input:
        usage = replace(usage, input=usage.input + a_in + i_in)
    if a_out + i_out + p_acc + p_rej > usage.output:
        usage = replace(usage, output=usage.output + a_out + i_out + p_acc + p_rej)
    total = rates.cost(usage)
    n = usage.input
    r_in, r_out = tier_rate(rates.input, n), tier_rate(rates.output, n)
    # token parts: moved from the input/output rate to their own
    for count, own, base, kind, required in (
        (a_in, extra.audio_input, r_in, "audio_input_tokens", True),
        (a_out, extra.audio_output, r_out, "audio_output_tokens", True),
        (i_in, extra.image_input, r_in, "image_input_tokens", False),
        (i_out, extra.image_output, r_out, "image_output_tokens", False),
        (p_acc, extra.accepted_prediction, r_out, "accepted_prediction_tokens", False),
        (p_rej, extra.rejected_prediction, r_out, "rejected_prediction_tokens", False),
    ):
        if not count:
            continue
        if own is None:
            if required:
                return None, kind
            continue
        total += count * (tier_rate(own, n) - base)
    for unit in ("seconds", "characters", "pages", "images"):
        quantity = getattr(ext, unit)
        if not quantity:
            continue
        price = getattr(extra, unit)
        if price is None:
            return None, unit
        total += quantity * tier_rate(price, quantity)
    if ext.requests is not None:
        total += (ext.requests - 1) * rates.request
    return max(total, 0.0), None


def _detail(details: Any, name: str) -> int:
    value = details.get(name) if isinstance(details, Mapping) else getattr(details, name, None)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def openai_usage_attributes(usage: Any) -> dict[str, int]:
    """The ``otel_llm.usage.*`` token attributes of an OpenAI usage object or dict.

    Chat Completions: ``prompt_tokens_details.audio_tokens``,
    ``completion_tokens_details.{audio_tokens, accepted_prediction_tokens,
    rejected_prediction_tokens}``; Responses/Images: ``input_tokens_details.image_tokens``
    (and ``audio_tokens``). Only counts above zero are returned (OpenAI sends zeros), so a
    plain text call keeps the processor's fast path.
    """

    def part(name: str) -> Any:
        return usage.get(name) if isinstance(usage, Mapping) else getattr(usage, name, None)

    inp = part("prompt_tokens_details") or part("input_tokens_details")
    out = part("completion_tokens_details") or part("output_tokens_details")
    found = {
        sc.OTEL_LLM_USAGE_AUDIO_INPUT_TOKENS: _detail(inp, "audio_tokens"),
        sc.OTEL_LLM_USAGE_IMAGE_INPUT_TOKENS: _detail(inp, "image_tokens"),
        sc.OTEL_LLM_USAGE_AUDIO_OUTPUT_TOKENS: _detail(out, "audio_tokens"),
        sc.OTEL_LLM_USAGE_PREDICTION_ACCEPTED_TOKENS: _detail(out, "accepted_prediction_tokens"),
        sc.OTEL_LLM_USAGE_PREDICTION_REJECTED_TOKENS: _detail(out, "rejected_prediction_tokens"),
    }
    return {k: v for k, v in found.items() if v}
