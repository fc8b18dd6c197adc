// Cost of the span processor per GenAI span, in one process: a span as the official OpenAI
// instrumentation leaves it (chat, usage with cached and reasoning tokens, a streamed
// call's time to first chunk) started and ended through an SDK tracer provider with the
// processor (request ID, cost, the Prometheus metrics with exemplars), and through one
// without it; the two take turns in blocks, `rounds` times, and the median difference is
// the processor's cost. OTEL_LLM_BENCH_AGAINST=<dir of another build of node/> adds that
// build's processor to the same rounds.
//
//   node bench/processor.mjs [spans per block=20000] [rounds=9]
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';

const SPANS = Number(process.argv[2] ?? 20000);
const ROUNDS = Number(process.argv[3] ?? 9);
const SCOPE = '@opentelemetry/instrumentation-openai';
const START = {
  'gen_ai.operation.name': 'chat',
  'gen_ai.system': 'openai',
  'gen_ai.provider.name': 'openai',
  'gen_ai.request.model': 'gpt-4o-mini',
  'server.address': 'api.openai.com',
  'server.port': 443,
};
const END = {
  'gen_ai.response.model': 'gpt-4o-mini-2024-07-18',
  'gen_ai.response.id': 'chatcmpl-bench',
  'gen_ai.response.finish_reasons': ['stop'],
  'gen_ai.usage.input_tokens': 1200,
  'gen_ai.usage.output_tokens': 340,
  'gen_ai.usage.cache_read.input_tokens': 1024,
  'gen_ai.usage.reasoning.output_tokens': 120,
  'gen_ai.request.stream': true,
  'gen_ai.response.time_to_first_chunk': 0.012,
};

async function tracerWith(pkg) {
  if (!pkg) return new BasicTracerProvider({ spanProcessors: [] }).getTracer(SCOPE);
  const { LlmMetrics, LlmSpanProcessor, PriceBook, bundledReady } = await import(pkg);
  await bundledReady;
  const processor = new LlmSpanProcessor({ metrics: new LlmMetrics(), prices: PriceBook.load() });
  return new BasicTracerProvider({ spanProcessors: [processor] }).getTracer(SCOPE);
}

function block(tracer) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < SPANS; i++) {
    const span = tracer.startSpan('chat gpt-4o-mini', { kind: 2, attributes: START });
    span.setAttributes(END);
    span.end();
  }
  return Number(process.hrtime.bigint() - t0) / SPANS / 1000;
}

const modes = [
  ['no processor', await tracerWith(undefined)],
  ['@otel-llm/node LlmSpanProcessor', await tracerWith('@otel-llm/node')],
];
const against = process.env.OTEL_LLM_BENCH_AGAINST;
if (against) {
  const pkg = pathToFileURL(join(resolve(against), 'dist', 'esm', 'index.js')).href;
  modes.push([`LlmSpanProcessor, ${against}`, await tracerWith(pkg)]);
}
for (const [, tracer] of modes) block(tracer); // warm-up
const runs = modes.map(() => []);
for (let round = 0; round < ROUNDS; round++) {
  for (const [i, [, tracer]] of modes.entries()) runs[i].push(block(tracer));
}
const median = list => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
console.log(`per GenAI span, median of ${ROUNDS} alternating blocks x ${SPANS} spans (Node ${process.version})`);
console.log('| tracer provider | us per span | processor adds | spread of rounds |');
console.log('|---|---|---|---|');
const base = median(runs[0]);
for (const [i, [label]] of modes.entries()) {
  const m = median(runs[i]);
  const spread = `${Math.min(...runs[i]).toFixed(2)}-${Math.max(...runs[i]).toFixed(2)}`;
  console.log(`| ${label} | ${m.toFixed(2)} | ${i === 0 ? '-' : `+${(m - base).toFixed(2)} us`} | ${spread} |`);
}
