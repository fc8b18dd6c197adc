/**
 * Prices for usage beyond text tokens: audio, image and prediction tokens, and non-token
 * units (seconds, characters, pages, images, requests). Mirrors otel_llm/pricing_units.py
 * rule for rule; spec/vectors/manual_spans.json holds both to the same figures.
 *
 * - audio tokens (parts of input/output) at the audio rate; a model with no audio rate
 *   leaves a call with audio tokens unpriced (never priced as text);
 * - image tokens without an image rate, and prediction tokens without a prediction rate,
 *   are priced as the input/output tokens they are part of;
 * - a reported unit the model has no price for leaves the call unpriced; 0 needs no price;
 * - `requests` (default 1) multiplies the per-request price;
 * - token tiers: genai-prices' cliff rule on total input tokens; unit tiers: the same rule
 *   on the call's quantity of that unit.
 */
import { EXTRA_TOKEN_ATTRIBUTES, UNIT_ATTRIBUTES } from './semconv.js';

/** A price per unit: flat, or a base rate with ascending (start, rate) tiers. */
export type Price = number | { base: number; tiers: ReadonlyArray<readonly [number, number]> };

/** Pricing-file keys added to the token keys (USD; `*_mtok` per million tokens, `per_*` per unit). */
export const FILE_PRICE_KEYS = [
  'input_audio_mtok',
  'output_audio_mtok',
  'input_image_mtok',
  'output_image_mtok',
  'accepted_prediction_mtok',
  'rejected_prediction_mtok',
  'per_second',
  'per_minute',
  'per_1k_characters',
  'per_page',
  'per_image',
  'per_request',
] as const;

/** Usage names the tracking API takes, in this order (the same in Python). */
export const USAGE_FIELDS = [
  'input_tokens',
  'output_tokens',
  'cache_read_tokens',
  'cache_creation_tokens',
  'reasoning_tokens',
  'audio_input_tokens',
  'audio_output_tokens',
  'image_input_tokens',
  'image_output_tokens',
  'accepted_prediction_tokens',
  'rejected_prediction_tokens',
  'seconds',
  'characters',
  'pages',
  'images',
  'requests',
] as const;
export type UsageField = (typeof USAGE_FIELDS)[number];

export interface UnitRates {
  audio_input?: Price;
  audio_output?: Price;
  image_input?: Price;
  image_output?: Price;
  accepted_prediction?: Price;
  rejected_prediction?: Price;
  seconds?: Price;
  characters?: Price;
  pages?: Price;
  images?: Price;
}

const SOURCES: ReadonlyArray<readonly [keyof UnitRates, string, number]> = [
  ['audio_input', 'input_audio_mtok', 1e6],
  ['audio_output', 'output_audio_mtok', 1e6],
  ['image_input', 'input_image_mtok', 1e6],
  ['image_output', 'output_image_mtok', 1e6],
  ['accepted_prediction', 'accepted_prediction_mtok', 1e6],
  ['rejected_prediction', 'rejected_prediction_mtok', 1e6],
  ['seconds', 'per_second', 1],
  ['seconds', 'per_minute', 60],
  ['seconds', 'input_audio_hours', 3600],
  ['seconds', 'audio_hours', 3600],
  ['characters', 'per_1k_characters', 1000],
  ['characters', 'input_mchars', 1e6],
  ['pages', 'per_page', 1],
  ['pages', 'input_document_kpages', 1000],
  ['images', 'per_image', 1],
];

/** A genai-prices price (a number or `{base, tiers}`, USD per `per` units) per unit. */
export function pricePerUnit(value: unknown, per: number): Price {
  if (typeof value === 'number') return value / per;
  const tiered = value as { base: number; tiers: { start: number; price: number }[] };
  const tiers = [...tiered.tiers].sort((a, b) => a.start - b.start).map(t => [t.start, t.price / per] as const);
  return { base: tiered.base / per, tiers };
}

