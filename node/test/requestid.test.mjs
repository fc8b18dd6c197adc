// X-Request-ID: middleware for Express, Fastify and node:http, the zero-code edge hook,
// propagation to outgoing fetch/http calls, and request.id on every span.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { register, shutdown, requestIdMiddleware, fastifyRequestId, withRequestId, currentRequestId, setAttribution } from '@otel-llm/node';

const require = createRequire(import.meta.url);
const UUID4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const exporter = new InMemorySpanExporter();
let telemetry;
let express;
let Fastify;
let downstream;
const seen = [];

function listen(server) {
  return new Promise(r => server.listen(0, '127.0.0.1', () => r(server.address().port)));
}

/** GET with raw headers (node's client lets through spaces, quotes, long values). */
function get(port, path, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers, agent: false }, res => {
      let body = '';
      res.on('data', c => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A raw request line, for values node's client refuses (CR/LF injection). */
function raw(port, headerLines) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => {
      sock.write(`GET /id HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${headerLines}\r\n\r\n`);
    });
    let data = '';
    sock.on('data', c => (data += c));
    sock.on('end', () => resolve(data));
    sock.on('error', reject);
  });
}

async function settle() {
  await new Promise(r => setTimeout(r, 20));
  await telemetry.forceFlush();
}

/** Spans of the served request: the test's own client call (a root CLIENT span) left out. */
function servedSpans() {
  return exporter.getFinishedSpans().filter(s => !(s.kind === 2 && !s.parentSpanContext));
}

before(async () => {
  telemetry = register({ spanExporter: exporter, simpleExport: true, serviceName: 'rid-test' });
  express = require('express');
  Fastify = require('fastify');
  downstream = http.createServer((req, res) => {
    seen.push({ headers: req.headers, requestId: currentRequestId() });
    res.end('ok');
  });
  downstream.port = await listen(downstream);
});
after(async () => {
  downstream.close();
  await shutdown();
});

const HOSTILE = {
  space: 'abc def',
  quote: 'abc"def',
  comma: 'a,b',
  semicolon: 'a;b',
  html: '<script>alert(1)</script>',
  percent: 'abc%0d%0a',
  long: 'a'.repeat(129),
  nonAscii: 'caf\u00e9',
};

function checkHostile(port) {
  return async () => {
    for (const [name, value] of Object.entries(HOSTILE)) {
      const headers = { 'X-Request-ID': name === 'nonAscii' ? Buffer.from(value).toString('latin1') : value };
      const res = await get(port, '/id', headers);
      const echoed = res.headers['x-request-id'];
      assert.match(echoed, UUID4, `${name}: minted`);
      assert.notEqual(echoed, value, `${name}: not reflected`);
      assert.equal(JSON.parse(res.body).id, echoed, `${name}: in context`);
    }
    const tab = await raw(port, 'X-Request-ID: a\tb');
    assert.doesNotMatch(tab, /x-request-id: a\tb/i, 'a control character is not reflected');
    assert.match(tab, /x-request-id: [0-9a-f-]{36}\r\n/i);
    const dup = await raw(port, 'X-Request-ID: first-id\r\nX-Request-ID: second-id');
    assert.match(dup, /x-request-id: first-id\r\n/i, 'the first header decides');
  };
}

