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
import { OpenAIInstrumentation } from '@opentelemetry/instrumentation-openai';
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
import { recordWriter, setOpenaiUsageAttributes, type AttributeTarget } from '../pricing-units.js';
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
  setUsageDetails(recordWriter(out), usage);
  return out;
}

/** usageDetails(usage) set on `target` (a span) one by one, in the same order, without the record. */
export function setUsageDetails(target: AttributeTarget, usage: Any | undefined | null): void {
  if (!usage || typeof usage !== 'object') return;
  const input = num(usage.prompt_tokens) ?? num(usage.input_tokens);
  const output = num(usage.completion_tokens) ?? num(usage.output_tokens);
  if (input !== undefined) target.setAttribute(GEN_AI_USAGE_INPUT_TOKENS, input);
  if (output !== undefined) target.setAttribute(GEN_AI_USAGE_OUTPUT_TOKENS, output);
  const cached = num((usage.prompt_tokens_details ?? usage.input_tokens_details)?.cached_tokens);
  const reasoning = num((usage.completion_tokens_details ?? usage.output_tokens_details)?.reasoning_tokens);
  if (cached !== undefined) target.setAttribute(GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, cached);
  if (reasoning !== undefined) target.setAttribute(GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, reasoning);
  setOpenaiUsageAttributes(target, usage); // audio, image, prediction tokens (priced apart)
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

function onChatResult(span: Span, params: Any, result: Any): void {
  try {
    if (result?.usage) setUsageDetails(span, result.usage);
    else setEstimate(span, params, completionChars(result));
  } catch {
    // telemetry only
  }
}

/** What OpenAIExtrasInstrumentation leaves on an official chat span for the handlers below. */
interface Extras {
  params: Any;
  hideUsage: boolean;
  started: number;
}
const EXTRAS = Symbol('otel-llm.openai.extras');
type Marked = Span & { [EXTRAS]?: Extras };

/** The enabled OfficialOpenAIInstrumentation instances (their handlers read the extras). */
const hooks = new Set<object>();

type OfficialHandlers = {
  _onChatCompletionsCreateResult?: (span: Span, ...rest: unknown[]) => unknown;
  _onChatCompletionsStreamIterator?: (iterator: unknown, span: Span, ...rest: unknown[]) => unknown;
};
const OFFICIAL_PROTO = OpenAIInstrumentation.prototype as unknown as OfficialHandlers;

/**
 * The official OpenAI instrumentation (register() enables this one), whose own handlers of
 * a chat call's result and stream also apply what OpenAIExtrasInstrumentation adds: the
 * usage details (or an estimate) before it ends the span, and the observed stream (time to
 * the first chunk, usage, the hidden usage chunk) under its own iterator. The extras then
 * need no promise reaction, closure or stream wrapper of their own per call. These two
 * handlers are private methods of the pinned 0.20 release (tested); when they are missing,
 * the extras take their general path (a reaction on the call's promise).
 */
export class OfficialOpenAIInstrumentation extends OpenAIInstrumentation {
  override enable(): void {
    super.enable();
    if (typeof OFFICIAL_PROTO._onChatCompletionsCreateResult === 'function' && typeof OFFICIAL_PROTO._onChatCompletionsStreamIterator === 'function') {
      hooks.add(this);
    }
  }

  override disable(): void {
    hooks.delete(this);
    super.disable();
  }
}

if (typeof OFFICIAL_PROTO._onChatCompletionsCreateResult === 'function' && typeof OFFICIAL_PROTO._onChatCompletionsStreamIterator === 'function') {
  const onResult = OFFICIAL_PROTO._onChatCompletionsCreateResult;
  const onStream = OFFICIAL_PROTO._onChatCompletionsStreamIterator;
  const proto = OfficialOpenAIInstrumentation.prototype as unknown as OfficialHandlers;
  proto._onChatCompletionsCreateResult = function (this: unknown, span: Span, ...rest: unknown[]): unknown {
    const extras = (span as Marked)[EXTRAS];
    if (extras !== undefined) onChatResult(span, extras.params, rest[2]);
    return onResult.call(this, span, ...rest);
  };
  proto._onChatCompletionsStreamIterator = function (this: unknown, iterator: unknown, span: Span, ...rest: unknown[]): unknown {
    const extras = (span as Marked)[EXTRAS];
    if (extras !== undefined) {
      try {
        iterator = observeStream(iterator as AsyncIterator<Any>, span, extras.params, extras.hideUsage, extras.started, 'chat');
      } catch {
        // the stream as it is
      }
    }
    return onStream.call(this, iterator, span, ...rest);
  };
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
      if (api === 'chat' && hooks.size > 0) {
        // the official instrumentation's own result and stream handlers read the call
        // (OfficialOpenAIInstrumentation): no promise reaction or stream wrapper of ours
        try {
          (span as Marked)[EXTRAS] = { params, hideUsage, started };
          return result;
        } catch {
          // an unmarkable span: the general path below
        }
      }
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
    onChatResult(span, params, result);
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
 * span the official wrapper would leave open is ended.
 */
function observeStream(
  iterator: AsyncIterator<Any>,
  span: Span,
  params: Any,
  hideUsage: boolean,
  started: number,
  api: string,
): AsyncIterableIterator<Any> {
  return new ObservedStream(iterator, span, params, hideUsage, started, api);
}

const DONE: IteratorResult<Any> = Object.freeze({ value: undefined, done: true }) as IteratorResult<Any>;

/**
 * A plain iterator object rather than an async generator (one reaction per chunk on the
 * source's own promise instead of a generator's queue of them), its methods on the
 * prototype: per stream one object and the two reactions.
 */
class ObservedStream implements AsyncIterableIterator<Any> {
  private first = true;
  private sawUsage = false;
  private outputChars = 0;
  private finished = false;
  /** next() was called: as with a generator, return() or throw() before that only closes it. */
  private begun = false;
  private readonly onStep: (result: IteratorResult<Any>) => IteratorResult<Any> | Promise<IteratorResult<Any>>;
  private readonly onFail: (err: unknown) => never;

  constructor(
    private readonly iterator: AsyncIterator<Any>,
    private readonly span: Span,
    private readonly params: Any,
    private readonly hideUsage: boolean,
    private readonly started: number,
    private readonly api: string,
  ) {
    this.onStep = result => this.step(result);
    this.onFail = err => {
      throw this.fail(err);
    };
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Any> {
    return this;
  }

  /** Read, or stopped early (`completed` false), or failed. */
  private finish(completed: boolean, failure?: unknown): void {
    if (this.finished) return;
    this.finished = true;
    const span = this.span;
    try {
      const known = (span as Span & { attributes?: Record<string, unknown> }).attributes?.[GEN_AI_USAGE_INPUT_TOKENS];
      if (!this.sawUsage && known === undefined) setEstimate(span, this.params, this.outputChars);
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
  }

  /** Whether to hand `chunk` on (false for the usage-only chunk we asked for). */
  private observe(chunk: Any): boolean {
    let hide = false;
    try {
      if (this.first) {
        this.first = false;
        this.span.setAttribute(GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, (performance.now() - this.started) / 1000);
      }
      const usage = this.api === 'responses' ? chunk?.response?.usage : chunk?.usage;
      if (usage) {
        this.sawUsage = true;
        setUsageDetails(this.span, usage);
        hide = this.hideUsage && Array.isArray(chunk.choices) && chunk.choices.length === 0;
      }
      const choices = chunk?.choices;
      if (Array.isArray(choices)) {
        for (let i = 0; i < choices.length; i++) this.outputChars += textLength(choices[i]?.delta?.content);
      } else if (typeof chunk?.delta === 'string') {
        this.outputChars += chunk.delta.length;
      }
    } catch {
      // telemetry only
    }
    return !hide;
  }

  private step(result: IteratorResult<Any>): IteratorResult<Any> | Promise<IteratorResult<Any>> {
    let end: boolean;
    try {
      end = !!result.done;
    } catch (err) {
      throw this.fail(err); // not an iterator result: as a for-await over the source would fail
    }
    if (end) {
      this.finish(true);
      return { value: undefined, done: true };
    }
    return this.observe(result.value) ? result : this.next();
  }

  private fail(err: unknown): unknown {
    this.finish(false, err);
    return err;
  }

  next(): Promise<IteratorResult<Any>> {
    if (this.finished) return Promise.resolve({ ...DONE });
    this.begun = true;
    let pending: Promise<IteratorResult<Any>>;
    try {
      pending = Promise.resolve(this.iterator.next());
    } catch (err) {
      return Promise.reject(this.fail(err));
    }
    return pending.then(this.onStep, this.onFail);
  }

  /** The caller stopped early (break, or an error in its loop): as a for-await over the source. */
  async return(value?: Any): Promise<IteratorResult<Any>> {
    if (this.finished || !this.begun) {
      this.finished = true;
      return { value, done: true };
    }
    try {
      await this.iterator.return?.();
    } finally {
      this.finish(false);
    }
    return { value, done: true };
  }

  async throw(err?: unknown): Promise<IteratorResult<Any>> {
    if (!this.finished && !this.begun) this.finished = true;
    if (!this.finished) {
      try {
        await this.iterator.return?.();
      } finally {
        this.finish(false, err);
      }
    }
    throw err;
  }
}
