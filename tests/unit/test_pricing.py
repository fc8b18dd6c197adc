"""PriceBook: same figures as genai-prices' calc_price, strict model matching, pricing file."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import genai_prices
import pytest
from genai_prices import types as gp_types
from genai_prices.data_snapshot import get_snapshot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_llm import pricing
from otel_llm.pricing import PROVIDER_IDS, PriceBook, PricingFileError, Usage

SNAPSHOT = get_snapshot()
ALL_MODELS = [(p, m) for p in SNAPSHOT.providers for m in p.models]
FIXED_TS = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _ns(when: datetime) -> int:
    return int(when.timestamp()) * 1_000_000_000 + when.microsecond * 1000


def _gp_usage(u: Usage) -> genai_prices.Usage:
    return genai_prices.Usage(
        input_tokens=u.input,
        output_tokens=u.output,
        cache_read_tokens=u.cache_read,
        cache_write_tokens=u.cache_creation,
        output_reasoning_tokens=u.reasoning,
    )


def _reference(provider: gp_types.Provider, model: gp_types.ModelInfo, u: Usage, when: datetime):
    return float(model.calc_price(_gp_usage(u), provider, genai_request_timestamp=when).total_price)


def _ours(provider: gp_types.Provider, model: gp_types.ModelInfo, u: Usage, when: datetime):
    return pricing._compile_model(model, provider.id).rates_at(_ns(when)).cost(u)


@pytest.fixture(scope="module")
def book() -> PriceBook:
    return PriceBook.load(None)


# --- arithmetic equals calc_price ----------------------------------------------------


@pytest.mark.parametrize(
    "usage",
    [
        Usage(input=1200, output=340, cache_read=200, cache_creation=100, reasoning=60),
        Usage(
            input=250_000, output=9_000, cache_read=50_000, cache_creation=10_000, reasoning=4000
        ),
        Usage(input=0, output=0),
    ],
    ids=["small", "above-tiers", "zero"],
)
def test_every_bundled_model_matches_calc_price(usage: Usage) -> None:
    checked = 0
    for provider, model in ALL_MODELS:
        try:
            expected = _reference(provider, model, usage, FIXED_TS)
        except ValueError:
            continue  # genai-prices rejects this model's own price data; nothing to hold
        assert math.isclose(
            _ours(provider, model, usage, FIXED_TS), expected, rel_tol=1e-9, abs_tol=1e-15
        ), (
            provider.id,
            model.id,
        )
        checked += 1
    assert checked > 0.95 * len(ALL_MODELS)


usages = st.builds(
    lambda inp, cr, cc, out, rs: Usage(
        input=inp + cr + cc, output=out + rs, cache_read=cr, cache_creation=cc, reasoning=rs
    ),
    st.integers(0, 400_000),
    st.integers(0, 100_000),
    st.integers(0, 50_000),
    st.integers(0, 100_000),
    st.integers(0, 50_000),
)
timestamps = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=0))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pm=st.sampled_from(ALL_MODELS), usage=usages, when=timestamps)
def test_property_matches_calc_price(pm, usage: Usage, when: datetime) -> None:
    provider, model = pm
    try:
        expected = _reference(provider, model, usage, when)
    except ValueError:
        return
    assert math.isclose(_ours(provider, model, usage, when), expected, rel_tol=1e-9, abs_tol=1e-15)


@pytest.mark.parametrize(
    ("provider", "model", "gp_provider"),
    [
        ("openai", "gpt-4o-mini", "openai"),
        ("openai", "gpt-4o-mini-2024-07-18", "openai"),
        ("anthropic", "claude-sonnet-4-5-20250929", "anthropic"),
        ("azure.ai.openai", "gpt-4o", "azure"),
        ("aws.bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0", "aws"),
        ("gcp.vertex_ai", "gemini-2.5-flash", "google"),
        ("gcp.gemini", "gemini-2.5-pro", "google"),
        ("deepseek", "deepseek-chat", "deepseek"),
        ("x_ai", "grok-3", "x-ai"),
        ("groq", "llama-3.1-8b-instant", "groq"),
        ("mistral_ai", "mistral-large-latest", "mistral"),
        ("cohere", "command-r-plus", "cohere"),
    ],
)
def test_public_lookup_equals_calc_price(book: PriceBook, provider, model, gp_provider) -> None:
    usage = Usage(input=300_000, output=2000, cache_read=1000, cache_creation=500, reasoning=300)
    for when in (FIXED_TS, datetime(2025, 1, 1, 3, 0, tzinfo=UTC)):
        expected = float(
            genai_prices.calc_price(
                _gp_usage(usage), model, provider_id=gp_provider, genai_request_timestamp=when
            ).total_price
        )
        got = book.cost(provider, model, usage, timestamp_ns=_ns(when))
        assert got is not None
        assert math.isclose(got, expected, rel_tol=1e-9)


def test_price_periods_follow_the_request_time() -> None:
    """A model with time-of-day prices (DeepSeek off-peak) is priced for the span's time."""
    deepseek = next(p for p in SNAPSHOT.providers if p.id == "deepseek")
    model = next(
        m
        for m in deepseek.models
        if not isinstance(m.prices, gp_types.ModelPrice)
        and any(isinstance(c.constraint, gp_types.TimeOfDateConstraint) for c in m.prices)
    )
    usage = Usage(input=1_000_000, output=1_000_000)
    figures = set()
    for hour in range(24):
        when = datetime(2025, 3, 1, hour, 30, tzinfo=UTC)
        ours = _ours(deepseek, model, usage, when)
        assert math.isclose(ours, _reference(deepseek, model, usage, when), rel_tol=1e-12)
        figures.add(round(ours, 9))
    assert len(figures) >= 2  # the period really changes the price


