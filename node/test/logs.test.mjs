// pino logs: the contract's fields, correlation with the request and span, redaction.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Writable } from 'node:stream';
import { trace, context, ROOT_CONTEXT } from '@opentelemetry/api';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { createLogger, runWithState, newRequestState } from '@otel-llm/node';

function capture() {
  const lines = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...chunk.toString().trim().split('\n').map(l => JSON.parse(l)));
      cb();
    },
  });
  return { lines, destination };
}

describe('createLogger', () => {
  it('JSON lines with timestamp, level, event, logger, service, request_id, trace_id, span_id', () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    const tracer = new BasicTracerProvider().getTracer('logs');
    const { lines, destination } = capture();
    const log = createLogger({ name: 'gateway', service: 'svc', format: 'json', destination });
    const span = tracer.startSpan('op', {}, ROOT_CONTEXT);
    runWithState(newRequestState('rid-log-1'), () => {
      context.with(trace.setSpan(context.active(), span), () => log.info({ model: 'gpt-4o-mini' }, 'chat completed'));
    });
    span.end();
    const [line] = lines;
    assert.equal(line.event, 'chat completed');
    assert.equal(line.level, 'info');
    assert.equal(line.logger, 'gateway');
    assert.equal(line.service, 'svc');
    assert.equal(line.request_id, 'rid-log-1');
    assert.equal(line.trace_id, span.spanContext().traceId);
    assert.equal(line.span_id, span.spanContext().spanId);
    assert.equal(line.model, 'gpt-4o-mini');
    assert.match(line.timestamp, /^\d{4}-\d{2}-\d{2}T/);
    context.disable();
  });

  it('masks secrets and personal data in messages and fields; prompts unless capture is on', () => {
    const { lines, destination } = capture();
    const log = createLogger({ format: 'json', destination, captureContent: false });
    log.warn(
      { api_key: 'abc', headers: { authorization: 'Bearer abcdefghijkl' }, note: 'mail bob@example.com', prompt: 'secret plan', n: 3 },
      'key sk-abcdefghijklmnopqrstuvwx used by jane@example.org',
    );
    const [line] = lines;
    assert.equal(line.event, 'key [REDACTED:api_key] used by [REDACTED:email]');
    assert.equal(line.api_key, '[REDACTED]');
    assert.equal(line.headers.authorization, '[REDACTED]');
    assert.equal(line.note, 'mail [REDACTED:email]');
    assert.equal(line.prompt, '[REDACTED:content]');
    assert.equal(line.n, 3);
    const cap = capture();
    createLogger({ format: 'json', destination: cap.destination, captureContent: true }).info({ prompt: 'hi' }, 'x');
    assert.equal(cap.lines[0].prompt, 'hi');
  });
});
