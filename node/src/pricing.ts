/**
 * Price resolution and cost arithmetic for GenAI spans (mirrors otel_llm/pricing.py rule
 * for rule; the shared vectors hold both to the same figures).
 *
 * Prices come from @pydantic/genai-prices' bundled data (its network updater is never
 * started) plus an optional local pricing file. `calcPrice` costs about 120 us per call
 * here, too much for a per-span hot path, so a {@link PriceBook} resolves each
 * (provider, model) once (hits and misses cached), compiles the model's prices into
 * per-token rates and does the arithmetic itself; the tests hold the figure equal to
 * `calcPrice`.
 *
 * Cost rules: input includes cached tokens, output includes reasoning tokens;
 * uncached input = input - cache_read - cache_creation at the input price, cache kinds at
 * their own price when the model prices them apart (else they stay inside input); the
 * reasoning price applies only when the model has one; `requests_kcount` counts one request
 * per operation; tiers use genai-prices' cliff rule (total input above a tier's start
 * applies that tier's rate to all tokens of that price); price periods (start dates,
 * time-of-day windows) are chosen at the span's start time.
 *
 * Model matching is strict: a prefix/substring match is accepted only when what it leaves
 * over is a version tag (`-20250929`, `-2024-07-18`, `-0613`, `@001`, `-latest`, `-v1:0`)
 * or, before the matched text, a namespace ending in `.`, `/` or `:`. Anything else is
 * unpriced and counted, never priced as another model.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import {
  FILE_PRICE_KEYS,
  extendedCost,
  pricePerUnit,
  tierRate,
  unitRates,
  type ExtendedUsage,
  type Price,
  type TokenUsage,
  type UnitRates,
} from './pricing-units.js';
import { PRICING_IDS } from './providers.js';
import { calcPrice, waitForUpdate } from '@pydantic/genai-prices';
import type { MatchLogic, ModelInfo, ModelPrice, Provider } from '@pydantic/genai-prices';

/** Semconv provider names (current and older spellings) -> genai-prices provider ids
 * ({@link PRICING_IDS}; the older value `mistral` is its own id). */
export const PROVIDER_IDS: Readonly<Record<string, string>> = Object.freeze({ ...PRICING_IDS, mistral: 'mistral' });

const PRICE_KEYS = [
  'input_mtok',
  'output_mtok',
  'cache_read_mtok',
  'cache_write_mtok',
  'output_reasoning_mtok',
  'requests_kcount',
] as const;
const CACHE_LIMIT = 4096;
// the same version tags as otel_llm/pricing.py's _VERSION_TAIL (-preview, -exp, -MM-DD too)
const VERSION_TAIL = /^(?:[-@](?:\d{8}|\d{4}-\d{2}-\d{2}|\d{2}-\d{2,4}|\d{3,4}|latest|preview|exp|v\d+(?::\d+)?)|:\d+)*$/;
const NAMESPACE_HEAD = /^(?:.*[./:])?$/s;

/** Token counts of one operation; input includes cache kinds, output includes reasoning. */
export type Usage = TokenUsage;

export function usage(parts: Partial<Usage>): Usage {
  return { input: 0, output: 0, cacheRead: 0, cacheCreation: 0, reasoning: 0, ...parts };
}

/**
 * The usage with cached tokens inside input and reasoning inside output. Some
 * instrumentations report the provider's raw shape (input without cache tokens); when the
 * parts exceed the whole that is the only consistent reading, so the parts are added.
 */
export function normalizeUsage(u: Usage): Usage {
  const cached = u.cacheRead + u.cacheCreation;
  if (cached <= u.input && u.reasoning <= u.output) return u;
  return {
    ...u,
    input: cached > u.input ? u.input + cached : u.input,
    output: u.reasoning > u.output ? u.output + u.reasoning : u.output,
  };
}

/** One model's prices in USD per token (per request for `request`). */
export class Rates {
  constructor(
    readonly input?: Price,
    readonly output?: Price,
    readonly cacheRead?: Price,
    readonly cacheWrite?: Price,
    readonly reasoning?: Price,
    readonly request: number = 0,
    /** Audio/image/prediction token and non-token unit rates (pricing-units.ts). */
    readonly extra?: UnitRates,
  ) {}