def test_tier_threshold_applies_to_all_tokens(book: PriceBook) -> None:
    provider = next(p for p in SNAPSHOT.providers if p.id == "anthropic")
    model = provider.find_model("claude-sonnet-4-5")
    assert model is not None and isinstance(model.prices, gp_types.ModelPrice)
    assert isinstance(model.prices.input_mtok, gp_types.TieredPrices)
    start = model.prices.input_mtok.tiers[0].start
    below = book.cost("anthropic", "claude-sonnet-4-5", Usage(input=start, output=0))
    above = book.cost("anthropic", "claude-sonnet-4-5", Usage(input=start + 1, output=0))
    assert below is not None and above is not None
    assert above / (start + 1) > below / start * 1.5  # the whole request moved to the tier rate


# --- usage normalisation ---------------------------------------------------------------


def test_normalized_keeps_conforming_usage() -> None:
    u = Usage(input=100, output=50, cache_read=40, cache_creation=10, reasoning=20)
    assert u.normalized() is u


def test_normalized_adds_cache_and_reasoning_when_reported_apart() -> None:
    u = Usage(input=10, output=5, cache_read=40, cache_creation=10, reasoning=20)
    assert u.normalized() == Usage(
        input=60, output=25, cache_read=40, cache_creation=10, reasoning=20
    )


def test_cost_of_raw_anthropic_shape_equals_summed_shape(book: PriceBook) -> None:
    raw = Usage(input=10, output=5, cache_read=1000, cache_creation=200)
    summed = Usage(input=1210, output=5, cache_read=1000, cache_creation=200)
    assert book.cost("anthropic", "claude-sonnet-4-5", raw) == book.cost(
        "anthropic", "claude-sonnet-4-5", summed
    )


