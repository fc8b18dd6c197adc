// spec/vectors/manual_spans.json: the manual tracking API and usage beyond text tokens.
// The Python suite runs the same file (tests/unit/test_tracking.py).
import assert from 'node:assert/strict';
import { describe, it, beforeEach, afterEach } from 'node:test';
import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import {
  LlmMetrics,
  LlmSpanProcessor,
  PriceBook,
  PricingFileError,
  TrackingError,
  bundledReady,
  getMetrics,
  newRequestState,
  resetTrackWarnings,
  runWithState,
  track,
} from '@otel-llm/node';
import { parsePricingForTests } from './internal.mjs';
import { VECTORS_DIR, loadVectors, parseProm } from './helpers.mjs';

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

const V = loadVectors('manual_spans.json');
await bundledReady;
const PRICES = PriceBook.load(VECTORS_DIR + V.settings.pricing_file);
const near = (a, b) => typeof a === 'number' && Math.abs(a - b) <= 1e-9;

function pipeline() {
  const metrics = new LlmMetrics({ attributionLabels: V.settings.attribution_labels });
  const processor = new LlmSpanProcessor({ metrics, prices: PRICES, attributionLimit: V.settings.attribution_limit });
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [processor, new SimpleSpanProcessor(exporter)] });
  return { metrics, exporter, provider };
}

async function sampleSum(metrics, name, match) {
  const { body } = await metrics.render(false);
  return parseProm(body)
    .filter(s => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0);
}

async function checkMetrics(metrics, c, model) {
  const exp = c.expected;
  const cost = await sampleSum(metrics, 'gen_ai_client_cost_usd_total', { gen_ai_request_model: model });
  assert.ok(near(cost, exp.metrics_cost_usd ?? exp.cost_usd ?? 0), `cost counter ${cost}`);
  if (exp.cost_labels) {
    const exact = await sampleSum(metrics, 'gen_ai_client_cost_usd_total', exp.cost_labels);
    assert.ok(near(exact, exp.cost_usd), `cost labels ${exact}`);
  }
  const unpriced = await sampleSum(metrics, 'otel_llm_unpriced_operations_total', { gen_ai_request_model: model });
  assert.equal(unpriced, exp.unpriced_count ?? (exp.cost_usd === null ? 1 : 0), 'unpriced counter');
  for (const [type, total] of Object.entries(exp.tokens)) {
    const got = await sampleSum(metrics, 'gen_ai_client_token_usage_sum', { gen_ai_request_model: model, gen_ai_token_type: type });
    assert.equal(got, total, `tokens ${type}`);
  }
  const calls = await sampleSum(metrics, 'gen_ai_client_operation_duration_seconds_count', { gen_ai_request_model: model });
  assert.equal(calls, 1, 'one call');
  if (exp.error_type_label) {
    const errs = await sampleSum(metrics, 'gen_ai_client_operation_duration_seconds_count', { error_type: exp.error_type_label });
    assert.equal(errs, 1);
  }
}

function errorOf(name) {
  const err = new Error('failed');
  err.name = name;
  return err;
}

describe('manual_spans.json track_cases', () => {
  for (const c of V.track_cases) {
    it(c.name, async () => {
      const { metrics, exporter, provider } = pipeline();
      const t = c.track;
      const body = async () =>
        track({ operation: t.operation, provider: t.provider, model: t.model, tracerProvider: provider, ...t.attribution }, async call => {
          for (const u of c.updates) call.update(u);
          if (c.raise) throw errorOf(c.raise);
        });
      const run = async () => {
        if (c.raise) await assert.rejects(body(), e => e.name === c.raise);
        else await body();
      };
      if (c.parent_genai_span) {
        const parent = provider.getTracer('instrumentation').startSpan('chat parent', { kind: SpanKind.CLIENT, attributes: c.parent_genai_span });
        await context.with(trace.setSpan(context.active(), parent), run);
        parent.end();
      } else await run();
      const spans = exporter.getFinishedSpans().filter(s => s.attributes['otel_llm.manual']);
      assert.equal(spans.length, 1);
      const span = spans[0];
      const exp = c.expected;
      assert.equal(span.name, exp.span_name);
      assert.equal(span.kind, SpanKind.CLIENT);
      assert.equal(span.status.code === SpanStatusCode.ERROR, exp.status === 'error');
      assert.ok(span.attributes['request.id']);
      for (const [k, v] of Object.entries(exp.attributes)) assert.deepEqual(span.attributes[k], v, k);
      for (const k of exp.absent ?? []) assert.ok(!(k in span.attributes), `absent ${k}`);
      const amount = span.attributes['gen_ai.usage.cost.amount'];
      if (exp.cost_usd === null) assert.equal(amount, undefined);
      else assert.ok(near(amount, exp.cost_usd), `cost ${amount} vs ${exp.cost_usd}`);
      await checkMetrics(metrics, c, t.model);
      await provider.shutdown();
    });
  }
});

describe('manual_spans.json span_cases', () => {
  for (const c of V.span_cases) {
    it(c.name, async () => {
      const { metrics, exporter, provider } = pipeline();
      provider.getTracer('instrumentation').startSpan(`chat ${c.attributes['gen_ai.request.model']}`, { kind: SpanKind.CLIENT, attributes: c.attributes }).end();
      const [span] = exporter.getFinishedSpans();
      const amount = span.attributes['gen_ai.usage.cost.amount'];
      if (c.expected.cost_usd === null) {
        assert.equal(amount, undefined);
        assert.equal(span.attributes['otel_llm.cost.unpriced_reason'], c.expected.unpriced_reason);
      } else assert.ok(near(amount, c.expected.cost_usd), `cost ${amount} vs ${c.expected.cost_usd}`);
      await checkMetrics(metrics, c, c.attributes['gen_ai.request.model']);
    });
  }
});

