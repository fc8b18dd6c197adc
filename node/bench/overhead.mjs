// Per-call overhead of @otel-llm/node on LLM client calls over a local HTTP server, in one
// run: the uninstrumented call, the official @opentelemetry/instrumentation-openai (openai
// 6, the newest major it instruments), and @otel-llm/node (openai 6 and openai 7; on 7 the
// wire layer alone). Chat (JSON) and stream (SSE), each mode in its own process (the
// server runs in this one); spans go to a no-op exporter through a batch processor, as in
// production. The modes take turns, `rounds` times, and each figure is the median: the
// client process's CPU time per call (user + system; robust on a shared machine) and the
// wall time per call.
//
// Each round's figures are printed too, so a change shows against the spread between rounds.
// OTEL_LLM_BENCH_AGAINST=<dir of another build of node/> adds that build (its dist/esm) as
// "otel-llm (against)" modes in the same run: a before/after comparison on one machine state.
//
//   node bench/overhead.mjs [calls=2000] [rounds=5]
import { spawn } from 'node:child_process';
import http from 'node:http';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { install } from '../matrix/install.mjs';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const CALLS = Number(process.argv[2] ?? 2000);
const ROUNDS = Number(process.argv[3] ?? 5);

function startServer() {
  const usage = { prompt_tokens: 1200, completion_tokens: 340, total_tokens: 1540, prompt_tokens_details: { cached_tokens: 1024 }, completion_tokens_details: { reasoning_tokens: 120 } };
  const json = JSON.stringify({
    id: 'chatcmpl-bench', object: 'chat.completion', created: 1, model: 'gpt-4o-mini-2024-07-18',
    choices: [{ index: 0, message: { role: 'assistant', content: '2, 3, 5.' }, finish_reason: 'stop' }], usage,
  });
  const chunk = (delta, finish = null, extra = {}) =>
    `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini-2024-07-18', choices: delta ? [{ index: 0, delta, finish_reason: finish }] : [], ...extra })}\n\n`;
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', c => (raw += c));
    req.on('end', () => {
      const body = JSON.parse(raw);
      if (!body.stream) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(json);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let out = chunk({ role: 'assistant', content: '' }) + chunk({ content: '2, 3' }) + chunk({ content: ', 5.' }) + chunk({}, 'stop');
      if (body.stream_options?.include_usage) out += chunk(null, null, { usage });
      res.end(`${out}data: [DONE]\n\n`);
    });
  });
  server.keepAliveTimeout = 60_000;
  return new Promise(r => server.listen(0, '127.0.0.1', () => r(server)));
}

function child(mode, openaiDir, url, pkg) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [`${HERE}overhead-child.mjs`, mode, openaiDir ?? '', url, String(CALLS), String(ROUNDS)], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, OTEL_LLM_EXPORTER: 'none', OTEL_LLM_BENCH_PACKAGE: pkg ?? '' },
    });
    let out = '';
    p.stdout.on('data', d => (out += d));
    p.on('close', code => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').at(-1))) : reject(new Error(`${mode} exited ${code}`))));
  });
}

const server = await startServer();
const url = `http://127.0.0.1:${server.address().port}/v1`;
const openai7 = install({ id: 'bench-openai-7', packages: { openai: '7.59.0' } }, m => process.stderr.write(`${m}\n`));
const modes = [
  ['baseline', 'openai 6 uninstrumented', null],
  ['official', 'openai 6 + @opentelemetry/instrumentation-openai (+ undici)', null],
  ['otel-llm', 'openai 6 + @otel-llm/node register()', null],
  ['baseline', 'openai 7 uninstrumented', openai7],
  ['otel-llm', 'openai 7 + @otel-llm/node register() (wire layer)', openai7],
];
const against = process.env.OTEL_LLM_BENCH_AGAINST;
if (against) {
  const pkg = join(resolve(against), 'dist', 'esm', 'index.js');
  modes.splice(3, 0, ['otel-llm', `openai 6 + @otel-llm/node register(), ${against}`, null, pkg]);
  modes.push(['otel-llm', `openai 7 + @otel-llm/node register() (wire layer), ${against}`, openai7, pkg]);
}
const runs = modes.map(() => []);
for (let round = 0; round < ROUNDS; round++) {
  for (const [i, [mode, , dir, pkg]] of modes.entries()) runs[i].push(await child(mode, dir, url, pkg));
  process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
}
const median = list => {
  const sorted = [...list].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};