  /** USD for `u` (already normalised), following genai-prices' rules. */
  cost(u: Usage): number {
    const n = u.input;
    let uncached = n;
    let total = 0;
    if (this.cacheRead !== undefined) {
      uncached -= u.cacheRead;
      total += u.cacheRead * tierRate(this.cacheRead, n);
    }
    if (this.cacheWrite !== undefined) {
      uncached -= u.cacheCreation;
      total += u.cacheCreation * tierRate(this.cacheWrite, n);
    }
    let visible = u.output;
    if (this.reasoning !== undefined) {
      visible -= u.reasoning;
      total += u.reasoning * tierRate(this.reasoning, n);
    }
    total += uncached * tierRate(this.input, n) + visible * tierRate(this.output, n);
    return total + this.request;
  }

  /** Compile a genai-prices ModelPrice (or a pricing-file entry) into per-token rates. */
  static fromModelPrice(price: ModelPrice | Record<string, unknown>): Rates {
    const conv = (key: string, per: number): Price | undefined => {
      const value = (price as Record<string, unknown>)[key];
      return value === undefined || value === null ? undefined : pricePerUnit(value, per);
    };
    const request = conv('requests_kcount', 1000);
    return new Rates(
      conv('input_mtok', 1e6),
      conv('output_mtok', 1e6),
      conv('cache_read_mtok', 1e6),
      conv('cache_write_mtok', 1e6),
      conv('output_reasoning_mtok', 1e6),
      typeof request === 'number' ? request : 0,
      unitRates(price as Record<string, unknown>),
    );
  }
}

type Constraint =
  | { type: 'start_date'; start_date: string }
  | { type: 'time_of_date'; start_time: string; end_time: string }
  | undefined;

/** A model's compiled prices; periods are tried last to first, like genai-prices. */
export class Resolved {
  constructor(
    readonly rates: Rates,
    readonly periods: ReadonlyArray<readonly [Constraint, Rates]> = [],
    readonly modelId: string = '',
    readonly providerId: string = '',
  ) {}

  ratesAt(timestampMs?: number): Rates {
    if (this.periods.length === 0) return this.rates;
    const when = new Date(timestampMs ?? Date.now());
    for (let i = this.periods.length - 1; i >= 0; i--) {
      const [constraint, rates] = this.periods[i]!;
      if (constraint === undefined || constraintActive(constraint, when)) return rates;
    }
    return this.periods[0]![1];
  }
}

function secondsOfDay(text: string): number {
  const m = /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|([+-])(\d{2}):(\d{2}))$/.exec(text);
  if (!m) throw new Error(`Invalid time-of-day constraint: ${text}`);
  const [, hh, mm, ss, frac = '', zone, sign, oh = '00', om = '00'] = m;
  const offset = (Number(oh) * 60 + Number(om)) * 60;
  const local = Number(hh) * 3600 + Number(mm) * 60 + Number(ss) + Number(`0.${frac}`);
  const shift = zone === 'Z' ? 0 : sign === '+' ? offset : -offset;
  return (local - shift + 86400) % 86400;
}

function constraintActive(c: NonNullable<Constraint>, when: Date): boolean {
  if (c.type === 'start_date') return when >= new Date(c.start_date);
  const now =
    when.getUTCHours() * 3600 + when.getUTCMinutes() * 60 + when.getUTCSeconds() + when.getUTCMilliseconds() / 1000;
  const start = secondsOfDay(c.start_time);
  const end = secondsOfDay(c.end_time);
  return end < start ? now >= start || now < end : now >= start && now < end;
}

function compileModel(model: ModelInfo, providerId: string): Resolved {
  const prices = model.prices;
  if (!Array.isArray(prices)) return new Resolved(Rates.fromModelPrice(prices), [], model.id, providerId);
  const periods = prices.map(cp => [cp.constraint as Constraint, Rates.fromModelPrice(cp.prices)] as const);
  return new Resolved(periods[0]![1], periods, model.id, providerId);
}

