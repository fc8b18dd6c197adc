// One mode of bench/overhead.mjs, in its own process: set up the instrumentation, load
// openai (from `openaiDir` when given, else this package's dev dependency), time calls.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

const [mode, openaiDir, url, callsArg] = process.argv.slice(2);
const CALLS = Number(callsArg);
const noop = { export: (_spans, done) => done({ code: 0 }), shutdown: async () => {}, forceFlush: async () => {} };

if (mode === 'otel-llm') {
  // OTEL_LLM_BENCH_PACKAGE: another build of this package (its dist/esm/index.js), for a before/after run
  const pkg = process.env.OTEL_LLM_BENCH_PACKAGE;
  const { register } = await import(pkg ? pathToFileURL(pkg).href : '@otel-llm/node');
  register({ spanExporter: noop, serviceName: 'bench' });
} else if (mode === 'official') {
  const { NodeSDK } = await import('@opentelemetry/sdk-node');
  const { BatchSpanProcessor } = await import('@opentelemetry/sdk-trace-base');
  const { OpenAIInstrumentation } = await import('@opentelemetry/instrumentation-openai');
  const { UndiciInstrumentation } = await import('@opentelemetry/instrumentation-undici');
  const { HttpInstrumentation } = await import('@opentelemetry/instrumentation-http');
  new NodeSDK({
    spanProcessors: [new BatchSpanProcessor(noop)],
    instrumentations: [new HttpInstrumentation(), new UndiciInstrumentation(), new OpenAIInstrumentation()],
    metricReaders: [],
    logRecordProcessors: [],
  }).start();
}

const require = createRequire(openaiDir ? join(openaiDir, 'x.js') : import.meta.url);
const { OpenAI } = require('openai');
const client = new OpenAI({ baseURL: url, apiKey: 'sk-bench', maxRetries: 0 });
const messages = [{ role: 'user', content: 'Name three prime numbers.' }];

async function chat() {
  await client.chat.completions.create({ model: 'gpt-4o-mini', messages });
}
async function stream() {
  const s = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true });
  for await (const _ of s);
}

/** Wall and CPU time (user + system of this process: the server runs in the parent) per call. */
async function time(fn) {
  for (let i = 0; i < 200; i++) await fn(); // warm-up
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < CALLS; i++) await fn();
  const wall = ((performance.now() - t0) * 1000) / CALLS;
  const c = process.cpuUsage(cpu0);
  return { wall, cpu: (c.user + c.system) / CALLS };
}

const chatT = await time(chat);
const streamT = await time(stream);
console.log(JSON.stringify({ chat: chatT.wall, chatCpu: chatT.cpu, stream: streamT.wall, streamCpu: streamT.cpu }));
process.exit(0);
