// LLM spans end to end (CommonJS SDKs loaded after register()) against a local stub:
// what the official OpenAI instrumentation, our extras, the Anthropic SDK's own tracing
// and the span processor leave on the spans and in the metrics.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { register, shutdown, bundledReady, WireLayer, ProviderResolver } from '@otel-llm/node';
import { startStub } from './stub-llm.mjs';
import { parseProm } from './helpers.mjs';

const require = createRequire(import.meta.url);
const exporter = new InMemorySpanExporter();
let telemetry;
let stub;
let claudeStub;
let OpenAI;
let Anthropic;

before(async () => {
  await bundledReady;
  stub = await startStub();
  claudeStub = await startStub();
  // loopback stubs stand for the real APIs: the documented host -> provider setting
  process.env.OTEL_LLM_PROVIDER_HOSTS = `127.0.0.1:${stub.port}=openai,127.0.0.1:${claudeStub.port}=anthropic`;
  telemetry = register({ spanExporter: exporter, simpleExport: true, serviceName: 'llm-test' });
  OpenAI = require('openai').OpenAI;
  Anthropic = require('@anthropic-ai/sdk').Anthropic;
});
after(async () => {
  stub.server.close();
  claudeStub.server.close();
  delete process.env.OTEL_LLM_PROVIDER_HOSTS;
  await shutdown();
});

async function settle() {
  await new Promise(r => setTimeout(r, 10));
  await telemetry.forceFlush();
}
function llmSpans(name) {
  return exporter.getFinishedSpans().filter(s => s.name === name);
}
function lastSpan(name) {
  const spans = llmSpans(name);
  assert.ok(spans.length, `a span named ${name}`);
  return spans[spans.length - 1];
}
const client = () => new OpenAI({ baseURL: `${stub.url}/v1`, apiKey: 'sk-test', maxRetries: 0 });

describe('openai chat', () => {
  it('non-streaming: contract attributes, cached/reasoning tokens, cost', async () => {
    exporter.reset();
    const res = await client().chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(res.choices[0].message.content, 'Hello there, friend.');
    await settle();
    const span = lastSpan('chat gpt-4o-mini');
    const a = span.attributes;
    assert.equal(span.kind, 2); // CLIENT
    assert.equal(a['gen_ai.operation.name'], 'chat');
    assert.equal(a['gen_ai.provider.name'], 'openai');
    assert.equal(a['gen_ai.request.model'], 'gpt-4o-mini');
    assert.equal(a['gen_ai.response.model'], 'gpt-4o-mini-2024-07-18');
    assert.equal(a['gen_ai.response.id'], 'chatcmpl-stub');
    assert.deepEqual(a['gen_ai.response.finish_reasons'], ['stop']);
    assert.equal(a['server.address'], '127.0.0.1');
    assert.equal(a['server.port'], stub.port);
    assert.equal(a['gen_ai.usage.input_tokens'], 120);
    assert.equal(a['gen_ai.usage.output_tokens'], 80);
    assert.equal(a['gen_ai.usage.cache_read.input_tokens'], 64);
    assert.equal(a['gen_ai.usage.reasoning.output_tokens'], 16);
    assert.equal(a['gen_ai.request.stream'], undefined);
    // gpt-4o-mini: (120-64)*0.15 + 64*0.075 + 80*0.60 per MTok
    assert.ok(Math.abs(a['gen_ai.usage.cost.amount'] - (56 * 0.15 + 64 * 0.075 + 80 * 0.6) / 1e6) < 1e-12);
    assert.equal(a['gen_ai.usage.cost.source'], 'local');
    assert.equal(a['otel_llm.usage.estimated'], undefined);
  });

  it('streaming: include_usage injected, usage chunk hidden, TTFC and tokens recorded', async () => {
    exporter.reset();
    const stream = await client().chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
    });
    // register()'s official instrumentation observes the stream in its own handler: no wrapper of ours
    assert.notEqual(stream.iterator.__original?.name, 'otelLlmStreamIterator');
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    assert.equal(stub.requests.at(-1).body.stream_options.include_usage, true, 'injected');
    assert.ok(chunks.every(c => c.choices.length > 0), 'the usage-only chunk is hidden');
    assert.equal(chunks.map(c => c.choices[0].delta.content ?? '').join(''), 'Hello there.');
    await settle();
    const a = lastSpan('chat gpt-4o-mini').attributes;
    assert.equal(a['gen_ai.request.stream'], true);
    assert.ok(a['gen_ai.response.time_to_first_chunk'] > 0.01, `ttfc ${a['gen_ai.response.time_to_first_chunk']}`);
    assert.equal(a['gen_ai.usage.input_tokens'], 120);
    assert.equal(a['gen_ai.usage.output_tokens'], 80);
    assert.equal(a['gen_ai.usage.cache_read.input_tokens'], 64);
    assert.deepEqual(a['gen_ai.response.finish_reasons'], ['stop']);
    assert.ok(a['gen_ai.usage.cost.amount'] > 0);
  });

  it('streaming: a caller that asked for usage still gets the usage chunk', async () => {
    const stream = await client().chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    assert.equal(chunks.at(-1).choices.length, 0);
    assert.equal(chunks.at(-1).usage.prompt_tokens, 120);
  });

  it('streaming without a usage chunk: tokens estimated and flagged', async () => {
    exporter.reset();
    const stream = await client().chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'abcdefgh' }], stream: true },
      { headers: { 'x-stub-no-usage': '1' } },
    );
    for await (const _ of stream);
    await settle();
    const a = lastSpan('chat gpt-4o-mini').attributes;
    assert.equal(a['otel_llm.usage.estimated'], true);
    assert.equal(a['gen_ai.usage.input_tokens'], 2); // 8 characters
    assert.equal(a['gen_ai.usage.output_tokens'], 3); // "Hello there." 12 characters
  });

  it('a caller that stops reading early still ends the span', async () => {
    exporter.reset();
    const stream = await client().chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
    });
    for await (const _ of stream) break;
    await settle();
    assert.equal(llmSpans('chat gpt-4o-mini').length, 1);
  });

  it('a stream cut by the server ends the span with error.type', async () => {
    exporter.reset();
    const stream = await client().chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true },
      { headers: { 'x-stub-abort-after': '2' } },
    );
    await assert.rejects(async () => {
      for await (const _ of stream);
    });
    await settle();
    const span = lastSpan('chat gpt-4o-mini');
    assert.equal(span.status.code, 2);
    assert.ok(span.attributes['error.type']);
  });

  it('an API error: status ERROR and error.type, duration recorded with error_type', async () => {
    exporter.reset();
    await assert.rejects(
      client().chat.completions.create(
        { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] },
        { headers: { 'x-stub-status': '429' } },
      ),
    );
    await settle();
    const span = lastSpan('chat gpt-4o-mini');
    assert.equal(span.status.code, 2);
    assert.equal(span.attributes['error.type'], 'RateLimitError');
    assert.equal(span.attributes['otel_llm.cost.unpriced'], undefined);
    const samples = parseProm((await telemetry.metrics.render(false)).body);
    const errs = samples.find(
      s => s.name === 'gen_ai_client_operation_duration_seconds_count' && s.labels.error_type === 'RateLimitError',
    );
    assert.equal(errs?.value, 1);
  });
});

