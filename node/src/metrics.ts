/**
 * The contract's Prometheus instruments (prom-client), declared once in one table, the
 * bounded attribution labels, and `/metrics` serving (mirrors otel_llm/metrics.py).
 *
 * Exemplars (`trace_id`, `span_id`) need prom-client's OpenMetrics registry, so the
 * registry is OpenMetrics; a scraper that does not ask for OpenMetrics gets plain
 * Prometheus text converted from it (counters keep their `_total` name, exemplars dropped).
 */
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Histogram, Registry, type RegistryContentType } from 'prom-client';
import {
  COST_BUCKETS,
  DURATION_BUCKETS,
  METRIC_COST,
  METRIC_DURATION,
  METRIC_OPERATION_COST,
  METRIC_PROCESSOR_ERRORS,
  METRIC_SPANS_DROPPED,
  METRIC_WIRE_PARSE_ERRORS,
  METRIC_TOKEN_USAGE,
  METRIC_TTFC,
  METRIC_UNPRICED,
  TOKEN_BUCKETS,
} from './semconv.js';

export const OPERATION_LABELS = [
  'gen_ai_operation_name',
  'gen_ai_provider_name',
  'gen_ai_request_model',
  'gen_ai_response_model',
] as const;
export const DURATION_LABELS = [...OPERATION_LABELS, 'error_type'] as const;
export const TOKEN_LABELS = [...OPERATION_LABELS, 'gen_ai_token_type'] as const;
export const COST_BASE_LABELS = ['gen_ai_operation_name', 'gen_ai_provider_name', 'gen_ai_request_model'] as const;
export const UNPRICED_LABELS = ['gen_ai_provider_name', 'gen_ai_request_model'] as const;

export type Labels = Record<string, string>;

/** One metric observation derived from a span (what the shared vectors call a sample). */
export interface Observation {
  metric: string;
  labels: Labels;
  value: number;
}

export interface MetricsOptions {
  registry?: Registry<RegistryContentType>;
  attributionLabels?: readonly string[];
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Attribution label names as Prometheus label names; throws on unusable ones. */
export function validateAttributionLabels(labels: readonly string[]): string[] {
  const reserved = new Set<string>([...COST_BASE_LABELS, 'le', 'quantile']);
  return labels.map(label => {
    if (!LABEL_NAME.test(label) || label.startsWith('__') || reserved.has(label)) {
      throw new Error(
        `attribution label ${JSON.stringify(label)} is not usable as a Prometheus label ` +
          '(letters, digits and _; not reserved or already a contract label)',
      );
    }
    return label;
  });
}

function openMetricsRegistry(): Registry<RegistryContentType> {
  const registry = new Registry<RegistryContentType>();
  registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  return registry;
}

/** A series of a prom-client 15 histogram or counter, as its private `hashMap` holds it. */
interface SeriesEntry {
  labels: Labels;
  value?: number;
  sum?: number;
  count?: number;
  bucketValues?: Record<string, number>;
  bucketExemplars?: Record<string, ExemplarSlot | null>;
  exemplar?: ExemplarSlot;
}
interface ExemplarSlot {
  labelSet: Labels;
  value: number;
  timestamp: number;
  validateExemplarLabelSet(labels: Labels): void;
}
interface MetricInternals {
  hashMap?: Record<string, SeriesEntry>;
  sortedLabelNames?: readonly string[];
  upperBounds?: readonly number[];
}
interface CachedSeries {
  map: Record<string, SeriesEntry>;
  hash: string;
  entry: SeriesEntry;
  /** A histogram's bucket keys (its upper bounds as prom-client spells them). */
  keys?: readonly string[];
}

/**
 * Where a caller that records the same label object again and again (the span processor's
 * shared label sets) keeps that label object's series: the next observation then skips
 * the look-up by metric and label object. Opaque to the caller; checked against
 * prom-client's map on every use like the cache's own entries.
 */
export interface SeriesRef {
  /** @internal */
  found?: CachedSeries;
}

const NO_LABELS: Labels = Object.freeze({}) as Labels;

/**
 * prom-client's exemplar check (the label names and values joined are at most 128
 * characters), counted without joining them: no string made per observation.
 */
function exemplarFits(labels: Labels): boolean {
  let n = 0;
  for (const name in labels) {
    const value = labels[name];
    n += name.length + (typeof value === 'string' ? value.length : String(value).length);
  }
  return n <= 128;
}

function isEmpty(labels: Labels): boolean {
  for (const _ in labels) return false;
  return true;
}

/**
 * The per-observation fast path for the processor's shared, frozen label objects: the
 * prom-client series (its private `hashMap` entry, prom-client 15 as pinned; tested
 * against prom-client's own path in metrics.test.mjs) is looked up once per label object
 * and updated in place exactly as prom-client's `observe`/`inc` (with exemplar) do,
 * without re-validating and re-hashing the labels on every call. Anything unexpected (a
 * series prom-client created anew, reset or removed, a bucket without its exemplar slot
 * yet, a value prom-client would reject, another layout) takes prom-client's own path.
 */
class SeriesCache {
  private readonly series = new WeakMap<object, WeakMap<Labels, CachedSeries>>();

