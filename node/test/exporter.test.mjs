// No silent span loss (Node): an exporter that cannot write is counted in
// otel_llm_spans_dropped_total{reason="export_failed"} and logged once with the reason.
// Each case runs register() in a fresh process with the exporter settings a user could
// get wrong: a span file under a path that cannot be a directory, and OTLP (http/protobuf
// and grpc) pointed at a closed loopback port. Two batches fail; both are counted, and
// stderr has exactly one line about it naming the target.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { parseProm } from './helpers.mjs';

const PKG = fileURLToPath(new URL('..', import.meta.url));

const PROGRAM = `
import { trace } from '@opentelemetry/api';
import { register } from '@otel-llm/node';
const t = register();
const tracer = trace.getTracer('t');
for (const batch of [3, 2]) {
  for (let i = 0; i < batch; i++) tracer.startSpan('s' + i).end();
  await t.forceFlush();
}
console.log(JSON.stringify({ metrics: await t.metrics.registry.metrics() }));
await t.shutdown();
`;

function runService(env) {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_')));
  const proc = spawnSync(process.execPath, ['--input-type=module', '-e', PROGRAM], {
    cwd: PKG,
    env: { ...base, OTEL_LLM_LOG_FORMAT: 'json', OTEL_BSP_SCHEDULE_DELAY: '50', ...env },
    encoding: 'utf8',
    timeout: 60000,
  });
  assert.equal(proc.status, 0, proc.stderr);
  const lines = proc.stdout.trim().split('\n');
  const { metrics } = JSON.parse(lines[lines.length - 1]);
  const dropped = parseProm(metrics.replace(/^# EOF$/m, ''))
    .filter(s => s.name === 'otel_llm_spans_dropped_total' && s.labels.reason === 'export_failed')
    .reduce((sum, s) => sum + s.value, 0);
  const failures = [];
  for (const line of proc.stderr.split('\n')) {
    try {
      const rec = JSON.parse(line);
      if (String(rec.event ?? '').includes('span export to')) failures.push(rec);
    } catch {
      // not one of our JSON lines
    }
  }
  return { dropped, failures };
}

async function closedPort() {
  const server = createServer();
  await new Promise(resolve => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise(resolve => server.close(resolve));
  return port;
}

describe('span export failures', () => {
  it('an unwritable span file is counted and logged once', () => {
    const dir = mkdtempSync(join(tmpdir(), 'otel-llm-export-'));
    const blocker = join(dir, 'not-a-directory');
    writeFileSync(blocker, '');
    const target = join(blocker, 'spans.jsonl');
    const { dropped, failures } = runService({ OTEL_LLM_EXPORTER: 'file', OTEL_LLM_TRACES_FILE: target });
    assert.equal(dropped, 5);
    assert.equal(failures.length, 1, JSON.stringify(failures));
    assert.equal(failures[0].level, 'error');
    assert.equal(failures[0].logger, 'otel-llm');
    assert.ok(failures[0].event.includes(target), failures[0].event);
    assert.match(failures[0].event, /ENOTDIR|EEXIST|ENOENT/);
  });

  for (const protocol of ['http/protobuf', 'grpc']) {
    it(`OTLP ${protocol} to a closed port is counted and logged once`, async () => {
      const endpoint = `http://127.0.0.1:${await closedPort()}`;
      const { dropped, failures } = runService({
        OTEL_LLM_EXPORTER: 'otlp',
        OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
        OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
        OTEL_EXPORTER_OTLP_TIMEOUT: '1000', // milliseconds in the JS SDK
      });
      assert.equal(dropped, 5);
      assert.equal(failures.length, 1, JSON.stringify(failures));
      assert.ok(failures[0].event.includes(endpoint), failures[0].event);
      assert.ok(!failures[0].event.includes('the exporter reported a failure'), failures[0].event);
    });
  }
});
