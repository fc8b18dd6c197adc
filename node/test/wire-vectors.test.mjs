// The shared wire vectors (spec/vectors/wire/*.json, the same files the Python suite
// reads): each case's request goes through the wire layer's fetch, answered with the
// case's response in 7-byte chunks; the caller must read exactly those bytes, and the one
// GenAI span must carry the expected attributes (names and values), cost and status.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import {
  LlmMetrics,
  LlmSpanProcessor,
  PriceBook,
  ProviderResolver,
  WireLayer,
  bundledReady,
  parseProviderHosts,
  priceId,
} from '@otel-llm/node';
import { calcPrice } from '@pydantic/genai-prices';
import { VECTORS_DIR, parseProm } from './helpers.mjs';

const WIRE_DIR = `${VECTORS_DIR}wire/`;
const CASES = readdirSync(WIRE_DIR)
  .filter(f => f.endsWith('.json'))
  .sort()
  .map(f => ({ file: f, ...JSON.parse(readFileSync(WIRE_DIR + f, 'utf8')) }));

export function responseBytes(spec) {
  let text;
  if ('body' in spec) text = pyJson(spec.body);
  else if ('sse' in spec) text = spec.sse.map(e => `${e}\n\n`).join('') + (spec.sse_tail ?? '');
  else text = String(spec.body_text ?? '');
  return new TextEncoder().encode(text);
}

/** json.dumps() with Python's default separators (", " and ": "), for identical bytes. */
function pyJson(value) {
  if (Array.isArray(value)) return `[${value.map(pyJson).join(', ')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${pyJson(v)}`).join(', ')}}`;
  }
  return JSON.stringify(value);
}

/**
 * Where @pydantic/genai-prices 0.1.8 (the newest on npm) bundles an older price than
 * genai-prices 0.2.3 (PyPI), the figure is held to the npm data's own calcPrice instead;
 * every other attribute is still compared exactly.
 */
const PRICE_DATA_DIFFERS = {
  'mistral_chat_json.json': 'mistral-small-latest: 0.1/0.3 USD per MTok in the npm data, 0.15/0.6 in the PyPI data',
};

/** genai-prices' own price (the npm data) of the span's usage at `when`. */
function reference(attrs, when) {
  const model = attrs['gen_ai.response.model'] ?? attrs['gen_ai.request.model'];
  const usage = {
    input_tokens: attrs['gen_ai.usage.input_tokens'],
    output_tokens: attrs['gen_ai.usage.output_tokens'],
    cache_read_tokens: attrs['gen_ai.usage.cache_read.input_tokens'],
  };
  const price = calcPrice(usage, model, { providerId: priceId(attrs['gen_ai.provider.name']), timestamp: when });
  return price ? price.total_price : undefined;
}

/**
 * The vector's cost_usd holds at its priced_at; a span is priced at its own start, so
 * where genai-prices prices the usage differently then (a time-of-day or a dated price),
 * the vector's figure is checked at its instant and the span's against genai-prices at
 * the span's start.
 */
function expectedCost(expect, attrs, span) {
  if (!expect.priced_at) return expect.cost_usd;
  const atVector = reference(attrs, new Date(expect.priced_at));
  const atSpan = reference(attrs, new Date(span.startTime[0] * 1000 + span.startTime[1] / 1e6));
  if (atVector === undefined || atSpan === undefined || same(atSpan, atVector)) return expect.cost_usd;
  assert.ok(same(atVector, expect.cost_usd), `the vector's cost at ${expect.priced_at}: ${atVector} != ${expect.cost_usd}`);
  return atSpan;
}

function same(actual, expected) {
  if (typeof expected === 'number' && !Number.isInteger(expected)) {
    return typeof actual === 'number' && Math.abs(actual - expected) <= Math.max(1e-12, 1e-9 * Math.abs(expected));
  }
  return JSON.stringify(actual) === JSON.stringify(expected);
}

