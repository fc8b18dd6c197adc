// The wire layer over real HTTP (global fetch, the undici instrumentation, register()):
// bad input costs the caller nothing, the span says what is missing, the failure is
// counted; propagation headers go out once per request whichever layers are active.
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { propagation, trace, SpanKind } from '@opentelemetry/api';
import {
  register,
  shutdown,
  bundledReady,
  runWithState,
  newRequestState,
  unsupportedClients,
  SinglePropagationUndiciInstrumentation,
} from '@otel-llm/node';
import { parseProm } from './helpers.mjs';

const require = createRequire(import.meta.url);
const exporter = new InMemorySpanExporter();
const requests = [];
let server;
let base;
let telemetry;
const ORIGINAL = Symbol.for('otel-llm.wire.fetch');

function serve(req, res, body) {
  const mode = req.headers['x-mode'] ?? 'json';
  const usage = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 };
  if (mode === 'html') {
    res.writeHead(502, { 'content-type': 'text/html' }).end('<html><body>Bad gateway</body></html>');
  } else if (mode === 'not-json') {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"id": "chatcmpl-x", "choi');
  } else if (mode === 'cut') {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(`data: ${JSON.stringify({ id: 'c', model: body.model, choices: [{ index: 0, delta: { content: 'Hello' } }] })}\n\n`);
    setTimeout(() => res.destroy(), 20);
  } else if (mode === 'paced' && body.stream) {
    // one event per network chunk, as providers send them
    const events = [
      `data: ${JSON.stringify({ id: 'c', model: body.model, choices: [{ index: 0, delta: { content: 'héllo ✓' } }] })}\n\n`,
      `data: ${JSON.stringify({ id: 'c', model: body.model, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`,
      ...(body.stream_options?.include_usage ? [`data: ${JSON.stringify({ id: 'c', model: body.model, choices: [], usage })}\n\n`] : []),
      'data: [DONE]\n\n',
    ];
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const next = () => (events.length > 1 ? (res.write(events.shift()), setTimeout(next, 15)) : res.end(events.shift()));
    next();
  } else if (body.stream) {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(`data: ${JSON.stringify({ id: 'c', model: body.model, choices: [{ index: 0, delta: { content: 'Hi' }, finish_reason: 'stop' }] })}\n\n`);
    if (body.stream_options?.include_usage) res.write(`data: ${JSON.stringify({ id: 'c', model: body.model, choices: [], usage })}\n\n`);
    res.end('data: [DONE]\n\n');
  } else {
    res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': 'req_provider_1' });
    res.end(JSON.stringify({ id: 'chatcmpl-ok', model: body.model, choices: [{ index: 0, message: { content: 'Hi' }, finish_reason: 'stop' }], usage }));
  }
}

