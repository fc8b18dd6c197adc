/**
 * `register()`: the only place that wires the SDK, processors, exporters, propagators and
 * instrumentations (mirrors otel_llm/setup.py). Configuration is read once from the
 * environment (OTEL_* for the SDK, OTEL_LLM_* for ours) into a typed object.
 *
 * Wiring: @opentelemetry/sdk-node with
 * - spans: our LlmSpanProcessor (request ID, attribution, cost, Prometheus metrics), then a
 *   BatchSpanProcessor exporting OTLP (OTEL_EXPORTER_OTLP_* ; http/protobuf by default,
 *   http/json or grpc by OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL) or OTLP JSON lines to a file;
 *   a batch the exporter cannot write is counted in
 *   otel_llm_spans_dropped_total{reason="export_failed"} and logged once (ReportingExporter);
 * - propagators: W3C tracecontext, W3C baggage, X-Request-ID (last, so the validated ID wins);
 * - instrumentations: http, undici (fetch; one propagation per request), Express, Fastify
 *   (@fastify/otel), OpenAI (the official one plus our extras), and the Anthropic SDK's own
 *   tracing (built in); the wire layer on the global fetch (LLM API calls of any client,
 *   wire/index.ts) with the provider from the endpoint (providers.ts);
 * - the X-Request-ID edge hook on every node:http server, /metrics on OTEL_LLM_METRICS_PORT.
 * OTLP metrics and logs from the SDK are off unless OTEL_METRICS_EXPORTER /
 * OTEL_LOGS_EXPORTER ask for them: the contract's metrics are Prometheus, from spans.
 */
import type { Server } from 'node:http';
import { resolve } from 'node:path';
import { diag, trace, type TextMapPropagator } from '@opentelemetry/api';
import {
  CompositePropagator,
  ExportResultCode,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
  type ExportResult,
} from '@opentelemetry/core';
import { FastifyOtelInstrumentation } from '@fastify/otel';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { ExpressInstrumentation } from '@opentelemetry/instrumentation-express';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { NodeSDK } from '@opentelemetry/sdk-node';
import pino, { type Logger } from 'pino';
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { loadSettings, type Settings } from './config.js';
import { FileSpanExporter } from './exporter-file.js';
import { consoleDestination, createLogger } from './logs.js';
import { OfficialOpenAIInstrumentation, OpenAIExtrasInstrumentation } from './genai/openai.js';
import { GenAiSpanNormalizer } from './genai/aisdk.js';
import { LlmMetrics, metricsMiddleware, startMetricsServer } from './metrics.js';
import { PriceBook } from './pricing.js';
import { LlmSpanProcessor } from './processor.js';
import { RequestIdPropagator, installEdgeHook } from './requestid.js';
import { ProviderResolver, parseProviderHosts } from './providers.js';
import { logUnsupportedClients } from './genai/versions.js';
import { WireLayer } from './wire/index.js';
import { SinglePropagationUndiciInstrumentation } from './wire/undici.js';

export interface RegisterOptions extends Partial<Settings> {
  /** Extra instrumentations to enable beside ours. */
  instrumentations?: Instrumentation[];
  /** Use this exporter instead of the one OTEL_LLM_EXPORTER names (tests, custom backends). */
  spanExporter?: SpanExporter;
  /** Export each span at once instead of batching (tests). */
  simpleExport?: boolean;
}

export interface Telemetry {
  settings: Settings;
  sdk: NodeSDK;
  metrics: LlmMetrics;
  processor: LlmSpanProcessor;
  metricsServer?: Promise<Server | undefined>;
  /**
   * Export every finished span now (tests, before a short-lived process exits). Never
   * rejects: what could not be exported is counted and logged (ReportingExporter).
   */
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

interface Global {
  telemetry?: Telemetry;
  metrics?: LlmMetrics;
}
const GLOBAL_KEY = Symbol.for('otel-llm.node.telemetry');
const g = globalThis as unknown as Record<symbol, Global | undefined>;
const shared: Global = (g[GLOBAL_KEY] ??= {});

/** The metrics of the registered telemetry (or a standalone set, created on first use). */
export function getMetrics(): LlmMetrics {
  return (shared.metrics ??= new LlmMetrics({ attributionLabels: loadSettings().attributionLabels }));
}

/** Express/Connect middleware serving the registered metrics on GET /metrics. */
export function metricsHandler(path = '/metrics') {
  return metricsMiddleware(getMetrics, path);
}

/** A BatchSpanProcessor that counts what its bounded queue drops. */
class CountingBatchSpanProcessor extends BatchSpanProcessor {
  constructor(
    exporter: SpanExporter,
    private readonly metrics: LlmMetrics,
    maxQueueSize: number,
  ) {
    super(exporter, { maxQueueSize, maxExportBatchSize: Math.min(512, maxQueueSize) });
  }

