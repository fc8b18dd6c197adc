/**
 * pino loggers with the contract's fields (mirrors otel_llm/logs.py): `timestamp`,
 * `level`, `event` (the message), `logger`, `service` and, while a request or a span is
 * current, `request_id`, `trace_id`, `span_id`. Secrets and personal data are masked before
 * a line is written (./redact.ts); prompts are masked unless content capture is on.
 * JSON lines by default, coloured console lines with OTEL_LLM_LOG_FORMAT=console.
 */
import { trace } from '@opentelemetry/api';
import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { loadSettings, type LogFormat } from './config.js';
import { currentRequestId } from './context.js';
import { Redactor, redactText } from './redact.js';

export interface LoggerConfig {
  /** The `logger` field (default "app"). */
  name?: string;
  /** The `service` field (default OTEL_SERVICE_NAME, else "unknown_service:node"). */
  service?: string;
  /** OTEL_LLM_LOG_LEVEL (default info). */
  level?: string;
  /** json (default when stdout is not a TTY) or console. */
  format?: LogFormat;
  /** Keep prompts and completions (OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT). */
  captureContent?: boolean;
  /** Where lines go (default stdout). */
  destination?: DestinationStream;
}

/** `request_id`, `trace_id` and `span_id` (hex) when they are known. */
export function correlationFields(): Record<string, string> {
  const out: Record<string, string> = {};
  const requestId = currentRequestId();
  if (requestId) out.request_id = requestId;
  const ctx = trace.getActiveSpan()?.spanContext();
  if (ctx && ctx.traceId !== '00000000000000000000000000000000') {
    out.trace_id = ctx.traceId;
    out.span_id = ctx.spanId;
  }
  return out;
}

const COLOURS: Record<string, string> = {
  trace: '\x1b[90m',
  debug: '\x1b[36m',
  info: '\x1b[32m',
  warn: '\x1b[33m',
  warning: '\x1b[33m',
  error: '\x1b[31m',
  fatal: '\x1b[35m',
};

/** A destination rendering pino's JSON lines as coloured console lines. */
export function consoleDestination(out: NodeJS.WritableStream = process.stdout): DestinationStream {
  return {
    write(line: string): void {
      try {
        const { timestamp, level, event, logger, service, ...rest } = JSON.parse(line) as Record<string, unknown>;
        const colour = COLOURS[String(level)] ?? '';
        const extras = Object.entries(rest)
          .map(([k, v]) => `\x1b[2m${k}\x1b[0m=${typeof v === 'string' ? v : JSON.stringify(v)}`)
          .join(' ');
        out.write(
          `\x1b[2m${String(timestamp)}\x1b[0m ${colour}${String(level).padEnd(5)}\x1b[0m ` +
            `\x1b[1m${String(event ?? '')}\x1b[0m [${String(logger)}] ${extras}\n`,
        );
      } catch {
        out.write(line);
      }
    },
  };
}

/**
 * A pino logger that follows the contract. Child loggers (`logger.child({logger: 'db'})`)
 * keep the correlation and redaction.
 */
export function createLogger(config: LoggerConfig = {}): Logger {
  const settings = loadSettings();
  const format = config.format ?? settings.logFormat;
  const redactor = new Redactor(config.captureContent ?? settings.captureContent);
  const options: LoggerOptions = {
    level: (config.level ?? settings.logLevel).toLowerCase().replace('warning', 'warn'),
    messageKey: 'event',
    base: {
      logger: config.name ?? 'app',
      service: config.service ?? settings.serviceName ?? 'unknown_service:node',
    },
    timestamp: () => `,"timestamp":"${new Date().toISOString()}"`,
    formatters: {
      level: label => ({ level: label }),
      log: obj => redactor.record(obj),
    },
    mixin: () => correlationFields(),
    hooks: {
      logMethod(args, method) {
        // the message string (and printf-style arguments) are masked too
        const masked = args.map(a => (typeof a === 'string' ? redactText(a) : a));
        return method.apply(this, masked as Parameters<typeof method>);
      },
    },
  };
  const destination = config.destination ?? (format === 'console' ? consoleDestination() : undefined);
  return destination ? pino(options, destination) : pino(options);
}
