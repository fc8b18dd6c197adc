/**
 * The wire-format layer: LLM API calls recognised at `fetch` by host and path, whatever SDK
 * (or none) makes them: openai 5+, LangChain JS, @google/genai, the AI SDK's providers.
 *
 * For each call whose path one of the API-format modules knows (openai_chat,
 * openai_completions, openai_responses, openai_embeddings, anthropic_messages, cohere_chat,
 * gemini; named like the Python modules):
 * - the request body gives the model, the stream flag and request parameters; for OpenAI
 *   Chat streams to providers known to accept it (OTEL_LLM_STREAM_INCLUDE_USAGE=auto) the
 *   body gets `stream_options.include_usage`, and the usage-only chunk it adds is hidden
 *   from a caller that did not ask for it;
 * - the response is read as the caller reads it, in place on the Response: `text()`,
 *   `json()`, `arrayBuffer()` keep their native path and the layer reads their result (one
 *   JSON parse, shared); a `body` read as a stream is a pull-based stream of the same bytes
 *   (less a hidden usage chunk), read event by event at the caller's pace;
 * - when an SDK-level inference span is active (official OpenAI instrumentation, the
 *   Anthropic SDK's own, the AI SDK's telemetry), that span is enriched: the provider from
 *   the endpoint, usage, response id/model, finish reasons; otherwise the layer makes the
 *   GenAI client span itself (`{operation} {model}`, CLIENT), parent of the HTTP span;
 *   under the official OpenAI instrumentation's span of a call priced as OpenAI, which
 *   (with genai/openai.ts) already reads the same figures, only the endpoint's attributes
 *   are set and the body is left alone (coveredBySdk).
 * Nothing here throws into the caller: a body it cannot read leaves the call as it was,
 * the span says what is missing (`otel_llm.wire.error`, `otel_llm.usage.missing` or an
 * estimate), and `otel_llm_wire_parse_errors_total{format,reason}` counts it.
 */
