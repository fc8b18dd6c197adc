/**
 * A span exporter writing OTLP JSON lines: one ExportTraceServiceRequest per line, as the
 * Python side's file exporter does, so `otel-llm trace --file` reads spans of both
 * languages from one file (OTEL_LLM_EXPORTER=file, OTEL_LLM_TRACES_FILE).
 *
 * Lines are appended with one `write` each (O_APPEND), so several processes can share the
 * file without interleaving within a line. The file's directory is created when missing
 * (as the Python exporter does). Errors are reported to the SDK as a failed export, never
 * thrown; register() wraps this exporter so they are counted and logged (setup.ts).
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';

export class FileSpanExporter implements SpanExporter {
  private fd: number | undefined;
  private readonly decoder = new TextDecoder();

  constructor(readonly path: string) {}

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    try {
      if (this.fd === undefined) {
        mkdirSync(dirname(this.path), { recursive: true });
        this.fd = openSync(this.path, 'a');
      }
      const body = JsonTraceSerializer.serializeRequest(spans);
      if (body && spans.length) writeSync(this.fd, `${this.decoder.decode(body)}\n`);
      resultCallback({ code: ExportResultCode.SUCCESS });
    } catch (error) {
      resultCallback({ code: ExportResultCode.FAILED, error: error as Error });
    }
  }

  shutdown(): Promise<void> {
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch {
        // already closed
      }
      this.fd = undefined;
    }
    return Promise.resolve();
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
}
