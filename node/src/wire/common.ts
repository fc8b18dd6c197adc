/**
 * What the API-format modules share: the per-call state they fill from request and
 * response bodies, and usage extraction through genai-prices' `extractUsage` (the
 * provider's own extractor for the API flavor, else the format's reference provider's).
 */
import type { AttributeValue } from '@opentelemetry/api';
import { extractUsage, type Provider } from '@pydantic/genai-prices';
import { providerById } from '../providers.js';
import {
  GEN_AI_RESPONSE_FINISH_REASONS,
  GEN_AI_RESPONSE_ID,
  GEN_AI_RESPONSE_MODEL,
  GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
  GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
  GEN_AI_USAGE_COST_AMOUNT,
  GEN_AI_USAGE_COST_CURRENCY,
  GEN_AI_USAGE_COST_SOURCE,
  GEN_AI_USAGE_INPUT_TOKENS,
  GEN_AI_USAGE_OUTPUT_TOKENS,
  GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
} from '../semconv.js';

export type Any = any; // eslint-disable-line @typescript-eslint/no-explicit-any

/** What one call's bodies told so far; `attrs` go onto the GenAI span as they arrive. */
export class CallState {
  readonly attrs: Record<string, AttributeValue> = {};
  requestModel?: string;
  stream = false;
  /** The usage object(s) seen, merged (streams report usage in parts). */
  usage?: Record<string, unknown>;
  finishReasons: string[] = [];
  outputChars = 0;
  events = 0;
  /** Set by a format when the stream's own end marker arrived ([DONE], message_stop, ...). */
  completed = false;
  /** Set when a terminal error event arrived in the stream. */
  errorType?: string;
  /** The attributes set since the last flush to the span. */
  dirty = false;

  constructor(
    /** The genai-prices provider whose extractors read usage. */
    readonly extractor: Provider | undefined,
    readonly flavor: string,
  ) {}

  set(key: string, value: AttributeValue | undefined | null): void {
    if (value === undefined || value === null || value === '') return;
    const old = this.attrs[key];
    if (old === value) return;
    if (Array.isArray(value) && Array.isArray(old) && old.length === value.length && old.every((v, i) => v === value[i])) return;
    this.attrs[key] = value;
    this.dirty = true;
  }

  responseId(id: unknown): void {
    if (typeof id === 'string') this.set(GEN_AI_RESPONSE_ID, id);
  }

  responseModel(model: unknown): void {
    if (typeof model === 'string') this.set(GEN_AI_RESPONSE_MODEL, model);
  }

  finish(reason: unknown): void {
    if (typeof reason !== 'string' || !reason) return;
    this.finishReasons.push(reason);
    this.set(GEN_AI_RESPONSE_FINISH_REASONS, [...this.finishReasons]);
  }

  /** Set the finish reasons at once (one per choice/candidate). */
  finishAll(reasons: unknown[]): void {
    const list = reasons.filter((r): r is string => typeof r === 'string' && r !== '');
    if (!list.length) return;
    this.finishReasons = list;
    this.set(GEN_AI_RESPONSE_FINISH_REASONS, [...list]);
  }

  /** Merge a usage object (later parts win) and re-derive the token attributes. */
  addUsage(part: unknown, root = 'usage'): void {
    if (!part || typeof part !== 'object' || Array.isArray(part)) return;
    this.usage = { ...(this.usage ?? {}), ...(part as Record<string, unknown>) };
    const tokens = extractTokens(this.extractor, this.flavor, { [root]: this.usage });
    if (tokens) for (const [k, v] of Object.entries(tokens)) this.set(k, v);
    const cost = (this.usage as Any).cost;
    if (typeof cost === 'number' && Number.isFinite(cost) && cost >= 0) {
      // the provider's own figure (OpenRouter's usage.cost, USD)
      this.set(GEN_AI_USAGE_COST_AMOUNT, cost);
      this.set(GEN_AI_USAGE_COST_CURRENCY, 'USD');
      this.set(GEN_AI_USAGE_COST_SOURCE, 'provider');
    }
  }

  get hasUsage(): boolean {
    return this.attrs[GEN_AI_USAGE_INPUT_TOKENS] !== undefined || this.attrs[GEN_AI_USAGE_OUTPUT_TOKENS] !== undefined;
  }
}

const DEST: Readonly<Record<string, string>> = {
  input_tokens: GEN_AI_USAGE_INPUT_TOKENS,
  output_tokens: GEN_AI_USAGE_OUTPUT_TOKENS,
  cache_read_tokens: GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
  cache_write_tokens: GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
  output_reasoning_tokens: GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
};

/**
 * Token attributes of `container` ({usage: ...} or {usageMetadata: ...}) read by the
 * provider's extractor for `flavor` (input includes cached tokens, output includes
 * reasoning tokens, as genai-prices reports them); undefined when it cannot be read.
 */