import { performance } from 'node:perf_hooks';
import {
  context,
  diag,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
  type AttributeValue,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { INCLUDE_USAGE_PROVIDERS, ProviderResolver, type ResolvedProvider } from '../providers.js';
import {
  ERROR_TYPE,
  GEN_AI_OPERATION_NAME,
  GEN_AI_PROVIDER_NAME,
  GEN_AI_REQUEST_MODEL,
  GEN_AI_REQUEST_STREAM,
  GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
  GEN_AI_SYSTEM,
  GEN_AI_RESPONSE_MODEL,
  GEN_AI_USAGE_INPUT_TOKENS,
  GEN_AI_USAGE_OUTPUT_TOKENS,
  OTEL_LLM_AZURE_DEPLOYMENT,
  OTEL_LLM_PROVIDER_REQUEST_ID,
  OTEL_LLM_PROVIDER_UNRESOLVED,
  OTEL_LLM_TOKENS_ESTIMATED,
  OTEL_LLM_USAGE_MISSING,
  OTEL_LLM_WIRE_ERROR,
  SERVER_ADDRESS,
  SERVER_PORT,
} from '../semconv.js';
import { anthropicMessages } from './anthropic_messages.js';
import { CallState, estimateInputTokens, extractorFor, tokensForChars, type Any, type WireFormat } from './common.js';
import { gemini } from './gemini.js';
import { openaiChat } from './openai_chat.js';
import { cohereChat } from './cohere_chat.js';
import { openaiCompletions } from './openai_completions.js';
import { openaiEmbeddings } from './openai_embeddings.js';
import { openaiResponses } from './openai_responses.js';
import { SseReader } from './sse.js';

export const FORMATS: readonly WireFormat[] = [openaiChat, openaiCompletions, openaiResponses, openaiEmbeddings, anthropicMessages, cohereChat, gemini];
type FetchInput = Parameters<typeof fetch>[0];
export type IncludeUsage = 'auto' | 'true' | 'false';

/** Largest JSON response body copied for parsing; larger ones pass unread (counted). */
const MAX_JSON_BYTES = 8 * 1024 * 1024;
/** Largest request body parsed. */
const MAX_REQUEST_BYTES = 8 * 1024 * 1024;
const WRAPPED = Symbol.for('otel-llm.wire.fetch');
const SCOPE = '@otel-llm/node/wire';
/** The official OpenAI instrumentation's scope (genai/openai.ts adds to its spans). */
const OFFICIAL_OPENAI_SCOPE = '@opentelemetry/instrumentation-openai';

export interface WireOptions {
  resolver?: ProviderResolver;
  includeUsage?: IncludeUsage;
  tracer?: Tracer;
  /** Counts a response that could not be read, by API format and reason (`not_json`, `truncated`...). */
  onFailure?: (format: string, reason: string) => void;
}

/** The API format of a POST to `url`, if any. */
export function formatFor(url: URL): WireFormat | undefined {
  const path = url.pathname.replace(/\/+$/, '');
  for (const f of FORMATS) if (f.match(path)) return f;
  return undefined;
}

/**
 * What the wire layer read for an SDK-level span it enriched, kept until that span ends:
 * an SDK instrumentation may write its own figures after ours (the official OpenAI one sets
 * `completion_tokens` as output; xAI leaves reasoning out of it), and the wire's reading,
 * made with the endpoint's provider, is the one the span keeps (genai/aisdk.ts re-applies
 * it as the span ends).
 */
export const WIRE_READINGS = new WeakMap<object, Record<string, AttributeValue>>();

type SdkSpan = Span & { attributes?: Record<string, unknown>; ended?: boolean; instrumentationScope?: { name?: string } };

/** Operations of a span that is the call itself (an agent or workflow span is not). */
const INFERENCE_OPERATIONS = new Set(['chat', 'text_completion', 'generate_content', 'embeddings', 'completion']);

/**
 * The active span when it is an SDK-level inference span (the call itself) that we enrich
 * instead of making our own; an agent or workflow span around the call gets a child span.
 */
function sdkGenAiSpan(): SdkSpan | undefined {
  const span = trace.getActiveSpan() as SdkSpan | undefined;
  if (!span || !span.isRecording() || span.ended) return undefined;
  const a = span.attributes;
  if (!a || typeof a !== 'object') return undefined;
  const operation = a[GEN_AI_OPERATION_NAME];
  if (operation === undefined) {
    return a[GEN_AI_PROVIDER_NAME] !== undefined || a[GEN_AI_SYSTEM] !== undefined ? span : undefined;
  }
  return INFERENCE_OPERATIONS.has(String(operation)) ? span : undefined;
}

/** The request-time attributes of an SDK span: the provider from the endpoint, server address and port. */
function enrichSdkSpan(
  span: SdkSpan,
  provider: ResolvedProvider,
  url: URL,
  requestModel: string | undefined,
  stream: boolean,
  deployment: string | undefined,
): void {
  const a = span.attributes ?? {};
  // attribute by attribute, only what the span lacks or has otherwise: the official OpenAI
  // span of a call to OpenAI already has all of it (nothing is set then)
  if (a[GEN_AI_PROVIDER_NAME] !== provider.name) span.setAttribute(GEN_AI_PROVIDER_NAME, provider.name);
  if (provider.unresolved) span.setAttribute(OTEL_LLM_PROVIDER_UNRESOLVED, true);
  if (a[GEN_AI_REQUEST_MODEL] === undefined && requestModel) span.setAttribute(GEN_AI_REQUEST_MODEL, requestModel);
  if (stream && a[GEN_AI_REQUEST_STREAM] === undefined) span.setAttribute(GEN_AI_REQUEST_STREAM, true);
  if (a[SERVER_ADDRESS] === undefined) span.setAttribute(SERVER_ADDRESS, url.hostname);
  if (a[SERVER_PORT] === undefined) span.setAttribute(SERVER_PORT, portOf(url));
  if (deployment) span.setAttribute(OTEL_LLM_AZURE_DEPLOYMENT, deployment);
  // an SDK span that keeps the older spelling gets the endpoint's provider there too
  if (a[GEN_AI_SYSTEM] !== undefined && a[GEN_AI_SYSTEM] !== provider.name) span.setAttribute(GEN_AI_SYSTEM, provider.name);
}

function portOf(url: URL): number {
  return url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
}

/**
 * The official OpenAI instrumentation's chat or Responses span of a call to OpenAI itself
 * (or a loopback or mapped host priced as OpenAI): that span, with what
 * genai/openai.ts adds to it (cached and reasoning tokens, stream flag, time to the first
 * chunk, include_usage), already carries everything the wire layer would read from the
 * body, read the same way; the layer only adds the endpoint's attributes and leaves
 * request and response untouched. Any other provider behind the OpenAI SDK (xAI counts
 * reasoning tokens apart, DeepSeek reports cache misses...) is read at the wire as usual.
 */
function coveredBySdk(span: SdkSpan, format: WireFormat, provider: ResolvedProvider): boolean {
  return (
    (format === openaiChat || format === openaiResponses) &&
    provider.pricingId === 'openai' &&
    provider.name === 'openai' &&
    !provider.unresolved &&
    span.instrumentationScope?.name === OFFICIAL_OPENAI_SCOPE &&
    span.attributes?.[GEN_AI_OPERATION_NAME] === format.operation
  );
}

function urlOf(input: unknown): URL | undefined {
  try {
    if (typeof input === 'string') return new URL(input);
    if (input instanceof URL) return input;
    if (input && typeof (input as Request).url === 'string') return new URL((input as Request).url);
  } catch {
    return undefined;
  }
  return undefined;
}

function bodyText(body: unknown): string | undefined {
  if (typeof body === 'string') return body.length <= MAX_REQUEST_BYTES ? body : undefined;
  if (body instanceof Uint8Array || body instanceof ArrayBuffer) {
    const bytes = body instanceof ArrayBuffer ? new Uint8Array(body) : body;
    return bytes.byteLength <= MAX_REQUEST_BYTES ? new TextDecoder().decode(bytes) : undefined;
  }
  return undefined;
}

function hasHeader(headers: unknown, name: string): boolean {
  if (!headers) return false;
  if (typeof (headers as Headers).has === 'function') return (headers as Headers).has(name);
  if (Array.isArray(headers)) return headers.some(h => Array.isArray(h) && String(h[0]).toLowerCase() === name);
  return Object.keys(headers as object).some(k => k.toLowerCase() === name);
}

/**
 * A response whose body the caller drops unread would leave its span open: when the
 * Response is collected, the span ends with what was seen (no usage).
 */
const UNREAD = new FinalizationRegistry<WireCall>(call => {
  try {
    call.unread = true;
    call.end();
  } catch {
    // telemetry only
  }
});

/** One LLM call seen at the wire. */
class WireCall {
  readonly st: CallState;
  readonly started = performance.now();
  span: Span;
  own: boolean;
  hideUsage = false;
  /** The caller dropped the response without reading its body. */
  unread = false;
  private ended = false;
  private firstChunk = false;

  constructor(
    readonly layer: WireLayer,
    readonly format: WireFormat,
    readonly provider: ResolvedProvider,
    readonly url: URL,
    sdkSpan: SdkSpan | undefined,
    readonly model: string | undefined,
    stream: boolean,
    requestAttrs: Record<string, AttributeValue>,
    known?: { extractor: Extractor; port: number; deployment: string | undefined },
  ) {
    const { provider: extractor, flavor } = known?.extractor ?? extractorFor(provider.pricingId, format);
    this.st = new CallState(extractor, flavor);
    this.st.stream = stream;
    this.st.requestModel = model;
    const port = known ? known.port : portOf(url);
    const deployment = known ? known.deployment : azureDeployment(url.pathname);
    const requestModel = model ?? deployment;
    this.requestModel = requestModel;
    if (sdkSpan) {
      this.own = false;
      this.span = sdkSpan;
      enrichSdkSpan(sdkSpan, provider, url, requestModel, stream, deployment);
    } else {
      this.own = true;
      const attributes: Record<string, AttributeValue> = {
        [GEN_AI_OPERATION_NAME]: format.operation,
        [GEN_AI_PROVIDER_NAME]: provider.name,
        [SERVER_ADDRESS]: url.hostname,
        [SERVER_PORT]: port,
        ...requestAttrs,
      };
      if (requestModel) attributes[GEN_AI_REQUEST_MODEL] = requestModel;
      if (stream) attributes[GEN_AI_REQUEST_STREAM] = true;
      if (provider.unresolved) attributes[OTEL_LLM_PROVIDER_UNRESOLVED] = true;
      if (deployment) attributes[OTEL_LLM_AZURE_DEPLOYMENT] = deployment;
      const name = requestModel ? `${format.operation} ${requestModel}` : format.operation;
      this.span = layer.tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes });
    }
  }

  readonly requestModel: string | undefined;
  /** Why the response could not be read (the first reason wins). */
  wireError?: string;
  /** The parsed request body, for an input-token estimate when a stream ends without usage. */
  requestBody: Any = undefined;

  /** Flush the attributes gathered since the last flush onto the span. */
  sync(): void {
    if (!this.st.dirty) return;
    this.st.dirty = false;
    try {
      this.span.setAttributes(this.st.attrs);
      if (!this.own) WIRE_READINGS.set(this.span, this.st.attrs);
    } catch {
      // telemetry only
    }
  }

  /** The response (or request) could not be read: `not_json`, `truncated`, `too_large`... */
  fail(what: string): void {
    this.wireError ??= what;
  }

  chunkSeen(): void {
    if (this.firstChunk || !this.st.stream) return;
    this.firstChunk = true;
    const a = (this.span as SdkSpan).attributes;
    if (this.own || a?.[GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] === undefined) {
      this.st.set(GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, (performance.now() - this.started) / 1000);
    }
  }

  /** The call failed before a response (network error) or the stream broke. */
  error(err: unknown): void {
    if (this.ended) return;
    if (this.responded) {
      // the body broke mid-way: what arrived is kept, the span says it was cut off
      this.wireError ??= 'truncated';
      this.end(true);
      return;
    }
    if (this.own) {
      const type = (err as Error)?.name && (err as Error).name !== 'Error' ? (err as Error).name : (err as Error)?.constructor?.name || 'Error';
      this.span.setAttribute(ERROR_TYPE, type);
      this.span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.message });
    }
    this.errored = true;
    this.end();
  }

  responded = false;

  end(broken = false): void {
    if (this.ended) return;
    this.ended = true;
    UNREAD.unregister(this);
    try {
      const st = this.st;
      const attrs: Record<string, AttributeValue> = {};
      const responseModel = st.attrs[GEN_AI_RESPONSE_MODEL];
      if (typeof responseModel === 'string' && this.provider.pricingId === 'azure' && this.format.name !== 'openai_embeddings') {
        // a deployment name is no model: label the call by the model behind it
        attrs[GEN_AI_REQUEST_MODEL] = responseModel;
        if (this.own) this.span.updateName(`${this.format.operation} ${responseModel}`);
      }
      if (!this.errored) {
        if (st.hasUsage) {
          // set as they arrived
        } else if (this.own && st.stream && st.events > 0) {
          attrs[GEN_AI_USAGE_INPUT_TOKENS] = this.requestBody !== undefined ? estimateInputTokens(this.requestBody) : 0;
          attrs[GEN_AI_USAGE_OUTPUT_TOKENS] = tokensForChars(st.outputChars);
          attrs[OTEL_LLM_TOKENS_ESTIMATED] = true;
          if (broken || !st.finishReasons.length) this.wireError ??= 'truncated';
        } else if (this.own) {
          attrs[OTEL_LLM_USAGE_MISSING] = true;
          // a body nobody read is no unreadable body
          if (!this.unread) this.wireError ??= 'unknown_shape';
        }
      }
      if (st.errorType && this.own) {
        attrs[ERROR_TYPE] = st.errorType;
        this.span.setStatus({ code: SpanStatusCode.ERROR });
      }
      if (this.wireError) {
        attrs[OTEL_LLM_WIRE_ERROR] = this.wireError;
        this.layer.failure(this.format.name, this.wireError);
      }
      this.sync();
      if (!isEmpty(attrs)) {
        this.span.setAttributes(attrs);
        if (!this.own) WIRE_READINGS.set(this.span, Object.assign(this.st.attrs, attrs));
      }
      if (this.own) this.span.end();
    } catch {
      // telemetry only
    }
  }

  errored = false;

  /** Watch the response; returns the Response the caller gets (the same, or one over a watched body). */
  response(res: Response): Response {
    this.responded = true;
    if (this.own) {
      const rid = res.headers.get('x-request-id') || res.headers.get('request-id');
      if (rid) this.span.setAttribute(OTEL_LLM_PROVIDER_REQUEST_ID, rid);
    }
    if (res.status >= 400) {
      this.errored = true;
      if (this.own) {
        this.span.setAttribute(ERROR_TYPE, String(res.status));
        this.span.setStatus({ code: SpanStatusCode.ERROR, message: `HTTP ${res.status}` });
      }
      this.end();
      return res;
    }
    if (!res.body) {
      this.fail('empty');
      this.end();
      return res;
    }
    const type = (res.headers.get('content-type') ?? '').toLowerCase();
    const sse = type.includes('text/event-stream');
    if (res instanceof Response && WATCHED) return this.attach(res, sse);
    // a Response of another fetch implementation: a new one over the watched body
    const out = new Response(this.watch(res.body, sse), { status: res.status, statusText: res.statusText, headers: res.headers });
    if (this.own) UNREAD.register(out, this, this);
    for (const key of ['url', 'redirected', 'type'] as const) {
      try {
        Object.defineProperty(out, key, { value: res[key], configurable: true });
      } catch {
        // keep the default
      }
    }
    return out;
  }

  /**
   * Watch `res` in place, as the caller reads it: `text()`, `json()`, `arrayBuffer()`,
   * `bytes()` and `blob()` keep their native fast path and the layer reads the result they
   * return (one JSON parse for `json()`: the caller gets the object the layer read); a
   * caller that reads `body` as a stream gets a watched stream over the same bytes. The
   * methods live on one shared prototype over Response.prototype (WATCHED): per response
   * only that prototype and this call's state are set, no functions are made.
   */
  private attach(res: Response, sse: boolean): Response {
    const native = NATIVE_BODY!.call(res) as ReadableStream<Uint8Array>;
    const state: Watch = { call: this, native, sse, watched: undefined };
    Object.defineProperty(res, WATCH, { value: state, configurable: true, writable: true });
    if (Object.getPrototypeOf(res) === Response.prototype) Object.setPrototypeOf(res, WATCHED!);
    else {
      // a subclass (another layer's Response): the same methods as its own properties
      for (const key of Reflect.ownKeys(WATCHED!)) {
        Object.defineProperty(res, key, Object.getOwnPropertyDescriptor(WATCHED!, key)!);
      }
    }
    if (this.own) UNREAD.register(res, this, this);
    return res;
  }

  /** A whole body read by the caller at once: read it, end the call; returns what the caller gets. */
  readWhole(text: string, sse: boolean): string {
    let out = text;
    try {
      this.chunkSeen();
      if (sse) {
        const reader = new SseReader();
        if (this.hideUsage) {
          const framer = new EventFramer();
          out = this.passEvents(reader, [...framer.push(new TextEncoder().encode(text)), framer.end()]);
        } else {
          for (const ev of reader.pushText(text)) this.event(ev.event, ev.data);
        }
        this.endEvents(reader);
      } else if (text.length > MAX_JSON_BYTES) {
        this.fail('too_large');
      } else {
        this.readJsonText(text);
      }
    } catch {
      this.fail('unknown_shape');
    }
    this.end();
    return out;
  }

  /** Whole SSE events (each with its blank line): read them; returns the text to hand on, without the usage-only event we asked for. */
  private passEvents(reader: SseReader, raws: string[]): string {
    let out = '';
    try {
      for (const raw of raws) {
        if (!raw) continue;
        let hide = false;
        for (const ev of reader.pushText(raw)) hide = this.event(ev.event, ev.data) || hide;
        if (!hide) out += raw;
      }
    } catch {
      this.fail('unknown_shape'); // what was read so far is still handed on
    }
    return out;
  }

  /** The end of an SSE body: an event left without its blank line, and what the reader found wrong. */
  private endEvents(reader: SseReader): void {
    for (const ev of reader.end()) this.event(ev.event, ev.data, true);
    if (reader.oversized) this.fail('too_large');
    if (reader.partial) this.fail('truncated');
  }

  /** A whole JSON body's text (within the size bound): parse it and read the object. */
  private readJsonText(text: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      this.fail(text.trim() ? 'not_json' : 'empty');
    }
    if (parsed !== undefined) this.readParsed(parsed, text.length, false);
  }

  /** A JSON body the caller parsed (or we did): read the object, end the call. */
  readParsed(parsed: unknown, length: number, end = true): void {
    try {
      if (length > MAX_JSON_BYTES) this.fail('too_large');
      else {
        this.format.json(parsed, this.st);
        if (isEmpty(this.st.attrs)) this.fail('unknown_shape');
        this.sync();
      }
    } catch {
      this.fail('unknown_shape');
    }
    if (end) this.end();
  }

  watch(source: ReadableStream<Uint8Array>, sse: boolean): ReadableStream<Uint8Array> {
    const reader = source.getReader();
    const call = this;
    const sseReader = sse ? new SseReader() : undefined;
    const framer = sse && this.hideUsage ? new EventFramer() : undefined;
    let json: Uint8Array[] | undefined = sse ? undefined : [];
    let jsonBytes = 0;
    const encoder = new TextEncoder();
    const onEvents = (events: { event?: string; data: string }[]): void => {
      for (const ev of events) call.event(ev.event, ev.data);
    };
    const finish = (): void => {
      try {
        if (sseReader) {
          call.endEvents(sseReader);
        } else if (json) {
          const text = new TextDecoder().decode(concat(json, jsonBytes));
          json = undefined;
          call.readJsonText(text);
        }
      } catch {
        call.fail('unknown_shape');
      }
      call.end();
    };
    return new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          // read until something can be handed on: a held partial event enqueues nothing, and
          // a pull that enqueues nothing is not called again by the stream
          for (;;) {
            let result: { done: boolean; value?: Uint8Array };
            try {
              result = await reader.read();
            } catch (err) {
              call.error(err);
              controller.error(err);
              return;
            }
            if (result.done) {
              if (framer) {
                const rest = framer.end();
                if (rest) {
                  controller.enqueue(encoder.encode(rest));
                  sseReader!.pushText(rest);
                }
              }
              finish();
              controller.close();
              return;
            }
            const chunk = result.value ?? new Uint8Array(0);
            if (framer) {
              // hold bytes until an event is complete, drop the usage-only event we asked for
              let out = '';
              let whole = false;
              try {
                call.chunkSeen();
                const clean = framer.clean;
                const raws = framer.push(chunk);
                out = call.passEvents(sseReader!, raws);
                // whole events only, none held before or after, none dropped: the bytes as they came
                whole = clean && framer.clean && out.length === totalLength(raws);
                call.sync();
              } catch {
                call.fail('unknown_shape');
              }
              if (out) {
                controller.enqueue(whole ? chunk : encoder.encode(out));
                return;
              }
              continue;
            }
            try {
              call.chunkSeen();
              if (sseReader) onEvents(sseReader.push(chunk));
              else if (json) {
                jsonBytes += chunk.byteLength;
                if (jsonBytes > MAX_JSON_BYTES) {
                  json = undefined;
                  call.fail('too_large');
                } else json.push(chunk);
              }
              call.sync();
            } catch {
              call.fail('unknown_shape');
            }
            controller.enqueue(chunk);
            return;
          }
        },
        async cancel(reason) {
          // the caller stopped reading: end the span with what was seen
          call.end();
          await reader.cancel(reason);
        },
      },
      { highWaterMark: 0 },
    );
  }

  /** One SSE event; returns whether it is the usage-only chunk to hide from the caller. */
  event(name: string | undefined, data: string, tail = false): boolean {
    this.st.events++;
    if (data === '[DONE]') {
      this.format.event(undefined, name, this.st);
      return false;
    }
    let parsed: Any;
    try {
      parsed = JSON.parse(data);
    } catch {
      // an event cut off at the end of the stream is `truncated`, said once the stream ends
      if (!tail) this.fail('not_json');
      return false;
    }
    try {
      this.format.event(parsed, name, this.st);
    } catch {
      this.fail('unknown_shape');
    }
    return this.hideUsage && !!this.format.usageOnly?.(parsed);
  }
}