  /** After prom-client's own path: keep the series of `labels` for next time. */
  remember(metric: object, labels: Labels): void {
    try {
      if (!Object.isFrozen(labels)) return; // a label object made for one call is not seen again
      const m = metric as MetricInternals;
      const map = m.hashMap;
      const names = m.sortedLabelNames;
      if (!map || !Array.isArray(names)) return;
      let hash = '';
      for (const name of names) {
        const value = labels[name];
        if (value !== undefined) hash += `${name}:${value},`;
      }
      const entry = map[hash];
      if (!entry || typeof entry !== 'object') return;
      for (const name of names) if (entry.labels?.[name] !== labels[name]) return;
      let byLabels = this.series.get(metric);
      if (!byLabels) this.series.set(metric, (byLabels = new WeakMap()));
      const bounds = m.upperBounds;
      byLabels.set(labels, { map, hash, entry, keys: Array.isArray(bounds) ? bounds.map(String) : undefined });
    } catch {
      // the general path stays
    }
  }

  /** The series of `labels` (the caller's ref first, else the cache's, which then fills the ref). */
  private cached(metric: object, labels: Labels, ref: SeriesRef | undefined): CachedSeries | undefined {
    const map = (metric as MetricInternals).hashMap;
    let found = ref?.found;
    if (found !== undefined && map === found.map && map[found.hash] === found.entry) return found;
    found = this.series.get(metric)?.get(labels);
    if (!found) return undefined;
    if (map !== found.map || map[found.hash] !== found.entry) return undefined;
    if (ref !== undefined) ref.found = found;
    return found;
  }

  /** A histogram observation (prom-client's observe + updateExemplar); false: take the general path. */
  observe(h: Histogram<string>, labels: Labels, value: number, exemplar: Labels | undefined, ref?: SeriesRef, at?: number): boolean {
    if (exemplar !== undefined && isEmpty(exemplar)) exemplar = undefined; // prom-client keeps none then
    const found = this.cached(h, labels, ref);
    if (!found || !Number.isFinite(value)) return false;
    const entry = found.entry;
    const bounds = (h as unknown as MetricInternals).upperBounds;
    const buckets = entry.bucketValues;
    const keys = found.keys;
    if (!bounds || !buckets || !keys || keys.length !== bounds.length || typeof entry.sum !== 'number' || typeof entry.count !== 'number') return false;
    let i = 0;
    while (i < bounds.length && !(value <= bounds[i]!)) i++;
    const key = i < bounds.length ? keys[i]! : '-1';
    let slot: ExemplarSlot | null | undefined;
    if (exemplar !== undefined) {
      slot = entry.bucketExemplars?.[key];
      if (!slot || typeof slot !== 'object') return false; // prom-client creates the slot
      if (!exemplarFits(exemplar)) slot.validateExemplarLabelSet(exemplar); // throws as prom-client does
    }
    entry.sum += value;
    entry.count += 1;
    if (i < bounds.length) buckets[key]! += 1;
    if (slot) {
      slot.labelSet = exemplar!;
      slot.value = value;
      slot.timestamp = (at ?? Date.now()) / 1000;
    }
    return true;
  }

