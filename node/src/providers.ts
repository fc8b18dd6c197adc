/**
 * The provider of an LLM call, from the endpoint it is sent to (mirrors otel_llm/providers.py;
 * the shared wire vectors hold both to the same result). Resolution order for a URL:
 * 1. `OTEL_LLM_PROVIDER_HOSTS` (`host[:port]=provider,...`; a semconv name or a genai-prices
 *    id; `host:port` before `host`): a gateway, vLLM, Ollama. A provider genai-prices knows
 *    is priced as that provider; any other name only by the pricing file.
 * 2. genai-prices' provider URL patterns (`findProvider`), named by their semconv well-known
 *    value ({@link SEMCONV_NAMES}; Google is `gcp.vertex_ai` on `aiplatform.googleapis.com` /
 *    `*-aiplatform.googleapis.com`, else `gcp.gemini`); other providers keep their id.
 * 3. A loopback host keeps the client's provider and is priced as it (a local stand-in).
 * 4. The client library's own default host keeps its provider.
 * 5. Anything else keeps the client's provider name, marked `otel_llm.provider.unresolved`:
 *    priced only by the pricing file, never by genai-prices under another provider.
 * Results are cached per (host, port, first path segment), bounded.
 */
import { findProvider, type Provider } from '@pydantic/genai-prices';

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

/** Semconv values (current and older `gen_ai.system` spellings) -> genai-prices ids: the reverse of {@link SEMCONV_NAMES}, plus the other spellings. */
export const PRICING_IDS: Readonly<Record<string, string>> = Object.freeze({
  ...Object.fromEntries(Object.entries(SEMCONV_NAMES).map(([id, name]) => [name, id])),
  'azure.ai.inference': 'azure',
  'gcp.vertex_ai': 'google',
  'gcp.gen_ai': 'google',
  // older gen_ai.system spellings
  'az.ai.openai': 'azure',
  'az.ai.inference': 'azure',
  vertex_ai: 'google',
  gemini: 'google',
  xai: 'x-ai',
  bedrock: 'aws',
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

/** The host each client family uses when no base URL is given. */
export const SDK_DEFAULT_HOSTS: Readonly<Record<string, string>> = Object.freeze({
  openai: 'api.openai.com',
  anthropic: 'api.anthropic.com',
});

export interface ResolvedProvider {
  /** `gen_ai.provider.name`. */
  name: string;
  /** genai-prices provider id it is priced at, or null (pricing file only). */
  pricingId: string | null;
  /** The endpoint matched no known provider (`otel_llm.provider.unresolved`). */
  unresolved: boolean;
}

/** Parse `OTEL_LLM_PROVIDER_HOSTS`; bad pairs are reported through `onError` and skipped. */
export function parseProviderHosts(raw: string | undefined, onError?: (msg: string) => void): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (raw ?? '').split(',')) {
    const item = part.trim();
    if (!item) continue;
    const eq = item.indexOf('=');
    let host = eq > 0 ? item.slice(0, eq).trim().toLowerCase() : '';
    const provider = eq > 0 ? item.slice(eq + 1).trim() : '';
    if (host.includes('://')) {
      try {
        host = new URL(host).host;
      } catch {
        host = '';
      }
    }
    if (!host || !provider || /\s/.test(host)) {
      onError?.(`OTEL_LLM_PROVIDER_HOSTS: ignoring ${JSON.stringify(item)} (want host[:port]=provider)`);
      continue;
    }
    out.set(host, provider);
  }
  return out;
}

const providerCache = new Map<string, Provider | undefined>();

/** The genai-prices provider with exactly this id (cached), or undefined. */
export function providerById(id: string | null | undefined): Provider | undefined {
  if (!id) return undefined;
  if (providerCache.has(id)) return providerCache.get(id);
  let found: Provider | undefined;
  try {
    found = findProvider({ providerId: id });
    if (found && found.id !== id) found = undefined;
  } catch {
    found = undefined;
  }
  providerCache.set(id, found);
  return found;
}

/** The genai-prices id of a semconv name or id, or null when genai-prices has none. */
export function priceId(provider: string | undefined): string | null {
  if (!provider) return null;
  const key = provider.trim().toLowerCase();
  const mapped = PRICING_IDS[key] ?? key;
  return providerById(mapped) ? mapped : null;
}

export function semconvName(id: string, host = ''): string {
  if (id === 'google') return VERTEX_HOST.test(host) ? 'gcp.vertex_ai' : 'gcp.gemini';
  return SEMCONV_NAMES[id] ?? id;
}

function mapped(value: string): ResolvedProvider {
  const key = value.trim().toLowerCase();
  const pid = priceId(key);
  if (pid === null) return { name: key, pricingId: null, unresolved: false };
  if (PRICING_IDS[key] !== undefined) return { name: key, pricingId: pid, unresolved: false };
  return { name: semconvName(pid), pricingId: pid, unresolved: false };
}

function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h.endsWith('.localhost') || h === '::1') return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** Resolves request URLs to providers; one per process (the setting read once). */
export class ProviderResolver {
  private readonly cache = new Map<string, ResolvedProvider>();

  constructor(readonly hosts: ReadonlyMap<string, string> = new Map()) {}

  static fromEnv(env: Readonly<Record<string, string | undefined>> = process.env, onError?: (msg: string) => void) {
    return new ProviderResolver(parseProviderHosts(env.OTEL_LLM_PROVIDER_HOSTS, onError));
  }

  /** The provider of a call to `url` made by a client of family `sdkProvider`; never throws. */
  resolve(url: URL | string, sdkProvider: string): ResolvedProvider {
    let host = '';
    let port = '';
    let path = '';
    try {
      const u = typeof url === 'string' ? new URL(url) : url;
      host = u.hostname.toLowerCase();
      port = u.port;
      path = u.pathname;
    } catch {
      // resolves like an unknown host
    }
    const head = path.split('/', 2);
    const first = head.length > 1 ? `/${head[1]}` : '';
    const probePath = host === 'api.cloudflare.com' ? path : first;
    const key = `${host}\u0000${port}\u0000${probePath}\u0000${sdkProvider}`;
    const hit = this.cache.get(key);
    if (hit) return hit;
    let found: ResolvedProvider;
    try {
      found = this.lookup(host, port, probePath, sdkProvider);
    } catch {
      found = { name: sdkProvider, pricingId: null, unresolved: true };
    }
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(key, found);
    return found;
  }

  private lookup(host: string, port: string, path: string, sdkProvider: string): ResolvedProvider {
    if (this.hosts.size) {
      const value = (port ? this.hosts.get(`${host}:${port}`) : undefined) ?? this.hosts.get(host);
      if (value !== undefined) return mapped(value);
    }
    const provider = host ? findProvider({ providerApiUrl: `https://${host}${path}` }) : undefined;
    if (provider) return { name: semconvName(provider.id, host), pricingId: provider.id, unresolved: false };
    if (isLoopback(host) || SDK_DEFAULT_HOSTS[sdkProvider] === host) {
      return { name: sdkProvider, pricingId: priceId(sdkProvider), unresolved: false };
    }
    return { name: sdkProvider, pricingId: null, unresolved: true };
  }
}
