// One mode of bench/overhead.mjs, in its own long-lived process: set up the instrumentation,
// load openai (from `openaiDir` when given, else this package's dev dependency), warm up,
// then run the blocks of calls the parent asks for on stdin, one at a time:
//   `chat N` / `stream N`  -> {"cpu": us per call, "wall": us per call}
//   `alloc chat N` / `alloc stream N` -> {"bytes": JS heap bytes allocated per call, "gcs": n}
//     (needs --expose-gc: a full GC, N calls, the heap's growth; `gcs` > 0 means a
//     collection ran in between and the figure is a lower bound)
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { getHeapStatistics } from 'node:v8';
import { Session } from 'node:inspector/promises';

const [mode, openaiDir, url] = process.argv.slice(2);
const WARM = Number(process.env.OTEL_LLM_BENCH_WARM ?? 300);
// OTEL_LLM_PROFILE_INCLUSIVE=<regex>: cpuprof also gives the inclusive time of other packages' functions so named
const INCLUSIVE = process.env.OTEL_LLM_PROFILE_INCLUSIVE ? new RegExp(process.env.OTEL_LLM_PROFILE_INCLUSIVE) : undefined;
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
const calls = { chat, stream };

/** CPU (user + system of this process: the server runs in the parent) and wall time per call. */
async function time(fn, n) {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await fn();
  const wall = ((performance.now() - t0) * 1000) / n;
  const c = process.cpuUsage(cpu0);
  return { cpu: (c.user + c.system) / n, wall };
}

let gcs = 0;
new PerformanceObserver(list => (gcs += list.getEntries().length)).observe({ entryTypes: ['gc'] });

/** JS heap bytes allocated per call: the heap's growth over `n` calls after a full GC. */
async function alloc(fn, n) {
  globalThis.gc();
  await new Promise(r => setTimeout(r, 50)); // let the entry of that collection be counted
  const before = gcs;
  const used = getHeapStatistics().used_heap_size;
  for (let i = 0; i < n; i++) await fn();
  const grown = getHeapStatistics().used_heap_size - used;
  await new Promise(r => setTimeout(r, 50));
  return { bytes: grown / n, gcs: gcs - before };
}

/**
 * Where the time or the allocations of `n` calls go, by function (self time or self bytes,
 * sampled by the inspector): the `top` heaviest as [function url:line, us or bytes per call].
 */
async function profile(what, fn, n, top = 40) {
  const session = new Session();
  session.connect();
  const totals = new Map();
  const add = (frame, value) => {
    const key = `${frame.functionName || '(anonymous)'} ${frame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/node\/dist\//, 'dist/')}:${frame.lineNumber + 1}`;
    totals.set(key, (totals.get(key) ?? 0) + value);
  };
  if (what === 'heap') {
    await session.post('HeapProfiler.startSampling', { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    for (let i = 0; i < n; i++) await fn();
    const { profile } = await session.post('HeapProfiler.stopSampling');
    const walk = node => {
      add(node.callFrame, node.selfSize);
      node.children.forEach(walk);
    };
    walk(profile.head);
  } else {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 50 });
    await session.post('Profiler.start');
    for (let i = 0; i < n; i++) await fn();
    const { profile } = await session.post('Profiler.stop');
    const dt = new Map();
    for (let i = 0; i < profile.samples.length; i++) dt.set(profile.samples[i], (dt.get(profile.samples[i]) ?? 0) + profile.timeDeltas[i]);
    // by package: a sample counts for the innermost frame of a package (node_modules/<name>
    // or this package's dist/), so the Node internals a package calls count for it
    const parent = new Map();
    const byId = new Map(profile.nodes.map(node => [node.id, node]));
    for (const node of profile.nodes) for (const c of node.children ?? []) parent.set(c, node.id);
    const pkgOf = url => {
      const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
      if (m) return m[1];
      return /\/node\/(dist|\.bench-[^/]+)\//.test(url) ? '@otel-llm/node' : undefined;
    };
    for (const node of profile.nodes) {
      const t = dt.get(node.id) ?? 0;
      if (!t) continue;
      let id = node.id;
      let pkg;
      while (id !== undefined && !(pkg = pkgOf(byId.get(id).callFrame.url))) id = parent.get(id);
      const name = node.callFrame.functionName;
      totals.set(`[package] ${pkg ?? (name.startsWith('(') ? name : '(node, no package)')}`, (totals.get(`[package] ${pkg ?? (name.startsWith('(') ? name : '(node, no package)')}`) ?? 0) + t);
      add(node.callFrame, t);
      // inclusive time of this package's functions (each counted once per sample)
      const seen = new Set();
      for (let up = node.id; up !== undefined; up = parent.get(up)) {
        const frame = byId.get(up).callFrame;
        if (pkgOf(frame.url) !== '@otel-llm/node' && !(INCLUSIVE && INCLUSIVE.test(frame.functionName))) continue;
        const key = `[inclusive] ${frame.functionName || '(anonymous)'} ${frame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/node\/dist\//, 'dist/')}:${frame.lineNumber + 1}`;
        if (seen.has(key)) continue;
        seen.add(key);
        totals.set(key, (totals.get(key) ?? 0) + t);
      }
    }
  }
  session.disconnect();
  return [...totals].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, v]) => [k, Math.round(v / n)]);
}

for (let i = 0; i < WARM; i++) await chat(); // warm-up
for (let i = 0; i < WARM; i++) await stream();
process.stdout.write('ready\n');

for await (const line of createInterface({ input: process.stdin })) {
  const words = line.trim().split(/\s+/);
  if (words[0] === 'exit') break;
  const out = words[0] === 'cpuprof' || words[0] === 'heapprof'
    ? await profile(words[0] === 'heapprof' ? 'heap' : 'cpu', calls[words[1]], Number(words[2]), Number(words[3] ?? 40))
    : words[0] === 'alloc' ? await alloc(calls[words[1]], Number(words[2])) : await time(calls[words[0]], Number(words[1]));
  process.stdout.write(`${JSON.stringify(out)}\n`);
}
process.exit(0);