/** The extra rates of a genai-prices ModelPrice (or a parsed file entry); undefined if none. */
export function unitRates(price: Record<string, unknown>): UnitRates | undefined {
  const found: UnitRates = {};
  let any = false;
  for (const [name, key, per] of SOURCES) {
    if (found[name] !== undefined) continue;
    const value = price[key];
    if (value === undefined || value === null) continue;
    found[name] = pricePerUnit(value, per);
    any = true;
  }
  return any ? found : undefined;
}

/** The rate of `price` for `quantity` (0 for no price), by genai-prices' cliff rule: past a tier's start, that tier's rate applies to the whole quantity. */
export function tierRate(price: Price | undefined, quantity: number): number {
  if (price === undefined) return 0;
  if (typeof price === 'number') return price;
  for (let i = price.tiers.length - 1; i >= 0; i--) {
    const [start, r] = price.tiers[i]!;
    if (quantity > start) return r;
  }
  return price.base;
}

/** The otel_llm.usage.* counts of one span (undefined = not reported). */
export interface ExtendedUsage {
  audio_input?: number;
  audio_output?: number;
  image_input?: number;
  image_output?: number;
  accepted_prediction?: number;
  rejected_prediction?: number;
  seconds?: number;
  characters?: number;
  pages?: number;
  images?: number;
  requests?: number;
}

const TOKEN_KINDS = new Set<string>(EXTRA_TOKEN_ATTRIBUTES.map(([k]) => k));
const EXT_FIELDS: ReadonlyArray<readonly [keyof ExtendedUsage, string]> = [...EXTRA_TOKEN_ATTRIBUTES, ...UNIT_ATTRIBUTES];

function quantity(value: unknown, integral: boolean): number | undefined {
  let n: number;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string' && value.trim() !== '') n = Number(value);
  else return undefined;
  if (!Number.isFinite(n) || n < 0) return undefined;
  if (integral && !Number.isInteger(n)) return undefined;
  return n;
}