# --- strict matching and providers -------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai", "gpt-4o-mini-foo-unknown"),
        ("openai", "gpt-made-up"),
        ("openai", "gpt-45"),
        ("anthropic", "claude-sonnet-4-5-foo"),
        ("anthropic", "claude-made-up"),
        ("cohere", "my-aya-expanse-32b"),
        (None, "totally-made-up-model"),
        (None, "gpt-4o-mini-foo-unknown"),
        ("ollama", "llama3.1"),  # a provider we cannot map is never priced as another
        ("ibm.watsonx.ai", "ibm/granite-13b-chat-v2"),
        ("openai", ""),
        ("openai", None),
    ],
)
def test_unknown_models_are_unpriced(book: PriceBook, provider, model) -> None:
    assert book.cost(provider, model, Usage(input=10, output=10)) is None


@pytest.mark.parametrize(
    ("provider", "model", "model_id"),
    [
        ("openai", "gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("openai", "gpt-4o-mini-20240718", "gpt-4o-mini"),  # compact date, as LiteLLM writes
        ("openai", "GPT-4o-Mini", "gpt-4o-mini"),
        ("openai", "gpt-4-0613", "gpt-4"),
        ("anthropic", "claude-3-5-sonnet-latest", "claude-3-5-sonnet"),
        ("anthropic", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("gcp.vertex_ai", "claude-3-5-sonnet@20240620", "claude-3-5-sonnet"),
        ("gcp.gemini", "gemini-2.0-flash-001", "gemini-2.0-flash"),
        ("openai", "ft:gpt-3.5-turbo-0125:acme::abc123", "ft:gpt-3.5-turbo-"),
    ],
)
def test_version_tags_still_match(book: PriceBook, provider, model, model_id) -> None:
    resolved = book.resolve(provider, model)
    assert resolved is not None and resolved.model_id == model_id


def test_every_bundled_model_id_resolves_to_itself_where_genai_prices_does() -> None:
    for _provider, model in ALL_MODELS:
        if model.is_match(model.id):
            assert pricing.strict_match(model, model.id), model.id


def test_semconv_providers_map_to_existing_ids() -> None:
    ids = {p.id for p in SNAPSHOT.providers}
    assert set(PROVIDER_IDS.values()) <= ids
    for name in (
        "openai",
        "anthropic",
        "azure.ai.openai",
        "aws.bedrock",
        "gcp.vertex_ai",
        "gcp.gemini",
        "mistral_ai",
        "groq",
        "deepseek",
        "x_ai",
        "cohere",
    ):
        assert name in PROVIDER_IDS


def test_no_provider_uses_the_home_provider_or_a_unique_listing(book: PriceBook) -> None:
    assert book.resolve(None, "gpt-4o-mini").provider_id == "openai"  # home by name
    assert book.resolve(None, "command-r-plus").provider_id == "cohere"  # home beats openrouter
    assert book.resolve(None, "llama-3.1-8b-instant").provider_id == "groq"  # only listing


def test_ambiguous_model_without_provider_is_unpriced() -> None:
    # two providers list the same name at different prices and neither is its home
    a = gp_types.Provider(id="a", name="A", api_pattern="a", models=[])
    b = gp_types.Provider(id="b", name="B", api_pattern="b", models=[])
    for prov, price in ((a, "1"), (b, "2")):
        prov.models.append(
            gp_types.ModelInfo(
                id="shared-model",
                match=gp_types.ClauseEquals(equals="shared-model"),
                prices=gp_types.ModelPrice(input_mtok=gp_types.Decimal(price)),
            )
        )
    book = PriceBook(providers=[a, b])
    assert book.resolve(None, "shared-model") is None
    assert book.resolve("a", "shared-model") is not None


def test_resolution_is_cached_including_misses(book: PriceBook, monkeypatch) -> None:
    fresh = PriceBook.load(None)
    calls: list[tuple[str | None, str]] = []
    real = fresh._resolve

    def counting(provider, model):
        calls.append((provider, model))
        return real(provider, model)

    monkeypatch.setattr(fresh, "_resolve", counting)
    for _ in range(3):
        fresh.cost("openai", "gpt-4o-mini", Usage(input=1))
        fresh.cost("openai", "no-such-model", Usage(input=1))
    assert calls == [("openai", "gpt-4o-mini"), ("openai", "no-such-model")]


# --- pricing file --------------------------------------------------------------------------


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_pricing_file_yaml_custom_model_and_override(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "prices.yaml",
        """
models:
  - model: acme-llm-1
    prices: {input_mtok: 1, output_mtok: 2, cache_read_mtok: 0.1}
  - model: gpt-4o-mini
    provider: openai
    prices:
      input_mtok: 10
      output_mtok: {base: 20, tiers: [{start: 1000, price: 40}]}
""",
    )
    book = PriceBook.load(path)
    usage = Usage(input=1_000_000, output=1_000_000, cache_read=500_000)
    assert book.cost(None, "acme-llm-1", usage) == pytest.approx(0.5 + 0.05 + 2)
    assert book.cost("anything", "ACME-LLM-1", usage) == pytest.approx(2.55)
    # override: cache_read not priced apart -> stays in input at the input price; tier applies
    assert book.cost("openai", "gpt-4o-mini", usage) == pytest.approx(10 + 40)
    assert book.cost("openai", "gpt-4o-mini", Usage(input=10, output=1_000_000)) == pytest.approx(
        20 + 0.0001, rel=1e-9
    )
    assert book.cost("azure.ai.openai", "gpt-4o-mini", usage) != pytest.approx(50)  # other provider


def test_pricing_file_json_with_semconv_provider(tmp_path: Path) -> None:
    doc = {"models": [{"model": "my-ft", "provider": "gcp.vertex_ai", "prices": {"input_mtok": 3}}]}
    book = PriceBook.load(_write(tmp_path, "p.json", json.dumps(doc)))
    assert book.cost("gcp.gemini", "my-ft", Usage(input=1_000_000)) == pytest.approx(3)
    assert book.cost("openai", "my-ft", Usage(input=1_000_000)) is None


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("p.json", "{not json", "not valid json"),
        ("p.yaml", "models: [", "not valid yaml"),
        ("p.txt", "{}", ".json, .yaml or .yml"),
        ("p.json", '{"model": []}', "one key, 'models'"),
        ("p.json", '{"models": [{"prices": {"input_mtok": 1}}]}', "models[0].model"),
        ("p.json", '{"models": [{"model": "m", "prices": {"input_mtok": -1}}]}', "input_mtok"),
        ("p.json", '{"models": [{"model": "m", "prices": {"input_mtok": "x"}}]}', "non-negative"),
        ("p.json", '{"models": [{"model": "m", "prices": {"input": 1}}]}', "unknown keys"),
        (
            "p.json",
            '{"models": [{"model": "m", "cost": 1, "prices": {"input_mtok": 1}}]}',
            "unknown",
        ),
        ("p.json", '{"models": [{"model": "m", "prices": {}}]}', "prices"),
        (
            "p.json",
            json.dumps(
                {
                    "models": [
                        {
                            "model": "m",
                            "prices": {
                                "input_mtok": {"base": 1, "tiers": [{"start": -1, "price": 2}]}
                            },
                        }
                    ]
                }
            ),
            "start",
        ),
        (
            "p.json",
            json.dumps(
                {
                    "models": [
                        {"model": "m", "prices": {"input_mtok": 1}},
                        {"model": "M", "prices": {"input_mtok": 2}},
                    ]
                }
            ),
            "duplicate",
        ),
    ],
)
def test_invalid_pricing_file_is_a_clear_error(tmp_path: Path, name, text, message) -> None:
    path = _write(tmp_path, name, text)
    with pytest.raises(PricingFileError) as info:
        PriceBook.load(path)
    assert message in str(info.value)
    if message not in (".json, .yaml or .yml",):
        assert path in str(info.value) or "models" in str(info.value)


def test_missing_pricing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PricingFileError, match="cannot read"):
        PriceBook.load(str(tmp_path / "nope.yaml"))


def test_price_updater_is_never_started() -> None:
    # the bundled snapshot is in use: nothing replaced it with an auto-updated one
    assert get_snapshot().from_auto_update is False
