/**
 * Settings read once from the environment (mirrors otel_llm/config.py, same variable
 * names and defaults). OpenTelemetry's own variables (OTEL_SERVICE_NAME,
 * OTEL_EXPORTER_OTLP_*, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER...) are honoured by
 * the SDK itself; this module reads only what otel-llm adds.
 */

export type ExporterKind = 'otlp' | 'file' | 'console' | 'none';
export type LogFormat = 'json' | 'console';

export interface Settings {
  serviceName?: string;
  /** OTEL_LLM_EXPORTER: otlp (default), file (OTLP JSON lines), console or none. */
  exporter: ExporterKind;
  /** OTEL_LLM_TRACES_FILE: where the file exporter writes OTLP JSON lines. */
  tracesFile: string;
  /** OTEL_LLM_METRICS_PORT: serve /metrics on this port (unset: no extra server). */
  metricsPort?: number;
  /** OTEL_LLM_METRICS_ADDR: address the metrics server binds to. */
  metricsAddr: string;
  /** OTEL_LLM_ATTRIBUTION_LABELS: opt-in metric labels, e.g. user,tenant,route. */
  attributionLabels: readonly string[];
  /** OTEL_LLM_ATTRIBUTION_LIMIT: distinct values per label before folding into `other`. */
  attributionLimit: number;
  /** OTEL_LLM_USER_HASH_KEY: pseudonymise user label values with HMAC-SHA256. */
  userHashKey?: string;
  /** OTEL_LLM_PRICING_FILE: local price overrides and custom models (JSON in Node). */
  pricingFile?: string;
  /**
   * OTEL_LLM_STREAM_INCLUDE_USAGE: ask streaming calls for a usage chunk: `auto` (default:
   * only providers known to accept `stream_options.include_usage`), `true`, `false`.
   */
  streamIncludeUsage: 'auto' | 'true' | 'false';
  /** OTEL_LLM_PROVIDER_HOSTS: `host[:port]=provider` pairs for gateways and self-hosted servers. */
  providerHosts?: string;
  /** OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: record prompts/completions. */
  captureContent: boolean;
  /** OTEL_LLM_LOG_FORMAT: json (default when stdout is not a TTY) or console. */
  logFormat: LogFormat;
  /** OTEL_LLM_LOG_LEVEL. */
  logLevel: string;
  /** OTEL_LLM_REQUEST_ID_HEADER: the request-ID header name. */
  requestIdHeader: string;
  /** OTEL_LLM_TRUST_REQUEST_ID: accept a well-formed incoming ID (else always mint). */
  trustIncomingRequestId: boolean;
  /** OTEL_BSP_MAX_QUEUE_SIZE: bounded span queue. */
  maxQueueSize: number;
}

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off']);

type Env = Readonly<Record<string, string | undefined>>;

function bool(env: Env, name: string, dflt: boolean): boolean {
  const raw = (env[name] ?? '').trim().toLowerCase();
  if (TRUE.has(raw)) return true;
  if (FALSE.has(raw)) return false;
  return dflt;
}

function int(env: Env, name: string, dflt: number | undefined): number | undefined {
  const raw = (env[name] ?? '').trim();
  if (!raw) return dflt;
  if (!/^[+-]?\d+$/.test(raw)) throw new Error(`${name} must be an integer, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

function list(env: Env, name: string): string[] {
  const parts = (env[name] ?? '').split(',').map(p => p.trim()).filter(Boolean);
  return [...new Set(parts)];
}

function includeUsage(env: Env): 'auto' | 'true' | 'false' {
  const raw = (env.OTEL_LLM_STREAM_INCLUDE_USAGE ?? '').trim().toLowerCase();
  if (!raw || raw === 'auto') return 'auto';
  if (TRUE.has(raw)) return 'true';
  if (FALSE.has(raw)) return 'false';
  throw new Error(`OTEL_LLM_STREAM_INCLUDE_USAGE must be auto, true or false, got ${JSON.stringify(raw)}`);
}

/** Read OTEL_LLM_* (and the few OTel variables we act on) once; throw on bad values. */
export function loadSettings(env: Env = process.env, overrides: Partial<Settings> = {}): Settings {
  const exporter = ((env.OTEL_LLM_EXPORTER ?? '').trim().toLowerCase() || 'otlp') as ExporterKind;
  if (!['otlp', 'file', 'console', 'none'].includes(exporter)) {
    throw new Error(`OTEL_LLM_EXPORTER must be otlp, file, console or none, got ${JSON.stringify(exporter)}`);
  }
  let logFormat = (env.OTEL_LLM_LOG_FORMAT ?? '').trim().toLowerCase();
  if (!logFormat) logFormat = process.stdout.isTTY ? 'console' : 'json';
  if (logFormat !== 'json' && logFormat !== 'console') {
    throw new Error(`OTEL_LLM_LOG_FORMAT must be json or console, got ${JSON.stringify(logFormat)}`);
  }
  const limit = int(env, 'OTEL_LLM_ATTRIBUTION_LIMIT', 100);
  if (limit === undefined || limit < 1) {
    throw new Error('OTEL_LLM_ATTRIBUTION_LIMIT must be a positive integer');
  }
  const port = int(env, 'OTEL_LLM_METRICS_PORT', undefined);
  if (port !== undefined && (port < 0 || port > 65535)) {
    throw new Error('OTEL_LLM_METRICS_PORT must be a port number (0-65535)');
  }
  const settings: Settings = {
    serviceName: env.OTEL_SERVICE_NAME || undefined,
    exporter,
    tracesFile: env.OTEL_LLM_TRACES_FILE || 'otel-llm-spans.jsonl',
    metricsPort: port,
    metricsAddr: env.OTEL_LLM_METRICS_ADDR || '0.0.0.0',
    attributionLabels: list(env, 'OTEL_LLM_ATTRIBUTION_LABELS'),
    attributionLimit: limit,
    userHashKey: env.OTEL_LLM_USER_HASH_KEY || undefined,
    pricingFile: env.OTEL_LLM_PRICING_FILE || undefined,
    streamIncludeUsage: includeUsage(env),
    providerHosts: env.OTEL_LLM_PROVIDER_HOSTS || undefined,
    captureContent: bool(env, 'OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT', false),
    logFormat: logFormat as LogFormat,
    logLevel: (env.OTEL_LLM_LOG_LEVEL || 'INFO').toUpperCase(),
    requestIdHeader: env.OTEL_LLM_REQUEST_ID_HEADER || 'X-Request-ID',
    trustIncomingRequestId: bool(env, 'OTEL_LLM_TRUST_REQUEST_ID', true),
    maxQueueSize: int(env, 'OTEL_BSP_MAX_QUEUE_SIZE', 2048) || 2048,
  };
  return { ...settings, ...overrides };
}