describe('anthropic messages (the SDK\'s own tracing, normalised)', () => {
  const claude = () => new Anthropic({ baseURL: claudeStub.url, apiKey: 'sk-ant-test', maxRetries: 0 });

  it('non-streaming: contract name, input includes cache, cache creation, finish reasons, cost', async () => {
    exporter.reset();
    await claude().messages.create({ model: 'claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
    await settle();
    const span = lastSpan('chat claude-sonnet-4-5');
    const a = span.attributes;
    assert.equal(a['gen_ai.provider.name'], 'anthropic');
    assert.equal(a['gen_ai.response.model'], 'claude-sonnet-4-5-20250929');
    assert.equal(a['gen_ai.usage.input_tokens'], 350); // 10 + 300 read + 40 written
    assert.equal(a['gen_ai.usage.output_tokens'], 20);
    assert.equal(a['gen_ai.usage.cache_read.input_tokens'], 300);
    assert.equal(a['gen_ai.usage.cache_creation.input_tokens'], 40);
    assert.deepEqual(a['gen_ai.response.finish_reasons'], ['end_turn']);
    const want = (10 * 3 + 300 * 0.3 + 40 * 3.75 + 20 * 15) / 1e6;
    assert.ok(Math.abs(a['gen_ai.usage.cost.amount'] - want) < 1e-12, `${a['gen_ai.usage.cost.amount']} vs ${want}`);
  });

  it('streaming: time to first chunk and usage', async () => {
    exporter.reset();
    const stream = await claude().messages.create({
      model: 'claude-sonnet-4-5',
      max_tokens: 64,
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
    });
    for await (const _ of stream);
    await settle();
    const a = lastSpan('chat claude-sonnet-4-5').attributes;
    assert.equal(a['gen_ai.request.stream'], true);
    assert.ok(a['gen_ai.response.time_to_first_chunk'] >= 0);
    assert.equal(a['gen_ai.usage.output_tokens'], 20);
    assert.equal(a['gen_ai.usage.input_tokens'], 350);
  });
});

describe('provider from the endpoint (openai 6 SDK, official instrumentation span enriched)', () => {
  // the SDK's own fetch option answers for the real hosts; the wire layer sees the real URL
  const answering = usage => async () =>
    new Response(
      JSON.stringify({ id: 'chatcmpl-x', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }], usage }),
      { status: 200, headers: { 'content-type': 'application/json' } },
    );
  const viaWire = (baseURL, usage) => {
    const layer = new WireLayer({ resolver: new ProviderResolver() });
    return new OpenAI({ baseURL, apiKey: 'k', maxRetries: 0, fetch: layer.wrap(answering(usage)) });
  };

  it('api.x.ai: x_ai, priced at xAI (reasoning tokens added to output as xAI reports them)', async () => {
    exporter.reset();
    const usage = { prompt_tokens: 1200, completion_tokens: 220, prompt_tokens_details: { cached_tokens: 1024 }, completion_tokens_details: { reasoning_tokens: 120 } };
    await viaWire('https://api.x.ai/v1', usage).chat.completions.create({ model: 'grok-4', messages: [{ role: 'user', content: 'hi' }] });
    await settle();
    const spans = exporter.getFinishedSpans().filter(s => s.attributes['gen_ai.request.model'] === 'grok-4');
    assert.equal(spans.length, 1, 'one span: the official one, enriched');
    const a = spans[0].attributes;
    assert.equal(a['gen_ai.provider.name'], 'x_ai');
    assert.equal(a['server.address'], 'api.x.ai');
    assert.equal(a['gen_ai.usage.output_tokens'], 340);
    assert.ok(Math.abs(a['gen_ai.usage.cost.amount'] - 0.006396) < 1e-9, String(a['gen_ai.usage.cost.amount']));
  });

  it('api.groq.com: groq, priced at Groq', async () => {
    exporter.reset();
    const usage = { prompt_tokens: 1200, completion_tokens: 340, prompt_tokens_details: { cached_tokens: 1024 }, completion_tokens_details: { reasoning_tokens: 120 } };
    await viaWire('https://api.groq.com/openai/v1', usage).chat.completions.create({ model: 'openai/gpt-oss-120b', messages: [{ role: 'user', content: 'hi' }] });
    await settle();
    const [span] = exporter.getFinishedSpans().filter(s => s.attributes['gen_ai.request.model'] === 'openai/gpt-oss-120b');
    assert.equal(span.attributes['gen_ai.provider.name'], 'groq');
    assert.ok(Math.abs(span.attributes['gen_ai.usage.cost.amount'] - 0.0003072) < 1e-9, String(span.attributes['gen_ai.usage.cost.amount']));
  });

  it('api.openai.com: the official span already reads the body, the wire layer leaves the Response alone', async () => {
    exporter.reset();
    const usage = { prompt_tokens: 1200, completion_tokens: 340, prompt_tokens_details: { cached_tokens: 1024 }, completion_tokens_details: { reasoning_tokens: 120 } };
    const responses = [];
    const answer = answering(usage);
    const layer = new WireLayer({ resolver: new ProviderResolver() });
    const fetch = layer.wrap(async (...args) => {
      const res = await answer(...args);
      responses.push(res);
      return res;
    });
    await new OpenAI({ baseURL: 'https://api.openai.com/v1', apiKey: 'k', maxRetries: 0, fetch }).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    await settle();
    assert.equal(responses.length, 1);
    assert.deepEqual(Object.getOwnPropertyNames(responses[0]), [], 'no watched body or read methods');
    const [span] = exporter.getFinishedSpans().filter(s => s.attributes['server.address'] === 'api.openai.com');
    const a = span.attributes;
    assert.equal(a['gen_ai.provider.name'], 'openai');
    assert.equal(a['server.port'], 443);
    assert.equal(a['gen_ai.usage.input_tokens'], 1200);
    assert.equal(a['gen_ai.usage.output_tokens'], 340);
    assert.equal(a['gen_ai.usage.cache_read.input_tokens'], 1024);
    assert.equal(a['gen_ai.usage.reasoning.output_tokens'], 120);
    assert.ok(a['gen_ai.usage.cost.amount'] > 0);
  });

  it('an unknown host keeps the SDK family, unresolved, unpriced (never priced at OpenAI)', async () => {
    exporter.reset();
    const usage = { prompt_tokens: 1200, completion_tokens: 340 };
    await viaWire('https://llm.example.net/v1', usage).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    await settle();
    const [span] = exporter.getFinishedSpans().filter(s => s.attributes['server.address'] === 'llm.example.net');
    assert.equal(span.attributes['gen_ai.provider.name'], 'openai');
    assert.equal(span.attributes['otel_llm.provider.unresolved'], true);
    assert.equal(span.attributes['gen_ai.usage.cost.amount'], undefined);
    assert.equal(span.attributes['otel_llm.cost.unpriced'], true);
  });
});

describe('metrics from LLM spans', () => {
  it('exemplars carry trace_id and span_id in OpenMetrics, not in plain text', async () => {
    const om = (await telemetry.metrics.render(true)).body;
    assert.match(om, /gen_ai_client_operation_duration_seconds_bucket\{[^}]*\} \d+ # \{trace_id="[0-9a-f]{32}",span_id="[0-9a-f]{16}"\}/);
    assert.match(om, /gen_ai_client_cost_usd_total\{[^}]*\} [0-9.e-]+ # \{trace_id="[0-9a-f]{32}",span_id="[0-9a-f]{16}"\}/);
    assert.match(om, /otel_llm_operation_cost_usd_bucket\{[^}]*\} \d+ # \{trace_id="[0-9a-f]{32}",span_id="[0-9a-f]{16}"\} [0-9.e-]+ /);
    assert.ok(om.endsWith('# EOF\n'));
    const text = (await telemetry.metrics.render(false)).body;
    assert.doesNotMatch(text, /trace_id/);
    assert.match(text, /# TYPE gen_ai_client_cost_usd_total counter/);
  });
});
