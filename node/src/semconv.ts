/**
 * The telemetry vocabulary in one place: attribute and metric names from the contract
 * (mirrors otel_llm/semconv.py). Writers emit the baseline spelling (GenAI semconv v1.41);
 * readers accept the older and newer spellings through {@link firstAttr}.
 */
import type { AttributeValue } from '@opentelemetry/api';

export const GEN_AI_OPERATION_NAME = 'gen_ai.operation.name';
export const GEN_AI_PROVIDER_NAME = 'gen_ai.provider.name';
/** Deprecated spelling of the provider. */
export const GEN_AI_SYSTEM = 'gen_ai.system';
export const GEN_AI_REQUEST_MODEL = 'gen_ai.request.model';
export const GEN_AI_REQUEST_STREAM = 'gen_ai.request.stream';
export const GEN_AI_RESPONSE_MODEL = 'gen_ai.response.model';
export const GEN_AI_RESPONSE_ID = 'gen_ai.response.id';
export const GEN_AI_RESPONSE_FINISH_REASONS = 'gen_ai.response.finish_reasons';
export const GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = 'gen_ai.response.time_to_first_chunk';
export const GEN_AI_USAGE_INPUT_TOKENS = 'gen_ai.usage.input_tokens';
export const GEN_AI_USAGE_OUTPUT_TOKENS = 'gen_ai.usage.output_tokens';
export const GEN_AI_USAGE_PROMPT_TOKENS = 'gen_ai.usage.prompt_tokens';
export const GEN_AI_USAGE_COMPLETION_TOKENS = 'gen_ai.usage.completion_tokens';
export const GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = 'gen_ai.usage.cache_read.input_tokens';
export const GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS = 'gen_ai.usage.cache_creation.input_tokens';
export const GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS = 'gen_ai.usage.cache_write.input_tokens';
export const GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = 'gen_ai.usage.reasoning.output_tokens';
// cost: open proposal semantic-conventions-genai #443
export const GEN_AI_USAGE_COST_AMOUNT = 'gen_ai.usage.cost.amount';
export const GEN_AI_USAGE_COST_CURRENCY = 'gen_ai.usage.cost.currency';
export const GEN_AI_USAGE_COST_SOURCE = 'gen_ai.usage.cost.source';

export const SERVER_ADDRESS = 'server.address';
export const SERVER_PORT = 'server.port';
export const ERROR_TYPE = 'error.type';
export const HTTP_ROUTE = 'http.route';
export const USER_ID = 'user.id';
export const ENDUSER_ID = 'enduser.id';

/** Stamped on every span; also the W3C baggage key that carries the ID across hops. */
export const REQUEST_ID = 'request.id';
export const REQUEST_ID_HEADER = 'X-Request-ID';
export const BAGGAGE_REQUEST_ID = 'request.id';
export const OTEL_LLM_TENANT = 'otel_llm.tenant';
/** True when a token count was estimated rather than reported by the provider. */
export const OTEL_LLM_TOKENS_ESTIMATED = 'otel_llm.usage.estimated';
/**
 * True when the endpoint of a GenAI call matched no known provider (src/providers.ts): the
 * span keeps the client's provider name and is priced only by the local pricing file.
 */
export const OTEL_LLM_PROVIDER_UNRESOLVED = 'otel_llm.provider.unresolved';
/** The provider's own request ID (`x-request-id` / `request-id` response header). */
export const OTEL_LLM_PROVIDER_REQUEST_ID = 'otel_llm.provider.request_id';
/** Why the wire layer could not read a response: not_json, empty, unknown_shape, truncated, too_large. */
export const OTEL_LLM_WIRE_ERROR = 'otel_llm.wire.error';
/** True when the response carried no usage we could read (and none was estimated). */
export const OTEL_LLM_USAGE_MISSING = 'otel_llm.usage.missing';
/** The Azure OpenAI deployment named by the URL (not a model name). */
export const OTEL_LLM_AZURE_DEPLOYMENT = 'otel_llm.azure.deployment';
/** True on a GenAI span whose model has no known price (no cost amount is set). */
export const OTEL_LLM_UNPRICED = 'otel_llm.cost.unpriced';

