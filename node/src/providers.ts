/**
 * The provider of an LLM call, from the endpoint it is sent to (mirrors otel_llm/providers.py).
 *
 * The rule, the same in both languages:
 * 1. the request URL matches a genai-prices provider's API URL pattern (`findProvider`):
 *    that provider, named by its semconv well-known value ({@link SEMCONV_NAMES}; Google is
 *    `gcp.vertex_ai` on `aiplatform.googleapis.com` / `*-aiplatform.googleapis.com`, else
 *    `gcp.gemini`); any other genai-prices provider keeps its id (`openrouter`, ...);
 * 2. else `OTEL_LLM_PROVIDER_HOSTS` (`host[:port]=provider,...`) names it: a semconv value or
 *    a genai-prices id, priced at that provider when genai-prices knows it;
 * 3. else the SDK's (or API format's) provider family name is kept, and the call is priced
 *    only by the local pricing file, never by genai-prices under another provider.
 *
 * Resolutions are cached per (host, port, first path segment) and bounded.
 */
import { findProvider } from '@pydantic/genai-prices';

/** genai-prices provider id -> semconv `gen_ai.provider.name` well-known value. */
export const SEMCONV_NAMES: Readonly<Record<string, string>> = Object.freeze({
  openai: 'openai',
  anthropic: 'anthropic',
  azure: 'azure.ai.openai',
  aws: 'aws.bedrock',
  google: 'gcp.gemini',
  'x-ai': 'x_ai',
  groq: 'groq',
  deepseek: 'deepseek',
  mistral: 'mistral_ai',
  perplexity: 'perplexity',
  cohere: 'cohere',
});

/** Semconv values (and older spellings) -> genai-prices ids, the reverse of the above. */
const PRICING_IDS: Readonly<Record<string, string>> = Object.freeze({
  openai: 'openai',
  anthropic: 'anthropic',
  'azure.ai.openai': 'azure',
  'azure.ai.inference': 'azure',
  'aws.bedrock': 'aws',
  'gcp.vertex_ai': 'google',
  'gcp.gemini': 'google',
  'gcp.gen_ai': 'google',
  x_ai: 'x-ai',
  groq: 'groq',
  deepseek: 'deepseek',
  mistral_ai: 'mistral',
  perplexity: 'perplexity',
  cohere: 'cohere',
});

/** Providers known to accept `stream_options.include_usage` (OTEL_LLM_STREAM_INCLUDE_USAGE=auto). */
export const INCLUDE_USAGE_PROVIDERS: ReadonlySet<string> = new Set([
  'openai',
  'azure.ai.openai',
  'x_ai',
  'groq',
  'deepseek',
  'mistral_ai',
  'openrouter',
  'together',
  'cerebras',
  'fireworks',
]);

const VERTEX_HOST = /^(?:.+-)?aiplatform\.googleapis\.com$/;
const CACHE_LIMIT = 1024;

export interface ResolvedProvider {
  /** `gen_ai.provider.name`; undefined only when nothing names it (no SDK family given). */
  name: string | undefined;
  /** genai-prices provider id to price at, or null: local pricing file only. */
  pricingId: string | null;
  /** How it was found: `endpoint` (genai-prices URL pattern), `setting`, or `sdk`. */
  source: 'endpoint' | 'setting' | 'sdk';
}

/** Parse `OTEL_LLM_PROVIDER_HOSTS`; bad pairs are reported through `onError` and skipped. */
export function parseProviderHosts(raw: string | undefined, onError?: (msg: string) => void): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (raw ?? '').split(',')) {
    const item = part.trim();
    if (!item) continue;
    const eq = item.indexOf('=');
    const host = eq > 0 ? item.slice(0, eq).trim().toLowerCase() : '';
    const provider = eq > 0 ? item.slice(eq + 1).trim() : '';
    if (!host || !provider || /[\s/]/.test(host)) {
      onError?.(`OTEL_LLM_PROVIDER_HOSTS: ignoring ${JSON.stringify(item)} (expected host[:port]=provider)`);
      continue;
    }
    out.set(host, provider);
  }
  return out;
}

/** The semconv name and genai-prices id for a provider named in the setting. */
function fromSetting(provider: string): ResolvedProvider {
  const key = provider.trim();
  const lower = key.toLowerCase();
  if (SEMCONV_NAMES[lower] !== undefined) return { name: SEMCONV_NAMES[lower], pricingId: lower, source: 'setting' };
  if (PRICING_IDS[lower] !== undefined) return { name: lower, pricingId: PRICING_IDS[lower]!, source: 'setting' };
  const known = findProvider({ providerId: lower });
  if (known && known.id === lower) return { name: lower, pricingId: lower, source: 'setting' };
  return { name: key, pricingId: null, source: 'setting' };
}

function semconvName(id: string, host: string): string {
  if (id === 'google') return VERTEX_HOST.test(host) ? 'gcp.vertex_ai' : 'gcp.gemini';
  return SEMCONV_NAMES[id] ?? id;
}

/** Resolves request URLs to providers; one per process (settings read once). */
export class ProviderResolver {
  private readonly cache = new Map<string, ResolvedProvider | null>();

  constructor(readonly hosts: ReadonlyMap<string, string> = new Map()) {}

  static fromEnv(env: Readonly<Record<string, string | undefined>> = process.env, onError?: (msg: string) => void) {
    return new ProviderResolver(parseProviderHosts(env.OTEL_LLM_PROVIDER_HOSTS, onError));
  }

  /**
   * The provider of a call to `url`. `sdkProvider` is the family name the SDK (or the API
   * format) would give; it is kept when no pattern and no setting names the host.
   */
  resolve(url: URL | string, sdkProvider?: string): ResolvedProvider {
    const found = this.endpoint(url);
    if (found) return found;
    return { name: sdkProvider, pricingId: null, source: 'sdk' };
  }

  /** What the endpoint alone says (pattern or setting), cached; null when it says nothing. */
  endpoint(url: URL | string): ResolvedProvider | null {
    let u: URL;
    try {
      u = typeof url === 'string' ? new URL(url) : url;
    } catch {
      return null;
    }
    const host = u.hostname.toLowerCase();
    const segment = u.pathname.split('/', 2)[1] ?? '';
    const key = `${u.protocol}//${u.host}/${segment}`;
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    let resolved: ResolvedProvider | null = null;
    try {
      // genai-prices' patterns are anchored at `https://`; an http proxy on the same host is the same API.
      const probe = `https://${u.host}${u.pathname}`;
      const provider = findProvider({ providerApiUrl: probe });
      if (provider) resolved = { name: semconvName(provider.id, host), pricingId: provider.id, source: 'endpoint' };
    } catch {
      resolved = null;
    }
    if (!resolved) {
      const port = u.port || (u.protocol === 'https:' ? '443' : u.protocol === 'http:' ? '80' : '');
      const named = this.hosts.get(`${host}:${port}`) ?? this.hosts.get(host);
      if (named) resolved = fromSetting(named);
    }
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(key, resolved);
    return resolved;
  }
}

/** The pricing id for a semconv provider name (or a genai-prices id), else undefined. */
export function pricingIdOf(name: string | undefined): string | undefined {
  if (!name) return undefined;
  const lower = name.trim().toLowerCase();
  return PRICING_IDS[lower] ?? lower;
}