  /** A counter increment (prom-client's inc + updateExemplar); false: take the general path. */
  inc(c: Counter<string>, labels: Labels, value: number, exemplar: Labels | undefined, ref?: SeriesRef, at?: number): boolean {
    const found = this.cached(c, labels, ref);
    if (!found || !Number.isFinite(value) || value < 0) return false;
    const entry = found.entry;
    if (typeof entry.value !== 'number') return false;
    let slot: ExemplarSlot | undefined;
    if (exemplar !== undefined) {
      slot = entry.exemplar;
      if (!slot || typeof slot !== 'object') return false;
      if (!exemplarFits(exemplar)) slot.validateExemplarLabelSet(exemplar); // throws as prom-client does
    }
    entry.value += value;
    if (slot) {
      slot.labelSet = exemplar!;
      slot.value = value ? value : 1;
      slot.timestamp = (at ?? Date.now()) / 1000;
    }
    return true;
  }

  /**
   * After prom-client's own path recorded an observation made at `at` (epoch ms): its
   * exemplar's timestamp set to that time (prom-client stamps the time of the call).
   * `value`: a histogram's observed value (its bucket's exemplar), undefined for a counter.
   */
  restamp(metric: object, labels: Labels, value: number | undefined, at: number): void {
    try {
      const found = this.cached(metric, labels, undefined);
      if (!found) return;
      let slot: ExemplarSlot | null | undefined;
      if (value === undefined) slot = found.entry.exemplar;
      else {
        const bounds = (metric as MetricInternals).upperBounds;
        if (!bounds || !found.keys) return;
        let i = 0;
        while (i < bounds.length && !(value <= bounds[i]!)) i++;
        slot = found.entry.bucketExemplars?.[i < bounds.length ? found.keys[i]! : '-1'];
      }
      if (slot && typeof slot === 'object') slot.timestamp = at / 1000;
    } catch {
      // the time of the call stays
    }
  }
}

/** The contract's instruments on one registry. */
export class LlmMetrics {
  readonly registry: Registry<RegistryContentType>;
  readonly attributionLabels: readonly string[];
  readonly duration: Histogram<string>;
  readonly tokens: Histogram<string>;
  readonly ttfc: Histogram<string>;
  readonly cost: Counter<string>;
  readonly operationCost: Histogram<string>;
  readonly unpriced: Counter<string>;
  readonly processorErrors: Counter<string>;
  readonly spansDropped: Counter<string>;
  /** LLM responses the wire layer could not read (src/wire/). */
  readonly wireParseErrors: Counter<string>;
  private readonly exemplars: boolean;