// --- matching ------------------------------------------------------------------------

/** genai-prices' own (lenient) match. */
function matches(clause: MatchLogic, ref: string): boolean {
  if ('or' in clause) return clause.or.some(c => matches(c, ref));
  if ('and' in clause) return clause.and.every(c => matches(c, ref));
  if ('equals' in clause) return ref === clause.equals.toLowerCase();
  if ('starts_with' in clause) return ref.startsWith(clause.starts_with.toLowerCase());
  if ('ends_with' in clause) return ref.endsWith(clause.ends_with.toLowerCase());
  if ('contains' in clause) return ref.includes(clause.contains.toLowerCase());
  if ('regex' in clause) return new RegExp(clause.regex).test(ref);
  return false;
}

/** Whether `clause` matches `ref` leaving at most a version tag or a namespace. */
function leafAccepts(clause: MatchLogic, ref: string): boolean {
  if ('or' in clause) return clause.or.some(c => leafAccepts(c, ref));
  if ('and' in clause) return matches(clause, ref) && clause.and.some(c => leafAccepts(c, ref));
  if ('equals' in clause) return ref === clause.equals.toLowerCase();
  if ('starts_with' in clause) {
    const head = clause.starts_with.toLowerCase();
    return ref.startsWith(head) && VERSION_TAIL.test(ref.slice(head.length));
  }
  if ('ends_with' in clause) {
    const tail = clause.ends_with.toLowerCase();
    return ref.endsWith(tail) && NAMESPACE_HEAD.test(ref.slice(0, ref.length - tail.length));
  }
  if ('contains' in clause) {
    const part = clause.contains.toLowerCase();
    let start = ref.indexOf(part);
    while (start >= 0) {
      const end = start + part.length;
      if (NAMESPACE_HEAD.test(ref.slice(0, start)) && VERSION_TAIL.test(ref.slice(end))) return true;
      start = ref.indexOf(part, start + 1);
    }
    return false;
  }
  if ('regex' in clause) {
    const found = new RegExp(clause.regex).exec(ref);
    if (!found) return false;
    const endAt = found.index + found[0].length;
    if (endAt === 0) return false; // zero-width filters never accept alone
    const rest = ref.slice(endAt).replace(/^\d+/, '');
    return NAMESPACE_HEAD.test(ref.slice(0, found.index)) && VERSION_TAIL.test(rest);
  }
  return false;
}

const COMPACT_DATE = /(-)(20\d{2})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?=-|:|$)/g;

/** `-20250929` -> `-2025-09-29` where that is a real date (genai-prices' own rule). */
function normalizeCompactDate(ref: string): string {
  return ref.replace(COMPACT_DATE, (whole, dash: string, y: string, m: string, d: string) => {
    const date = new Date(Date.UTC(Number(y), Number(m) - 1, Number(d)));
    return date.getUTCFullYear() !== Number(y) || date.getUTCMonth() !== Number(m) - 1 || date.getUTCDate() !== Number(d)
      ? whole
      : `${dash}${y}-${m}-${d}`;
  });
}

/** Whether `ref` names `model` itself, not a longer or made-up name it prefixes. */
export function strictMatch(model: ModelInfo, ref: string): boolean {
  const lower = ref.toLowerCase();
  if (leafAccepts(model.match, lower)) return true;
  const normalized = normalizeCompactDate(lower);
  return normalized !== lower && leafAccepts(model.match, normalized);
}

function findInProvider(provider: Provider, ref: string, all?: readonly Provider[]): ModelInfo | undefined {
  const direct = provider.models.find(m => matches(m.match, ref));
  if (direct) return direct;
  if (all && provider.fallback_model_providers) {
    for (const id of provider.fallback_model_providers) {
      const other = all.find(p => p.id === id);
      const found = other && findInProvider(other, ref);
      if (found) return found;
    }
  }
  return undefined;
}

function findModel(provider: Provider, ref: string, all?: readonly Provider[]): ModelInfo | undefined {
  const found = findInProvider(provider, ref, all);
  if (found) return found;
  const normalized = normalizeCompactDate(ref);
  return normalized !== ref ? findInProvider(provider, normalized, all) : undefined;
}

