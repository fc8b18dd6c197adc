/**
 * The span processor: request ID and attribution at start; cost and metrics at the end
 * (mirrors otel_llm/processor.py rule for rule; the shared vectors hold both equal).
 *
 * At start, on every span: `request.id` (request state, else baggage, of the parent
 * context) and the request's attribution values: `user` -> `user.id` (pseudonymised when
 * OTEL_LLM_USER_HASH_KEY is set, as in the metrics), `tenant` -> `otel_llm.tenant`,
 * `route` -> `http.route` (only when the span has none), any other name ->
 * `otel_llm.attribution.<name>`. GenAI spans from instrumentations that write older
 * spellings are brought to the contract's (see {@link normalizeAtStart}).
 *
 * At the end of GenAI spans (the SDK's `onEnding` hook, while attributes can still be set):
 * duration and time-to-first-chunk histograms for every GenAI span; token usage and cost
 * only for inference operations (or no operation name), so agent spans that repeat their
 * children's usage are not counted twice. A reported `gen_ai.usage.cost.amount` is used as
 * is (source `provider`); otherwise the span is priced (source `local`) by response model,
 * then request model. With no price, or with no usage on a successful inference span, the
 * span gets `otel_llm.cost.unpriced=true` and the unpriced counter moves.
 *
 * Never throws into the host: every hook is guarded, errors are counted in
 * `otel_llm_processor_errors_total{hook,error_type}`.
 */
import { createHmac } from 'node:crypto';
import { SpanStatusCode, TraceFlags, type AttributeValue, type Context } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { currentAttribution, requestIdOf } from './context.js';
import { LlmMetrics, type Labels, type Observation, type SeriesRef } from './metrics.js';
import { PriceBook, normalizeUsage } from './pricing.js';
import { extendedTokens, readExtended, type ExtendedUsage } from './pricing-units.js';
import {
  CACHE_CREATION_KEYS,
  CACHE_READ_KEYS,
  ERROR_TYPE,
  GEN_AI_OPERATION_NAME,
  GEN_AI_PROVIDER_NAME,
  GEN_AI_REQUEST_MODEL,
  GEN_AI_RESPONSE_FINISH_REASONS,
  GEN_AI_RESPONSE_MODEL,
  GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
  GEN_AI_SYSTEM,
  GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
  GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
  GEN_AI_USAGE_COST_AMOUNT,
  GEN_AI_USAGE_COST_CURRENCY,
  GEN_AI_USAGE_COST_SOURCE,
  HTTP_ROUTE,
  INPUT_TOKEN_KEYS,
  METRIC_COST,
  METRIC_DURATION,
  METRIC_OPERATION_COST,
  METRIC_TOKEN_USAGE,
  METRIC_TTFC,
  METRIC_UNPRICED,
  OTEL_LLM_ATTRIBUTION_PREFIX,
  OTEL_LLM_PROVIDER_UNRESOLVED,
  OTEL_LLM_TENANT,
  OTEL_LLM_UNPRICED,
  OUTPUT_TOKEN_KEYS,
  PROVIDER_KEYS,
  REASONING_KEYS,
  REQUEST_ID,
  TOKEN_TYPES,
  OTEL_LLM_MANUAL,
  OTEL_LLM_MANUAL_NESTED,
  OTEL_LLM_UNPRICED_REASON,
  USER_KEYS,
  firstAttr,
  intAttr,
  isGenAiSpan,
  setEach,
  type Attrs,
} from './semconv.js';

/** Operations that consume tokens themselves and are priced. */
export const INFERENCE_OPERATIONS: ReadonlySet<string> = new Set([
  'chat',
  'text_completion',
  'generate_content',
  'embeddings',
  'completion',
]);
const ERROR_OTHER = '_OTHER';
const SEMCONV_LABEL_LIMIT = 256;
const MEMO_LIMIT = 4096;
/** Spans whose observations are held for one batch at most (LlmSpanProcessor.drain). */
const BATCH = 64;
/** The longest a span's observations wait for their batch, in ms. */
const DRAIN_MS = 1000;