async function runCase(c, prices, read = 'whole') {
  const metrics = new LlmMetrics({ attributionLabels: [] });
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    spanProcessors: [new LlmSpanProcessor({ metrics, prices, attributionLimit: 100 }), new SimpleSpanProcessor(exporter)],
  });
  const body = responseBytes(c.response);
  const served = async () => {
    let i = 0;
    const stream = new ReadableStream({
      pull(controller) {
        if (i >= body.length) return controller.close();
        controller.enqueue(body.slice(i, i + 7));
        i += 7;
      },
    });
    // another layer's Response subclass gets the same watching as undici's own
    const Class = read === 'text-subclass' ? class OtherResponse extends Response {} : Response;
    return new Class(stream, { status: c.response.status, headers: c.response.headers });
  };
  const layer = new WireLayer({
    resolver: new ProviderResolver(parseProviderHosts(c.env?.OTEL_LLM_PROVIDER_HOSTS)),
    tracer: provider.getTracer('wire-vectors'),
    onFailure: (format, reason) => metrics.wireParseErrors.inc({ format, reason }),
  });
  const fetch = layer.wrap(served);
  const res = await fetch(c.request.url, {
    method: c.request.method,
    headers: c.request.headers,
    body: JSON.stringify(c.request.body),
  });
  let got;
  if (read === 'whole') got = new Uint8Array(await res.arrayBuffer());
  else if (read === 'text-subclass') {
    assert.equal(res.constructor.name, 'OtherResponse');
    got = new TextEncoder().encode(await res.text());
  } else {
    // the caller reads the body as a stream, as the SDKs do for SSE
    const parts = [];
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(...value);
    }
    got = new Uint8Array(parts);
  }
  await provider.forceFlush();
  const spans = exporter.getFinishedSpans();
  await provider.shutdown();
  return { got, body, spans, res, metrics };
}

describe('wire vectors (spec/vectors/wire)', async () => {
  await bundledReady;
  const prices = PriceBook.load();
  it('has the shared cases', () => assert.ok(CASES.length >= 25, `${CASES.length} cases`));
  const READS = { whole: 'read at once', stream: 'read as a stream', 'text-subclass': 'text() of a Response subclass' };
  for (const c of CASES) for (const read of Object.keys(READS)) {
    it(`${c.file} (${READS[read]}): ${c.description}`, async () => {
      const { got, body, spans, res } = await runCase(c, prices, read);
      assert.deepEqual(Buffer.from(got), Buffer.from(body), "the caller's bytes are unchanged");
      assert.equal(res.status, c.response.status);
      assert.equal(spans.length, 1, spans.map(s => s.name).join(', '));
      const [span] = spans;
      const expect = c.expect;
      assert.equal(span.name, expect.span_name);
      assert.equal(span.kind, SpanKind.CLIENT);
      const attrs = span.attributes;
      for (const [key, value] of Object.entries(expect.attributes)) {
        assert.ok(key in attrs, `${key} missing; span has ${Object.keys(attrs).sort().join(', ')}`);
        assert.ok(same(attrs[key], value), `${key}: ${JSON.stringify(attrs[key])} != ${JSON.stringify(value)}`);
      }
      for (const key of expect.absent ?? []) assert.ok(!(key in attrs), `${key} should be absent, is ${JSON.stringify(attrs[key])}`);
      if (expect.cost_usd === null) assert.equal(attrs['gen_ai.usage.cost.amount'], undefined);
      else if (PRICE_DATA_DIFFERS[c.file]) {
        const model = attrs['gen_ai.response.model'] ?? attrs['gen_ai.request.model'];
        const ref = calcPrice(
          { input_tokens: attrs['gen_ai.usage.input_tokens'], output_tokens: attrs['gen_ai.usage.output_tokens'] },
          model,
          { providerId: priceId(attrs['gen_ai.provider.name']) },
        );
        assert.ok(ref && Math.abs(ref.total_price - expect.cost_usd) > 1e-9, `the npm data now agrees: drop ${c.file} from PRICE_DATA_DIFFERS`);
        assert.ok(same(attrs['gen_ai.usage.cost.amount'], ref.total_price), `cost ${attrs['gen_ai.usage.cost.amount']} != ${ref.total_price}`);
      } else {
        const cost = expectedCost(expect, attrs, span);
        assert.ok(same(attrs['gen_ai.usage.cost.amount'], cost), `cost ${attrs['gen_ai.usage.cost.amount']} != ${cost}`);
        assert.equal(attrs['gen_ai.usage.cost.source'], expect.cost_source);
      }
      if (expect.status === 'error') assert.equal(span.status.code, SpanStatusCode.ERROR);
      else assert.notEqual(span.status.code, SpanStatusCode.ERROR);
    });
  }

  it('a body that cannot be read is counted by format and reason', async () => {
    const c = CASES.find(x => x.file === 'bad_truncated_json.json');
    const { metrics } = await runCase(c, prices);
    const samples = parseProm((await metrics.render(false)).body);
    const s = samples.find(x => x.name === 'otel_llm_wire_parse_errors_total' && x.labels.format === 'openai_chat');
    assert.equal(s?.labels.reason, 'not_json');
    assert.equal(s?.value, 1);
  });

  it('other routes and methods pass untouched, with no span', async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const layer = new WireLayer({ resolver: new ProviderResolver(), tracer: provider.getTracer('t') });
    let calls = 0;
    const fetch = layer.wrap(async () => {
      calls++;
      return new Response('{}', { headers: { 'content-type': 'application/json' } });
    });
    await (await fetch('https://api.openai.com/v1/files', { method: 'POST', body: '{}' })).text();
    await (await fetch('https://api.openai.com/v1/chat/completions')).text();
    assert.equal(calls, 2);
    assert.equal(exporter.getFinishedSpans().length, 0);
  });
});

