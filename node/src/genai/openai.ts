/**
 * What we add to @opentelemetry/instrumentation-openai (the official instrumentation makes
 * the `chat {model}` span, response id/model, finish reasons, input/output tokens and
 * error.type; see docs/node.md for the comparison).
 *
 * This instrumentation patches the same methods *inside* the official wrapper (it must be
 * enabled first, which register() does), so the official span is the active span here:
 *
 * - streaming calls get `stream_options.include_usage: true` (OTEL_LLM_STREAM_INCLUDE_USAGE,
 *   default on); the extra usage-only chunk is hidden from callers that did not ask for it;
 * - `gen_ai.request.stream`, `gen_ai.response.time_to_first_chunk`;
 * - cached and reasoning tokens (`gen_ai.usage.cache_read.input_tokens`,
 *   `gen_ai.usage.reasoning.output_tokens`), also for the Responses API;
 * - token counts estimated (about 4 characters per token) when the provider reported none,
 *   flagged `otel_llm.usage.estimated=true`;
 * - a streaming span that the official wrapper would leave open (the caller stopped reading
 *   early, or the stream failed) is ended, with `error.type` on failure.
 */
import { performance } from 'node:perf_hooks';
import { SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import {
  InstrumentationBase,
  InstrumentationNodeModuleDefinition,
  type InstrumentationConfig,
} from '@opentelemetry/instrumentation';
import {
  ERROR_TYPE,
  GEN_AI_REQUEST_STREAM,
  GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
  GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
  GEN_AI_USAGE_INPUT_TOKENS,
  GEN_AI_USAGE_OUTPUT_TOKENS,
  GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
  OTEL_LLM_TOKENS_ESTIMATED,
} from '../semconv.js';
import { openaiUsageAttributes } from '../pricing-units.js';
import { INCLUDE_USAGE_PROVIDERS, ProviderResolver } from '../providers.js';

export const OFFICIAL_SCOPE = '@opentelemetry/instrumentation-openai';
const SUPPORTED = ['>=4.19.0 <7'];
const CHARS_PER_TOKEN = 4;

export interface OpenAIExtrasConfig extends InstrumentationConfig {
  /**
   * Ask streaming calls for a usage chunk (OTEL_LLM_STREAM_INCLUDE_USAGE): `auto` (default)
   * only when the client's base URL is a provider known to accept it, `true`, `false`.
   */
  streamIncludeUsage?: 'auto' | 'true' | 'false' | boolean;
  /** Resolves the client's base URL to its provider (auto mode). */
  resolver?: ProviderResolver;
}

type Any = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const ORIGINAL = Symbol.for('otel-llm.openai.original');
type Create = ((...a: unknown[]) => unknown) & { [ORIGINAL]?: Create };

/**
 * Wrap `proto.create` without shimmer's markers: the official instrumentation unwraps any
 * shimmer-wrapped method before wrapping it, which would drop ours. Ours is applied first
 * and stays inside the official wrapper.
 */
function innerWrap(proto: Any, make: (original: Create) => Create): void {
  const original = proto?.create as Create | undefined;
  if (typeof original !== 'function' || original[ORIGINAL]) return;
  const wrapped = make(original);
  Object.defineProperty(wrapped, ORIGINAL, { value: original });
  Object.defineProperty(proto, 'create', { value: wrapped, writable: true, configurable: true, enumerable: false });
}

/** Remove our wrapper where it is still the outermost one (else it passes through when disabled). */
function innerUnwrap(proto: Any): void {
  const current = proto?.create as Create | undefined;
  if (current && current[ORIGINAL]) {
    Object.defineProperty(proto, 'create', { value: current[ORIGINAL], writable: true, configurable: true, enumerable: false });
  }
}

/** The official instrumentation's span, if it is the active one. */
function officialSpan(): Span | undefined {
  const span = trace.getActiveSpan() as (Span & { instrumentationScope?: { name?: string } }) | undefined;
  if (!span || !span.isRecording()) return undefined;
  return span.instrumentationScope?.name === OFFICIAL_SCOPE ? span : undefined;
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}

/** Cached/reasoning (and audio/image/prediction) tokens of a Chat Completions or Responses usage object. */
export function usageDetails(usage: Any | undefined | null): Record<string, number> {
  const out: Record<string, number> = {};
  if (!usage || typeof usage !== 'object') return out;
  const input = num(usage.prompt_tokens) ?? num(usage.input_tokens);
  const output = num(usage.completion_tokens) ?? num(usage.output_tokens);
  if (input !== undefined) out[GEN_AI_USAGE_INPUT_TOKENS] = input;
  if (output !== undefined) out[GEN_AI_USAGE_OUTPUT_TOKENS] = output;
  const cached = num((usage.prompt_tokens_details ?? usage.input_tokens_details)?.cached_tokens);
  const reasoning = num((usage.completion_tokens_details ?? usage.output_tokens_details)?.reasoning_tokens);
  if (cached !== undefined) out[GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = cached;
  if (reasoning !== undefined) out[GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = reasoning;
  Object.assign(out, openaiUsageAttributes(usage)); // audio, image, prediction tokens (priced apart)
  return out;
}

function textLength(content: unknown): number {
  if (typeof content === 'string') return content.length;
  if (Array.isArray(content)) {
    return content.reduce((n: number, part: Any) => n + (typeof part?.text === 'string' ? part.text.length : 0), 0);
  }
  return 0;
}

/** Characters of the prompt: chat messages, or a Responses `input`. */
export function promptChars(params: Any): number {
  if (Array.isArray(params?.messages)) {
    return params.messages.reduce((n: number, m: Any) => n + textLength(m?.content), 0);
  }
  if (typeof params?.input === 'string') return params.input.length;
  if (Array.isArray(params?.input)) {
    return params.input.reduce((n: number, m: Any) => n + textLength(m?.content ?? m?.text), 0);
  }
  return 0;
}

export function estimateTokens(chars: number): number {
  return Math.ceil(chars / CHARS_PER_TOKEN);
}

function setEstimate(span: Span, params: Any, outputChars: number): void {
  span.setAttributes({
    [GEN_AI_USAGE_INPUT_TOKENS]: estimateTokens(promptChars(params)),
    [GEN_AI_USAGE_OUTPUT_TOKENS]: estimateTokens(outputChars),
    [OTEL_LLM_TOKENS_ESTIMATED]: true,
  });
}

function completionChars(result: Any): number {
  if (Array.isArray(result?.choices)) {
    return result.choices.reduce((n: number, c: Any) => n + textLength(c?.message?.content), 0);
  }
  if (typeof result?.output_text === 'string') return result.output_text.length;
  return 0;
}

/** Adds the contract's extras to the official OpenAI instrumentation's spans. */
export class OpenAIExtrasInstrumentation extends InstrumentationBase<OpenAIExtrasConfig> {
  constructor(config: OpenAIExtrasConfig = {}) {
    super('@otel-llm/node/openai', '0.1.0', config);
  }

  protected init() {
    return [
      new InstrumentationNodeModuleDefinition(
        'openai',
        SUPPORTED,
        (moduleExports: Any) => {
          const mod = moduleExports[Symbol.toStringTag] === 'Module' ? moduleExports.default : moduleExports;
          innerWrap(mod?.OpenAI?.Chat?.Completions?.prototype, original => this.patch(original, 'chat'));
          innerWrap(mod?.OpenAI?.Responses?.prototype, original => this.patch(original, 'responses'));
          return moduleExports;
        },
        (moduleExports: Any) => {
          const mod = moduleExports?.[Symbol.toStringTag] === 'Module' ? moduleExports.default : moduleExports;
          innerUnwrap(mod?.OpenAI?.Chat?.Completions?.prototype);
          innerUnwrap(mod?.OpenAI?.Responses?.prototype);
        },
      ),
    ];
  }

  private patch(original: Create, api: 'chat' | 'responses'): Create {
    const self = this;
    return function otelLlmOpenAICreate(this: unknown, ...args: unknown[]): unknown {
      let span: Span | undefined;
      let hideUsage = false;
      const started = performance.now();
      const params = (args[0] ?? {}) as Any;
      try {
        span = self.isEnabled() ? officialSpan() : undefined;
        if (span && params.stream === true) {
          span.setAttribute(GEN_AI_REQUEST_STREAM, true);
          const wantUsage = self.wantsUsage((this as Any)?._client?.baseURL);
          if (api === 'chat' && wantUsage && params.stream_options?.include_usage !== true) {
            args = [{ ...params, stream_options: { ...(params.stream_options ?? {}), include_usage: true } }, ...args.slice(1)];
            hideUsage = true;
          }
        }
      } catch {
        span = undefined;
      }
      const result = original.apply(this, args) as Any;
      if (!span || !result || typeof result.then !== 'function') return result;
      try {
        if (params.stream === true) {
          result.then(
            (stream: Any) => self.wrapStream(stream, span!, params, hideUsage, started, api),
            () => undefined,
          );
        } else {
          result.then(
            (res: Any) => self.onResult(span!, params, res),
            () => undefined,
          );
        }
      } catch {
        // never break the call
      }
      return result;
    };
  }

  /** Whether to inject include_usage for a client whose base URL is `baseURL`. */
  wantsUsage(baseURL: unknown): boolean {
    const mode = this.getConfig().streamIncludeUsage ?? 'auto';
    if (mode === true || mode === 'true') return true;
    if (mode === false || mode === 'false') return false;
    if (typeof baseURL !== 'string') return false;
    const known = this.usageByBaseURL.get(baseURL);
    if (known !== undefined) return known;
    const resolver = (this.resolver ??= this.getConfig().resolver ?? ProviderResolver.fromEnv());
    const found = resolver.resolve(baseURL, 'openai');
    const wants = !found.unresolved && INCLUDE_USAGE_PROVIDERS.has(found.name);
    // a client's base URL is fixed: one resolution per URL (bounded like the resolver's cache)
    if (this.usageByBaseURL.size >= 1024) this.usageByBaseURL.clear();
    this.usageByBaseURL.set(baseURL, wants);
    return wants;
  }

  private resolver?: ProviderResolver;
  private readonly usageByBaseURL = new Map<string, boolean>();

  private onResult(span: Span, params: Any, result: Any): void {
    try {
      if (result?.usage) span.setAttributes(usageDetails(result.usage));
      else setEstimate(span, params, completionChars(result));
    } catch {
      // telemetry only
    }
  }

  private wrapStream(stream: Any, span: Span, params: Any, hideUsage: boolean, started: number, api: string): void {
    if (!stream || typeof stream.iterator !== 'function') return;
    const original = stream.iterator;
    stream.iterator = function otelLlmStreamIterator(this: unknown) {
      return observeStream(original.call(this), span, params, hideUsage, started, api);
    };
  }
}

/**
 * The caller's iterator over the stream's chunks, observed: time to the first chunk, usage
 * (the usage-only chunk we asked for is not handed on), characters for an estimate; at the
 * end (read to the end, stopped early, or failed) an estimate when no usage came, and the
 * span the official wrapper would leave open is ended. A plain iterator object rather than
 * an async generator: one promise per chunk instead of a generator's queue of them.
 */
function observeStream(
  iterator: AsyncIterator<Any>,
  span: Span,
  params: Any,
  hideUsage: boolean,
  started: number,
  api: string,
): AsyncIterableIterator<Any> {
  let first = true;
  let sawUsage = false;
  let outputChars = 0;
  let finished = false;
  /** next() was called: as with a generator, return() or throw() before that only closes it. */
  let begun = false;

  /** Read, or stopped early (`completed` false), or failed. */
  const finish = (completed: boolean, failure?: unknown): void => {
    if (finished) return;
    finished = true;
    try {
      const known = (span as Span & { attributes?: Record<string, unknown> }).attributes?.[GEN_AI_USAGE_INPUT_TOKENS];
      if (!sawUsage && known === undefined) setEstimate(span, params, outputChars);
      // The official wrapper ends the span only after a stream it read to the end.
      if (!completed && span.isRecording()) {
        if (failure !== undefined) {
          const type = (failure as Error)?.constructor?.name || 'Error';
          span.setAttribute(ERROR_TYPE, type);
          span.setStatus({ code: SpanStatusCode.ERROR, message: (failure as Error)?.message });
        }
        span.end();
      }
    } catch {
      // telemetry only
    }
  };

  /** Whether to hand `chunk` on (false for the usage-only chunk we asked for). */
  const observe = (chunk: Any): boolean => {
    let hide = false;
    try {
      if (first) {
        first = false;
        span.setAttribute(GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, (performance.now() - started) / 1000);
      }
      const usage = api === 'responses' ? chunk?.response?.usage : chunk?.usage;
      if (usage) {
        sawUsage = true;
        span.setAttributes(usageDetails(usage));
        hide = hideUsage && Array.isArray(chunk.choices) && chunk.choices.length === 0;
      }
      const choices = chunk?.choices;
      if (Array.isArray(choices)) {
        for (let i = 0; i < choices.length; i++) outputChars += textLength(choices[i]?.delta?.content);
      } else if (typeof chunk?.delta === 'string') {
        outputChars += chunk.delta.length;
      }
    } catch {
      // telemetry only
    }
    return !hide;
  };

  const done = (): IteratorResult<Any> => ({ value: undefined, done: true });
  // one reaction per chunk on the source's own promise (no async function around it)
  const step = (result: IteratorResult<Any>): IteratorResult<Any> | Promise<IteratorResult<Any>> => {
    let end: boolean;
    try {
      end = !!result.done;
    } catch (err) {
      throw fail0(err); // not an iterator result: as a for-await over the source would fail
    }
    if (end) {
      finish(true);
      return done();
    }
    return observe(result.value) ? result : observed.next();
  };
  const fail0 = (err: unknown): unknown => {
    finish(false, err);
    return err;
  };
  const fail = (err: unknown): never => {
    throw fail0(err);
  };
  const observed: AsyncIterableIterator<Any> = {
    [Symbol.asyncIterator]() {
      return observed;
    },
    next(): Promise<IteratorResult<Any>> {
      if (finished) return Promise.resolve(done());
      begun = true;
      let pending: Promise<IteratorResult<Any>>;
      try {
        pending = Promise.resolve(iterator.next());
      } catch (err) {
        return Promise.reject(fail0(err));
      }
      return pending.then(step, fail);
    },
    async return(value?: Any): Promise<IteratorResult<Any>> {
      // the caller stopped early (break, or an error in its loop): as a for-await over the source
      if (finished || !begun) {
        finished = true;
        return { value, done: true };
      }
      try {
        await iterator.return?.();
      } finally {
        finish(false);
      }
      return { value, done: true };
    },
    async throw(err?: unknown): Promise<IteratorResult<Any>> {
      if (!finished && !begun) finished = true;
      if (!finished) {
        try {
          await iterator.return?.();
        } finally {
          finish(false, err);
        }
      }
      throw err;
    },
  };
  return observed;
}
