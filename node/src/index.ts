/**
 * @otel-llm/node: OpenTelemetry tracing, Prometheus metrics and cost for Node services
 * that call LLMs. One call at start-up, `register()`, or zero code:
 * `node --import @otel-llm/node/register app.js`.
 */
export { register, shutdown, getMetrics, metricsHandler } from './setup.js';
export type { RegisterOptions, Telemetry } from './setup.js';
export { loadSettings } from './config.js';
export type { Settings, ExporterKind, LogFormat } from './config.js';
export { currentRequestId, currentAttribution, setAttribution, runWithState, newRequestState } from './context.js';
export type { RequestState } from './context.js';
export {
  REQUEST_ID_PATTERN,
  isValidRequestId,
  newRequestId,
  resolveRequestId,
  requestIdMiddleware,
  fastifyRequestId,
  withRequestId,
  RequestIdPropagator,
  installEdgeHook,
} from './requestid.js';
export type { RequestIdOptions } from './requestid.js';
export {
  LlmMetrics,
  metricsMiddleware,
  serveMetrics,
  startMetricsServer,
  openMetricsToPrometheus,
  validateAttributionLabels,
} from './metrics.js';
export type { Observation, Labels } from './metrics.js';
export {
  LlmSpanProcessor,
  analyzeSpan,
  LabelFolder,
  sanitizeLabelValue,
  pseudonymize,
  INFERENCE_OPERATIONS,
} from './processor.js';
export type { Analysis, SpanFacts } from './processor.js';
export { PriceBook, Rates, PROVIDER_IDS, PricingFileError, bundledReady, normalizeUsage, usage, strictMatch } from './pricing.js';
export type { Usage } from './pricing.js';
export { FileSpanExporter } from './exporter-file.js';
export { OpenAIExtrasInstrumentation } from './genai/openai.js';
export { SUPPORTED_CLIENTS, logUnsupportedClients, unsupportedClients } from './genai/versions.js';
export { ProviderResolver, parseProviderHosts, priceId, semconvName, SEMCONV_NAMES, INCLUDE_USAGE_PROVIDERS } from './providers.js';
export type { ResolvedProvider } from './providers.js';
export { WireLayer, FORMATS as WIRE_FORMATS, formatFor } from './wire/index.js';
export type { WireOptions, IncludeUsage } from './wire/index.js';
export { SinglePropagationUndiciInstrumentation } from './wire/undici.js';
export { createLogger, correlationFields } from './logs.js';
export type { LoggerConfig } from './logs.js';
export { redactText, Redactor, isSecretKey, isContentKey } from './redact.js';
export * as semconv from './semconv.js';
export { track, TrackedCall, TrackingError, USAGE_ATTRIBUTES, strictMode, resetTrackWarnings } from './track.js';
export type { TrackOptions, Usage as TrackUsage } from './track.js';
export { USAGE_FIELDS, FILE_PRICE_KEYS, readExtended, extendedCost, unitRates } from './pricing-units.js';
export type { ExtendedUsage, UnitRates } from './pricing-units.js';