/** The native `Response.prototype.body` getter (undici's), when there is one. */
const NATIVE_BODY = (() => {
  try {
    return Object.getOwnPropertyDescriptor(Response.prototype, 'body')?.get;
  } catch {
    return undefined;
  }
})();

/** A watched Response's state (see WireCall.attach). */
interface Watch {
  readonly call: WireCall;
  /** The native body stream. */
  readonly native: ReadableStream<Uint8Array>;
  readonly sse: boolean;
  /** The watched stream, once the caller took `body`. */
  watched: ReadableStream<Uint8Array> | undefined;
}
const WATCH = Symbol('otel-llm.wire.watch');
type Watched = Response & { [WATCH]: Watch };

/** After the caller took the stream, the read methods read it (bodyUsed as usual). */
async function viaStream(w: Watch): Promise<ArrayBuffer> {
  const reader = w.watched!.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    total += value.byteLength;
  }
  return concat(parts, total).buffer as ArrayBuffer;
}

/** The prototype of a watched Response: Response.prototype's, with its body reads watched. */
const WATCHED: object | undefined = (() => {
  if (!NATIVE_BODY || typeof Response !== 'function') return undefined;
  try {
    const proto = Response.prototype;
    const watched = Object.create(proto) as Record<string, unknown>;
    const define = (name: string, value: unknown): void => {
      Object.defineProperty(watched, name, { value, configurable: true, writable: true });
    };
    Object.defineProperty(watched, 'body', {
      configurable: true,
      get(this: Watched) {
        const w = this[WATCH];
        return (w.watched ??= w.call.watch(w.native, w.sse));
      },
    });
    define('text', async function text(this: Watched): Promise<string> {
      const w = this[WATCH];
      if (w.watched) return new TextDecoder().decode(await viaStream(w));
      const t = await proto.text.call(this);
      return w.call.readWhole(t, w.sse);
    });
    define('json', async function json(this: Watched): Promise<unknown> {
      const w = this[WATCH];
      if (w.watched) return JSON.parse(new TextDecoder().decode(await viaStream(w)));
      const t = await proto.text.call(this);
      if (w.sse) return JSON.parse(w.call.readWhole(t, w.sse));
      let parsed: unknown;
      try {
        parsed = JSON.parse(t);
      } catch (err) {
        w.call.readWhole(t, false);
        throw err;
      }
      w.call.readParsed(parsed, t.length);
      return parsed;
    });
    define('arrayBuffer', async function arrayBuffer(this: Watched): Promise<ArrayBuffer> {
      const w = this[WATCH];
      if (w.watched) return viaStream(w);
      const buf = await proto.arrayBuffer.call(this);
      const text = w.call.readWhole(new TextDecoder().decode(buf), w.sse);
      return w.call.hideUsage && w.sse ? (new TextEncoder().encode(text).buffer as ArrayBuffer) : buf;
    });
    if (typeof (proto as { bytes?: unknown }).bytes === 'function') {
      define('bytes', async function bytes(this: Watched): Promise<Uint8Array> {
        return new Uint8Array(await (this.arrayBuffer as () => Promise<ArrayBuffer>).call(this));
      });
    }
    define('blob', async function blob(this: Watched): Promise<Blob> {
      const buf = await (this.arrayBuffer as () => Promise<ArrayBuffer>).call(this);
      return new Blob([buf], { type: this.headers.get('content-type') ?? '' });
    });
    return watched;
  } catch {
    return undefined;
  }
})();