describe('SSE reader', async () => {
  const { SseReader } = await import('../dist/esm/wire/sse.js');
  const text = 'event: a\r\ndata: {"x":1}\r\n\r\n: comment\ndata: 2\ndata: 3\r\rdata: tail';
  for (const size of [1, 2, 5, 1000]) {
    it(`CRLF, CR and LF line ends, comments, multi-line data, a cut tail (pieces of ${size})`, () => {
      const r = new SseReader();
      const bytes = new TextEncoder().encode(text);
      const events = [];
      for (let i = 0; i < bytes.length; i += size) events.push(...r.push(bytes.slice(i, i + size)));
      events.push(...r.end());
      assert.deepEqual(events, [{ event: 'a', data: '{"x":1}' }, { event: undefined, data: '2\n3' }, { event: undefined, data: 'tail' }]);
      assert.equal(r.partial, true);
    });
  }
  it('an event over the bound is skipped and counted, the next one read', () => {
    const r = new SseReader(16);
    const events = r.push(new TextEncoder().encode(`data: ${'x'.repeat(40)}\n\ndata: ok\n\n`));
    assert.deepEqual(events, [{ event: undefined, data: 'ok' }]);
    assert.equal(r.oversized, 1);
  });
});

describe('usage extraction', () => {
  it("the compiled extractors read what genai-prices' extractUsage reads, for every provider and flavor", async () => {
    const { extractTokensForTests: fast, libraryExtractForTests: library } = await import('./internal.mjs');
    const providers = await bundledReady;
    // usage objects of the vectors' responses and stream events, and shapes that must fall back
    const usages = [];
    const collect = v => {
      if (!v || typeof v !== 'object') return;
      for (const [k, x] of Object.entries(v)) {
        if ((k === 'usage' || k === 'usageMetadata' || k === 'meta' || k === 'billed_units') && x && typeof x === 'object') usages.push(x);
        collect(x);
      }
    };
    for (const c of CASES) {
      collect(c.response?.body);
      for (const e of c.response?.sse ?? []) {
        const data = e.split('\n').find(l => l.startsWith('data:'))?.slice(5).trim();
        try {
          collect(JSON.parse(data));
        } catch {
          // [DONE] and the like
        }
      }
    }
    usages.push(
      {},
      { prompt_tokens: 0, completion_tokens: 0 },
      { prompt_tokens: -1, completion_tokens: 3 },
      { prompt_tokens: 5, completion_tokens: '3' },
      { prompt_tokens: 5, completion_tokens: Infinity },
      { input_tokens: 7, output_tokens: 2, cache_read_input_tokens: 3, cache_creation_input_tokens: 1 },
      { input_tokens: 7, output_tokens: null },
      { promptTokenCount: 9, candidatesTokenCount: 4, thoughtsTokenCount: 2, cachedContentTokenCount: 1 },
      { prompt_tokens: 4, completion_tokens: 2, prompt_tokens_details: null, completion_tokens_details: { reasoning_tokens: 1 } },
      { prompt_tokens: 4, completion_tokens: 2, prompt_tokens_details: [1], completion_tokens_details: 'x' },
    );
    assert.ok(usages.length > 20, `${usages.length} usage objects`);
    let compared = 0;
    for (const provider of providers) {
      for (const ex of provider.extractors ?? []) {
        const root = Array.isArray(ex.root) ? ex.root : [ex.root];
        for (const usage of usages) {
          let container = usage;
          for (const step of [...root].reverse()) container = { [typeof step === 'string' ? step : 'x']: container };
          for (const bare of [container, { usage }, [usage], null]) {
            const want = JSON.stringify(library(provider, ex.api_flavor, bare));
            // twice: the first call of each extractor goes through extractUsage itself
            fast(provider, ex.api_flavor, bare);
            assert.equal(JSON.stringify(fast(provider, ex.api_flavor, bare)), want, `${provider.id} ${ex.api_flavor} ${JSON.stringify(bare)}`);
            compared++;
          }
        }
      }
    }
    assert.ok(compared > 1000, `${compared} comparisons`);
  });
});