/** Span attributes an attribution label is written to (first) and read from. */
const ATTRIBUTION_ATTRIBUTES: Readonly<Record<string, readonly string[]>> = {
  user: USER_KEYS,
  tenant: [OTEL_LLM_TENANT],
  route: [HTTP_ROUTE],
  // as otel_llm/processor.py: the session is the GenAI conversation (a span attribute only)
  session: ['gen_ai.conversation.id'],
};

export function attributeKeys(label: string): readonly string[] {
  return ATTRIBUTION_ATTRIBUTES[label] ?? [OTEL_LLM_ATTRIBUTION_PREFIX + label];
}

// --- label values (same rules as otel_llm/metrics.py) ------------------------------------

const UNSAFE = /[^A-Za-z0-9_.:/@{}+-]/g;
const PSEUDONYM = /^u_[0-9a-f]{16}$/;

/** A bounded, single-token label value: capped length, unsafe characters as `_`. */
export function sanitizeLabelValue(value: unknown, maxLen = 64): string {
  if (value === undefined || value === null) return '';
  let text: string;
  if (typeof value === 'string') text = value.trim();
  else if (typeof value === 'boolean') text = value ? 'True' : 'False';
  else text = String(value);
  return [...text].slice(0, maxLen).join('').replace(UNSAFE, '_');
}

/** `u_` + 16 hex digits of HMAC-SHA256(key, value); idempotent on its own output. */
export function pseudonymize(key: string, value: string): string {
  if (!value || PSEUDONYM.test(value)) return value;
  return `u_${createHmac('sha256', key).update(value, 'utf8').digest('hex').slice(0, 16)}`;
}

/** Maps raw values to bounded label values: first `limit` distinct pass, then `other`. */
export class LabelFolder {
  private readonly admitted = new Set<string>();
  private readonly memo = new Map<unknown, string>();

  constructor(
    readonly limit: number,
    private readonly maxLen = 64,
    private readonly transform?: (v: string) => string,
  ) {}

  fold(raw: unknown): string {
    const key = Array.isArray(raw) ? String(raw) : raw;
    const hit = this.memo.get(key);
    if (hit !== undefined) return hit;
    let value: string;
    if (this.transform && key !== undefined && key !== null && key !== '') {
      value = sanitizeLabelValue(this.transform(String(key)), this.maxLen);
    } else {
      value = sanitizeLabelValue(key, this.maxLen);
    }
    if (value && !this.admitted.has(value)) {
      if (this.admitted.size < this.limit) this.admitted.add(value);
      else value = 'other';
    }
    if (this.memo.size >= MEMO_LIMIT) this.memo.clear();
    this.memo.set(key, value);
    return value;
  }
}

// --- analysis (pure; what the shared vectors test) ----------------------------------------

/** What the processor sees of a finished span. */
export interface SpanFacts {
  name?: string;
  attributes: Attrs;
  statusError: boolean;
  durationS?: number;
  startTimeMs?: number;
}

export interface Analysis {
  /** Attributes the processor adds to the span. */
  added: Record<string, AttributeValue>;
  costUsd?: number;
  unpriced: boolean;
  /** Observations in raw (unfolded) terms; the recorder folds label values. */
  operation: unknown;
  provider: unknown;
  requestModel: unknown;
  responseModel: unknown;
  errorType: unknown;
  durationS?: number;
  ttfcS?: number;
  tokens: [string, number][];
}

