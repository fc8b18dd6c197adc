// The shared vectors (spec/vectors/*.json): the Node package must pass every case.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ROOT_CONTEXT } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import {
  isValidRequestId,
  redactText,
  isSecretKey,
  isContentKey,
  LlmMetrics,
  LlmSpanProcessor,
  PriceBook,
  bundledReady,
  newRequestState,
  REQUEST_ID_PATTERN,
} from '@otel-llm/node';
import { contextWithStateForTests } from './internal.mjs';
import { close, loadVectors, parseProm } from './helpers.mjs';

describe('request_id.json', () => {
  const { cases } = loadVectors('request_id.json');
  it('has cases', () => assert.ok(cases.length > 10));
  it('pattern is the documented one', () => {
    assert.equal(REQUEST_ID_PATTERN.source, '^[A-Za-z0-9._~:@/+=-]{1,128}$');
  });
  for (const c of cases) {
    it(c.name, () => assert.equal(isValidRequestId(c.input), c.valid, JSON.stringify(c.input)));
  }
});

describe('redaction.json', () => {
  const { cases, key_cases: keyCases = [] } = loadVectors('redaction.json');
  for (const c of cases) {
    it(c.name, () => assert.equal(redactText(c.input), c.expected));
  }
  for (const k of keyCases) {
    it(`key ${k.key}`, () => {
      assert.equal(isSecretKey(k.key), k.secret, 'secret');
      assert.equal(isContentKey(k.key), k.content, 'content');
    });
  }
});

const KINDS = {
  client: SpanKind.CLIENT,
  server: SpanKind.SERVER,
  internal: SpanKind.INTERNAL,
  producer: SpanKind.PRODUCER,
  consumer: SpanKind.CONSUMER,
};

describe('genai_spans.json', async () => {
  await bundledReady;
  const { settings, cases } = loadVectors('genai_spans.json');
  const prices = PriceBook.load();
  for (const c of cases) {
    it(c.name, async () => {
      const metrics = new LlmMetrics({ attributionLabels: settings.attribution_labels });
      const processor = new LlmSpanProcessor({
        metrics,
        prices,
        attributionLimit: settings.attribution_limit,
        userHashKey: settings.user_hash_key,
      });
      const exporter = new InMemorySpanExporter();
      const provider = new BasicTracerProvider({
        spanProcessors: [processor, new SimpleSpanProcessor(exporter)],
      });
      const tracer = provider.getTracer('vectors');
      let ctx = ROOT_CONTEXT;
      if (c.request) {
        const state = newRequestState(c.request.request_id);
        Object.assign(state.attribution, c.request.attribution ?? {});
        ctx = contextWithStateForTests(state, ROOT_CONTEXT);
      }
      const start = Date.parse(c.span.start_time);
      const span = tracer.startSpan(
        c.span.name,
        { kind: KINDS[c.span.kind], attributes: c.span.attributes, startTime: new Date(start) },
        ctx,
      );
      if (c.span.status === 'error') span.setStatus({ code: SpanStatusCode.ERROR });
      span.end(new Date(start + c.span.duration_s * 1000));
      const [exported] = exporter.getFinishedSpans();
      assert.ok(exported, 'span exported');

      // attributes added by the processor: exactly the expected keys
      const added = {};
      for (const [k, v] of Object.entries(exported.attributes)) {
        if (!(k in c.span.attributes)) added[k] = v;
      }
      const expected = c.expected.span_attributes;
      assert.deepEqual(Object.keys(added).sort(), Object.keys(expected).sort(), 'added attribute keys');
      for (const [k, v] of Object.entries(expected)) {
        if (k === 'gen_ai.usage.cost.amount') assert.ok(Math.abs(added[k] - v) <= 1e-9, `${k}: ${added[k]} vs ${v}`);
        else assert.deepEqual(added[k], v, k);
      }
      const amount = exported.attributes['gen_ai.usage.cost.amount'];
      assert.equal(amount === undefined ? null : Math.round(amount * 1e6), c.expected.cost_micro_usd, 'cost_micro_usd');
      assert.equal(exported.attributes['otel_llm.cost.unpriced'] === true, c.expected.unpriced, 'unpriced');

      // metrics: every _count/_sum/_total sample, nothing else
      const { body } = await metrics.render(false);
      const samples = parseProm(body).filter(s => /_(count|sum|total)$/.test(s.name));
      const key = s => `${s.name}${JSON.stringify(Object.entries(s.labels).sort())}`;
      const got = new Map(samples.map(s => [key(s), s.value]));
      const want = new Map(c.expected.metrics.map(m => [key(m), m.value]));
      assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort(), 'metric series');
      for (const [k, v] of want) assert.ok(close(got.get(k), v), `${k}: ${got.get(k)} vs ${v}`);
      await provider.shutdown();
    });
  }
});
