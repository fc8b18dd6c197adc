// Per-call overhead of @otel-llm/node on LLM client calls over a local HTTP server, in one
// run: the uninstrumented call, the official @opentelemetry/instrumentation-openai (openai
// 6, the newest major it instruments; + undici and http instrumentations), and
// @otel-llm/node register() with its defaults (openai 6 and openai 7; on 7 the wire layer
// alone). Chat (JSON) and stream (SSE); spans go to a no-op exporter through a batch
// processor, as in production.
//
// Each mode is one long-lived process (the server runs in this one), set up and warmed up
// once; then the modes take turns running short blocks of calls, one process at a time,
// for `rounds` rounds (the order of the modes rotates each round). The figure is the CPU
// time of the client process (user + system) per call. A shared machine only ever slows a
// block down, and it slows neighbouring blocks alike: the figures that resolve are the
// per-round differences between two modes (their median, with quartiles and a 95%
// confidence interval of the median from the order statistics).
//
// Two processes of the same code differ by a few tens of us per call (what the JIT
// compiled, heap layout), which pairing rounds does not remove: the processes are started
// afresh OTEL_LLM_BENCH_EPOCHS times (default 4) in the run, and each difference is also
// given per generation of processes.
//
// OTEL_LLM_BENCH_AGAINST=<dir of another build of node/> adds that build (its dist/esm) as
// "against" modes in the same rounds: a before/after comparison on one machine state.
// OTEL_LLM_BENCH_AA=1 adds a second, identical @otel-llm/node openai 6 process: the A/A
// difference shows what the run resolves. OTEL_LLM_BENCH_ALLOC=<calls> (default 100, 0 to
// skip) measures the JS heap allocated per call in each mode at the end, in a fresh process
// per mode with a young generation that holds the whole block (full GC, then that many
// calls without a collection).
//
//   node bench/overhead.mjs [calls per block=500] [rounds=30]   (rounds 0: the allocation figures alone)
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { install } from '../matrix/install.mjs';
import { startServer } from './server.mjs';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const CALLS = Number(process.argv[2] ?? 500);
const ROUNDS = Number(process.argv[3] ?? 30);
const ALLOC = Number(process.env.OTEL_LLM_BENCH_ALLOC ?? 100);
const EPOCHS = Math.max(1, Math.min(ROUNDS, Number(process.env.OTEL_LLM_BENCH_EPOCHS ?? 4)));

/** A long-lived child process running one mode; `ask` sends one command and awaits its JSON answer. */
function child(mode, openaiDir, url, pkg, nodeArgs = [], env = {}) {
  const p = spawn(process.execPath, [...nodeArgs, `${HERE}overhead-child.mjs`, mode, openaiDir ?? '', url], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, OTEL_LLM_EXPORTER: 'none', OTEL_LLM_BENCH_PACKAGE: pkg ?? '', ...env },
  });
  const lines = createInterface({ input: p.stdout })[Symbol.asyncIterator]();
  const next = async () => {
    const { value, done } = await lines.next();
    if (done) throw new Error(`${mode} ${openaiDir ?? ''} exited`);
    return value;
  };
  return {
    ready: next(),
    async ask(command) {
      p.stdin.write(`${command}\n`);
      return JSON.parse(await next());
    },
    close: () => p.stdin.end('exit\n'),
  };
}