before(async () => {
  await bundledReady;
  server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', c => (raw += c));
    req.on('end', () => {
      let body = {};
      try {
        body = JSON.parse(raw);
      } catch {
        body = {};
      }
      requests.push({ url: req.url, rawHeaders: req.rawHeaders, headers: req.headers, body, raw });
      serve(req, res, body);
    });
  });
  await new Promise(r => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${server.address().port}`;
  telemetry = register({ spanExporter: exporter, simpleExport: true, serviceName: 'wire-http-test' });
});
after(async () => {
  server.close();
  await shutdown();
});

async function settle() {
  await new Promise(r => setTimeout(r, 20));
  await telemetry.forceFlush();
}
const chat = (init = {}, body = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }) =>
  fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...(init.headers ?? {}) }, body: JSON.stringify(body) });
const bare = (...args) => globalThis.fetch[ORIGINAL](...args);
const wireSpans = () => exporter.getFinishedSpans().filter(s => s.instrumentationScope.name === '@otel-llm/node/wire');
async function parseErrors() {
  return parseProm((await telemetry.metrics.render(false)).body).filter(s => s.name === 'otel_llm_wire_parse_errors_total');
}

describe('wire layer over real HTTP', () => {
  it('global fetch is wrapped, the original kept', () => {
    assert.equal(typeof globalThis.fetch[ORIGINAL], 'function');
  });

  it('a JSON call: one priced GenAI span, parent of the HTTP span, provider request ID', async () => {
    exporter.reset();
    const text = await (await chat()).text();
    assert.equal(JSON.parse(text).id, 'chatcmpl-ok');
    await settle();
    const [span] = wireSpans();
    assert.equal(span.name, 'chat gpt-4o-mini');
    assert.equal(span.attributes['gen_ai.provider.name'], 'openai'); // loopback keeps the family
    assert.equal(span.attributes['otel_llm.provider.request_id'], 'req_provider_1');
    assert.ok(span.attributes['gen_ai.usage.cost.amount'] > 0);
    const httpSpan = exporter.getFinishedSpans().find(s => s.name === 'POST');
    assert.equal(httpSpan.parentSpanContext?.spanId ?? httpSpan.parentSpanId, span.spanContext().spanId);
  });

  it('an HTML error page: the caller gets the same status and bytes; the span is an error', async () => {
    exporter.reset();
    const res = await chat({ headers: { 'x-mode': 'html' } });
    const text = await res.text();
    const plain = await (await bare(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'x-mode': 'html' }, body: '{}' })).text();
    assert.equal(res.status, 502);
    assert.equal(text, plain);
    await settle();
    const [span] = wireSpans();
    assert.equal(span.status.code, 2);
    assert.equal(span.attributes['error.type'], '502');
  });

  it('an unparseable body: the caller gets it unchanged; the span says so; counted', async () => {
    exporter.reset();
    const before = (await parseErrors()).find(s => s.labels.reason === 'not_json')?.value ?? 0;
    const res = await chat({ headers: { 'x-mode': 'not-json' } });
    assert.equal(await res.text(), '{"id": "chatcmpl-x", "choi');
    await assert.rejects(chat({ headers: { 'x-mode': 'not-json' } }).then(r => r.json()), SyntaxError, 'the caller sees its own parse error');
    await settle();
    const [span] = wireSpans();
    assert.equal(span.attributes['otel_llm.wire.error'], 'not_json');
    assert.equal(span.attributes['otel_llm.usage.missing'], true);
    assert.equal(span.attributes['otel_llm.cost.unpriced'], true);
    const after = (await parseErrors()).find(s => s.labels.reason === 'not_json' && s.labels.format === 'openai_chat').value;
    assert.equal(after - before, 2);
  });

  it('a stream cut by the server: the caller gets the same error as without otel-llm; span truncated', async () => {
    exporter.reset();
    const body = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true };
    const readAll = async res => {
      const reader = res.body.getReader();
      for (;;) if ((await reader.read()).done) return;
    };
    const plainError = await readAll(await bare(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'x-mode': 'cut' }, body: JSON.stringify(body) })).catch(e => e);
    const wiredError = await readAll(await chat({ headers: { 'x-mode': 'cut' } }, body)).catch(e => e);
    assert.ok(plainError instanceof Error);
    assert.equal(wiredError?.constructor, plainError.constructor);
    assert.equal(wiredError?.message, plainError.message);
    await settle();
    const [span] = wireSpans();
    assert.equal(span.attributes['otel_llm.wire.error'], 'truncated');
    assert.equal(span.attributes['otel_llm.usage.estimated'], true);
    assert.equal(span.attributes['gen_ai.usage.output_tokens'], 2); // "Hello"
  });

  it('a request body that is not JSON: the call goes through unchanged, its span has no model', async () => {
    exporter.reset();
    const res = await fetch(`${base}/v1/chat/completions`, { method: 'POST', body: 'not json at all' });
    assert.equal(res.status, 200);
    await res.text();
    assert.equal(requests.at(-1).raw, 'not json at all');
    await settle();
    const [span] = wireSpans();
    assert.equal(span.name, 'chat');
  });

  it('a response whose body is never read: its span still ends once the response is collected', async () => {
    exporter.reset();
    const { setFlagsFromString } = await import('node:v8');
    const { runInNewContext } = await import('node:vm');
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc');
    await (async () => {
      const res = await chat();
      assert.equal(res.status, 200); // dropped unread
    })();
    for (let i = 0; i < 20 && wireSpans().length === 0; i++) {
      gc();
      await new Promise(r => setTimeout(r, 20));
    }
    assert.equal(wireSpans().length, 1);
    assert.equal(wireSpans()[0].attributes['otel_llm.usage.missing'], true);
  });

  it('an SDK inference span that is active is enriched, not doubled', async () => {
    exporter.reset();
    const tracer = trace.getTracer('some-llm-sdk');
    await tracer.startActiveSpan('chat gpt-4o-mini', { kind: SpanKind.CLIENT, attributes: { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai' } }, async span => {
      await (await fetch(`https://api.x.ai/v1/chat/completions`.replace('https://api.x.ai', base), { method: 'POST', body: JSON.stringify({ model: 'gpt-4o-mini', messages: [] }) })).text();
      span.end();
    });
    await settle();
    assert.equal(wireSpans().length, 0, 'no second span');
    const span = exporter.getFinishedSpans().find(s => s.instrumentationScope.name === 'some-llm-sdk');
    assert.equal(span.attributes['gen_ai.usage.input_tokens'], 10);
    assert.equal(span.attributes['gen_ai.response.id'], 'chatcmpl-ok');
    assert.ok(span.attributes['gen_ai.usage.cost.amount'] > 0);
  });

  it('an agent span around the call gets a child GenAI span (agents are not priced)', async () => {
    exporter.reset();
    const tracer = trace.getTracer('some-agent');
    await tracer.startActiveSpan('invoke_agent helper', { attributes: { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.provider.name': 'openai' } }, async span => {
      await (await chat()).text();
      span.end();
    });
    await settle();
    const [child] = wireSpans();
    const agent = exporter.getFinishedSpans().find(s => s.name === 'invoke_agent helper');
    assert.equal(child.parentSpanContext?.spanId ?? child.parentSpanId, agent.spanContext().spanId);
    assert.ok(child.attributes['gen_ai.usage.cost.amount'] > 0);
    assert.equal(agent.attributes['gen_ai.usage.input_tokens'], undefined);
  });

  it('a stream to a provider known to accept it gets include_usage, hidden from the caller', async () => {
    exporter.reset();
    const res = await chat({}, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true });
    const text = await res.text();
    assert.equal(requests.at(-1).body.stream_options?.include_usage, true);
    assert.ok(!text.includes('"usage"'), 'the usage-only chunk is hidden');
    assert.ok(text.endsWith('data: [DONE]\n\n'));
    await settle();
    const [span] = wireSpans();
    assert.equal(span.attributes['gen_ai.usage.input_tokens'], 10);
    assert.equal(span.attributes['gen_ai.request.stream'], true);
    assert.ok(span.attributes['gen_ai.response.time_to_first_chunk'] > 0);
  });
});