function azureDeployment(path: string): string | undefined {
  const m = /\/deployments\/([^/]+)\//.exec(path);
  return m ? decodeURIComponent(m[1]!) : undefined;
}

const NO_ATTRS: Record<string, AttributeValue> = Object.freeze({}) as Record<string, AttributeValue>;

function isEmpty(record: object): boolean {
  for (const _ in record) return false;
  return true;
}

function totalLength(parts: readonly string[]): number {
  let n = 0;
  for (const p of parts) n += p.length;
  return n;
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** Splits SSE text into whole events (each with its blank-line terminator), holding a partial one. */
class EventFramer {
  private readonly decoder = new TextDecoder('utf-8');
  private buf = '';
  /**
   * Nothing held: the last chunk ended with a line break (no partial character in the
   * decoder) and completed every event in it.
   */
  clean = true;

  push(chunk: Uint8Array): string[] {
    this.buf += this.decoder.decode(chunk, { stream: true });
    const last = chunk.byteLength ? chunk[chunk.byteLength - 1] : undefined;
    this.clean = last === 0x0a || last === 0x0d;
    const out: string[] = [];
    const re = /\r\n\r\n|\n\n|\r\r/g;
    let start = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(this.buf))) {
      out.push(this.buf.slice(start, m.index + m[0].length));
      start = m.index + m[0].length;
    }
    this.buf = this.buf.slice(start);
    this.clean &&= this.buf === '';
    return out;
  }

  end(): string {
    const rest = this.buf + this.decoder.decode();
    this.buf = '';
    return rest;
  }
}