/** The extended usage on a span's attributes, or undefined when it carries none. */
export function readExtended(attrs: Record<string, unknown>): ExtendedUsage | undefined {
  let out: ExtendedUsage | undefined;
  for (const [name, key] of EXT_FIELDS) {
    const raw = attrs[key];
    if (raw === undefined) continue;
    out ??= {};
    const value = quantity(raw, TOKEN_KINDS.has(name));
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** [gen_ai_token_type, count] of the extra token kinds reported. */
export function extendedTokens(ext: ExtendedUsage): [string, number][] {
  const out: [string, number][] = [];
  for (const [kind] of EXTRA_TOKEN_ATTRIBUTES) {
    const v = ext[kind];
    if (v !== undefined) out.push([kind, v]);
  }
  return out;
}

/** What extendedCost needs of a model's compiled rates (pricing.ts' Rates). */
export interface TokenRates {
  readonly input?: Price;
  readonly output?: Price;
  readonly request: number;
  readonly extra?: UnitRates;
  cost(u: TokenUsage): number;
}
/** Token counts of one operation (pricing.ts' Usage): input includes cache kinds, output includes reasoning. */
export interface TokenUsage {
  input: number;
  output: number;
  cacheRead: number;
  cacheCreation: number;
  reasoning: number;
}

/**
 * USD of `u` (normalised token usage) plus `ext` at `rates`, or [undefined, the usage kind
 * that has no price].
 */
export function extendedCost(rates: TokenRates, u: TokenUsage, ext: ExtendedUsage | undefined): [number | undefined, string | undefined] {
  const e = ext ?? {};
  const extra = rates.extra ?? {};
  const aIn = e.audio_input ?? 0;
  const iIn = e.image_input ?? 0;
  const aOut = e.audio_output ?? 0;
  const iOut = e.image_output ?? 0;
  const pAcc = e.accepted_prediction ?? 0;
  const pRej = e.rejected_prediction ?? 0;
  let usage = u;
  if (aIn + iIn > usage.input) usage = { ...usage, input: usage.input + aIn + iIn };
  if (aOut + iOut + pAcc + pRej > usage.output) usage = { ...usage, output: usage.output + aOut + iOut + pAcc + pRej };
  let total = rates.cost(usage);
  const n = usage.input;
  const rIn = tierRate(rates.input, n);
  const rOut = tierRate(rates.output, n);
  const parts: [number, Price | undefined, number, string, boolean][] = [
    [aIn, extra.audio_input, rIn, 'audio_input_tokens', true],
    [aOut, extra.audio_output, rOut, 'audio_output_tokens', true],
    [iIn, extra.image_input, rIn, 'image_input_tokens', false],
    [iOut, extra.image_output, rOut, 'image_output_tokens', false],
    [pAcc, extra.accepted_prediction, rOut, 'accepted_prediction_tokens', false],
    [pRej, extra.rejected_prediction, rOut, 'rejected_prediction_tokens', false],
  ];
  for (const [count, own, base, kind, required] of parts) {
    if (!count) continue;
    if (own === undefined) {
      if (required) return [undefined, kind];
      continue;
    }
    total += count * (tierRate(own, n) - base);
  }
  for (const unit of ['seconds', 'characters', 'pages', 'images'] as const) {
    const q = e[unit];
    if (!q) continue;
    const price = extra[unit];
    if (price === undefined) return [undefined, unit];
    total += q * tierRate(price, q);
  }
  if (e.requests !== undefined) total += (e.requests - 1) * rates.request;
  return [Math.max(total, 0), undefined];
}

type AnyUsage = Record<string, unknown> | null | undefined;

function detail(details: unknown, name: string): number {
  const v = details && typeof details === 'object' ? (details as Record<string, unknown>)[name] : undefined;
  return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : 0;
}

/** Where attributes are written: a span, or a record (recordWriter). */
export interface AttributeTarget {
  setAttribute(key: string, value: number): unknown;
}

/** A target that writes into `record` (for the functions that return a record). */
export function recordWriter(record: Record<string, number>): AttributeTarget {
  return {
    setAttribute(key: string, value: number) {
      record[key] = value;
    },
  };
}

/**
 * The otel_llm.usage.* token attributes of an OpenAI usage object (as Python's
 * openai_usage_attributes): audio/image input tokens, audio output tokens, accepted and
 * rejected prediction tokens; only counts above zero (OpenAI sends zeros).
 */
export function openaiUsageAttributes(usage: AnyUsage): Record<string, number> {
  const found: Record<string, number> = {};
  setOpenaiUsageAttributes(recordWriter(found), usage);
  return found;
}

/** openaiUsageAttributes(usage) written to `target` one by one, in the same order (no record made). */
export function setOpenaiUsageAttributes(target: AttributeTarget, usage: AnyUsage): void {
  if (!usage || typeof usage !== 'object') return;
  const inp = usage.prompt_tokens_details ?? usage.input_tokens_details;
  const out = usage.completion_tokens_details ?? usage.output_tokens_details;
  // every call: no arrays of pairs, only the counts above zero written
  let v = detail(inp, 'audio_tokens');
  if (v > 0) target.setAttribute('otel_llm.usage.audio.input_tokens', v);
  v = detail(inp, 'image_tokens');
  if (v > 0) target.setAttribute('otel_llm.usage.image.input_tokens', v);
  v = detail(out, 'audio_tokens');
  if (v > 0) target.setAttribute('otel_llm.usage.audio.output_tokens', v);
  v = detail(out, 'accepted_prediction_tokens');
  if (v > 0) target.setAttribute('otel_llm.usage.prediction.accepted_tokens', v);
  v = detail(out, 'rejected_prediction_tokens');
  if (v > 0) target.setAttribute('otel_llm.usage.prediction.rejected_tokens', v);
}