const server = await startServer();
const url = `http://127.0.0.1:${server.address().port}/v1`;
const openai7 = install({ id: 'bench-openai-7', packages: { openai: '7.59.0' } }, m => process.stderr.write(`${m}\n`));
// [key, mode, label, openai dir, package]
const modes = [
  ['base6', 'baseline', 'openai 6 uninstrumented', null],
  ['official6', 'official', 'openai 6 + @opentelemetry/instrumentation-openai 0.20 (+ undici, http)', null],
  ['ours6', 'otel-llm', 'openai 6 + @otel-llm/node register()', null],
  ['base7', 'baseline', 'openai 7 uninstrumented', openai7],
  ['ours7', 'otel-llm', 'openai 7 + @otel-llm/node register() (wire layer)', openai7],
];
const againstList = (process.env.OTEL_LLM_BENCH_AGAINST ?? '').split(',').filter(Boolean);
for (const [n, against] of againstList.entries()) {
  const pkg = join(resolve(against), 'dist', 'esm', 'index.js');
  const tag = n ? String(n + 1) : '';
  modes.push([`against6${tag}`, 'otel-llm', `openai 6 + @otel-llm/node register(), ${against}`, null, pkg]);
  if (process.env.OTEL_LLM_BENCH_OPENAI6_ONLY !== '1') {
    modes.push([`against7${tag}`, 'otel-llm', `openai 7 + @otel-llm/node register() (wire layer), ${against}`, openai7, pkg]);
  }
}
// OTEL_LLM_BENCH_ENV="NAME=value ...": a further @otel-llm/node openai 6 mode with these settings
const variantEnv = Object.fromEntries((process.env.OTEL_LLM_BENCH_ENV ?? '').split(/\s+/).filter(Boolean).map(kv => kv.split('=', 2)));
if (Object.keys(variantEnv).length) {
  modes.push(['variant6', 'otel-llm', `openai 6 + @otel-llm/node register(), ${process.env.OTEL_LLM_BENCH_ENV}`, null, undefined, variantEnv]);
}
if (process.env.OTEL_LLM_BENCH_AA === '1') modes.push(['ours6b', 'otel-llm', 'openai 6 + @otel-llm/node register(), a second process (A/A)', null]);
if (process.env.OTEL_LLM_BENCH_OPENAI6_ONLY === '1') modes.splice(3, 2);
const load0 = loadavg()[0];
const KINDS = ['chat', 'stream'];
/** runs[key][kind] = CPU us per call of each round; epochOf[round] = the processes' generation */
const runs = Object.fromEntries(modes.map(([key]) => [key, { chat: [], stream: [] }]));
const epochOf = [];
let children = [];
for (let round = 0; round < ROUNDS; round++) {
  const epoch = Math.floor((round * EPOCHS) / ROUNDS);
  if (round === 0 || epoch !== epochOf.at(-1)) {
    // fresh processes for every mode: what differs between two processes of the same code
    // (compilation, heap layout) is sampled EPOCHS times instead of once
    for (const c of children) c.close();
    children = modes.map(([, mode, , dir, pkg, env]) => child(mode, dir, url, pkg, [], env));
    await Promise.all(children.map(c => c.ready));
  }
  epochOf.push(epoch);
  for (const kind of KINDS) {
    for (let j = 0; j < modes.length; j++) {
      const i = (j + round) % modes.length; // rotate who goes first
      runs[modes[i][0]][kind].push((await children[i].ask(`${kind} ${CALLS}`)).cpu);
    }
  }
  if ((round + 1) % 10 === 0 || round + 1 === ROUNDS) process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
}
const load1 = loadavg()[0];
for (const c of children) c.close();
// allocation in fresh processes whose young generation holds the whole block (no scavenge in between)
const allocs = {};
if (ALLOC > 0) {
  for (const [key, mode, , dir, pkg, env] of modes) {
    const c = child(mode, dir, url, pkg, ['--expose-gc', '--min-semi-space-size=128', '--max-semi-space-size=128'], env);
    await c.ready;
    allocs[key] = {};
    for (const kind of KINDS) allocs[key][kind] = await c.ask(`alloc ${kind} ${ALLOC}`);
    c.close();
  }
}
server.close();