/** What a request URL resolves to (see WireLayer.route). */
interface Route {
  readonly url: URL;
  readonly format: WireFormat | undefined;
  readonly port: number;
  /** The Azure OpenAI deployment named in the path, if any. */
  readonly deployment: string | undefined;
  /** By the client's provider family (or the SDK span's provider name). */
  readonly providers: Map<string, RouteProvider>;
}
/** The provider of a route for one provider family, and the usage extractor it reads with. */
interface RouteProvider {
  readonly provider: ResolvedProvider;
  extractor?: Extractor;
}
type Extractor = ReturnType<typeof extractorFor>;
const ROUTE_LIMIT = 1024;

/** Installs and removes the `fetch` wrapper; one per process. */
export class WireLayer {
  readonly resolver: ProviderResolver;
  readonly includeUsage: IncludeUsage;
  readonly tracer: Tracer;
  private readonly onFailure?: (format: string, reason: string) => void;
  private readonly logged = new Set<string>();

  constructor(options: WireOptions = {}) {
    this.resolver = options.resolver ?? ProviderResolver.fromEnv();
    this.includeUsage = options.includeUsage ?? 'auto';
    this.tracer = options.tracer ?? trace.getTracer(SCOPE, '0.1.0');
    this.onFailure = options.onFailure;
  }

