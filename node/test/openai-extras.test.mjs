// The OpenAI extras without register(): an app's own SDK set-up with the official
// instrumentation as published and OpenAIExtrasInstrumentation beside it (their general
// path: a reaction on the call's promise, a wrapper on the stream), and the pin of the
// official handlers that register()'s OfficialOpenAIInstrumentation hooks instead.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OpenAIInstrumentation } from '@opentelemetry/instrumentation-openai';
import { OpenAIExtrasInstrumentation } from '@otel-llm/node';
import { startStub } from './stub-llm.mjs';

const require = createRequire(import.meta.url);
const exporter = new InMemorySpanExporter();
let sdk;
let stub;
let OpenAI;

before(async () => {
  stub = await startStub();
  sdk = new NodeSDK({
    spanProcessors: [new SimpleSpanProcessor(exporter)],
    instrumentations: [new OpenAIExtrasInstrumentation({ streamIncludeUsage: 'true' }), new OpenAIInstrumentation()],
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  OpenAI = require('openai').OpenAI;
});
after(async () => {
  stub.server.close();
  await sdk.shutdown();
});

const client = () => new OpenAI({ baseURL: `${stub.url}/v1`, apiKey: 'sk-test', maxRetries: 0 });
const messages = [{ role: 'user', content: 'hi' }];
async function lastChat() {
  // the first export waits for the SDK's resource detection (tens of ms on a busy machine)
  let spans = [];
  for (let waited = 0; waited < 3000 && !spans.length; waited += 10) {
    await new Promise(r => setTimeout(r, 10));
    spans = exporter.getFinishedSpans().filter(s => s.name === 'chat gpt-4o-mini');
  }
  assert.ok(spans.length, 'a chat span');
  return spans.at(-1).attributes;
}

describe('OpenAIExtrasInstrumentation beside the official instrumentation as published', () => {
  it('non-streaming: cached and reasoning tokens on the official span', async () => {
    exporter.reset();
    await client().chat.completions.create({ model: 'gpt-4o-mini', messages });
    const a = await lastChat();
    assert.equal(a['gen_ai.usage.input_tokens'], 120);
    assert.equal(a['gen_ai.usage.cache_read.input_tokens'], 64);
    assert.equal(a['gen_ai.usage.reasoning.output_tokens'], 16);
    assert.equal(a['gen_ai.request.stream'], undefined);
  });

  it('streaming: include_usage injected, the usage chunk hidden, TTFC and tokens', async () => {
    exporter.reset();
    const stream = await client().chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true });
    assert.equal(stream.iterator.__original?.name, 'otelLlmStreamIterator', 'the general path wraps the stream');
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    assert.equal(stub.requests.at(-1).body.stream_options.include_usage, true);
    assert.ok(chunks.every(c => c.choices.length > 0), 'the usage-only chunk is hidden');
    const a = await lastChat();
    assert.equal(a['gen_ai.request.stream'], true);
    assert.ok(a['gen_ai.response.time_to_first_chunk'] > 0);
    assert.equal(a['gen_ai.usage.input_tokens'], 120);
    assert.equal(a['gen_ai.usage.cache_read.input_tokens'], 64);
  });

  it('a caller that stops reading early still ends the span', async () => {
    exporter.reset();
    const stream = await client().chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true });
    for await (const _ of stream) break;
    const a = await lastChat();
    assert.equal(a['gen_ai.request.stream'], true);
  });
});

describe('the official handlers register() hooks (pinned release)', () => {
  it('exist as OfficialOpenAIInstrumentation expects them', () => {
    const proto = OpenAIInstrumentation.prototype;
    assert.equal(typeof proto._onChatCompletionsCreateResult, 'function');
    assert.equal(typeof proto._onChatCompletionsStreamIterator, 'function');
    assert.equal(proto._onChatCompletionsCreateResult.length, 6); // (span, startNow, commonAttrs, result, config, ctx)
  });
});