  override onEnd(span: ReadableSpan): void {
    try {
      const self = this as unknown as { _finishedSpans?: unknown[]; _maxQueueSize?: number; _shutdownOnce?: { isCalled: boolean } };
      if (self._shutdownOnce?.isCalled) this.metrics.spansDropped.inc({ reason: 'shutdown' });
      else if ((self._finishedSpans?.length ?? 0) >= (self._maxQueueSize ?? Infinity)) {
        this.metrics.spansDropped.inc({ reason: 'queue_full' });
      }
    } catch {
      // counting is best effort
    }
    super.onEnd(span);
  }
}

export const EXPORT_FAILED = 'export_failed';

/**
 * The chosen exporter, made loud when it cannot write: every span of a failed batch is
 * counted in otel_llm_spans_dropped_total{reason="export_failed"}; the first failure is
 * logged (stderr, the contract's JSON fields) with the target and the reason, the next one
 * only after an export succeeded again. Nothing is thrown.
 */
export class ReportingExporter implements SpanExporter {
  private failing = false;
  private logger?: Logger;

  constructor(
    readonly inner: SpanExporter,
    private readonly metrics: LlmMetrics,
    readonly target: string,
    private readonly settings: Settings,
    /** Run before each export (the span processor finishes the GenAI spans it holds). */
    private readonly beforeExport?: () => void,
  ) {}

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    try {
      this.beforeExport?.();
    } catch {
      // the spans go out as they are
    }
    const done = (result: ExportResult): void => {
      try {
        this.observe(result, spans.length);
      } finally {
        resultCallback(result);
      }
    };
    try {
      this.inner.export(spans, done);
    } catch (error) {
      done({ code: ExportResultCode.FAILED, error: error as Error });
    }
  }

  private observe(result: ExportResult, count: number): void {
    if (result.code === ExportResultCode.SUCCESS) {
      if (this.failing) this.log().warn(`span export to ${this.target} works again`);
      this.failing = false;
      return;
    }
    this.metrics.spansDropped.inc({ reason: EXPORT_FAILED }, count);
    if (this.failing) return;
    this.failing = true;
    const reason = result.error ? `${result.error.name}: ${result.error.message}` : 'the exporter reported a failure';
    this.log().error(
      `span export to ${this.target} failed, ${count} spans dropped: ${reason} (every dropped span is counted in ` +
        'otel_llm_spans_dropped_total{reason="export_failed"}; logged again only after an export succeeds)',
    );
  }