const sorted = list => [...list].sort((a, b) => a - b);
const at = (s, q) => s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))];
const median = list => at(sorted(list), 0.5);
/** Median, quartiles and a 95% confidence interval of the median (order statistics). */
function summary(list) {
  const s = sorted(list);
  const n = s.length;
  const half = (1.96 * Math.sqrt(n)) / 2;
  return {
    median: at(s, 0.5),
    q1: at(s, 0.25),
    q3: at(s, 0.75),
    lo: s[Math.max(0, Math.floor(n / 2 - half))],
    hi: s[Math.min(n - 1, Math.ceil(n / 2 + half) - 1)],
  };
}
const sign = v => `${v >= 0 ? '+' : ''}${v.toFixed(0)}`;
const fmt = s => `${sign(s.median)} us (quartiles ${sign(s.q1)}..${sign(s.q3)}, 95% CI of the median ${sign(s.lo)}..${sign(s.hi)})`;
const diff = (a, b, kind) => runs[a][kind].map((v, n) => v - runs[b][kind][n]);

if (ROUNDS > 0) printCpu();
function printCpu() {
console.log(
  `${ROUNDS} rounds x ${CALLS} sequential calls per mode and kind over loopback HTTP, modes alternating in long-lived processes ` +
    `(${EPOCHS} generations of processes) ` +
    `(Node ${process.version}, load average ${load0.toFixed(1)} -> ${load1.toFixed(1)}); client CPU (user + system) per call:`,
);
console.log('| mode | chat, median | added (median of per-round differences) | stream, median | added (median of per-round differences) |');
console.log('|---|---:|---:|---:|---:|');
for (const [key, mode, label, dir] of modes) {
  const base = modes.find(([, m, , d]) => m === 'baseline' && d === dir)[0];
  const cell = kind => {
    if (key === base) return '-';
    const d = median(diff(key, base, kind));
    return `${sign(d)} (${((median(runs[base][kind]) + d) / median(runs[base][kind])).toFixed(2)}x)`;
  };
  console.log(`| ${label} | ${median(runs[key].chat).toFixed(0)} | ${cell('chat')} | ${median(runs[key].stream).toFixed(0)} | ${cell('stream')} |`);
}
console.log('per-round differences, CPU us per call:');
const pair = (a, b, label) => {
  if (!runs[a] || !runs[b]) return;
  for (const kind of KINDS) {
    const d = diff(a, b, kind);
    // the median of each generation of processes: their spread is what the run resolves
    const byEpoch = [...new Set(epochOf)].map(e => sign(median(d.filter((_, n) => epochOf[n] === e))));
    console.log(`  ${label}, ${kind}: ${fmt(summary(d))}; per generation of processes ${byEpoch.join(', ')}`);
  }
};
pair('ours6', 'official6', '@otel-llm/node minus the official instrumentation, openai 6');
pair('official6', 'base6', 'official instrumentation minus uninstrumented, openai 6');
pair('ours6', 'base6', '@otel-llm/node minus uninstrumented, openai 6');
pair('ours7', 'base7', '@otel-llm/node minus uninstrumented, openai 7');
for (const [n, against] of againstList.entries()) {
  const tag = n ? String(n + 1) : '';
  pair('ours6', `against6${tag}`, `@otel-llm/node minus ${against}, openai 6`);
  pair(`against6${tag}`, 'official6', `${against} minus the official instrumentation, openai 6`);
  pair('ours7', `against7${tag}`, `@otel-llm/node minus ${against}, openai 7`);
}
pair('ours6', 'variant6', `@otel-llm/node minus @otel-llm/node with ${process.env.OTEL_LLM_BENCH_ENV}, openai 6`);
pair('ours6', 'ours6b', 'A/A: two identical @otel-llm/node processes, openai 6');
}
if (ALLOC > 0) {
  console.log(`JS heap allocated per call (${ALLOC} calls after a full GC; * = a collection ran, a lower bound):`);
  for (const [key, , label] of modes) {
    const a = k => `${(allocs[key][k].bytes / 1024).toFixed(1)} KiB${allocs[key][k].gcs ? '*' : ''}`;
    console.log(`  ${label}: chat ${a('chat')}, stream ${a('stream')}`);
  }
}