describe('Express middleware', () => {
  let server;
  let port;
  before(async () => {
    const app = express();
    app.use(requestIdMiddleware());
    app.get('/id', (req, res) => res.json({ id: currentRequestId(), own: req.requestId }));
    app.get('/call', async (req, res) => {
      setAttribution({ tenant: 'acme' });
      await fetch(`http://127.0.0.1:${downstream.port}/fetch`);
      await get(downstream.port, '/http');
      res.json({ id: currentRequestId() });
    });
    server = http.createServer(app);
    port = await listen(server);
  });
  after(() => server.close());

  it('keeps a valid incoming ID and echoes it', async () => {
    const res = await get(port, '/id', { 'X-Request-ID': 'req_01HZX-abc.def:42' });
    assert.equal(res.headers['x-request-id'], 'req_01HZX-abc.def:42');
    assert.deepEqual(JSON.parse(res.body), { id: 'req_01HZX-abc.def:42', own: 'req_01HZX-abc.def:42' });
  });

  it('mints a UUID4 when there is none', async () => {
    const res = await get(port, '/id');
    assert.match(res.headers['x-request-id'], UUID4);
  });

  it('propagates the ID on fetch and http calls (header and baggage) and stamps every span', async () => {
    await settle();
    exporter.reset();
    seen.length = 0;
    const res = await get(port, '/call', { 'X-Request-ID': 'rid-propagate-1' });
    assert.equal(res.status, 200);
    assert.equal(seen.length, 2);
    for (const s of seen) {
      assert.equal(s.headers['x-request-id'], 'rid-propagate-1');
      assert.match(s.headers.baggage, /(^|,)\s*request\.id=rid-propagate-1(,|;|$)/);
      assert.match(s.headers.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      assert.equal(s.requestId, 'rid-propagate-1', 'downstream sees it in context');
    }
    await settle();
    const spans = servedSpans();
    const traceIds = new Set(spans.map(s => s.spanContext().traceId));
    assert.equal(traceIds.size, 1, `one trace: ${spans.map(s => `${s.name} ${s.spanContext().traceId} ${s.parentSpanContext?.spanId}`).join('\n')}`);
    assert.ok(spans.length >= 5, `server, middleware, clients, downstream: ${spans.map(s => s.name)}`);
    for (const s of spans) assert.equal(s.attributes['request.id'], 'rid-propagate-1', `${s.name} has request.id`);
    const fetchSpan = spans.find(s => s.instrumentationScope.name.includes('undici'));
    assert.ok(fetchSpan, 'a fetch client span');
    assert.equal(fetchSpan.attributes['otel_llm.tenant'], 'acme', 'attribution stamped after setAttribution');
  });
});

// the propagation case above reuses the Express port; the hostile check needs its own port
describe('Express hostile IDs', () => {
  let server;
  let port;
  before(async () => {
    const app = express();
    app.use(requestIdMiddleware());
    app.get('/id', (req, res) => res.json({ id: currentRequestId() }));
    server = http.createServer(app);
    port = await listen(server);
  });
  after(() => server.close());
  it('never reflects a hostile value', async () => checkHostile(port)());
});

describe('Fastify plugin', () => {
  let app;
  let port;
  before(async () => {
    app = Fastify();
    await app.register(fastifyRequestId);
    app.get('/id', async req => ({ id: currentRequestId(), own: req.requestId }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = app.server.address().port;
  });
  after(() => app.close());

  it('keeps a valid ID, echoes it, puts it in context', async () => {
    const res = await get(port, '/id', { 'X-Request-ID': 'fastify-1' });
    assert.equal(res.headers['x-request-id'], 'fastify-1');
    assert.deepEqual(JSON.parse(res.body), { id: 'fastify-1', own: 'fastify-1' });
  });
  it('never reflects a hostile value', async () => checkHostile(port)());
  it('fastify spans carry request.id', async () => {
    await settle();
    exporter.reset();
    await get(port, '/id', { 'X-Request-ID': 'fastify-2' });
    await settle();
    const spans = servedSpans();
    assert.ok(spans.some(s => s.instrumentationScope.name.includes('fastify')), spans.map(s => s.instrumentationScope.name).join());
    for (const s of spans) assert.equal(s.attributes['request.id'], 'fastify-2', s.name);
  });
});

describe('node:http', () => {
  it('withRequestId wraps a listener', async () => {
    const server = http.createServer(withRequestId((req, res) => res.end(JSON.stringify({ id: currentRequestId() }))));
    const port = await listen(server);
    try {
      const res = await get(port, '/id', { 'X-Request-ID': 'plain-1' });
      assert.equal(res.headers['x-request-id'], 'plain-1');
      assert.equal(JSON.parse(res.body).id, 'plain-1');
      await checkHostile(port)();
    } finally {
      server.close();
    }
  });

  it('zero code: the edge hook and propagator work without any middleware', async () => {
    const server = http.createServer((req, res) => res.end(JSON.stringify({ id: currentRequestId() })));
    const port = await listen(server);
    try {
      await settle();
    exporter.reset();
      const res = await get(port, '/id', { 'X-Request-ID': 'edge-1' });
      assert.equal(res.headers['x-request-id'], 'edge-1');
      assert.equal(JSON.parse(res.body).id, 'edge-1');
      await checkHostile(port)();
      await settle();
      const serverSpans = exporter.getFinishedSpans().filter(s => s.kind === 1);
      assert.ok(serverSpans.length > 0);
      for (const s of serverSpans) assert.ok(s.attributes['request.id'], 'server span stamped');
    } finally {
      server.close();
    }
  });

  it('an upstream baggage request.id is overridden by the validated header', async () => {
    seen.length = 0;
    const server = http.createServer(async (req, res) => {
      await fetch(`http://127.0.0.1:${downstream.port}/x`);
      res.end();
    });
    const port = await listen(server);
    try {
      await get(port, '/', { 'X-Request-ID': 'hdr-1', baggage: 'request.id=other,k=v' });
      assert.equal(seen[0].headers['x-request-id'], 'hdr-1');
      assert.match(seen[0].headers.baggage, /request\.id=hdr-1/);
      assert.match(seen[0].headers.baggage, /k=v/, 'other baggage entries kept');
    } finally {
      server.close();
    }
  });
});