export function extractTokens(provider: Provider | undefined, flavor: string, container: unknown): Record<string, number> | undefined {
  if (!provider) return undefined;
  const fast = compiledExtractor(provider, flavor);
  if (fast) {
    const read = fast(container);
    if (read !== FALLBACK) return read;
  }
  return libraryExtract(provider, flavor, container);
}

/** genai-prices' own extractUsage (the reference; also every case the compiled form leaves to it). */
export function libraryExtract(provider: Provider, flavor: string, container: unknown): Record<string, number> | undefined {
  const flavors = provider.extractors?.map(e => e.api_flavor) ?? [];
  const use = flavors.includes(flavor) ? flavor : flavors.includes('default') ? 'default' : undefined;
  if (!use) return undefined;
  let usage: Record<string, number | undefined>;
  try {
    usage = extractUsage(provider, container, use).usage;
  } catch {
    return undefined;
  }
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(usage)) {
    const dest = DEST[k];
    if (dest && typeof v === 'number' && Number.isFinite(v)) out[dest] = v;
  }
  return Object.keys(out).length ? out : undefined;
}

const FALLBACK = Symbol('fallback');
type Compiled = (container: unknown) => Record<string, number> | typeof FALLBACK;
/** The destinations above in genai-prices' own order of reported usage keys (alphabetical). */
const DEST_ORDER = Object.keys(DEST).sort();
const compiled = new WeakMap<Provider, Map<string, Compiled | null>>();

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * genai-prices' extractor for (provider, flavor), compiled once from the library's own
 * extractor data (root and mapping paths): each call then walks the usage object directly
 * instead of re-validating the provider's extractors and copying paths per call. Only
 * extractors of plain key paths are compiled (a path with an array selector stays with
 * extractUsage), and the compiled form hands every case where extractUsage would throw or
 * find nothing (a required value missing, a negative count, no token figure) back to it:
 * what it returns is what extractTokens returned through extractUsage (tested for every
 * provider's extractors in wire-vectors.test.mjs). The first call of each goes through
 * extractUsage, which logs its own one-time warnings.
 */
function compiledExtractor(provider: Provider, flavor: string): Compiled | null {
  let byFlavor = compiled.get(provider);
  if (!byFlavor) compiled.set(provider, (byFlavor = new Map()));
  if (byFlavor.has(flavor)) return byFlavor.get(flavor)!;
  byFlavor.set(flavor, compile(provider, flavor));
  return null;
}

function compile(provider: Provider, flavor: string): Compiled | null {
  try {
    const extractors = provider.extractors ?? [];
    // the extractor libraryExtract would use
    const ex = extractors.find(e => e.api_flavor === flavor) ?? extractors.find(e => e.api_flavor === 'default');
    if (!ex) return null;
    const steps = (p: unknown): string[] | null => {
      const list = Array.isArray(p) ? p : [p];
      return list.length && list.every(s => typeof s === 'string') ? (list as string[]) : null;
    };
    const root = steps(ex.root);
    if (!root) return null;
    const maps: { path: string[]; dest: string | undefined; required: boolean }[] = [];
    for (const m of ex.mappings ?? []) {
      const path = steps(m.path);
      if (!path) return null;
      maps.push({ path, dest: DEST[m.dest], required: m.required === true });
    }
    return (container: unknown) => {
      let at: unknown = container;
      for (const step of root) {
        if (!isMapping(at)) return FALLBACK;
        at = at[step];
      }
      if (!isMapping(at)) return FALLBACK;
      const sums: Record<string, number> = {};
      let found = false;
      for (const map of maps) {
        let v: unknown = at;
        for (const step of map.path) {
          if (!isMapping(v)) {
            v = undefined;
            break;
          }
          v = v[step];
        }
        if (typeof v !== 'number') {
          if (map.required) return FALLBACK; // extractUsage throws
          continue;
        }
        if (!Number.isFinite(v) || v < 0) return FALLBACK; // extractUsage throws
        if (map.dest !== undefined) {
          sums[map.dest] = (sums[map.dest] ?? 0) + v;
          found = true;
        }
      }
      if (!found) return FALLBACK;
      const out: Record<string, number> = {};
      for (const key of DEST_ORDER) {
        const dest = DEST[key]!;
        if (sums[dest] !== undefined) out[dest] = sums[dest];
      }
      return out;
    };
  } catch {
    return null;
  }
}

/**
 * The usage extractor for a call: the pricing provider's own for the format's flavor (an
 * OpenAI-compatible provider's `default` for chat), else the format's reference provider's.
 */
export function extractorFor(
  pricingId: string | null,
  format: Pick<WireFormat, 'flavor' | 'reference' | 'referenceFlavor'>,
): { provider: Provider | undefined; flavor: string } {
  const own = providerById(pricingId);
  const flavors = own?.extractors?.map(e => e.api_flavor) ?? [];
  if (own && own.id === format.reference) return { provider: own, flavor: format.referenceFlavor };
  if (own && flavors.includes(format.flavor)) return { provider: own, flavor: format.flavor };
  if (own && format.flavor === 'chat' && flavors.includes('default') && !NOT_CHAT_DEFAULT.has(own.id)) {
    return { provider: own, flavor: 'default' };
  }
  return { provider: providerById(format.reference), flavor: format.referenceFlavor };
}

/** Providers whose `default` extractor reads their own (not OpenAI-shaped) API. */
const NOT_CHAT_DEFAULT = new Set(['anthropic', 'google', 'cohere', 'aws', 'cloudflare', 'minimax', 'typesafe', 'cursor']);

export function textLength(content: unknown): number {
  if (typeof content === 'string') return content.length;
  if (Array.isArray(content)) {
    return content.reduce((n: number, part: Any) => n + (typeof part?.text === 'string' ? part.text.length : 0), 0);
  }
  return 0;
}

/** One API format (one module each, named like the Python modules). */
export interface WireFormat {
  /** Module name, e.g. `openai_chat`. */
  readonly name: string;
  /** Provider family the format implies when the endpoint names none. */
  readonly family: string;
  readonly operation: string;
  /** genai-prices api flavor of the usage object. */
  readonly flavor: string;
  /** genai-prices provider whose extractor reads the format when the real provider has none. */
  readonly reference: string;
  /** The reference provider's flavor name for this format. */
  readonly referenceFlavor: string;
  /** Whether a POST to this path is a call of this format. */
  match(path: string): boolean;
  /** The request model (from the body or the path) and whether it streams. */
  request(body: Any, url: URL): { model?: string; stream: boolean; attrs?: Record<string, AttributeValue> };
  /** A whole JSON response. */
  json(body: Any, st: CallState): void;
  /** One SSE event's parsed data (or `undefined` for `[DONE]`). */
  event(data: Any, event: string | undefined, st: CallState): void;
  /** Whether a parsed event only carries the usage that we asked for (hidden from the caller). */
  usageOnly?(data: Any): boolean;
}

/** The request of a JSON body that names its `model` and asks `stream: true`. */
export function bodyRequest(
  body: Any,
  attrs?: Record<string, AttributeValue>,
): { model?: string; stream: boolean; attrs?: Record<string, AttributeValue> } {
  return { model: typeof body?.model === 'string' ? body.model : undefined, stream: body?.stream === true, attrs };
}

/** Common request attributes of OpenAI-style bodies. */
export function requestAttrs(body: Any): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  const maxTokens = body?.max_tokens ?? body?.max_completion_tokens ?? body?.max_output_tokens;
  if (typeof maxTokens === 'number') out['gen_ai.request.max_tokens'] = maxTokens;
  if (typeof body?.temperature === 'number') out['gen_ai.request.temperature'] = body.temperature;
  if (typeof body?.top_p === 'number') out['gen_ai.request.top_p'] = body.top_p;
  return out;
}