const results = modes.map(([mode, label, dir], i) => {
  const out = { mode, label, dir };
  for (const k of ['chat', 'chatCpu', 'stream', 'streamCpu']) out[k] = median(runs[i].map(r => r[k]));
  return out;
});
server.close();

const us = v => `${v.toFixed(0)} us`;
console.log(`CPU per call in each round (chat / stream, us), in the order run:`);
for (const [i, [, label]] of modes.entries()) {
  console.log(`  ${label}: ${runs[i].map(r => `${r.chatCpu.toFixed(0)}/${r.streamCpu.toFixed(0)}`).join('  ')}`);
}
console.log(`per call, median of ${ROUNDS} alternating runs x ${CALLS} sequential calls over loopback HTTP (Node ${process.version})`);
console.log('| client + instrumentation | chat CPU | vs baseline | stream CPU | vs baseline | chat wall | stream wall |');
console.log('|---|---|---|---|---|---|---|');
for (const r of results) {
  const base = results.find(b => b.mode === 'baseline' && b.dir === r.dir);
  const d = k => (r === base ? '-' : `+${us(r[k] - base[k])} (${(r[k] / base[k]).toFixed(2)}x)`);
  console.log(`| ${r.label} | ${us(r.chatCpu)} | ${d('chatCpu')} | ${us(r.streamCpu)} | ${d('streamCpu')} | ${us(r.chat)} (${d('chat')}) | ${us(r.stream)} (${d('stream')}) |`);
}
const official = results.find(r => r.mode === 'official');
const ours6 = results.find(r => r.mode === 'otel-llm' && !r.dir);
const vs = k => `${us(ours6[k] - official[k])} (${(ours6[k] / official[k]).toFixed(2)}x)`;
console.log(`@otel-llm/node vs the official instrumentation, openai 6, CPU per call: chat ${vs('chatCpu')}, stream ${vs('streamCpu')}`);

// On a shared machine a round is only ever slowed down by other work: the fastest round of
// each mode, and the median of the differences between two modes run in the same round,
// are steadier than medians taken apart.
console.log('fastest round per mode, CPU per call (chat / stream) and added to the uninstrumented call of the same client:');
const fastest = (i, k) => Math.min(...runs[i].map(r => r[k]));
for (const [i, [mode, label, dir]] of modes.entries()) {
  const b = modes.findIndex(([m, , d]) => m === 'baseline' && d === dir);
  const add = k => (i === b ? '' : ` (+${us(fastest(i, k) - fastest(b, k))})`);
  console.log(`  ${label}: ${us(fastest(i, 'chatCpu'))}${add('chatCpu')} / ${us(fastest(i, 'streamCpu'))}${add('streamCpu')}`);
}
const paired = (a, b, k) => median(runs[a].map((r, n) => r[k] - runs[b][n][k]));
const pair = (a, b, label) => {
  if (a < 0 || b < 0) return;
  const spread = k => {
    const d = runs[a].map((r, n) => r[k] - runs[b][n][k]).sort((x, y) => x - y);
    return `${us(d[Math.floor(d.length / 4)])}..${us(d[Math.floor((3 * d.length) / 4)])}`;
  };
  console.log(`  ${label}: chat ${us(paired(a, b, 'chatCpu'))} (quartiles ${spread('chatCpu')}), stream ${us(paired(a, b, 'streamCpu'))} (quartiles ${spread('streamCpu')})`);
};
console.log('median of the per-round differences, CPU per call:');
const ix = pred => modes.findIndex(pred);
const o6 = ix(([m, , d, p]) => m === 'otel-llm' && !d && !p);
const off = ix(([m]) => m === 'official');
pair(o6, off, '@otel-llm/node minus the official instrumentation, openai 6');
if (against) {
  pair(o6, ix(([m, , d, p]) => m === 'otel-llm' && !d && p), `@otel-llm/node minus ${against}, openai 6`);
  pair(ix(([m, , d, p]) => m === 'otel-llm' && d && !p), ix(([m, , d, p]) => m === 'otel-llm' && d && p), `@otel-llm/node minus ${against}, openai 7`);
}
