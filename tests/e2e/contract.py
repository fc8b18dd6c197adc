"""Checks that a span read back from storage satisfies the telemetry contract."""

from __future__ import annotations

from decimal import Decimal

from genai_prices import Usage, calc_price

from otel_llm.store.base import SpanRecord

REQUIRED_GENAI = (
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "gen_ai.request.model",
    "server.address",
    "server.port",
    "request.id",
)
REQUIRED_SUCCESS = (
    "gen_ai.response.model",
    "gen_ai.usage.input_tokens",
)


# Manual calls (otel_llm.track): the demo's speech-to-text call, priced per minute of audio
# from otel_llm/demo/pricing.yaml.
MANUAL_PRICES_PER_SECOND = {("gcp.vertex_ai", "chirp-2"): Decimal("0.016") / 60}


def check_manual_span(span: SpanRecord) -> None:
    a = span.attributes
    for key in ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model"):
        assert key in a, f"{span.name}: missing {key}"
    assert "request.id" in a, span.name
    assert span.kind == "CLIENT", span.name
    assert span.name == f"{a['gen_ai.operation.name']} {a['gen_ai.request.model']}"
    if span.status == "ERROR":
        assert a.get("error.type"), f"{span.name}: ERROR without error.type"
    if "gen_ai.usage.cost.amount" in a:
        assert a["gen_ai.usage.cost.source"] == "local" and not a.get("otel_llm.cost.unpriced")
    else:
        assert a.get("otel_llm.cost.unpriced") is True, f"{span.name}: no cost and not unpriced"


def check_genai_span(span: SpanRecord) -> None:
    a = span.attributes
    if a.get("otel_llm.manual") is True:
        check_manual_span(span)
        return
    for key in REQUIRED_GENAI:
        assert key in a, f"{span.name}: missing {key}"
    assert span.kind == "CLIENT", span.name
    assert span.name == f"{a['gen_ai.operation.name']} {a['gen_ai.request.model']}"
    if span.status == "ERROR":
        assert a.get("error.type"), f"{span.name}: ERROR without error.type"
        return
    for key in REQUIRED_SUCCESS:
        assert key in a, f"{span.name}: missing {key}"
    if a["gen_ai.operation.name"] != "embeddings":
        assert "gen_ai.usage.output_tokens" in a, span.name
        assert "gen_ai.response.id" in a, span.name
        reasons = a.get("gen_ai.response.finish_reasons")
        assert isinstance(reasons, list) and all(isinstance(r, str) for r in reasons), span.name
    if a.get("gen_ai.request.stream"):
        assert isinstance(a.get("gen_ai.response.time_to_first_chunk"), float), span.name
    if "gen_ai.usage.cost.amount" in a:
        assert a["gen_ai.usage.cost.currency"] == "USD"
        assert a["gen_ai.usage.cost.source"] in ("local", "provider")
        assert not a.get("otel_llm.cost.unpriced")
    else:
        assert a.get("otel_llm.cost.unpriced") is True, f"{span.name}: no cost and not unpriced"


def expected_cost(span: SpanRecord) -> Decimal | None:
    """genai-prices' own figure for the span's tokens (None when it has no price); for a
    manual call, its seconds at :data:`MANUAL_PRICES_PER_SECOND`."""
    a = span.attributes
    if a.get("otel_llm.manual") is True:
        rate = MANUAL_PRICES_PER_SECOND.get((a["gen_ai.provider.name"], a["gen_ai.request.model"]))
        seconds = a.get("otel_llm.usage.seconds")
        return None if rate is None or seconds is None else rate * Decimal(str(seconds))
    try:
        price = calc_price(
            Usage(
                input_tokens=a.get("gen_ai.usage.input_tokens", 0),
                output_tokens=a.get("gen_ai.usage.output_tokens", 0),
                cache_read_tokens=a.get("gen_ai.usage.cache_read.input_tokens"),
                cache_write_tokens=a.get("gen_ai.usage.cache_creation.input_tokens"),
            ),
            model_ref=a["gen_ai.request.model"],
            provider_id=a["gen_ai.provider.name"],
        )
    except LookupError:
        return None
    return price.total_price
