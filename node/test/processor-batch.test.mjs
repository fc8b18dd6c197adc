// The span processor records its metric observations in batches (LlmSpanProcessor.drain):
// what a scrape shows must equal what recording span by span shows, and no read may miss a
// span. Also: the usage details written attribute by attribute equal the record form.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { LlmMetrics, LlmSpanProcessor, PriceBook, bundledReady, semconv } from '@otel-llm/node';
import { setUsageDetailsForTests, usageDetailsForTests } from './internal.mjs';

const SCOPE = '@opentelemetry/instrumentation-openai';

/** LlmMetrics seen without its read hook: the processor then records span by span. */
function withoutReadHook(metrics) {
  return new Proxy(metrics, { get: (target, key) => (key === 'onCollect' ? undefined : Reflect.get(target, key)) });
}

/** An exporter that has the processor finish its held spans first (as register()'s does). */
class DrainingExporter extends InMemorySpanExporter {
  constructor(processor) {
    super();
    this.processor = processor;
  }
  export(spans, done) {
    this.processor.drain();
    super.export(spans, done);
  }
}

/** `n` spans of several kinds: models, errors, unpriced, streams, unsampled, attribution. */
function feed(processor, n, spanLimits, draining = true) {
  const exporter = draining ? new DrainingExporter(processor) : new InMemorySpanExporter();
  // spans marked test.record_only are recorded, not sampled: their calls leave no exemplar
  const sampler = { shouldSample: (_c, _t, _n, _k, attrs) => ({ decision: attrs['test.record_only'] ? 1 : 2 }), toString: () => 'test' };
  const provider = new BasicTracerProvider({ sampler, spanLimits, spanProcessors: [processor, new SimpleSpanProcessor(exporter)] });
  const tracer = provider.getTracer(SCOPE);
  for (let i = 0; i < n; i++) {
    const model = ['gpt-4o-mini', 'gpt-4o', 'no-such-model'][i % 3];
    const attributes = {
      'gen_ai.operation.name': i % 11 === 5 ? 'embeddings' : 'chat',
      'gen_ai.system': 'openai',
      'gen_ai.request.model': model,
      'gen_ai.response.model': model,
      'gen_ai.usage.input_tokens': 100 + i,
      'gen_ai.usage.output_tokens': 10 + (i % 7),
      'user.id': `user-${i % 4}`,
    };
    if (i % 2) attributes['gen_ai.usage.cache_read.input_tokens'] = 64;
    if (i % 3 === 1) attributes['gen_ai.response.time_to_first_chunk'] = 0.01 * (i % 5);
    if (i % 13 === 0) delete attributes['gen_ai.usage.input_tokens'];
    if (i % 4 === 3) attributes['test.record_only'] = true;
    const start = Date.UTC(2026, 0, 1) + i * 1000;
    const span = tracer.startSpan(`chat ${model}`, { kind: SpanKind.CLIENT, attributes, startTime: new Date(start) });
    if (i % 9 === 4) {
      span.setAttribute('error.type', 'RateLimitError');
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end(new Date(start + 40 + (i % 6) * 150));
  }
  return exporter.getFinishedSpans().map(span => ({ attributes: { ...span.attributes }, dropped: span.droppedAttributesCount }));
}

/** The exposition with exemplar timestamps and trace/span IDs (random per run) masked. */
async function render(metrics) {
  const body = (await metrics.render(true)).body;
  return body.replace(/trace_id="[0-9a-f]{32}",span_id="[0-9a-f]{16}"/g, 'IDS').replace(/(# \{[^}]*\} \S+) \S+$/gm, '$1 T');
}

describe('span processor: observations recorded in batches', async () => {
  await bundledReady;
  const prices = PriceBook.load();

  for (const n of [1, 63, 64, 65, 200]) {
    it(`${n} spans: the same exposition as span by span, spans the same`, async () => {
      const batched = new LlmMetrics({ attributionLabels: ['user'] });
      const single = new LlmMetrics({ attributionLabels: ['user'] });
      const a = feed(new LlmSpanProcessor({ metrics: batched, prices }), n);
      const b = feed(new LlmSpanProcessor({ metrics: withoutReadHook(single), prices }), n);
      assert.deepEqual(a, b);
      const want = await render(single);
      assert.match(want, /gen_ai_client_cost_usd_total\{/);
      assert.equal(await render(batched), want);
    });

    for (const spanLimits of [undefined, { attributeCountLimit: 10, attributeValueLengthLimit: 4 }]) {
      it(`${n} spans finished after they ended (beforeExport${spanLimits ? ', tight span limits' : ''}): the same spans and exposition as in onEnding`, async () => {
        const held = new LlmMetrics({ attributionLabels: ['user'] });
        const single = new LlmMetrics({ attributionLabels: ['user'] });
        const a = feed(new LlmSpanProcessor({ metrics: held, prices, beforeExport: true }), n, spanLimits);
        const b = feed(new LlmSpanProcessor({ metrics: withoutReadHook(single), prices }), n, spanLimits);
        assert.deepEqual(a, b);
        if (spanLimits) assert.ok(n === 1 || a.some(s => s.dropped > 0), 'the limit dropped attributes');
        else assert.ok(a.some(s => s.attributes['gen_ai.usage.cost.amount'] > 0));
        assert.equal(await render(held), await render(single));
      });
    }
  }

  it('the SDK span flag a held span is finished through (sdk-trace 2.x `_ended`)', () => {
    let seen;
    const processor = { onStart() {}, onEnding: span => (seen = span._ended), onEnd() {}, forceFlush: async () => {}, shutdown: async () => {} };
    const span = new BasicTracerProvider({ spanProcessors: [processor] }).getTracer('t').startSpan('s');
    assert.equal(span._ended, false);
    span.end();
    assert.equal(seen, false, 'still open in onEnding');
    assert.equal(span._ended, true);
    span.setAttribute('after', 1);
    assert.equal(span.attributes.after, undefined);
  });

  it('a held span without the flag is finished in onEnding', async () => {
    const metrics = new LlmMetrics();
    const processor = new LlmSpanProcessor({ metrics, prices, beforeExport: true });
    const attributes = { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-4o-mini', 'gen_ai.usage.input_tokens': 10, 'gen_ai.usage.output_tokens': 5 };
    const span = {
      name: 'chat gpt-4o-mini', attributes, status: { code: 0 }, duration: [0, 5e6], startTime: [1767225600, 0], endTime: [1767225600, 5e6],
      instrumentationScope: { name: SCOPE },
      setAttribute(k, v) { attributes[k] = v; },
      spanContext: () => ({ traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceFlags: 1 }),
    };
    processor.onEnding(span);
    assert.ok(attributes['gen_ai.usage.cost.amount'] > 0, 'priced at once');
    processor.onEnd(span);
    assert.match((await metrics.render(false)).body, /gen_ai_client_operation_duration_seconds_count\{[^}]*\} 1/);
  });

  it('any read of a contract metric sees every ended span (prom-client get, registry text)', async () => {
    const metrics = new LlmMetrics();
    const processor = new LlmSpanProcessor({ metrics, prices });
    feed(processor, 5);
    const count = async () => (await metrics.registry.getSingleMetric(semconv.METRIC_DURATION).get()).values.find(v => v.metricName.endsWith('_count') && v.labels.gen_ai_request_model === 'gpt-4o-mini').value;
    assert.equal(await count(), 2);
    feed(processor, 5);
    assert.match(await metrics.registry.metrics(), /gen_ai_client_operation_duration_seconds_count\{[^}]*gen_ai_request_model="gpt-4o-mini"[^}]*\} 4/);
    await processor.shutdown();
  });

  it('held observations are recorded at flush and shutdown, and after a while without a read', async () => {
    const metrics = new LlmMetrics();
    const processor = new LlmSpanProcessor({ metrics, prices });
    const countOf = () => metrics.duration.hashMap ? Object.values(metrics.duration.hashMap).reduce((n, e) => n + e.count, 0) : 0;
    feed(processor, 3, undefined, false);
    assert.equal(countOf(), 0, 'held, not recorded yet');
    await processor.forceFlush();
    assert.equal(countOf(), 3);
    feed(processor, 2, undefined, false);
    await new Promise(r => setTimeout(r, 1100));
    assert.equal(countOf(), 5, 'recorded by the timer');
    feed(processor, 1, undefined, false);
    await processor.shutdown();
    assert.equal(countOf(), 6);
  });

  it('an exemplar keeps the time its span ended, not the time of the batch', async () => {
    const metrics = new LlmMetrics();
    const processor = new LlmSpanProcessor({ metrics, prices });
    const before = Date.now() / 1000;
    feed(processor, 3);
    const after = Date.now() / 1000;
    await new Promise(r => setTimeout(r, 300));
    const body = (await metrics.render(true)).body;
    const stamps = [...body.matchAll(/ # \{trace_id="[0-9a-f]+",span_id="[0-9a-f]+"\} \S+ (\S+)$/gm)].map(m => Number(m[1]));
    assert.ok(stamps.length > 0);
    for (const t of stamps) assert.ok(t >= before - 0.001 && t <= after + 0.001, `${t} within [${before}, ${after}]`);
    await processor.shutdown();
  });
});

describe('usage details written attribute by attribute', () => {
  const shapes = [
    undefined,
    null,
    {},
    { prompt_tokens: 1200, completion_tokens: 340, prompt_tokens_details: { cached_tokens: 1024 }, completion_tokens_details: { reasoning_tokens: 120 } },
    { prompt_tokens: 5, completion_tokens: 0, prompt_tokens_details: { cached_tokens: 0, audio_tokens: 3 }, completion_tokens_details: { audio_tokens: 2, accepted_prediction_tokens: 4, rejected_prediction_tokens: 1 } },
    { input_tokens: 7, output_tokens: 9, input_tokens_details: { cached_tokens: 2, image_tokens: 5 }, output_tokens_details: { reasoning_tokens: 3 } },
    { prompt_tokens: -1, completion_tokens: Number.NaN, prompt_tokens_details: null },
  ];
  for (const [i, usage] of shapes.entries()) {
    it(`shape ${i}: the same attributes in the same order as the record`, () => {
      const calls = [];
      setUsageDetailsForTests({ setAttribute: (k, v) => calls.push([k, v]) }, usage);
      assert.deepEqual(calls, Object.entries(usageDetailsForTests(usage)));
    });
  }
});
