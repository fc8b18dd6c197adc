/**
 * Manual tracking of AI calls that no instrumentation sees (speech to text per second,
 * translation per character, OCR per page, search per request, a custom HTTP model, a
 * batch job). The same API, names and values as Python's `otel_llm.track`
 * (spec/vectors/manual_spans.json holds both to the same attributes and cost):
 *
 * ```ts
 * const text = await track({ operation: 'speech_to_text', provider: 'gcp.vertex_ai', model: 'chirp-2',
 *                            user: 'u-42', session: 's-1', source: 'voicemail' }, async call => {
 *   const result = await transcribe(audio);
 *   call.update({ seconds: result.durationS });
 *   return result.text;
 * });
 *
 * {
 *   using call = track({ operation: 'translation', provider: 'deepl', model: 'deepl-pro' });
 *   call.update({ characters: text.length });
 * } // the span ends here (Symbol.dispose); record a failure with call.fail(err)
 * ```
 *
 * One GenAI CLIENT span per call, named `{operation} {model}`, marked `otel_llm.manual`,
 * priced and counted by LlmSpanProcessor whatever its operation name. Attribution keys
 * (every option other than operation/provider/model/attributes/tracerProvider: `user`,
 * `session`, `source`, `tenant`...) apply to the span and to the spans opened inside the
 * callback, as setAttribution values do (with `using`, to the manual span only: Node has
 * no way to make a value current for the rest of a block). The request ID is the current request's, else a
 * fresh one. Inside an instrumented GenAI inference span the manual span is marked
 * `otel_llm.manual.nested` and neither priced nor counted.
 *
 * Bad input (negative, non-numeric or fractional token usage, an unknown usage name, an
 * update after the end): OTEL_LLM_STRICT=true throws a TrackingError (development);
 * otherwise the value is ignored, counted in otel_llm_processor_errors_total{hook="track"}
 * and logged once per kind. Tracking never throws into the host otherwise.
 */
import {
  SpanKind,
  SpanStatusCode,
  context as otelContext,
  trace,
  type AttributeValue,
  type Span,
  type TracerProvider,
} from '@opentelemetry/api';
import { randomUUID } from 'node:crypto';
import { currentState, requestIdOf, runWithState, type RequestState } from './context.js';
import { USAGE_FIELDS, type UsageField } from './pricing-units.js';
import {
  ERROR_TYPE,
  GEN_AI_OPERATION_NAME,
  GEN_AI_PROVIDER_NAME,
  GEN_AI_REQUEST_MODEL,
  GEN_AI_RESPONSE_MODEL,
  GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
  GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
  GEN_AI_USAGE_INPUT_TOKENS,
  GEN_AI_USAGE_OUTPUT_TOKENS,
  GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
  OTEL_LLM_MANUAL,
  OTEL_LLM_MANUAL_NESTED,
  EXTRA_TOKEN_ATTRIBUTES,
  UNIT_ATTRIBUTES,
  isGenAiSpan,
} from './semconv.js';
import { getMetrics } from './setup.js';

const INFERENCE = new Set(['chat', 'text_completion', 'generate_content', 'embeddings', 'completion']);

const TOKEN_ATTRIBUTES: Record<string, string> = {
  input_tokens: GEN_AI_USAGE_INPUT_TOKENS,
  output_tokens: GEN_AI_USAGE_OUTPUT_TOKENS,
  cache_read_tokens: GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
  cache_creation_tokens: GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
  reasoning_tokens: GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
  // audio_input_tokens, ... rejected_prediction_tokens
  ...Object.fromEntries(EXTRA_TOKEN_ATTRIBUTES.map(([kind, key]) => [`${kind}_tokens`, key])),
};
/** Usage name -> span attribute, for every name in USAGE_FIELDS. */
export const USAGE_ATTRIBUTES: Readonly<Record<UsageField, string>> = Object.freeze({
  ...TOKEN_ATTRIBUTES,
  ...Object.fromEntries(UNIT_ATTRIBUTES),
}) as Record<UsageField, string>;

export type Usage = Partial<Record<UsageField, number>>;

