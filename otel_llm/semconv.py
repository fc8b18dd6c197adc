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