  constructor(options: MetricsOptions = {}) {
    this.registry = options.registry ?? openMetricsRegistry();
    const exemplars = (this.registry.contentType as string) === Registry.OPENMETRICS_CONTENT_TYPE;
    this.exemplars = exemplars;
    this.attributionLabels = validateAttributionLabels(options.attributionLabels ?? []);
    const registers = [this.registry];
    // a read of a contract metric (a scrape, render(), prom-client's get()) first records
    // what the processors hold back (LlmSpanProcessor batches its observations)
    const collect = (): void => this.collectPending();
    this.duration = new Histogram({
      name: METRIC_DURATION,
      help: 'GenAI operation duration',
      labelNames: [...DURATION_LABELS],
      buckets: [...DURATION_BUCKETS],
      registers,
      collect,
      enableExemplars: exemplars,
    });
    this.tokens = new Histogram({
      name: METRIC_TOKEN_USAGE,
      help: 'Number of tokens used per GenAI operation, by token type',
      labelNames: [...TOKEN_LABELS],
      buckets: [...TOKEN_BUCKETS],
      registers,
      collect,
      enableExemplars: exemplars,
    });
    this.ttfc = new Histogram({
      name: METRIC_TTFC,
      help: 'Time to the first chunk of a streaming GenAI operation',
      labelNames: [...DURATION_LABELS],
      buckets: [...DURATION_BUCKETS],
      registers,
      collect,
      enableExemplars: exemplars,
    });
    this.cost = new Counter({
      name: METRIC_COST,
      help: 'Cost of GenAI operations in USD, from local price tables or the provider',
      labelNames: [...COST_BASE_LABELS, ...this.attributionLabels],
      registers,
      collect,
      enableExemplars: exemplars,
    });
    this.operationCost = new Histogram({
      name: METRIC_OPERATION_COST,
      help: 'Cost of one priced GenAI operation in USD',
      labelNames: [...COST_BASE_LABELS],
      buckets: [...COST_BUCKETS],
      registers,
      collect,
      enableExemplars: exemplars,
    });
    this.unpriced = new Counter({
      name: METRIC_UNPRICED,
      help: 'GenAI operations whose model has no known price (no cost recorded)',
      labelNames: [...UNPRICED_LABELS],
      registers,
      collect,
    });
    this.processorErrors = new Counter({
      name: METRIC_PROCESSOR_ERRORS,
      help: 'Exceptions caught inside the otel-llm span processor',
      labelNames: ['hook', 'error_type'],
      registers,
    });
    this.spansDropped = new Counter({
      name: METRIC_SPANS_DROPPED,
      help: 'Spans lost before export: queue_full, shutdown, or export_failed (the exporter could not write them)',
      labelNames: ['reason'],
      registers,
    });
    this.wireParseErrors = new Counter({
      name: METRIC_WIRE_PARSE_ERRORS,
      help: 'LLM API responses the wire layer could not read, by API format and reason',
      labelNames: ['format', 'reason'],
      registers,
    });
  }

  private readonly pending = new Set<() => void>();

  /**
   * Register `flush`, called before any read of the contract's metrics (a processor's
   * observations held back for a batch); returns the function that removes it.
   */
  onCollect(flush: () => void): () => void {
    this.pending.add(flush);
    return () => {
      this.pending.delete(flush);
    };
  }

  private collectPending(): void {
    for (const flush of this.pending) {
      try {
        flush();
      } catch {
        // a scrape never fails for it
      }
    }
  }

  /**
   * Record one observation; `exemplar` carries trace_id/span_id where supported; `at`: when
   * it was observed (epoch ms, for the exemplar's timestamp; default now). `ref`:
   * where the caller keeps the series of this metric and this (frozen, shared) label
   * object between calls; only ever pass the same ref with the same metric and labels.
   */
  record(obs: Observation, exemplar?: Labels, ref?: SeriesRef, at?: number): void {
    const exemplarLabels = this.exemplars ? exemplar : undefined;
    switch (obs.metric) {
      case METRIC_DURATION:
        return this.observe(this.duration, obs, exemplarLabels, ref, at);
      case METRIC_TOKEN_USAGE:
        return this.observe(this.tokens, obs, exemplarLabels, ref, at);
      case METRIC_TTFC:
        return this.observe(this.ttfc, obs, exemplarLabels, ref, at);
      case METRIC_COST:
        // prom-client keeps an exemplar (with no labels) for an unsampled call too
        if (this.fast.inc(this.cost, obs.labels, obs.value, this.exemplars ? (exemplarLabels ?? NO_LABELS) : undefined, ref, at)) return;
        if (this.exemplars) this.cost.inc({ labels: obs.labels, value: obs.value, exemplarLabels: exemplarLabels ?? {} });
        else this.cost.inc(obs.labels, obs.value);
        this.fast.remember(this.cost, obs.labels);
        if (at !== undefined && this.exemplars) this.fast.restamp(this.cost, obs.labels, undefined, at);
        return;
      case METRIC_OPERATION_COST:
        return this.observe(this.operationCost, obs, exemplarLabels, ref, at);
      case METRIC_UNPRICED:
        if (this.fast.inc(this.unpriced, obs.labels, obs.value, undefined, ref, at)) return;
        this.unpriced.inc(obs.labels, obs.value);
        this.fast.remember(this.unpriced, obs.labels);
        return;
      default:
        throw new Error(`unknown metric ${obs.metric}`);
    }
  }