function providerId(provider: string | undefined, known: ReadonlySet<string>): string | undefined {
  if (provider === undefined) return undefined;
  const key = provider.trim().toLowerCase();
  return PROVIDER_IDS[key] ?? (known.has(key) ? key : undefined);
}

// --- the price book --------------------------------------------------------------------

let bundled: Provider[] | undefined;
/** The bundled provider data; resolves at once (no network: the updater is never started). */
export const bundledReady: Promise<Provider[]> = waitForUpdate().then(list => {
  bundled = list ?? [];
  return bundled;
});

/** Resolves (provider, model) to compiled prices once and prices usage in microseconds. */
export class PriceBook {
  private readonly custom = new Map<string, Resolved>();
  private readonly cache = new Map<string, Resolved | null>();
  private providers?: readonly Provider[];
  private byId = new Map<string, Provider>();

  constructor(custom?: ReadonlyMap<string, Rates>, providers?: readonly Provider[]) {
    for (const [key, rates] of custom ?? []) {
      const [prov, model] = splitKey(key);
      this.custom.set(key, new Resolved(rates, [], model, prov));
    }
    if (providers) this.useProviders(providers);
    else if (bundled) this.useProviders(bundled);
    else void bundledReady.then(list => this.useProviders(list));
  }

  /** The bundled prices plus the overrides in `pricingFile` (JSON or YAML), if any. */
  static load(pricingFile?: string): PriceBook {
    return new PriceBook(pricingFile ? readPricingFile(pricingFile) : undefined);
  }

  private useProviders(list: readonly Provider[]): void {
    if (this.providers) return;
    this.providers = list;
    this.byId = new Map(list.map(p => [p.id, p]));
    this.cache.clear();
    this.last = undefined;
  }

  /** USD for `u` of `model` at `provider`; undefined when the model has no price. */
  cost(provider: string | undefined, model: string | undefined, u: Usage, timestampMs?: number): number | undefined {
    const resolved = this.resolve(provider, model);
    if (!resolved) return undefined;
    return resolved.ratesAt(timestampMs).cost(normalizeUsage(u));
  }

  /**
   * USD for token usage plus audio/image/prediction tokens and units (pricing-units.ts);
   * [undefined, 'no_price'] for an unknown model, [undefined, 'no_price_for:<kind>'] when a
   * reported kind has no price.
   */
  costExtended(
    provider: string | undefined,
    model: string | undefined,
    u: Usage,
    ext: ExtendedUsage | undefined,
    timestampMs?: number,
    localOnly = false,
  ): [number | undefined, string | undefined] {
    const resolved = localOnly ? (model ? this.resolveLocal(provider, model) : undefined) : this.resolve(provider, model);
    if (!resolved) return [undefined, 'no_price'];
    const [cost, missing] = extendedCost(resolved.ratesAt(timestampMs), normalizeUsage(u), ext);
    return [cost, missing === undefined ? undefined : `no_price_for:${missing}`];
  }

  /**
   * USD for `u` of `model` from the local pricing file only (entries for `providerName` or
   * for any provider): the call went to an endpoint that matched no known provider, so it
   * is never priced by genai-prices under a provider it may not be.
   */
  costLocal(providerName: string | undefined, model: string, u: Usage, timestampMs?: number): number | undefined {
    const resolved = this.resolveLocal(providerName, model);
    if (!resolved) return undefined;
    return resolved.ratesAt(timestampMs).cost(normalizeUsage(u));
  }

  /** The pricing file's entry for `model` (at `providerName`, else for any provider), or undefined. */
  resolveLocal(providerName: string | undefined, model: string): Resolved | undefined {
    const ref = model.trim().toLowerCase();
    const named = providerName?.trim().toLowerCase();
    return (
      (named ? (this.custom.get(joinKey(PROVIDER_IDS[named] ?? named, ref)) ?? this.custom.get(joinKey(named, ref))) : undefined) ??
      this.custom.get(joinKey(undefined, ref))
    );
  }