export const PROVIDER_KEYS = [GEN_AI_PROVIDER_NAME, GEN_AI_SYSTEM] as const;
export const INPUT_TOKEN_KEYS = [GEN_AI_USAGE_INPUT_TOKENS, GEN_AI_USAGE_PROMPT_TOKENS] as const;
export const OUTPUT_TOKEN_KEYS = [GEN_AI_USAGE_OUTPUT_TOKENS, GEN_AI_USAGE_COMPLETION_TOKENS] as const;
export const CACHE_READ_KEYS = [
  GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
  'gen_ai.usage.cache_read_input_tokens',
] as const;
export const CACHE_CREATION_KEYS = [
  GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
  GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
  'gen_ai.usage.cache_creation_input_tokens',
] as const;
export const REASONING_KEYS = [
  GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
  'gen_ai.usage.reasoning_tokens',
] as const;
export const USER_KEYS = [USER_ID, ENDUSER_ID] as const;

// Prometheus metric names (as Prometheus shows them).
export const METRIC_DURATION = 'gen_ai_client_operation_duration_seconds';
export const METRIC_TOKEN_USAGE = 'gen_ai_client_token_usage';
export const METRIC_TTFC = 'gen_ai_client_operation_time_to_first_chunk_seconds';
export const METRIC_COST = 'gen_ai_client_cost_usd_total';
/** Cost of one priced call (histogram): what a counter cannot show, one call over a budget. */
export const METRIC_OPERATION_COST = 'otel_llm_operation_cost_usd';
export const METRIC_UNPRICED = 'otel_llm_unpriced_operations_total';
export const METRIC_PROCESSOR_ERRORS = 'otel_llm_processor_errors_total';
export const METRIC_SPANS_DROPPED = 'otel_llm_spans_dropped_total';
/** LLM responses the wire layer could not read, by API format and reason (not_json, truncated...). */
export const METRIC_WIRE_PARSE_ERRORS = 'otel_llm_wire_parse_errors_total';
export const OTEL_LLM_ATTRIBUTION_PREFIX = 'otel_llm.attribution.';

/** Semconv advice: 0.01 doubling to 81.92 seconds. */
export const DURATION_BUCKETS: readonly number[] = Object.freeze(
  Array.from({ length: 14 }, (_, i) => Number((0.01 * 2 ** i).toFixed(2))),
);
/** Semconv advice: 1, 4, 16, ... 67108864 tokens. */
export const TOKEN_BUCKETS: readonly number[] = Object.freeze(
  Array.from({ length: 14 }, (_, i) => 4 ** i),
);
/** USD per call; prometheus/budgets.yaml's `single_call_usd` must be one of these bounds. */
export const COST_BUCKETS: readonly number[] = Object.freeze([
  0.0001, 0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100,
]);
export const TOKEN_TYPES = ['input', 'output', 'cache_read', 'cache_creation', 'reasoning'] as const;
export type TokenType = (typeof TOKEN_TYPES)[number];

export type Attrs = Readonly<Record<string, unknown>> | undefined | null;

/** Value of the first key present in `attrs` (old and new spellings), else undefined. */
export function firstAttr(attrs: Attrs, keys: readonly string[]): unknown {
  if (!attrs) return undefined;
  for (const key of keys) {
    const value = attrs[key];
    if (value !== undefined && value !== null) return value;
  }
  return undefined;
}

/** A token count read leniently: non-negative integers, integral floats, digit strings. */
export function intAttr(attrs: Attrs, keys: readonly string[]): number | undefined {
  const value = firstAttr(attrs, keys);
  if (typeof value === 'number') {
    return Number.isInteger(value) && value >= 0 ? value : undefined;
  }
  if (typeof value === 'string' && /^\d+$/.test(value)) return Number(value);
  if (typeof value === 'bigint' && value >= 0n) return Number(value);
  return undefined;
}

