// The contract's Prometheus metrics: names, label sets, buckets, exemplars, serving.
import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, it } from 'node:test';
import { createHmac } from 'node:crypto';
import {
  LlmMetrics,
  LlmSpanProcessor,
  LabelFolder,
  PriceBook,
  metricsMiddleware,
  startMetricsServer,
  openMetricsToPrometheus,
  pseudonymize,
  sanitizeLabelValue,
  validateAttributionLabels,
  semconv,
} from '@otel-llm/node';
import { parseProm } from './helpers.mjs';

const OP = { gen_ai_operation_name: 'chat', gen_ai_provider_name: 'openai', gen_ai_request_model: 'm', gen_ai_response_model: 'm' };

function sample(metrics) {
  metrics.record({ metric: semconv.METRIC_DURATION, labels: { ...OP, error_type: '' }, value: 0.3 }, { trace_id: 'a'.repeat(32), span_id: 'b'.repeat(16) });
  metrics.record({ metric: semconv.METRIC_TTFC, labels: { ...OP, error_type: '' }, value: 0.05 }, { trace_id: 'a'.repeat(32), span_id: 'b'.repeat(16) });
  metrics.record({ metric: semconv.METRIC_TOKEN_USAGE, labels: { ...OP, gen_ai_token_type: 'input' }, value: 100 });
  metrics.record({ metric: semconv.METRIC_COST, labels: { gen_ai_operation_name: 'chat', gen_ai_provider_name: 'openai', gen_ai_request_model: 'm', user: 'u_1', tenant: '' }, value: 0.25 }, { trace_id: 'c'.repeat(32), span_id: 'd'.repeat(16) });
  metrics.record({ metric: semconv.METRIC_OPERATION_COST, labels: { gen_ai_operation_name: 'chat', gen_ai_provider_name: 'openai', gen_ai_request_model: 'm' }, value: 0.25 }, { trace_id: 'c'.repeat(32), span_id: 'd'.repeat(16) });
  metrics.record({ metric: semconv.METRIC_UNPRICED, labels: { gen_ai_provider_name: 'openai', gen_ai_request_model: 'x' }, value: 1 });
}

const COST_LABELS = ['gen_ai_operation_name', 'gen_ai_provider_name', 'gen_ai_request_model'];