  /** With exemplars on, prom-client takes only the object form of observe/inc. */
  private observe(h: Histogram<string>, obs: Observation, exemplarLabels?: Labels, ref?: SeriesRef, at?: number): void {
    if (this.fast.observe(h, obs.labels, obs.value, exemplarLabels, ref, at)) return;
    if (this.exemplars) h.observe({ labels: obs.labels, value: obs.value, exemplarLabels: exemplarLabels ?? {} });
    else h.observe(obs.labels, obs.value);
    this.fast.remember(h, obs.labels);
    if (at !== undefined && exemplarLabels !== undefined) this.fast.restamp(h, obs.labels, obs.value, at);
  }

  private readonly fast = new SeriesCache();

  /** The registry content: OpenMetrics (with exemplars) or plain Prometheus text. */
  async render(openMetrics: boolean): Promise<{ contentType: string; body: string }> {
    const text = await this.registry.metrics();
    if (this.registry.contentType !== Registry.OPENMETRICS_CONTENT_TYPE) {
      return { contentType: this.registry.contentType, body: text };
    }
    if (openMetrics) return { contentType: Registry.OPENMETRICS_CONTENT_TYPE, body: text };
    return { contentType: Registry.PROMETHEUS_CONTENT_TYPE, body: openMetricsToPrometheus(text) };
  }
}


/**
 * OpenMetrics text (as prom-client writes it) to Prometheus text 0.0.4: counters named with
 * `_total` in HELP/TYPE as well, exemplars and `# EOF` removed.
 */
export function openMetricsToPrometheus(text: string): string {
  const counters = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^# TYPE (\S+) counter$/.exec(line);
    if (m) counters.add(m[1]!);
  }
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (line === '# EOF') continue;
    const meta = /^# (HELP|TYPE) (\S+)(.*)$/.exec(line);
    if (meta) {
      const name = counters.has(meta[2]!) && !meta[2]!.endsWith('_total') ? `${meta[2]}_total` : meta[2];
      out.push(`# ${meta[1]} ${name}${meta[3]}`);
      continue;
    }
    const cut = line.indexOf(' # {');
    out.push(cut >= 0 ? line.slice(0, cut) : line);
  }
  return out.join('\n').replace(/\n*$/, '\n');
}

/** Whether a scrape asked for OpenMetrics (Prometheus does when exemplar storage is on). */
export function wantsOpenMetrics(accept: string | string[] | undefined): boolean {
  const value = Array.isArray(accept) ? accept.join(',') : (accept ?? '');
  return value.includes('application/openmetrics-text');
}

/** Serve `metrics` on a request; errors become a 500 without throwing into the host. */
export async function serveMetrics(metrics: LlmMetrics, req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    const { contentType, body } = await metrics.render(wantsOpenMetrics(req.headers.accept));
    res.statusCode = 200;
    res.setHeader('Content-Type', contentType);
    res.end(body);
  } catch {
    res.statusCode = 500;
    res.end('metrics unavailable\n');
  }
}

/** Express/Connect middleware answering GET `path` (default /metrics), passing the rest on. */
export function metricsMiddleware(metrics: () => LlmMetrics, path = '/metrics') {
  return function otelLlmMetrics(req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): void {
    const url = req.url ?? '';
    const bare = url.split('?')[0];
    if (req.method === 'GET' && bare === path) {
      void serveMetrics(metrics(), req, res);
      return;
    }
    next();
  };
}

/** A small server answering /metrics; resolves once it listens. */
export function startMetricsServer(
  metrics: () => LlmMetrics,
  port: number,
  host = '0.0.0.0',
): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if ((req.url ?? '').split('?')[0] === '/metrics') {
      void serveMetrics(metrics(), req, res);
      return;
    }
    res.statusCode = 404;
    res.end('not found\n');
  });
  server.unref();
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
