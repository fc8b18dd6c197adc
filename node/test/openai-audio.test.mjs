// The OpenAI SDK path: audio and accepted/rejected prediction tokens recorded on the span
// and priced at their own rates (the same figures as the Python suite's SDK test).
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { register, shutdown, bundledReady } from '@otel-llm/node';
import { VECTORS_DIR } from './helpers.mjs';

const require = createRequire(import.meta.url);
const exporter = new InMemorySpanExporter();
const queue = [];
let telemetry;
let server;
let url;
let OpenAI;

const near = (a, b) => typeof a === 'number' && Math.abs(a - b) <= 1e-9;
const reply = (model, usage) => ({
  id: 'chatcmpl-audio',
  object: 'chat.completion',
  created: 1,
  model,
  choices: [{ index: 0, message: { role: 'assistant', content: null, audio: { id: 'a1', data: '', expires_at: 1, transcript: 'hi' } }, finish_reason: 'stop' }],
  usage,
});
const AUDIO_USAGE = {
  prompt_tokens: 1000,
  completion_tokens: 500,
  total_tokens: 1500,
  prompt_tokens_details: { cached_tokens: 0, audio_tokens: 400 },
  completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 200, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
};

before(async () => {
  await bundledReady;
  process.env.OTEL_LLM_PRICING_FILE = VECTORS_DIR + 'manual_pricing.yaml';
  telemetry = register({ spanExporter: exporter, simpleExport: true, serviceName: 'audio-test' });
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const body = JSON.stringify(queue.shift());
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  await new Promise(r => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${server.address().port}/v1`;
  OpenAI = require('openai').OpenAI;
});
after(async () => {
  server.close();
  await shutdown();
  delete process.env.OTEL_LLM_PRICING_FILE;
});

describe('openai audio and predicted outputs', () => {
  it('audio tokens at audio rates; no audio rate = unpriced; prediction tokens as output', async () => {
    const client = new OpenAI({ baseURL: url, apiKey: 'sk-test', maxRetries: 0 });
    queue.push(reply('gpt-audio', AUDIO_USAGE), reply('gpt-4o-audio-preview-2025-06-03', AUDIO_USAGE), reply('gpt-4o-mini-audio-preview', AUDIO_USAGE));
    for (const model of ['gpt-audio', 'gpt-4o-audio-preview', 'gpt-4o-mini-audio-preview']) {
      await client.chat.completions.create({ model, modalities: ['text', 'audio'], audio: { voice: 'alloy', format: 'wav' }, messages: [{ role: 'user', content: 'hello' }] });
    }
    queue.push(reply('gpt-4o', { prompt_tokens: 100, completion_tokens: 300, total_tokens: 400, completion_tokens_details: { accepted_prediction_tokens: 50, rejected_prediction_tokens: 40 } }));
    await client.chat.completions.create({ model: 'gpt-4o', prediction: { type: 'content', content: 'draft' }, messages: [{ role: 'user', content: 'edit' }] });
    await new Promise(r => setTimeout(r, 10));
    await telemetry.forceFlush();
    const by = Object.fromEntries(exporter.getFinishedSpans().map(s => [s.attributes['gen_ai.request.model'], s.attributes]));
    assert.equal(by['gpt-audio']['otel_llm.usage.audio.input_tokens'], 400);
    assert.equal(by['gpt-audio']['otel_llm.usage.audio.output_tokens'], 200);
    assert.ok(near(by['gpt-audio']['gen_ai.usage.cost.amount'], 0.0301), String(by['gpt-audio']['gen_ai.usage.cost.amount']));
    assert.ok(near(by['gpt-4o-audio-preview']['gen_ai.usage.cost.amount'], 0.0365));
    assert.equal(by['gpt-4o-mini-audio-preview']['gen_ai.usage.cost.amount'], undefined);
    assert.equal(by['gpt-4o-mini-audio-preview']['otel_llm.cost.unpriced_reason'], 'no_price_for:audio_input_tokens');
    assert.equal(by['gpt-4o']['otel_llm.usage.prediction.accepted_tokens'], 50);
    assert.equal(by['gpt-4o']['otel_llm.usage.prediction.rejected_tokens'], 40);
    assert.ok(near(by['gpt-4o']['gen_ai.usage.cost.amount'], 0.00325));
    assert.equal(by['gpt-4o']['otel_llm.usage.audio.input_tokens'], undefined);
  });
});