describe('manual_spans.json bad_input_cases', () => {
  const saved = process.env.OTEL_LLM_STRICT;
  afterEach(() => {
    if (saved === undefined) delete process.env.OTEL_LLM_STRICT;
    else process.env.OTEL_LLM_STRICT = saved;
  });
  const bad = (c, provider) => {
    let handle;
    track({ operation: 'speech_to_text', provider: 'gcp.vertex_ai', model: 'chirp-2', tracerProvider: provider }, call => {
      handle = call;
      for (const u of c.updates) call.update(u);
    });
    for (const u of c.after_end ?? []) handle.update(u);
    return handle;
  };
  for (const c of V.bad_input_cases) {
    it(`${c.name}: production ignores, counts, warns once`, async () => {
      delete process.env.OTEL_LLM_STRICT;
      resetTrackWarnings();
      const warnings = [];
      const onWarning = w => w.code === 'OTEL_LLM_TRACK' && warnings.push(w);
      process.on('warning', onWarning);
      const { provider, exporter } = pipeline();
      const before = await sampleSum(getMetrics(), 'otel_llm_processor_errors_total', { hook: 'track', error_type: c.kind });
      const handle = bad(c, provider);
      bad(c, provider);
      await new Promise(r => setImmediate(r));
      process.off('warning', onWarning);
      assert.deepEqual(handle.usage, c.usage_after);
      const after = await sampleSum(getMetrics(), 'otel_llm_processor_errors_total', { hook: 'track', error_type: c.kind });
      assert.equal(after - before, 2);
      assert.equal(warnings.length, 1);
      const [span] = exporter.getFinishedSpans();
      assert.equal(span.attributes['otel_llm.usage.seconds'], c.usage_after.seconds);
    });
    it(`${c.name}: OTEL_LLM_STRICT=true throws`, () => {
      process.env.OTEL_LLM_STRICT = 'true';
      assert.throws(() => bad(c, pipeline().provider), TrackingError);
    });
  }
});

describe('track API', () => {
  it('using + Symbol.dispose ends the span; fail() marks the error', async () => {
    const { exporter, provider } = pipeline();
    {
      const call = track({ operation: 'translation', provider: 'deepl', model: 'deepl-pro', tracerProvider: provider, source: 'docs' });
      try {
        call.update({ characters: 1000 });
      } finally {
        call[Symbol.dispose]();
      }
    }
    {
      const call = track({ operation: 'ocr', provider: 'acme', model: 'vision-ocr', tracerProvider: provider });
      call.update({ pages: 2 }).fail(new RangeError('bad page'));
      call[Symbol.dispose]();
      call[Symbol.dispose](); // idempotent
    }
    const [tr, ocr] = exporter.getFinishedSpans();
    assert.ok(near(tr.attributes['gen_ai.usage.cost.amount'], 0.025));
    assert.equal(tr.attributes['otel_llm.attribution.source'], 'docs');
    assert.equal(ocr.status.code, SpanStatusCode.ERROR);
    assert.equal(ocr.attributes['error.type'], 'RangeError');
    assert.ok(near(ocr.attributes['gen_ai.usage.cost.amount'], 0.003));
  });

  it('inherits request ID and attribution; scopes its own labels to the callback', async () => {
    const { exporter, provider } = pipeline();
    const state = newRequestState('req-42');
    Object.assign(state.attribution, { user: 'carol', tenant: 'acme' });
    const tracer = provider.getTracer('app');
    await runWithState(state, async () => {
      const id = await track({ operation: 'speech_to_text', provider: 'gcp.vertex_ai', model: 'chirp-2', tracerProvider: provider, source: 'meeting-notes' }, async call => {
        tracer.startSpan('inner').end();
        call.update({ seconds: 6 });
        return call.requestId;
      });
      assert.equal(id, 'req-42');
      tracer.startSpan('after').end();
    });
    const by = Object.fromEntries(exporter.getFinishedSpans().map(s => [s.name, s.attributes]));
    const manual = by['speech_to_text chirp-2'];
    assert.equal(manual['request.id'], 'req-42');
    assert.equal(manual['user.id'], 'carol');
    assert.equal(manual['otel_llm.tenant'], 'acme');
    assert.equal(manual['otel_llm.attribution.source'], 'meeting-notes');
    assert.equal(by.inner['otel_llm.attribution.source'], 'meeting-notes');
    assert.equal(by.after['otel_llm.attribution.source'], undefined);
  });

  it('outside a request a request ID is minted; sync callbacks return their value', () => {
    const { exporter, provider } = pipeline();
    const out = track({ operation: 'search', provider: 'acme', model: 'web-search', tracerProvider: provider }, call => call.requestId);
    const [span] = exporter.getFinishedSpans();
    assert.equal(span.attributes['request.id'], out);
  });

  it('YAML pricing file with unit prices loads; bad unit prices are rejected', () => {
    assert.throws(() => parsePricingForTests({ models: [{ model: 'm', prices: { per_fortnight: 1 } }] }), PricingFileError);
    assert.throws(() => parsePricingForTests({ models: [{ model: 'm', prices: { per_second: -1 } }] }), /non-negative/);
    assert.throws(() => parsePricingForTests({ models: [{ model: 'm', prices: { per_request: 1, requests_kcount: 2 } }] }), /not both/);
    assert.ok(PRICES.resolve('acme', 'vision-ocr'));
  });
});
