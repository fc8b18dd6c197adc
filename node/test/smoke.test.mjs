// Packaging smoke tests in fresh processes: CommonJS require and ESM import of the
// package, and the zero-code entries (--import for ESM apps, --require for CJS apps)
// writing OTLP JSON lines with request.id on the spans.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const PKG = fileURLToPath(new URL('..', import.meta.url));
const run = (args, env = {}) =>
  execFileSync(process.execPath, args, { cwd: PKG, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 30000 });

describe('imports', () => {
  it('CommonJS require', () => {
    const out = run(['-e', "const m = require('@otel-llm/node'); console.log(typeof m.register, typeof m.requestIdMiddleware, typeof m.LlmSpanProcessor)"]);
    assert.equal(out.trim(), 'function function function');
  });
  it('ESM import', () => {
    const out = run(['--input-type=module', '-e', "import { register, requestIdMiddleware, LlmSpanProcessor } from '@otel-llm/node'; console.log(typeof register, typeof requestIdMiddleware, typeof LlmSpanProcessor)"]);
    assert.equal(out.trim(), 'function function function');
  });
  it('the ESM and CJS copies share one request state', () => {
    const out = run([
      '--input-type=module',
      '-e',
      "import { createRequire } from 'node:module'; import { runWithState, newRequestState } from '@otel-llm/node'; const cjs = createRequire(process.cwd() + '/')('@otel-llm/node'); runWithState(newRequestState('shared-1'), () => console.log(cjs.currentRequestId()));",
    ]);
    assert.equal(out.trim(), 'shared-1');
  });
});

const APP = `
const server = http.createServer(async (req, res) => {
  if (req.url === '/down') { res.end(req.headers['x-request-id'] + ' ' + req.headers.baggage); return; }
  const r = await fetch('http://127.0.0.1:' + server.address().port + '/down');
  res.end(await r.text());
});
server.listen(0, '127.0.0.1', async () => {
  const r = await fetch('http://127.0.0.1:' + server.address().port + '/', { headers: { 'x-request-id': 'zero-code-1' } });
  console.log(r.headers.get('x-request-id'), await r.text());
  server.close();
});
`;

function spansIn(file) {
  const spans = [];
  for (const line of readFileSync(file, 'utf8').trim().split('\n')) {
    for (const rs of JSON.parse(line).resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
  }
  return spans;
}

function attr(span, key) {
  const kv = (span.attributes ?? []).find(a => a.key === key);
  return kv && (kv.value.stringValue ?? kv.value.intValue ?? kv.value.boolValue);
}

for (const [flag, ext, header] of [
  ['--import', 'mjs', "import http from 'node:http';"],
  ['--require', 'cjs', "const http = require('node:http');"],
]) {
  describe(`zero code: node ${flag} @otel-llm/node/register`, () => {
    it('traces, echoes and propagates the request ID, writes OTLP JSON lines', () => {
      const dir = mkdtempSync(join(tmpdir(), 'otel-llm-node-'));
      const app = join(dir, `app.${ext}`);
      writeFileSync(app, header + APP);
      const file = join(dir, 'spans.jsonl');
      const out = run([flag, '@otel-llm/node/register', app], {
        OTEL_LLM_EXPORTER: 'file',
        OTEL_LLM_TRACES_FILE: file,
        OTEL_SERVICE_NAME: 'smoke',
      });
      assert.match(out.trim(), /^zero-code-1 zero-code-1 .*request\.id=zero-code-1/);
      const spans = spansIn(file);
      assert.ok(spans.length >= 3, `spans: ${spans.map(s => s.name)}`);
      assert.equal(new Set(spans.map(s => s.traceId)).size <= 2, true);
      const served = spans.filter(s => s.kind === 2 /* SERVER */);
      assert.ok(served.length >= 2);
      for (const s of served) assert.equal(attr(s, 'request.id'), 'zero-code-1');
      assert.match(spans[0].traceId, /^[0-9a-f]{32}$/, 'hex IDs as the Python reader expects');
    });
  });
}