  /** Count (and log once per format and reason) a call the layer could not read. */
  failure(format: string, reason: string): void {
    try {
      this.onFailure?.(format, reason);
      const key = `${format}:${reason}`;
      if (!this.logged.has(key) && this.logged.size < 256) {
        this.logged.add(key);
        diag.warn(`otel-llm: could not read an LLM call (${format}: ${reason}); the call itself is unaffected, its span has otel_llm.wire.error`);
      }
    } catch {
      // counting is best effort
    }
  }

  /** Wrap `globalThis.fetch` (idempotent); returns the function that removes the wrapper. */
  install(): () => void {
    const current = globalThis.fetch as (typeof fetch & { [WRAPPED]?: typeof fetch }) | undefined;
    if (typeof current !== 'function' || current[WRAPPED]) return () => undefined;
    const wrapped = this.wrap(current);
    globalThis.fetch = wrapped;
    return () => {
      if (globalThis.fetch === wrapped) globalThis.fetch = current;
    };
  }

  /** A fetch that watches LLM calls and passes every other call through. */
  wrap(original: typeof fetch): typeof fetch {
    const layer = this;
    const wrapped = function fetch(this: unknown, input: FetchInput, init?: RequestInit): Promise<Response> {
      let call: WireCall | undefined;
      let args: [FetchInput, RequestInit | undefined] = [input, init];
      try {
        const begun = layer.begin(input, init);
        if (begun) [call, args] = begun;
      } catch {
        call = undefined;
        args = [input, init];
        layer.failure('fetch', 'request');
      }
      if (!call) return original.call(this as never, input, init);
      const c = call;
      let pending: Promise<Response>;
      try {
        pending = context.with(trace.setSpan(context.active(), c.span), original, this, args[0], args[1]);
      } catch (err) {
        c.error(err);
        throw err;
      }
      return pending.then(
        res => {
          try {
            return c.response(res);
          } catch {
            layer.failure('fetch', 'response');
            c.end();
            return res;
          }
        },
        err => {
          c.error(err);
          throw err;
        },
      );
    } as typeof fetch & { [WRAPPED]?: typeof fetch };
    Object.defineProperty(wrapped, WRAPPED, { value: original });
    return wrapped;
  }

