"""The telemetry vocabulary in one place: attribute and metric names from the contract.

Writers emit the baseline spelling (GenAI semconv v1.41). Readers accept the older and
newer spellings through :func:`first_attr`, so spans from other instrumentations
(the official ones, OpenLLMetry) are understood too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

# --- GenAI span attributes (semconv) -------------------------------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_SYSTEM: Final = "gen_ai.system"  # deprecated spelling of the provider
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_REQUEST_STREAM: Final = "gen_ai.request.stream"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_PROMPT_TOKENS: Final = "gen_ai.usage.prompt_tokens"  # old spelling
GEN_AI_USAGE_COMPLETION_TOKENS: Final = "gen_ai.usage.completion_tokens"  # old spelling
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: Final = "gen_ai.usage.cache_write.input_tokens"  # other
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
# cost: open proposal semantic-conventions-genai #443
GEN_AI_USAGE_COST_AMOUNT: Final = "gen_ai.usage.cost.amount"
GEN_AI_USAGE_COST_CURRENCY: Final = "gen_ai.usage.cost.currency"
GEN_AI_USAGE_COST_SOURCE: Final = "gen_ai.usage.cost.source"

SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"
HTTP_ROUTE: Final = "http.route"
USER_ID: Final = "user.id"
ENDUSER_ID: Final = "enduser.id"  # deprecated spelling of user.id

# --- otel-llm's own attributes -------------------------------------------------------
REQUEST_ID: Final = "request.id"
"""Stamped on every span; also the W3C baggage key that carries the ID across hops."""
REQUEST_ID_HEADER: Final = "X-Request-ID"
BAGGAGE_REQUEST_ID: Final = "request.id"
OTEL_LLM_TENANT: Final = "otel_llm.tenant"
OTEL_LLM_TOKENS_ESTIMATED: Final = "otel_llm.usage.estimated"
"""True when a token count was estimated rather than reported by the provider."""
OTEL_LLM_UNPRICED: Final = "otel_llm.cost.unpriced"
"""True on a GenAI span whose model has no known price (no cost amount is set)."""
OTEL_LLM_ATTRIBUTION_PREFIX: Final = "otel_llm.attribution."
"""Span attribute prefix for attribution labels other than user, tenant and route."""

# Spellings accepted when reading (first present wins).
PROVIDER_KEYS: Final = (GEN_AI_PROVIDER_NAME, GEN_AI_SYSTEM)
INPUT_TOKEN_KEYS: Final = (GEN_AI_USAGE_INPUT_TOKENS, GEN_AI_USAGE_PROMPT_TOKENS)
OUTPUT_TOKEN_KEYS: Final = (GEN_AI_USAGE_OUTPUT_TOKENS, GEN_AI_USAGE_COMPLETION_TOKENS)
CACHE_READ_KEYS: Final = (
    GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    "gen_ai.usage.cache_read_input_tokens",
)
CACHE_CREATION_KEYS: Final = (
    GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
    GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
    "gen_ai.usage.cache_creation_input_tokens",
)
REASONING_KEYS: Final = (GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, "gen_ai.usage.reasoning_tokens")
USER_KEYS: Final = (USER_ID, ENDUSER_ID)

# --- Prometheus metric names (as Prometheus shows them) -----------------------------
METRIC_DURATION: Final = "gen_ai_client_operation_duration_seconds"
METRIC_TOKEN_USAGE: Final = "gen_ai_client_token_usage"
METRIC_TTFC: Final = "gen_ai_client_operation_time_to_first_chunk_seconds"
METRIC_COST: Final = "gen_ai_client_cost_usd_total"
METRIC_OPERATION_COST: Final = "otel_llm_operation_cost_usd"
"""Cost of one priced call (histogram): what a counter cannot show, one call over a budget."""
METRIC_UNPRICED: Final = "otel_llm_unpriced_operations_total"
METRIC_PROCESSOR_ERRORS: Final = "otel_llm_processor_errors_total"
METRIC_SPANS_DROPPED: Final = "otel_llm_spans_dropped_total"

DURATION_BUCKETS: Final = (
    0.01,
    0.02,
    0.04,
    0.08,
    0.16,
    0.32,
    0.64,
    1.28,
    2.56,
    5.12,
    10.24,
    20.48,
    40.96,
    81.92,
)
TOKEN_BUCKETS: Final = tuple(float(4**i) for i in range(14))  # 1, 4, 16, ... 67108864
COST_BUCKETS: Final = (
    0.0001,
    0.001,
    0.01,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    25.0,
    50.0,
    100.0,
)
"""USD per call; prometheus/budgets.yaml's ``single_call_usd`` must be one of these bounds."""