const CHARS_PER_TOKEN = 4;
const TOKENS_PER_MESSAGE = 3;

export function tokensForChars(chars: number): number {
  return chars > 0 ? Math.ceil(chars / CHARS_PER_TOKEN) : 0;
}

/** Characters of text in a prompt structure (strings, message objects, content parts). */
export function textChars(value: unknown, depth = 0): number {
  if (depth > 8 || value === null || value === undefined) return 0;
  if (typeof value === 'string') return value.length;
  if (Array.isArray(value)) return value.reduce((n: number, v) => n + textChars(v, depth + 1), 0);
  if (typeof value === 'object') {
    let total = 0;
    for (const key of ['content', 'text', 'input', 'instructions', 'system', 'arguments']) {
      const item = (value as Record<string, unknown>)[key];
      if (item !== undefined && item !== null) total += textChars(item, depth + 1);
    }
    return total;
  }
  return 0;
}

/**
 * Estimated prompt tokens of a request body (the same rule as otel_llm/genai/_common.py):
 * ceil(characters / 4) plus 3 per message and 3 for the reply.
 */
export function estimateInputTokens(body: Any): number {
  let chars = textChars(body?.system) + textChars(body?.instructions);
  let n = 0;
  if (body?.contents !== undefined) {
    // Gemini: every part's text; one message per content
    const contents = Array.isArray(body.contents) ? body.contents : [body.contents];
    n = contents.length;
    for (const c of contents) {
      if (typeof c === 'string') chars += c.length;
      else for (const part of c?.parts ?? []) chars += typeof part?.text === 'string' ? part.text.length : 0;
    }
    for (const part of body?.systemInstruction?.parts ?? []) chars += typeof part?.text === 'string' ? part.text.length : 0;
    return tokensForChars(chars) + TOKENS_PER_MESSAGE * n + TOKENS_PER_MESSAGE;
  }
  const messages = body?.messages ?? body?.input;
  if (Array.isArray(messages)) {
    n = messages.length;
    chars += textChars(messages);
  } else if (typeof messages === 'string') {
    n = 1;
    chars += messages.length;
  }
  return tokensForChars(chars) + TOKENS_PER_MESSAGE * n + TOKENS_PER_MESSAGE;
}