  /** Recognise an LLM call; returns it with the (possibly rewritten) fetch arguments. */
  begin(input: FetchInput, init?: RequestInit): [WireCall, [FetchInput, RequestInit | undefined]] | undefined {
    const method = init?.method ?? (input instanceof Request ? input.method : 'GET');
    if (method !== 'POST' && method.toUpperCase() !== 'POST') return undefined;
    const route = this.route(input);
    if (!route?.format) return undefined;
    const { url, format } = route;
    const sdkSpan = sdkGenAiSpan();
    const sdkName = sdkSpan?.attributes?.[GEN_AI_PROVIDER_NAME] ?? sdkSpan?.attributes?.[GEN_AI_SYSTEM];
    const family = typeof sdkName === 'string' && sdkName ? sdkName : format.family;
    let entry = route.providers.get(family);
    if (entry === undefined) {
      entry = { provider: this.resolver.resolve(url, family) };
      route.providers.set(family, entry);
    }
    const provider = entry.provider;
    if (sdkSpan && coveredBySdk(sdkSpan, format, provider)) {
      enrichSdkSpan(sdkSpan, provider, url, undefined, false, undefined);
      return undefined;
    }
    let body: Any;
    let unreadable = false;
    // a string or bytes body is read; a stream or form body is left alone (no model then)
    const text = bodyText(init?.body);
    if (text !== undefined) {
      try {
        body = JSON.parse(text);
      } catch {
        unreadable = true;
      }
    }
    let req: ReturnType<WireFormat['request']> = { stream: false };
    try {
      req = format.request(body, url);
    } catch {
      req = { stream: false };
    }
    const known = { extractor: (entry.extractor ??= extractorFor(provider.pricingId, format)), port: route.port, deployment: route.deployment };
    const call = new WireCall(this, format, provider, url, sdkSpan, req.model, req.stream, req.attrs ?? NO_ATTRS, known);
    if (unreadable) this.failure(format.name, 'request_body');
    else if (body !== undefined) call.requestBody = body;
    let args: [FetchInput, RequestInit | undefined] = [input, init];
    if (format === openaiChat && req.stream && body && typeof text === 'string' && this.wantsUsage(provider)) {
      const opts = body.stream_options;
      if (opts?.include_usage !== true && !hasHeader(init?.headers, 'content-length')) {
        const rewritten = JSON.stringify({ ...body, stream_options: { ...(opts ?? {}), include_usage: true } });
        args = [input, { ...init, body: rewritten }];
        call.hideUsage = true;
      }
    }
    return [call, args];
  }