  /** The compiled prices of `model` (cached, misses included), or undefined. */
  resolve(provider: string | undefined, model: string | undefined): Resolved | undefined {
    if (!model) return undefined;
    // the same provider and model as the last call (the usual case): no key made
    const last = this.last;
    if (last !== undefined && last.model === model && last.provider === provider) return last.resolved;
    const key = `${provider ?? ''}\u0000${model}`;
    const hit = this.cache.get(key);
    if (hit !== undefined) {
      this.last = { provider, model, resolved: hit ?? undefined };
      return hit ?? undefined;
    }
    if (!this.providers) return this.resolveBeforeData(provider, model);
    const resolved = this.doResolve(provider, model);
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(key, resolved ?? null);
    this.last = { provider, model, resolved };
    return resolved;
  }

  /** The last resolution (forgotten with the cache). */
  private last?: { provider: string | undefined; model: string; resolved: Resolved | undefined };

  /** Only in the first microtask after loading: the slow library call, strictly checked. */
  private resolveBeforeData(provider: string | undefined, model: string): Resolved | undefined {
    const ref = model.trim().toLowerCase();
    const pid = providerId(provider, new Set(Object.values(PROVIDER_IDS)));
    if (!pid) return undefined;
    const found = calcPrice({ input_tokens: 1, output_tokens: 1 }, ref, { providerId: pid });
    if (!found || !strictMatch(found.model, ref)) return undefined;
    return compileModel(found.model, found.provider.id);
  }

  private doResolve(provider: string | undefined, model: string): Resolved | undefined {
    const ref = model.trim().toLowerCase();
    const known = new Set(this.byId.keys());
    const pid = providerId(provider, known);
    const named = provider !== undefined && provider.trim() !== '';
    const custom =
      (named ? this.custom.get(joinKey(pid ?? provider!.trim().toLowerCase(), ref)) : undefined) ??
      this.custom.get(joinKey(undefined, ref));
    if (custom) return custom;
    if (named) {
      const prov = pid !== undefined ? this.byId.get(pid) : undefined;
      if (!prov) return undefined;
      const found = findModel(prov, ref, this.providers);
      if (!found || !strictMatch(found, ref)) return undefined;
      return compileModel(found, prov.id);
    }
    return this.resolveAnyProvider(ref);
  }

  private resolveAnyProvider(ref: string): Resolved | undefined {
    const candidates: [Provider, Resolved][] = [];
    for (const prov of this.providers ?? []) {
      const found = findModel(prov, ref);
      if (found && strictMatch(found, ref)) candidates.push([prov, compileModel(found, prov.id)]);
    }
    if (candidates.length === 0) return undefined;
    const sig = (r: Resolved): string => JSON.stringify([r.rates, r.periods]);
    const first = candidates[0]![1];
    if (candidates.every(([, r]) => sig(r) === sig(first))) return first;
    for (const [prov, r] of candidates) {
      if (prov.model_match && matches(prov.model_match, ref)) return r;
    }
    return undefined;
  }
}

function joinKey(provider: string | undefined, model: string): string {
  return `${provider ?? ''}\u0000${model.toLowerCase()}`;
}

function splitKey(key: string): [string, string] {
  const at = key.indexOf('\u0000');
  return [key.slice(0, at), key.slice(at + 1)];
}

// --- pricing file ------------------------------------------------------------------------

/** The pricing file cannot be read or does not follow the documented format. */
export class PricingFileError extends Error {
  override name = 'PricingFileError';
}

function readPricingFile(path: string): Map<string, Rates> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new PricingFileError(`pricing file ${path}: cannot read: ${(err as Error).message}`);
  }
  const lower = path.toLowerCase();
  const kind = lower.endsWith('.json') ? 'json' : lower.endsWith('.yaml') || lower.endsWith('.yml') ? 'yaml' : undefined;
  if (kind === undefined) {
    throw new PricingFileError(`pricing file ${path}: use a .json, .yaml or .yml file`);
  }
  let data: unknown;
  try {
    data = kind === 'json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new PricingFileError(`pricing file ${path}: not valid ${kind}: ${(err as Error).message}`);
  }
  return parsePricing(data, path);
}