function finiteNumber(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** Price and measure one GenAI span (no side effects). */
export function analyzeSpan(facts: SpanFacts, prices: PriceBook): Analysis {
  const attrs = facts.attributes ?? {};
  const operation = attrs[GEN_AI_OPERATION_NAME];
  const provider = firstAttr(attrs, PROVIDER_KEYS);
  const requestModel = attrs[GEN_AI_REQUEST_MODEL];
  const responseModel = attrs[GEN_AI_RESPONSE_MODEL];
  const errorType = attrs[ERROR_TYPE] || (facts.statusError ? ERROR_OTHER : undefined);
  const out: Analysis = {
    added: {},
    unpriced: false,
    operation,
    provider,
    requestModel,
    responseModel,
    errorType,
    durationS: facts.durationS !== undefined && facts.durationS >= 0 ? facts.durationS : undefined,
    ttfcS: finiteNumber(attrs[GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]),
    tokens: [],
  };
  const manual = attrs[OTEL_LLM_MANUAL] === true;
  if (manual && attrs[OTEL_LLM_MANUAL_NESTED] === true) {
    out.durationS = undefined; // the enclosing instrumented span counts this call
    out.ttfcS = undefined;
    return out;
  }
  if (operation !== undefined && operation !== null && !INFERENCE_OPERATIONS.has(String(operation)) && !manual) return out;
  const ext = readExtended(attrs as Record<string, unknown>);

  const input = intAttr(attrs, INPUT_TOKEN_KEYS);
  const output = intAttr(attrs, OUTPUT_TOKEN_KEYS);
  const cacheRead = intAttr(attrs, CACHE_READ_KEYS);
  const cacheCreation = intAttr(attrs, CACHE_CREATION_KEYS);
  const reasoning = intAttr(attrs, REASONING_KEYS);
  const hasUsage = input !== undefined || output !== undefined;
  const u = normalizeUsage({
    input: input ?? 0,
    output: output ?? 0,
    cacheRead: cacheRead ?? 0,
    cacheCreation: cacheCreation ?? 0,
    reasoning: reasoning ?? 0,
  });
  if (hasUsage) {
    // TOKEN_TYPES order: input, output, cache read, cache creation, reasoning
    if (input !== undefined) out.tokens.push([TOKEN_TYPES[0]!, u.input]);
    if (output !== undefined) out.tokens.push([TOKEN_TYPES[1]!, u.output]);
    if (cacheRead !== undefined) out.tokens.push([TOKEN_TYPES[2]!, cacheRead]);
    if (cacheCreation !== undefined) out.tokens.push([TOKEN_TYPES[3]!, cacheCreation]);
    if (reasoning !== undefined) out.tokens.push([TOKEN_TYPES[4]!, reasoning]);
  }
  if (ext !== undefined) out.tokens.push(...extendedTokens(ext));

  const reported = attrs[GEN_AI_USAGE_COST_AMOUNT];
  if (typeof reported === 'number' && Number.isFinite(reported) && reported >= 0) {
    if (attrs[GEN_AI_USAGE_COST_SOURCE] === undefined) out.added[GEN_AI_USAGE_COST_SOURCE] = 'provider';
    const currency = attrs[GEN_AI_USAGE_COST_CURRENCY];
    if (currency === undefined || currency === null) out.added[GEN_AI_USAGE_COST_CURRENCY] = 'USD';
    if (currency === undefined || currency === null || currency === 'USD') out.costUsd = reported;
    return out;
  }
  const providerName = typeof provider === 'string' ? provider : undefined;
  if (ext !== undefined || manual) {
    priceExtended(out, prices, providerName, facts, hasUsage || ext !== undefined ? u : undefined, ext);
    return out;
  }
  if (!hasUsage) {
    if (!facts.statusError) {
      out.added[OTEL_LLM_UNPRICED] = true;
      out.unpriced = true;
    }
    return out;
  }
  let cost: number | undefined;
  // an endpoint that matched no known provider (providers.ts): only the pricing file prices it
  const unresolved = attrs[OTEL_LLM_PROVIDER_UNRESOLVED] === true;
  for (let i = 0; i < 2 && cost === undefined; i++) {
    const model = i === 0 ? responseModel : requestModel;
    if (typeof model === 'string' && model) {
      cost = unresolved
        ? prices.costLocal(providerName, model, u, facts.startTimeMs)
        : prices.cost(providerName, model, u, facts.startTimeMs);
    }
  }
  if (cost === undefined) {
    out.added[OTEL_LLM_UNPRICED] = true;
    out.unpriced = true;
    return out;
  }
  out.added[GEN_AI_USAGE_COST_AMOUNT] = cost;
  out.added[GEN_AI_USAGE_COST_CURRENCY] = 'USD';
  out.added[GEN_AI_USAGE_COST_SOURCE] = 'local';
  out.costUsd = cost;
  return out;
}

/**
 * A span with audio/image/prediction tokens or units, or a manual span (as
 * otel_llm/processor.py's _price_extended). A manual span that reports no usage at all is
 * priced only by a per-request price.
 */
function priceExtended(
  out: Analysis,
  prices: PriceBook,
  provider: string | undefined,
  facts: SpanFacts,
  u: ReturnType<typeof normalizeUsage> | undefined,
  ext: ExtendedUsage | undefined,
): void {
  if (u === undefined && facts.statusError) return; // a failed call that reports nothing
  let reason: string | undefined = 'no_price';
  let cost: number | undefined;
  for (const model of [out.responseModel, out.requestModel]) {
    if (typeof model !== 'string' || !model) continue;
    if (u === undefined) {
      const resolved =
        facts.attributes?.[OTEL_LLM_PROVIDER_UNRESOLVED] === true ? prices.resolveLocal(provider, model) : prices.resolve(provider, model);
      if (!resolved) continue;
      const rates = resolved.ratesAt(facts.startTimeMs);
      if (rates.request > 0) {
        cost = rates.request;
        reason = undefined;
      } else reason = 'no_usage';
      break;
    }
    // an endpoint that matched no known provider: only the pricing file prices it
    const local = facts.attributes?.[OTEL_LLM_PROVIDER_UNRESOLVED] === true;
    const [c, why] = prices.costExtended(provider, model, u, ext, facts.startTimeMs, local);
    if (c !== undefined) {
      cost = c;
      reason = undefined;
      break;
    }
    if (reason === 'no_price') reason = why;
  }
  if (cost === undefined) {
    if (reason === 'no_usage' && facts.statusError) return;
    out.added[OTEL_LLM_UNPRICED] = true;
    out.added[OTEL_LLM_UNPRICED_REASON] = reason ?? 'no_price';
    out.unpriced = true;
    return;
  }
  out.added[GEN_AI_USAGE_COST_AMOUNT] = cost;
  out.added[GEN_AI_USAGE_COST_CURRENCY] = 'USD';
  out.added[GEN_AI_USAGE_COST_SOURCE] = 'local';
  out.costUsd = cost;
}

/** Instrumentation scopes whose spans we bring to the contract's spellings. */
export const OPENAI_SCOPE = '@opentelemetry/instrumentation-openai';
export const ANTHROPIC_SCOPE = 'com.anthropic.sdk.typescript';
const NORMALIZED_SCOPES = new Set([OPENAI_SCOPE, ANTHROPIC_SCOPE]);

function scopeOf(span: unknown): string | undefined {
  const s = span as { instrumentationScope?: { name?: string }; instrumentationLibrary?: { name?: string } };
  return (s.instrumentationScope ?? s.instrumentationLibrary)?.name;
}

/**
 * Bring a GenAI span of the instrumentations register() enables to the contract's spellings
 * at start: `gen_ai.provider.name` from `gen_ai.system` (the official OpenAI
 * instrumentation), and the span name `{operation} {model}` (the Anthropic SDK's own
 * tracing names spans `anthropic.messages.create`). Spans of other scopes are left alone.
 */
export function normalizeAtStart(span: Span, attrs: Attrs): void {
  if (!attrs || !NORMALIZED_SCOPES.has(scopeOf(span) ?? '')) return;
  if (attrs[GEN_AI_PROVIDER_NAME] === undefined && typeof attrs[GEN_AI_SYSTEM] === 'string') {
    span.setAttribute(GEN_AI_PROVIDER_NAME, attrs[GEN_AI_SYSTEM] as string);
  }
  const op = attrs[GEN_AI_OPERATION_NAME];
  const model = attrs[GEN_AI_REQUEST_MODEL];
  if (typeof op === 'string' && typeof model === 'string' && INFERENCE_OPERATIONS.has(op)) {
    // the official OpenAI span is already named so: compared without making the name
    const name = span.name;
    const named =
      name.length === op.length + 1 + model.length && name.startsWith(op) && name.charCodeAt(op.length) === 32 && name.endsWith(model);
    if (!named) span.updateName(`${op} ${model}`);
  }
}

/**
 * Before end, for the same scopes: the baseline spelling of cache creation tokens, and
 * finish reasons from the Anthropic SDK's `anthropic.message.stop_reason`.
 */
export function normalizeAtEnd(span: unknown, attrs: Attrs): Record<string, AttributeValue> | undefined {
  if (!attrs || !NORMALIZED_SCOPES.has(scopeOf(span) ?? '')) return undefined;
  let out: Record<string, AttributeValue> | undefined;
  const write = attrs[GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS];
  if (attrs[GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] === undefined && typeof write === 'number') {
    (out ??= {})[GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] = write;
  }
  const stop = attrs['anthropic.message.stop_reason'];
  if (attrs[GEN_AI_RESPONSE_FINISH_REASONS] === undefined && typeof stop === 'string') {
    (out ??= {})[GEN_AI_RESPONSE_FINISH_REASONS] = [stop];
  }
  return out;
}

// --- the processor -------------------------------------------------------------------------

/**
 * Shared label objects of one label combination (see LlmSpanProcessor.labelSet), each
 * with the ref where the metrics keep its series (no look-up by label object per span).
 */
interface LabelSet {
  base: Labels;
  operation: Labels;
  tokens: Map<string, TokenLabels>;
  perCall: Labels;
  unpriced: Labels;
  duration: SeriesRef;
  ttfc: SeriesRef;
  cost: SeriesRef;
  operationCost: SeriesRef;
  unpricedCount: SeriesRef;
}
interface TokenLabels {
  labels: Labels;
  ref: SeriesRef;
}
type Sink = (metric: string, labels: Labels, value: number, ref: SeriesRef | undefined) => void;

export interface ProcessorOptions {
  metrics: LlmMetrics;
  prices: PriceBook;
  attributionLabels?: readonly string[];
  attributionLimit?: number;
  userHashKey?: string;
  /**
   * Every exporter of these spans calls `drain()` before it reads a batch (register()'s
   * exporter does): the GenAI spans' cost attributes and observations are then made in the
   * processor's batches too, after the span ended, instead of on each call. Without it
   * (the default, any other SDK set-up) a span's attributes are complete when it ends.
   */
  beforeExport?: boolean;
}

/** The SDK span's flag that stops attribute writes after end (sdk-trace 2.x; tested). */
interface Reopenable {
  _ended?: boolean;
}

/** Marks a span this processor measured in onEnding (onEnd then leaves it). */
const HANDLED = Symbol('otel-llm.processor.handled');

function hrToMs(t: readonly [number, number]): number {
  return t[0] * 1e3 + t[1] / 1e6;
}

/** Stamps request ID and attribution at start; prices and measures GenAI spans at end. */
export class LlmSpanProcessor implements SpanProcessor {
  readonly metrics: LlmMetrics;
  readonly prices: PriceBook;
  private readonly labelNames: readonly string[];
  private readonly labelKeys: readonly (readonly string[])[];
  private readonly hashKey?: string;
  private readonly foldOperation = new LabelFolder(SEMCONV_LABEL_LIMIT);
  private readonly foldProvider = new LabelFolder(SEMCONV_LABEL_LIMIT);
  private readonly foldRequestModel = new LabelFolder(SEMCONV_LABEL_LIMIT, 128);
  private readonly foldResponseModel = new LabelFolder(SEMCONV_LABEL_LIMIT, 128);
  private readonly foldErrorType = new LabelFolder(SEMCONV_LABEL_LIMIT);
  private readonly attributionFolders: readonly LabelFolder[];

  constructor(options: ProcessorOptions) {
    this.metrics = options.metrics;
    this.prices = options.prices;
    this.hashKey = options.userHashKey;
    this.labelNames = this.metrics.attributionLabels;
    this.labelKeys = this.labelNames.map(attributeKeys);
    const limit = options.attributionLimit ?? 100;
    this.attributionFolders = this.labelNames.map(
      name => new LabelFolder(limit, 64, name === 'user' ? v => this.pseudonymizeUser(v) : undefined),
    );
    // metrics without the read hook (another copy of this package): recorded span by span
    const metrics = this.metrics as Partial<LlmMetrics>;
    this.batch = typeof metrics.onCollect === 'function' ? BATCH : 1;
    this.stopCollect = typeof metrics.onCollect === 'function' ? metrics.onCollect(() => this.drain()) : () => undefined;
    this.beforeExport = options.beforeExport === true && this.batch > 1;
  }

  private readonly batch: number;
  /** GenAI spans are finished in the batch (see ProcessorOptions.beforeExport). */
  private readonly beforeExport: boolean;

  pseudonymizeUser(value: string): string {
    return this.hashKey ? pseudonymize(this.hashKey, value) : value;
  }

  onStart(span: Span, parentContext: Context): void {
    try {
      const attrs = (span as unknown as { attributes?: Attrs }).attributes;
      this.stamp(span, parentContext, attrs);
      if (isGenAiSpan(attrs)) normalizeAtStart(span, attrs);
    } catch (err) {
      this.error('on_start', err);
    }
  }

  /** Runs for every span: set attribute by attribute, no object or list made per span. */
  private stamp(span: Span, ctx: Context, existing: Attrs): void {
    const requestId = requestIdOf(ctx);
    if (requestId) span.setAttribute(REQUEST_ID, requestId);
    const attribution = currentAttribution(ctx);
    for (const label in attribution) {
      const raw = attribution[label];
      if (!raw) continue;
      const keys = attributeKeys(label);
      if (label === 'route' && firstAttr(existing, keys) !== undefined) continue;
      span.setAttribute(keys[0]!, label === 'user' ? this.pseudonymizeUser(raw) : raw);
    }
  }

  /** The SDK calls this after the end time is set and before the span is frozen. */
  onEnding(span: Span): void {
    const attrs = (span as unknown as { attributes?: Attrs }).attributes;
    if (!isGenAiSpan(attrs)) return;
    try {
      // a mark on the span rather than a WeakSet entry per span (no ephemeron for the GC);
      // a span that cannot be marked is measured in onEnd instead
      (span as unknown as Record<symbol, boolean>)[HANDLED] = true;
      if (this.beforeExport && typeof (span as unknown as Reopenable)._ended === 'boolean') {
        // measured with the next batch, before any exporter sees the span (see drain)
        this.holdSpan(span as unknown as ReadableSpan);
        return;
      }
      this.finish(span, attrs);
    } catch (err) {
      this.error('on_end', err);
    }
  }

  /** What onEnding does to a GenAI span: the end-time spellings, cost attributes, observations. */
  private finish(span: Span, attrs: Attrs, at?: number): void {
    const fixes = normalizeAtEnd(span, attrs);
    if (fixes) setEach(span, fixes);
    const analysis = this.analyze(span as unknown as ReadableSpan);
    setEach(span, analysis.added);
    this.record(analysis, span as unknown as ReadableSpan, at);
  }

  /**
   * A span held in onEnding, finished now: the SDK's span is let take attributes again for
   * the time of it (its private `_ended` flag, pinned by a test: same limits, truncation
   * and dropped-attribute count as in onEnding), then closed again.
   */
  private finishHeld(span: ReadableSpan): void {
    const s = span as unknown as Reopenable & Span;
    if (s._ended !== true) return; // not ended as expected: left as it is
    s._ended = false;
    try {
      this.finish(s, span.attributes, span.endTime ? hrToMs(span.endTime) : undefined);
    } finally {
      s._ended = true;
    }
  }

  onEnd(span: ReadableSpan): void {
    if ((span as unknown as Record<symbol, boolean>)[HANDLED] === true || !isGenAiSpan(span.attributes)) return;
    // an SDK without onEnding: the attributes object is still writable before export
    try {
      const attrs = span.attributes as Record<string, AttributeValue>;
      const fixes = normalizeAtEnd(span, attrs);
      if (fixes) Object.assign(attrs, fixes);
      const analysis = this.analyze(span);
      Object.assign(attrs, analysis.added);
      this.record(analysis, span);
    } catch (err) {
      this.error('on_end', err);
    }
  }

  private analyze(span: ReadableSpan): Analysis {
    return analyzeSpan(
      {
        name: span.name,
        attributes: span.attributes,
        statusError: span.status?.code === SpanStatusCode.ERROR,
        durationS: span.duration ? span.duration[0] + span.duration[1] / 1e9 : undefined,
        startTimeMs: span.startTime ? hrToMs(span.startTime) : undefined,
      },
      this.prices,
    );
  }

  /** Observations of one analysed span, with folded label values (also used by tests). */
  observations(a: Analysis, attrs: Attrs): Observation[] {
    const out: Observation[] = [];
    this.emit(a, attrs, (metric, labels, value) => out.push({ metric, labels, value }));
    return out;
  }

  /** Each observation of one analysed span, handed to `sink` (no list or objects made). */
  private emit(a: Analysis, attrs: Attrs, sink: Sink): void {
    const op = this.foldOperation.fold(a.operation);
    const prov = this.foldProvider.fold(a.provider);
    const req = this.foldRequestModel.fold(a.requestModel);
    const resp = this.foldResponseModel.fold(a.responseModel);
    const err = this.foldErrorType.fold(a.errorType);
    const set = this.labelSet(op, prov, req, resp, err);
    if (a.durationS !== undefined) sink(METRIC_DURATION, set.operation, a.durationS, set.duration);
    if (a.ttfcS !== undefined && a.ttfcS >= 0) sink(METRIC_TTFC, set.operation, a.ttfcS, set.ttfc);
    const tokens = a.tokens;
    for (let t = 0; t < tokens.length; t++) {
      const type = tokens[t]![0];
      let labels = set.tokens.get(type);
      if (labels === undefined) {
        labels = { labels: Object.freeze({ ...set.base, gen_ai_token_type: type }), ref: {} };
        set.tokens.set(type, labels);
      }
      sink(METRIC_TOKEN_USAGE, labels.labels, tokens[t]![1], labels.ref);
    }
    if (a.costUsd !== undefined && a.costUsd >= 0) {
      if (this.labelNames.length) {
        const labels = { ...set.perCall };
        this.labelNames.forEach((name, i) => {
          labels[name] = this.attributionFolders[i]!.fold(firstAttr(attrs, this.labelKeys[i]!));
        });
        sink(METRIC_COST, labels, a.costUsd, undefined);
      } else {
        sink(METRIC_COST, set.perCall, a.costUsd, set.cost);
      }
      // one observation per priced call: the single-call budget alert counts calls above a bound
      sink(METRIC_OPERATION_COST, set.perCall, a.costUsd, set.operationCost);
    }
    if (a.unpriced) sink(METRIC_UNPRICED, set.unpriced, 1, set.unpricedCount);
  }

  /**
   * The label objects of one (operation, provider, request model, response model, error
   * type), made once and shared (frozen: prom-client keeps the first one of each series);
   * bounded like the folders' memos.
   */
  private labelSet(op: string, prov: string, req: string, resp: string, err: string): LabelSet {
    // the same combination as the last span (the usual case): no key made
    const last = this.lastLabels;
    if (last && last.op === op && last.prov === prov && last.req === req && last.resp === resp && last.err === err) return last.set;
    const set = this.labelSetByKey(op, prov, req, resp, err);
    this.lastLabels = { op, prov, req, resp, err, set };
    return set;
  }

  private lastLabels?: { op: string; prov: string; req: string; resp: string; err: string; set: LabelSet };

  private labelSetByKey(op: string, prov: string, req: string, resp: string, err: string): LabelSet {
    const key = `${op}\u0000${prov}\u0000${req}\u0000${resp}\u0000${err}`;
    let set = this.labelSets.get(key);
    if (set !== undefined) return set;
    const base: Labels = Object.freeze({
      gen_ai_operation_name: op,
      gen_ai_provider_name: prov,
      gen_ai_request_model: req,
      gen_ai_response_model: resp,
    });
    set = {
      base,
      operation: Object.freeze({ ...base, error_type: err }),
      tokens: new Map(),
      perCall: Object.freeze({ gen_ai_operation_name: op, gen_ai_provider_name: prov, gen_ai_request_model: req }),
      unpriced: Object.freeze({ gen_ai_provider_name: prov, gen_ai_request_model: req }),
      duration: {},
      ttfc: {},
      cost: {},
      operationCost: {},
      unpricedCount: {},
    };
    if (this.labelSets.size >= MEMO_LIMIT) this.labelSets.clear();
    this.labelSets.set(key, set);
    return set;
  }

  private readonly labelSets = new Map<string, LabelSet>();

  /**
   * Hold the span's observations for the next batch (see drain): what a span needs from
   * the call (its attributes for the attribution labels, its exemplar, the time) is taken
   * now, the metrics are updated later, many spans at a time.
   */
  private record(a: Analysis, span: ReadableSpan, at?: number): void {
    const ctx = span.spanContext();
    const sampled = (ctx.traceFlags & TraceFlags.SAMPLED) === TraceFlags.SAMPLED;
    const n = this.held.length;
    this.held.push(a);
    this.heldAttrs.push(this.labelNames.length ? span.attributes : undefined);
    this.heldExemplars.push(sampled ? { trace_id: ctx.traceId, span_id: ctx.spanId } : undefined);
    this.heldAt.push(at ?? Date.now());
    if (this.draining) return;
    if (n + 1 >= this.batch) this.drain();
    else if (n === 0) this.scheduleDrain();
  }

  /** A GenAI span to finish with the next batch (beforeExport set: the exporter drains first). */
  private holdSpan(span: ReadableSpan): void {
    const n = this.heldSpans.length;
    this.heldSpans.push(span);
    if (n + 1 >= this.batch) this.drain();
    else if (n === 0) this.scheduleDrain();
  }

  /**
   * Record the held observations in the metrics, oldest first. Run when BATCH spans are
   * held, DRAIN_MS after the first one was, before any read of the metrics (a scrape:
   * LlmMetrics.onCollect), and at flush and shutdown; so a scrape never misses a span.
   * Updating the metrics span by span, each amid a whole LLM call, cost several times
   * what it costs in a batch (its code and data no longer in the CPU's caches).
   */
  drain(): void {
    if (this.draining) return;
    const spans = this.heldSpans;
    if (spans.length) {
      this.heldSpans = [];
      this.draining = true;
      try {
        for (let i = 0; i < spans.length; i++) {
          try {
            this.finishHeld(spans[i]!);
          } catch (err) {
            this.error('on_end', err);
          }
        }
      } finally {
        this.draining = false;
      }
    }
    const held = this.held;
    const n = held.length;
    if (n === 0) return;
    const attrs = this.heldAttrs;
    const exemplars = this.heldExemplars;
    const at = this.heldAt;
    this.held = [];
    this.heldAttrs = [];
    this.heldExemplars = [];
    this.heldAt = [];
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    for (let i = 0; i < n; i++) {
      this.exemplar = exemplars[i];
      this.at = at[i];
      try {
        this.emit(held[i]!, attrs[i], this.sink);
      } catch (err) {
        this.error('on_end', err);
      }
    }
    this.exemplar = undefined;
    this.at = undefined;
  }

  private scheduleDrain(): void {
    if (this.timer !== undefined) return;
    try {
      const timer = setTimeout(this.drainLater, DRAIN_MS);
      timer.unref?.();
      this.timer = timer;
    } catch {
      this.drain();
    }
  }

  private readonly drainLater = (): void => {
    this.timer = undefined;
    this.drainSafely();
  };

  private heldSpans: ReadableSpan[] = [];
  private draining = false;
  private held: Analysis[] = [];
  private heldAttrs: Attrs[] = [];
  private heldExemplars: (Labels | undefined)[] = [];
  private heldAt: number[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly stopCollect: () => void;

  /** The exemplar and time of the span being recorded (drain() is synchronous). */
  private exemplar: Labels | undefined;
  private at: number | undefined;
  /** One observation object, reused: LlmMetrics.record reads it and keeps none of it. */
  private readonly scratch: Observation = { metric: '', labels: {}, value: 0 };
  /** Records one observation of the span being recorded (made once, not per span). */
  private readonly sink: Sink = (metric, labels, value, ref): void => {
    const obs = this.scratch;
    obs.metric = metric;
    obs.labels = labels;
    obs.value = value;
    this.metrics.record(obs, metric === METRIC_TOKEN_USAGE || metric === METRIC_UNPRICED ? undefined : this.exemplar, ref, this.at);
  };

  private error(hook: string, err: unknown): void {
    try {
      const type = sanitizeLabelValue((err as Error)?.constructor?.name ?? typeof err);
      this.metrics.processorErrors.inc({ hook, error_type: type });
    } catch {
      // the last line of defence must not throw either
    }
  }

  forceFlush(): Promise<void> {
    this.drainSafely();
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    this.drainSafely();
    this.stopCollect();
    return Promise.resolve();
  }

  private drainSafely(): void {
    try {
      this.drain();
    } catch (err) {
      this.error('on_end', err);
    }
  }
}