export interface TrackOptions {
  /** A semconv operation (`chat`, `embeddings`...) or a custom one (`speech_to_text`, `ocr`...). */
  operation: string;
  /** A semconv provider name or a genai-prices id. */
  provider?: string;
  /** The model prices are looked up by. */
  model?: string;
  /** Extra span attributes. */
  attributes?: Record<string, AttributeValue>;
  tracerProvider?: TracerProvider;
  /** Attribution: user, session, source, tenant or any label. */
  [label: string]: unknown;
}

const RESERVED = new Set(['operation', 'provider', 'model', 'attributes', 'tracerProvider']);

/** Bad input to the tracking API (thrown only with OTEL_LLM_STRICT=true). */
export class TrackingError extends Error {
  override name = 'TrackingError';
}

/** OTEL_LLM_STRICT: throw on bad tracking input (development); read at each error. */
export function strictMode(): boolean {
  return ['1', 'true', 'yes', 'on'].includes((process.env.OTEL_LLM_STRICT ?? '').trim().toLowerCase());
}

const logged = new Set<string>();

function badInput(kind: string, message: string): void {
  if (strictMode()) throw new TrackingError(message);
  try {
    getMetrics().processorErrors.inc({ hook: 'track', error_type: kind });
    if (!logged.has(kind) && logged.size < 64) {
      logged.add(kind);
      process.emitWarning(`otel-llm track: ${message} (ignored, counted; logged once)`, { code: 'OTEL_LLM_TRACK' });
    }
  } catch {
    // bad input handling never throws into the host
  }
}

/** Forget which kinds were logged (tests). */
export function resetTrackWarnings(): void {
  logged.clear();
}

function check(name: string, value: unknown): number | undefined {
  if (!(name in USAGE_ATTRIBUTES)) {
    badInput('unknown_unit', `unknown usage '${name}'; known: ${USAGE_FIELDS.join(', ')}`);
    return undefined;
  }
  if (typeof value !== 'number') {
    badInput('non_numeric_usage', `usage ${name}=${JSON.stringify(value)} is not a number`);
    return undefined;
  }
  if (!Number.isFinite(value) || value < 0) {
    badInput('negative_usage', `usage ${name}=${value} must be a finite number >= 0`);
    return undefined;
  }
  if (name in TOKEN_ATTRIBUTES && !Number.isInteger(value)) {
    badInput('non_integral_tokens', `usage ${name}=${value} is not a whole number`);
    return undefined;
  }
  return value;
}

/** One tracked call: report its usage with update(). */
export class TrackedCall {
  private readonly counts: Usage = {};
  private ended = false;
  private error?: unknown;

  constructor(
    readonly span: Span,
    /** The request.id of this call (look it up with `otel-llm trace`). */
    readonly requestId: string,
  ) {}

  /** The usage reported so far. */
  get usage(): Usage {
    return { ...this.counts };
  }

  /** Add usage: update({seconds: 12.5}), update({input_tokens: 10, output_tokens: 3}). */
  update(usage: Usage | Record<string, unknown>): this {
    if (this.ended) {
      badInput('update_after_end', `usage update ${JSON.stringify(Object.keys(usage ?? {}).sort())} after the tracked call ended`);
      return this;
    }
    for (const [name, value] of Object.entries(usage ?? {})) {
      const checked = check(name, value);
      if (checked !== undefined) {
        const key = name as UsageField;
        this.counts[key] = (this.counts[key] ?? 0) + checked;
      }
    }
    return this;
  }

  /** The model that answered, when it differs from the requested one. */
  setResponseModel(model: string): this {
    if (typeof model === 'string' && model && !this.ended) this.span.setAttribute(GEN_AI_RESPONSE_MODEL, model);
    return this;
  }

  setAttribute(key: string, value: AttributeValue): this {
    if (!this.ended) this.span.setAttribute(key, value);
    return this;
  }

  /** Mark the call failed (the callback form does it when the callback throws). */
  fail(err: unknown): this {
    this.error = err ?? new Error('failed');
    return this;
  }