describe('instruments', () => {
  it('buckets follow the semconv advice', () => {
    assert.deepEqual([...semconv.DURATION_BUCKETS], [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]);
    assert.deepEqual([...semconv.TOKEN_BUCKETS], [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]);
    assert.deepEqual([...semconv.COST_BUCKETS], [0.0001, 0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100]);
  });

  it('names, label sets and buckets as Prometheus shows them', async () => {
    const metrics = new LlmMetrics({ attributionLabels: ['user', 'tenant'] });
    sample(metrics);
    const text = (await metrics.render(false)).body;
    const samples = parseProm(text);
    const names = new Set(samples.map(s => s.name));
    for (const n of [
      'gen_ai_client_operation_duration_seconds_bucket',
      'gen_ai_client_operation_duration_seconds_sum',
      'gen_ai_client_operation_duration_seconds_count',
      'gen_ai_client_operation_time_to_first_chunk_seconds_count',
      'gen_ai_client_token_usage_bucket',
      'gen_ai_client_cost_usd_total',
      'otel_llm_operation_cost_usd_bucket',
      'otel_llm_operation_cost_usd_sum',
      'otel_llm_operation_cost_usd_count',
      'otel_llm_unpriced_operations_total',
    ]) assert.ok(names.has(n), n);
    const dur = samples.filter(s => s.name === 'gen_ai_client_operation_duration_seconds_bucket');
    assert.deepEqual(dur.map(s => s.labels.le), [...semconv.DURATION_BUCKETS.map(String), '+Inf']);
    assert.deepEqual(Object.keys(dur[0].labels).sort(), ['error_type', 'gen_ai_operation_name', 'gen_ai_provider_name', 'gen_ai_request_model', 'gen_ai_response_model', 'le']);
    const tok = samples.filter(s => s.name === 'gen_ai_client_token_usage_bucket');
    assert.deepEqual(tok.map(s => Number(s.labels.le)).slice(0, -1), [...semconv.TOKEN_BUCKETS]);
    assert.deepEqual(Object.keys(tok[0].labels).sort(), ['gen_ai_operation_name', 'gen_ai_provider_name', 'gen_ai_request_model', 'gen_ai_response_model', 'gen_ai_token_type', 'le']);
    const cost = samples.find(s => s.name === 'gen_ai_client_cost_usd_total');
    assert.deepEqual(Object.keys(cost.labels).sort(), ['gen_ai_operation_name', 'gen_ai_provider_name', 'gen_ai_request_model', 'tenant', 'user']);
    assert.equal(cost.value, 0.25);
    const perCall = samples.filter(s => s.name === 'otel_llm_operation_cost_usd_bucket');
    assert.deepEqual(perCall.map(s => s.labels.le), [...semconv.COST_BUCKETS.map(String), '+Inf']);
    assert.deepEqual(perCall.map(s => s.value), [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]); // 0.25 <= 0.25
    for (const name of ['otel_llm_operation_cost_usd_bucket', 'otel_llm_operation_cost_usd_sum', 'otel_llm_operation_cost_usd_count']) {
      const keys = new Set(samples.filter(s => s.name === name).flatMap(s => Object.keys(s.labels)));
      keys.delete('le');
      assert.deepEqual([...keys].sort(), COST_LABELS, `${name}: no attribution labels`);
    }
    assert.equal(samples.find(s => s.name === 'otel_llm_operation_cost_usd_count').value, 1);
    assert.equal(samples.find(s => s.name === 'otel_llm_operation_cost_usd_sum').value, 0.25);
    assert.match(text, /# TYPE otel_llm_operation_cost_usd histogram/);
    const unpriced = samples.find(s => s.name === 'otel_llm_unpriced_operations_total');
    assert.deepEqual(Object.keys(unpriced.labels).sort(), ['gen_ai_provider_name', 'gen_ai_request_model']);
    assert.match(text, /# TYPE gen_ai_client_cost_usd_total counter/);
    assert.match(text, /# TYPE gen_ai_client_operation_duration_seconds histogram/);
    assert.doesNotMatch(text, /# EOF|trace_id/);
  });

  it('exemplars with trace_id and span_id in OpenMetrics', async () => {
    const metrics = new LlmMetrics({ attributionLabels: ['user', 'tenant'] });
    sample(metrics);
    const { contentType, body } = await metrics.render(true);
    assert.match(contentType, /application\/openmetrics-text/);
    assert.match(body, /gen_ai_client_operation_duration_seconds_bucket\{[^}]*le="0.32"[^}]*\} 1 # \{trace_id="a{32}",span_id="b{16}"\} 0.3 \d/);
    assert.match(body, /gen_ai_client_cost_usd_total\{[^}]*\} 0.25 # \{trace_id="c{32}",span_id="d{16}"\} 0.25 \d/);
    assert.match(body, /# TYPE gen_ai_client_cost_usd counter/);
    const withExemplar = body.split('\n').filter(l => l.startsWith('otel_llm_operation_cost_usd_bucket{') && l.includes(' # {'));
    assert.equal(withExemplar.length, 1, 'one exemplar, on the bucket of the observed cost');
    assert.match(withExemplar[0], /\{[^}]*\ble="0\.25"[^}]*\} 1 # \{trace_id="c{32}",span_id="d{16}"\} 0.25 \d/);
    assert.ok(body.endsWith('# EOF\n'));
    // rendering OpenMetrics first must not change the plain text names (prom-client renames counters)
    const again = (await metrics.render(false)).body;
    assert.match(again, /^gen_ai_client_cost_usd_total\{/m);
    assert.match(again, /# TYPE gen_ai_client_cost_usd_total counter/);
  });

  it('shared frozen label objects (the processor\'s fast path) give what prom-client\'s own path gives', async () => {
    // same observations, once with frozen label objects reused across calls (kept series,
    // updated in place) and once with a fresh object per call (prom-client's path only)
    const fast = new LlmMetrics({ attributionLabels: ['user'] });
    const slow = new LlmMetrics({ attributionLabels: ['user'] });
    const dur = Object.freeze({ ...OP, error_type: '' });
    const tok = Object.freeze({ ...OP, gen_ai_token_type: 'input' });
    const cost = Object.freeze({ gen_ai_operation_name: 'chat', gen_ai_provider_name: 'openai', gen_ai_request_model: 'm', user: 'u' });
    const perCall = Object.freeze({ gen_ai_operation_name: 'chat', gen_ai_provider_name: 'openai', gen_ai_request_model: 'm' });
    const unpriced = Object.freeze({ gen_ai_provider_name: 'openai', gen_ai_request_model: 'x' });
    const ex = i => (i % 3 === 2 ? undefined : { trace_id: `${i}`.padStart(32, 'a'), span_id: `${i}`.padStart(16, 'b') });
    const feed = (metrics, fresh, from, to) => {
      const l = labels => (fresh ? { ...labels } : labels);
      for (let i = from; i < to; i++) {
        metrics.record({ metric: semconv.METRIC_DURATION, labels: l(dur), value: [0.005, 0.3, 100, 0.32][i % 4] }, ex(i));
        metrics.record({ metric: semconv.METRIC_TTFC, labels: l(dur), value: 0.01 * i }, ex(i));
        metrics.record({ metric: semconv.METRIC_TOKEN_USAGE, labels: l(tok), value: 1000 * i });
        metrics.record({ metric: semconv.METRIC_COST, labels: l(cost), value: 0.001 * i }, ex(i));
        metrics.record({ metric: semconv.METRIC_OPERATION_COST, labels: l(perCall), value: 0.25 * i }, ex(i));
        metrics.record({ metric: semconv.METRIC_UNPRICED, labels: l(unpriced), value: 1 });
      }
    };
    const render = async metrics => (await metrics.render(true)).body.replace(/(# \{[^}]*\} \S+) \S+$/gm, '$1 T'); // exemplar timestamps
    feed(fast, false, 0, 7);
    feed(slow, true, 0, 7);
    assert.equal(await render(fast), await render(slow));
    assert.match(await render(fast), /gen_ai_client_operation_duration_seconds_bucket\{[^}]*le="0.32"[^}]*\} 5 # \{trace_id="a{31}3",span_id="b{15}3"\} 0.32 T/, 'an unsampled call leaves the exemplar');
    // a reset registry starts over; the kept series are not written to any more
    fast.registry.resetMetrics();
    slow.registry.resetMetrics();
    feed(fast, false, 7, 12);
    feed(slow, true, 7, 12);
    assert.equal(await render(fast), await render(slow));
    assert.throws(() => fast.record({ metric: semconv.METRIC_DURATION, labels: dur, value: NaN }), /not a valid number/);
    assert.throws(() => fast.record({ metric: semconv.METRIC_COST, labels: cost, value: -1 }), /decrease/);
  });

  it('converts OpenMetrics to Prometheus text', () => {
    const om = '# HELP c_usd help\n# TYPE c_usd counter\nc_usd_total{a="b"} 1 # {trace_id="x"} 1 1\n# EOF\n';
    assert.equal(openMetricsToPrometheus(om), '# HELP c_usd_total help\n# TYPE c_usd_total counter\nc_usd_total{a="b"} 1\n');
  });

  it('rejects unusable attribution labels', () => {
    assert.throws(() => validateAttributionLabels(['user-id']));
    assert.throws(() => validateAttributionLabels(['gen_ai_request_model']));
    assert.throws(() => validateAttributionLabels(['__x']));
    assert.deepEqual(validateAttributionLabels(['user', 'tenant', 'route']), ['user', 'tenant', 'route']);
  });
});

describe('bounded labels', () => {
  it('fold into other after the limit', () => {
    const f = new LabelFolder(2);
    assert.deepEqual(['a', 'b', 'c', 'a', 'd', ''].map(v => f.fold(v)), ['a', 'b', 'other', 'a', 'other', '']);
  });
  it('sanitises values', () => {
    assert.equal(sanitizeLabelValue('a b"c'), 'a_b_c');
    assert.equal(sanitizeLabelValue('x'.repeat(100)).length, 64);
    assert.equal(sanitizeLabelValue(undefined), '');
  });
  it('pseudonymises users with HMAC-SHA256 (same as Python), idempotently', () => {
    const want = 'u_' + createHmac('sha256', 'k').update('alice').digest('hex').slice(0, 16);
    assert.equal(pseudonymize('k', 'alice'), want);
    assert.equal(pseudonymize('k', want), want);
  });
  it('the processor never throws into the host and counts its errors', async () => {
    const metrics = new LlmMetrics({ attributionLabels: ['user', 'tenant'] });
    const processor = new LlmSpanProcessor({ metrics, prices: PriceBook.load() });
    const broken = { attributes: { 'gen_ai.operation.name': 'chat' }, setAttribute() { throw new Error('boom'); }, setAttributes() { throw new Error('boom'); }, spanContext() { throw new Error('boom'); } };
    assert.doesNotThrow(() => processor.onEnding(broken));
    assert.doesNotThrow(() => processor.onStart({ get attributes() { throw new TypeError('x'); } }, undefined));
    const text = (await metrics.render(false)).body;
    assert.match(text, /otel_llm_processor_errors_total\{hook="on_end",error_type="Error"\} 1/);
    assert.match(text, /otel_llm_processor_errors_total\{hook="on_start",error_type="TypeError"\} 1/);
  });
});

describe('/metrics serving', () => {
  it('middleware answers GET /metrics in the format asked for and passes the rest on', async () => {
    const metrics = new LlmMetrics({ attributionLabels: ['user', 'tenant'] });
    sample(metrics);
    const mw = metricsMiddleware(() => metrics);
    const server = http.createServer((req, res) => mw(req, res, () => res.end('next')));
    await new Promise(r => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${server.address().port}`;
    try {
      const plain = await fetch(`${base}/metrics`);
      assert.match(plain.headers.get('content-type'), /text\/plain; version=0.0.4/);
      assert.doesNotMatch(await plain.text(), /trace_id/);
      const om = await fetch(`${base}/metrics`, { headers: { accept: 'application/openmetrics-text; version=1.0.0' } });
      assert.match(om.headers.get('content-type'), /application\/openmetrics-text/);
      assert.match(await om.text(), /trace_id/);
      assert.equal(await (await fetch(`${base}/other`)).text(), 'next');
    } finally {
      server.close();
    }
  });

  it('standalone server on a port', async () => {
    const metrics = new LlmMetrics({ attributionLabels: ['user', 'tenant'] });
    sample(metrics);
    const server = await startMetricsServer(() => metrics, 0, '127.0.0.1');
    try {
      const res = await fetch(`http://127.0.0.1:${server.address().port}/metrics`);
      assert.equal(res.status, 200);
      assert.match(await res.text(), /gen_ai_client_cost_usd_total/);
      assert.equal((await fetch(`http://127.0.0.1:${server.address().port}/`)).status, 404);
    } finally {
      server.close();
    }
  });
});