describe('wire layer over real HTTP: a stream read chunk by chunk', () => {
  it('events that arrive whole are handed on as they came; the usage-only one is not', async () => {
    exporter.reset();
    const res = await chat({ headers: { 'x-mode': 'paced' } }, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true });
    const reader = res.body.getReader();
    const chunks = [];
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    assert.equal(requests.at(-1).body.stream_options?.include_usage, true);
    assert.ok(!text.includes('"usage"'), 'the usage-only chunk is hidden');
    assert.ok(text.includes('héllo ✓'));
    assert.equal(text.split('\n\n').length - 1, 3, 'two chunks and [DONE], each whole');
    assert.ok(text.endsWith('data: [DONE]\n\n'));
    await settle();
    const [span] = wireSpans();
    assert.equal(span.attributes['gen_ai.usage.input_tokens'], 10);
    assert.deepEqual(span.attributes['gen_ai.response.finish_reasons'], ['stop']);
  });
});

describe('propagation: one of each header per outgoing request', () => {
  const counts = r => ['x-request-id', 'traceparent', 'baggage'].map(h => r.rawHeaders.filter((k, i) => i % 2 === 0 && k.toLowerCase() === h).length);

  it('plain fetch inside a request', async () => {
    await runWithState(newRequestState('rid-fetch-1'), async () => (await chat()).text());
    const r = requests.at(-1);
    assert.deepEqual(counts(r), [1, 1, 1]);
    assert.equal(r.headers['x-request-id'], 'rid-fetch-1');
    assert.match(r.headers.baggage, /request\.id=rid-fetch-1/);
  });

  it('an SDK that injects its own headers (@anthropic-ai/sdk) still sends one of each', async () => {
    const { Anthropic } = require('@anthropic-ai/sdk');
    const claude = new Anthropic({ baseURL: base, apiKey: 'sk-ant-test', maxRetries: 0 });
    await runWithState(newRequestState('rid-anthropic-1'), () =>
      claude.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }).catch(() => undefined),
    );
    const r = requests.at(-1);
    assert.equal(r.url, '/v1/messages');
    assert.deepEqual(counts(r), [1, 1, 1]);
    assert.equal(r.headers['x-request-id'], 'rid-anthropic-1');
  });

  it('headers an SDK set are replaced by the instrumentation\'s, not repeated (undici request)', () => {
    const inst = new SinglePropagationUndiciInstrumentation({ enabled: false });
    const headers = ['content-type', 'application/json', 'traceparent', '00-aaaa-bbbb-01', 'X-Request-ID', 'sdk', 'baggage', 'request.id=sdk'];
    const request = { method: 'POST', origin: 'http://127.0.0.1:1', path: '/v1/messages', headers, addHeader(k, v) { headers.push(k, v); } };
    const fields = propagation.fields();
    assert.ok(fields.includes('traceparent'));
    inst.setConfig({ enabled: true });
    runWithState(newRequestState('rid-undici'), () => inst.onRequestCreated({ request }));
    const names = headers.filter((_, i) => i % 2 === 0).map(h => h.toLowerCase());
    assert.equal(names.filter(n => n === 'traceparent').length, 1);
    assert.equal(names.filter(n => n === 'x-request-id').length, 1);
    assert.equal(headers[headers.map(h => String(h).toLowerCase()).indexOf('x-request-id') + 1], 'rid-undici');
    assert.equal(names.filter(n => n === 'baggage').length, 1);
    assert.equal(names.filter(n => n === 'content-type').length, 1);
  });
});

describe('client versions', () => {
  it('an unsupported client version is reported at start-up, a supported one is not', () => {
    const dir = mkdtempSync(join(tmpdir(), 'otel-llm-versions-'));
    for (const [name, version] of [['openai', '4.18.0'], ['@google/genai', '3.3.0']]) {
      mkdirSync(join(dir, 'node_modules', name), { recursive: true });
      writeFileSync(join(dir, 'node_modules', name, 'package.json'), JSON.stringify({ name, version }));
    }
    const lines = unsupportedClients(dir);
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(lines[0], /openai 4\.18\.0 is not supported \(supported: >= 4\.19\.0\)/);
  });
});