TOKEN_TYPES: Final = ("input", "output", "cache_read", "cache_creation", "reasoning")


def first_attr(attrs: Mapping[str, Any] | None, keys: Sequence[str]) -> Any:
    """Value of the first key present in ``attrs`` (old and new spellings), else None."""
    if not attrs:
        return None
    for key in keys:
        value = attrs.get(key)
        if value is not None:
            return value
    return None


def int_attr(attrs: Mapping[str, Any] | None, keys: Sequence[str]) -> int | None:
    """A token count read leniently: ints, integral floats and digit strings; else None."""
    value = first_attr(attrs, keys)
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def is_genai_span(attrs: Mapping[str, Any] | None) -> bool:
    """A span is a GenAI operation span when it names an operation or a provider."""
    if not attrs:
        return False
    return GEN_AI_OPERATION_NAME in attrs or first_attr(attrs, PROVIDER_KEYS) is not None


# --- usage beyond text tokens (manual tracking API, audio/image/prediction tokens) ---
# The GenAI conventions (v1.41) define no attributes for these; they live under otel_llm.*.
# Audio and image tokens are parts of input/output (as OpenAI reports them), like cache
# tokens; accepted/rejected prediction tokens are parts of output.
OTEL_LLM_USAGE_AUDIO_INPUT_TOKENS: Final = "otel_llm.usage.audio.input_tokens"
OTEL_LLM_USAGE_AUDIO_OUTPUT_TOKENS: Final = "otel_llm.usage.audio.output_tokens"
OTEL_LLM_USAGE_IMAGE_INPUT_TOKENS: Final = "otel_llm.usage.image.input_tokens"
OTEL_LLM_USAGE_IMAGE_OUTPUT_TOKENS: Final = "otel_llm.usage.image.output_tokens"
OTEL_LLM_USAGE_PREDICTION_ACCEPTED_TOKENS: Final = "otel_llm.usage.prediction.accepted_tokens"
OTEL_LLM_USAGE_PREDICTION_REJECTED_TOKENS: Final = "otel_llm.usage.prediction.rejected_tokens"
OTEL_LLM_USAGE_SECONDS: Final = "otel_llm.usage.seconds"
OTEL_LLM_USAGE_CHARACTERS: Final = "otel_llm.usage.characters"
OTEL_LLM_USAGE_PAGES: Final = "otel_llm.usage.pages"
OTEL_LLM_USAGE_IMAGES: Final = "otel_llm.usage.images"
OTEL_LLM_USAGE_REQUESTS: Final = "otel_llm.usage.requests"
OTEL_LLM_MANUAL: Final = "otel_llm.manual"
"""True on a span opened by ``otel_llm.track`` (priced whatever its operation name)."""
OTEL_LLM_MANUAL_NESTED: Final = "otel_llm.manual.nested"
"""True on a manual span opened inside an instrumented GenAI span: recorded, not counted."""
OTEL_LLM_UNPRICED_REASON: Final = "otel_llm.cost.unpriced_reason"
"""Why a span is unpriced: ``no_price``, ``no_usage`` or ``no_price_for:<usage kind>``."""

EXTRA_TOKEN_ATTRIBUTES: Final = (
    ("audio_input", OTEL_LLM_USAGE_AUDIO_INPUT_TOKENS),
    ("audio_output", OTEL_LLM_USAGE_AUDIO_OUTPUT_TOKENS),
    ("image_input", OTEL_LLM_USAGE_IMAGE_INPUT_TOKENS),
    ("image_output", OTEL_LLM_USAGE_IMAGE_OUTPUT_TOKENS),
    ("accepted_prediction", OTEL_LLM_USAGE_PREDICTION_ACCEPTED_TOKENS),
    ("rejected_prediction", OTEL_LLM_USAGE_PREDICTION_REJECTED_TOKENS),
)
"""(``gen_ai_token_type`` label value, span attribute) of the token kinds beyond TOKEN_TYPES."""
UNIT_ATTRIBUTES: Final = (
    ("seconds", OTEL_LLM_USAGE_SECONDS),
    ("characters", OTEL_LLM_USAGE_CHARACTERS),
    ("pages", OTEL_LLM_USAGE_PAGES),
    ("images", OTEL_LLM_USAGE_IMAGES),
    ("requests", OTEL_LLM_USAGE_REQUESTS),
)
"""(unit, span attribute) of the non-token usage units."""
EXTRA_TOKEN_TYPES: Final = tuple(kind for kind, _ in EXTRA_TOKEN_ATTRIBUTES)
EXTENDED_USAGE_KEYS: Final = frozenset(
    key for _, key in (*EXTRA_TOKEN_ATTRIBUTES, *UNIT_ATTRIBUTES)
)