  private log(): Logger {
    const destination =
      this.settings.logFormat === 'console' ? consoleDestination(process.stderr) : pino.destination({ dest: 2, sync: true });
    return (this.logger ??= createLogger({ name: 'otel-llm', service: this.settings.serviceName, destination }));
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

/** Where the configured exporter writes, for the failure report. */
function exportTarget(settings: Settings): string {
  if (settings.exporter === 'file') return `file ${resolve(settings.tracesFile)}`;
  if (settings.exporter === 'otlp') {
    const endpoint =
      process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || process.env.OTEL_EXPORTER_OTLP_ENDPOINT || 'the default OTLP endpoint';
    return `OTLP ${endpoint}`;
  }
  return settings.exporter;
}

function traceExporter(settings: Settings): SpanExporter | undefined {
  switch (settings.exporter) {
    case 'none':
      return undefined;
    case 'file':
      return new FileSpanExporter(settings.tracesFile);
    case 'console':
      return new ConsoleSpanExporter();
    default:
      return otlpExporter();
  }
}

/** The OTLP exporter for OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL (its own env vars apply). */
function otlpExporter(): SpanExporter {
  const protocol = (process.env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL || process.env.OTEL_EXPORTER_OTLP_PROTOCOL || 'http/protobuf').trim();
  if (protocol === 'grpc') return new GrpcExporter();
  if (protocol === 'http/json') return new JsonExporter();
  return new ProtoExporter();
}

function instrumentations(settings: Settings, extra: Instrumentation[], resolver: ProviderResolver): Instrumentation[] {
  const metricsPort = settings.metricsPort;
  return [
    // first: it must patch inside the official OpenAI wrapper (see genai/openai.ts)
    new OpenAIExtrasInstrumentation({ streamIncludeUsage: settings.streamIncludeUsage, resolver }),
    new HttpInstrumentation({
      ignoreIncomingRequestHook: req => {
        const path = (req.url ?? '').split('?')[0];
        return path === '/metrics' || (metricsPort !== undefined && req.socket?.localPort === metricsPort);
      },
    }),
    // one traceparent/baggage/X-Request-ID per request, even when an SDK injects its own
    new SinglePropagationUndiciInstrumentation(),
    new ExpressInstrumentation(),
    new FastifyOtelInstrumentation({ registerOnInitialization: true }),
    new OfficialOpenAIInstrumentation({ captureMessageContent: settings.captureContent }),
    ...extra,
  ];
}

/**
 * Set up tracing, metrics and request IDs for this process. Idempotent: a second call
 * returns the first result. Never throws on bad telemetry configuration at run time;
 * invalid OTEL_LLM_* values throw here, at start-up.
 */
export function register(options: RegisterOptions = {}): Telemetry {
  if (shared.telemetry) return shared.telemetry;
  const { instrumentations: extra = [], spanExporter, simpleExport, ...overrides } = options;
  const settings = loadSettings(process.env, overrides);
  const metrics = (shared.metrics ??= new LlmMetrics({ attributionLabels: settings.attributionLabels }));
  const processor = new LlmSpanProcessor({
    metrics,
    prices: PriceBook.load(settings.pricingFile),
    attributionLimit: settings.attributionLimit,
    userHashKey: settings.userHashKey,
    // the exporter below finishes the held GenAI spans before it reads any
    beforeExport: true,
  });
  // first: the AI SDK's telemetry brought to the contract before it is measured (genai/aisdk.ts)
  const spanProcessors: SpanProcessor[] = [new GenAiSpanNormalizer(settings.captureContent), processor];
  const chosen = spanExporter ?? traceExporter(settings);
  const exporter =
    chosen &&
    new ReportingExporter(chosen, metrics, spanExporter ? chosen.constructor.name : exportTarget(settings), settings, () => processor.drain());
  if (exporter) {
    if (simpleExport) {
      spanProcessors.push(new SimpleSpanProcessor(exporter));
    } else {
      spanProcessors.push(new CountingBatchSpanProcessor(exporter, metrics, settings.maxQueueSize));
    }
  }
  const propagator: TextMapPropagator = new CompositePropagator({
    propagators: [
      new W3CTraceContextPropagator(),
      new W3CBaggagePropagator(),
      new RequestIdPropagator({ header: settings.requestIdHeader, trustIncoming: settings.trustIncomingRequestId }),
    ],
  });
  const resolver = new ProviderResolver(
    parseProviderHosts(settings.providerHosts, msg => diag.warn(`otel-llm: ${msg}`)),
  );
  const sdk = new NodeSDK({
    serviceName: settings.serviceName,
    spanProcessors,
    textMapPropagator: propagator,
    instrumentations: instrumentations(settings, extra, resolver),
    ...(process.env.OTEL_METRICS_EXPORTER ? {} : { metricReaders: [] }),
    ...(process.env.OTEL_LOGS_EXPORTER ? {} : { logRecordProcessors: [] }),
  });
  sdk.start();
  // LLM calls at fetch, whatever SDK makes them (see wire/index.ts)
  const removeWireLayer = new WireLayer({
    resolver,
    includeUsage: settings.streamIncludeUsage,
    onFailure: (format, reason) => metrics.wireParseErrors.inc({ format, reason }),
  }).install();
  logUnsupportedClients();
  const removeEdgeHook = installEdgeHook({
    header: settings.requestIdHeader,
    trustIncoming: settings.trustIncomingRequestId,
  });
  let metricsServer: Promise<Server | undefined> | undefined;
  if (settings.metricsPort !== undefined) {
    metricsServer = startMetricsServer(getMetrics, settings.metricsPort, settings.metricsAddr).catch(err => {
      diag.error(`otel-llm: cannot serve /metrics on port ${settings.metricsPort}: ${(err as Error).message}`);
      return undefined;
    });
  }
  const telemetry: Telemetry = {
    settings,
    sdk,
    metrics,
    processor,
    metricsServer,
    async forceFlush() {
      const provider = trace.getTracerProvider() as { getDelegate?: () => { forceFlush?: () => Promise<void> } };
      try {
        await provider.getDelegate?.().forceFlush?.();
      } catch {
        // a batch that could not be exported was counted and logged by ReportingExporter
      }
    },
    async shutdown() {
      removeEdgeHook();
      removeWireLayer();
      const server = await metricsServer;
      server?.close();
      try {
        await sdk.shutdown();
      } finally {
        if (shared.telemetry === telemetry) shared.telemetry = undefined;
      }
    },
  };
  shared.telemetry = telemetry;
  return telemetry;
}

/** Flush and stop what register() started (no-op when nothing is registered). */
export async function shutdown(): Promise<void> {
  await shared.telemetry?.shutdown();
}