/** A span is a GenAI operation span when it names an operation or a provider. */
export function isGenAiSpan(attrs: Attrs): boolean {
  if (!attrs) return false;
  return attrs[GEN_AI_OPERATION_NAME] !== undefined || firstAttr(attrs, PROVIDER_KEYS) !== undefined;
}

// --- usage beyond text tokens (manual tracking API, audio/image/prediction tokens) ---
// The GenAI conventions (v1.41) define none of these; they live under otel_llm.*.
export const OTEL_LLM_USAGE_AUDIO_INPUT_TOKENS = 'otel_llm.usage.audio.input_tokens';
export const OTEL_LLM_USAGE_AUDIO_OUTPUT_TOKENS = 'otel_llm.usage.audio.output_tokens';
export const OTEL_LLM_USAGE_IMAGE_INPUT_TOKENS = 'otel_llm.usage.image.input_tokens';
export const OTEL_LLM_USAGE_IMAGE_OUTPUT_TOKENS = 'otel_llm.usage.image.output_tokens';
export const OTEL_LLM_USAGE_PREDICTION_ACCEPTED_TOKENS = 'otel_llm.usage.prediction.accepted_tokens';
export const OTEL_LLM_USAGE_PREDICTION_REJECTED_TOKENS = 'otel_llm.usage.prediction.rejected_tokens';
export const OTEL_LLM_USAGE_SECONDS = 'otel_llm.usage.seconds';
export const OTEL_LLM_USAGE_CHARACTERS = 'otel_llm.usage.characters';
export const OTEL_LLM_USAGE_PAGES = 'otel_llm.usage.pages';
export const OTEL_LLM_USAGE_IMAGES = 'otel_llm.usage.images';
export const OTEL_LLM_USAGE_REQUESTS = 'otel_llm.usage.requests';
/** True on a span opened by `track` (priced whatever its operation name). */
export const OTEL_LLM_MANUAL = 'otel_llm.manual';
/** True on a manual span opened inside an instrumented GenAI span: recorded, not counted. */
export const OTEL_LLM_MANUAL_NESTED = 'otel_llm.manual.nested';
/** Why a span is unpriced: `no_price`, `no_usage` or `no_price_for:<usage kind>`. */
export const OTEL_LLM_UNPRICED_REASON = 'otel_llm.cost.unpriced_reason';

/** [gen_ai_token_type label value, span attribute] of the token kinds beyond TOKEN_TYPES. */
export const EXTRA_TOKEN_ATTRIBUTES = [
  ['audio_input', OTEL_LLM_USAGE_AUDIO_INPUT_TOKENS],
  ['audio_output', OTEL_LLM_USAGE_AUDIO_OUTPUT_TOKENS],
  ['image_input', OTEL_LLM_USAGE_IMAGE_INPUT_TOKENS],
  ['image_output', OTEL_LLM_USAGE_IMAGE_OUTPUT_TOKENS],
  ['accepted_prediction', OTEL_LLM_USAGE_PREDICTION_ACCEPTED_TOKENS],
  ['rejected_prediction', OTEL_LLM_USAGE_PREDICTION_REJECTED_TOKENS],
] as const;
/** [unit, span attribute] of the non-token usage units. */
export const UNIT_ATTRIBUTES = [
  ['seconds', OTEL_LLM_USAGE_SECONDS],
  ['characters', OTEL_LLM_USAGE_CHARACTERS],
  ['pages', OTEL_LLM_USAGE_PAGES],
  ['images', OTEL_LLM_USAGE_IMAGES],
  ['requests', OTEL_LLM_USAGE_REQUESTS],
] as const;

/**
 * Set each attribute of `attrs` on `span`, as `span.setAttributes(attrs)` does, without the
 * entries list the SDK's setAttributes makes of the record (it runs on every LLM call).
 */
export function setEach(span: { setAttribute(key: string, value: AttributeValue): unknown }, attrs: Readonly<Record<string, AttributeValue>>): void {
  for (const key in attrs) span.setAttribute(key, attrs[key]!);
}