function num(value: unknown, where: string): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) {
    throw new PricingFileError(`${where}: must be a non-negative number`);
  }
  return n;
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Validate a decoded pricing document (same format as the Python side). */
export function parsePricing(data: unknown, source = 'pricing'): Map<string, Rates> {
  if (!isMap(data) || Object.keys(data).some(k => k !== 'models')) {
    throw new PricingFileError(`${source}: expected a mapping with one key, 'models'`);
  }
  if (!Array.isArray(data.models)) throw new PricingFileError(`${source}: 'models' must be a list`);
  const out = new Map<string, Rates>();
  const known = new Set([...(bundled ?? []).map(p => p.id), ...Object.values(PROVIDER_IDS)]);
  data.models.forEach((entry: unknown, i: number) => {
    const where = `${source}: models[${i}]`;
    if (!isMap(entry)) throw new PricingFileError(`${where}: must be a mapping`);
    const extra = Object.keys(entry).filter(k => !['model', 'provider', 'prices'].includes(k));
    if (extra.length) throw new PricingFileError(`${where}: unknown keys ${JSON.stringify(extra.sort())}`);
    const model = entry.model;
    if (typeof model !== 'string' || !model.trim()) {
      throw new PricingFileError(`${where}.model: a non-empty string is required`);
    }
    const provider = entry.provider;
    if (provider !== undefined && (typeof provider !== 'string' || !provider.trim())) {
      throw new PricingFileError(`${where}.provider: must be a non-empty string if given`);
    }
    const pid = provider === undefined ? undefined : (providerId(provider as string, known) ?? (provider as string).trim().toLowerCase());
    const prices = entry.prices;
    if (!isMap(prices) || Object.keys(prices).length === 0) {
      throw new PricingFileError(`${where}.prices: a mapping of prices is required`);
    }
    const allowed: readonly string[] = [...PRICE_KEYS, ...FILE_PRICE_KEYS];
    const unknown = Object.keys(prices).filter(k => !allowed.includes(k));
    if (unknown.length) {
      throw new PricingFileError(`${where}.prices: unknown keys ${JSON.stringify(unknown.sort())} (known: ${allowed.join(', ')})`);
    }
    const parsed: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(prices)) {
      const w = `${where}.prices.${k}`;
      if (!isMap(v)) {
        parsed[k] = num(v, w);
        continue;
      }
      if (Object.keys(v).sort().join(',') !== 'base,tiers' || !Array.isArray(v.tiers)) {
        throw new PricingFileError(`${w}: a tiered price is {base: n, tiers: [{start, price}]}`);
      }
      const tiers = v.tiers.map((t: unknown, j: number) => {
        const tw = `${w}.tiers[${j}]`;
        if (!isMap(t) || Object.keys(t).sort().join(',') !== 'price,start') {
          throw new PricingFileError(`${tw}: must be {start: tokens, price: n}`);
        }
        if (typeof t.start !== 'number' || !Number.isInteger(t.start) || t.start < 0) {
          throw new PricingFileError(`${tw}.start: must be a non-negative integer`);
        }
        return { start: t.start, price: num(t.price, `${tw}.price`) };
      });
      parsed[k] = { base: num(v.base, `${w}.base`), tiers };
    }
    if ('per_request' in parsed) {
      // per_request (USD per call) is requests_kcount (USD per 1000 calls) / 1000
      if ('requests_kcount' in parsed) {
        throw new PricingFileError(`${where}.prices: give per_request or requests_kcount, not both`);
      }
      if (typeof parsed.per_request !== 'number') {
        throw new PricingFileError(`${where}.prices.per_request: must be a number (no tiers)`);
      }
      parsed.requests_kcount = parsed.per_request * 1000;
      delete parsed.per_request;
    }
    const key = joinKey(pid, model.trim());
    if (out.has(key)) throw new PricingFileError(`${where}: duplicate entry for ${JSON.stringify(model)}`);
    out.set(key, Rates.fromModelPrice(parsed));
  });
  return out;
}