  /** End the span (idempotent); `using` calls it through Symbol.dispose. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    try {
      const attrs: Record<string, AttributeValue> = {};
      for (const [name, value] of Object.entries(this.counts)) attrs[USAGE_ATTRIBUTES[name as UsageField]] = value;
      if (Object.keys(attrs).length) this.span.setAttributes(attrs);
      if (this.error !== undefined) {
        const err = this.error;
        const type = err instanceof Error ? err.name || err.constructor?.name || 'Error' : typeof err;
        this.span.setAttribute(ERROR_TYPE, type);
        if (err instanceof Error) this.span.recordException(err);
        this.span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message.slice(0, 256) : String(err).slice(0, 256) });
      }
      this.span.end();
    } catch {
      // never into the host
    }
  }

  [Symbol.dispose](): void {
    this.end();
  }
}

function isInstrumentedInference(span: Span | undefined): boolean {
  if (!span || !span.isRecording()) return false;
  const attrs = (span as unknown as { attributes?: Record<string, unknown> }).attributes;
  if (!attrs || attrs[OTEL_LLM_MANUAL] === true || !isGenAiSpan(attrs as never)) return false;
  const op = attrs[GEN_AI_OPERATION_NAME];
  return op === undefined || INFERENCE.has(String(op));
}

function start(opts: TrackOptions): { call: TrackedCall; state: RequestState } {
  const active = otelContext.active();
  const state = currentState(active);
  const requestId = state?.requestId ?? requestIdOf(active) ?? randomUUID();
  const labels: Record<string, string> = {};
  for (const [key, value] of Object.entries(opts)) {
    if (RESERVED.has(key) || value === undefined || value === null || String(value) === '') continue;
    labels[key] = String(value);
  }
  let operation = opts.operation;
  if (typeof operation !== 'string' || !operation.trim()) {
    badInput('bad_operation', `track({operation: ${JSON.stringify(operation)}}): a non-empty name is needed`);
    operation = 'unknown';
  }
  operation = operation.trim();
  const newState: RequestState = {
    requestId,
    attribution: { ...(state?.attribution ?? {}), ...labels },
    ...(state?.route ? { route: state.route } : {}),
  };
  const attrs: Record<string, AttributeValue> = { [GEN_AI_OPERATION_NAME]: operation, [OTEL_LLM_MANUAL]: true };
  if (opts.provider) attrs[GEN_AI_PROVIDER_NAME] = opts.provider;
  if (opts.model) attrs[GEN_AI_REQUEST_MODEL] = opts.model;
  Object.assign(attrs, opts.attributes ?? {});
  if (isInstrumentedInference(trace.getSpan(active))) attrs[OTEL_LLM_MANUAL_NESTED] = true;
  const tracer = (opts.tracerProvider ?? trace.getTracerProvider()).getTracer('otel_llm.track');
  const name = opts.model ? `${operation} ${opts.model}` : operation;
  // started with the merged state current, so the span processor stamps its attribution
  const span = runWithState(newState, () => tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes: attrs }));
  return { call: new TrackedCall(span, requestId), state: newState };
}

/**
 * Track one AI call. With a callback: runs it with the call handle (the span current and
 * the attribution in force inside), ends the span when it returns or its promise settles,
 * marks errors and rethrows them, and returns what it returns. Without: returns the handle
 * for `using call = track({...})`.
 */
export function track<T>(opts: TrackOptions, fn: (call: TrackedCall) => T): T;
export function track(opts: TrackOptions): TrackedCall;
export function track<T>(opts: TrackOptions, fn?: (call: TrackedCall) => T): T | TrackedCall {
  const { call, state } = start(opts);
  if (fn === undefined) return call;
  let result: T;
  try {
    result = runWithState(state, () => otelContext.with(trace.setSpan(otelContext.active(), call.span), () => fn(call)));
  } catch (err) {
    call.fail(err).end();
    throw err;
  }
  if (result && typeof (result as { then?: unknown }).then === 'function') {
    return (result as unknown as Promise<unknown>).then(
      value => {
        call.end();
        return value;
      },
      err => {
        call.fail(err).end();
        throw err;
      },
    ) as T;
  }
  call.end();
  return result;
}