  /**
   * The parsed URL, API format and providers of a request URL, kept per URL string (an
   * SDK calls the same few endpoints): no URL parsing or path matching per call. The URL
   * is parsed from the string, so a caller's URL object changed later changes nothing.
   */
  private route(input: FetchInput): Route | undefined {
    let href: unknown;
    try {
      href = typeof input === 'string' ? input : input instanceof URL ? input.href : (input as Request | undefined)?.url;
    } catch {
      return undefined;
    }
    if (typeof href !== 'string') return undefined;
    let route = this.routes.get(href);
    if (route === undefined) {
      const url = urlOf(href);
      if (!url) return undefined;
      route = { url, format: formatFor(url), port: portOf(url), deployment: azureDeployment(url.pathname), providers: new Map() };
      if (this.routes.size >= ROUTE_LIMIT) this.routes.clear();
      this.routes.set(href, route);
    }
    return route;
  }

  private readonly routes = new Map<string, Route>();

  private wantsUsage(provider: ResolvedProvider): boolean {
    if (this.includeUsage === 'false') return false;
    if (this.includeUsage === 'true') return true;
    return !provider.unresolved && INCLUDE_USAGE_PROVIDERS.has(provider.name);
  }
}

// --- one propagation per outgoing request ----------------------------------------------

let lastFields: { list: readonly string[]; set: ReadonlySet<string> } | undefined;

/** The global propagator's header names, lower-cased (the set kept while they stay the same). */
function propagationFields(): ReadonlySet<string> {
  const list = propagation.fields();
  const last = lastFields;
  // the composite propagator returns a copy of the same names every time
  if (last && sameList(last.list, list)) return last.set;
  lastFields = { list, set: new Set(list.map(f => f.toLowerCase())) };
  fieldMemo.clear();
  return lastFields.set;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether a header name (as a client spelled it) is a propagation field; kept per spelling. */
const fieldMemo = new Map<unknown, boolean>();

function isField(fields: ReadonlySet<string>, name: unknown): boolean {
  let found = fieldMemo.get(name);
  if (found === undefined) {
    found = fields.has(String(name).toLowerCase());
    if (fieldMemo.size >= 1024) fieldMemo.clear();
    fieldMemo.set(name, found);
  }
  return found;
}

export const NOTHING_TO_RESTORE = (): void => undefined;

/**
 * Remove, from an undici request about to be instrumented, the propagation headers
 * (`traceparent`, `tracestate`, `baggage`, `X-Request-ID`) that an SDK injected itself
 * (the Anthropic SDK does), so that the undici instrumentation's own injection is the only
 * one. Returns a function that puts back any removed header the instrumentation did not
 * inject again. A request without such headers (the usual case) costs one look-up per
 * header name and allocates nothing.
 */
export function dedupePropagationHeaders(request: { headers?: unknown }): () => void {
  const headers = request?.headers;
  if (!Array.isArray(headers)) return NOTHING_TO_RESTORE;
  const fields = propagationFields();
  let removed: [unknown, unknown][] | undefined;
  for (let i = headers.length - 2; i >= 0; i -= 2) {
    if (isField(fields, headers[i])) {
      (removed ??= []).unshift([headers[i], headers[i + 1]]);
      headers.splice(i, 2);
    }
  }
  if (!removed) return NOTHING_TO_RESTORE;
  const taken = removed;
  return () => {
    const present = new Set<string>();
    for (let i = 0; i < headers.length; i += 2) present.add(String(headers[i]).toLowerCase());
    for (const [k, v] of taken) if (!present.has(String(k).toLowerCase())) headers.push(k, v);
  };
}
