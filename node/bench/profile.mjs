// Where one mode of bench/overhead.mjs spends its time or allocates, per call, by function
// (the inspector's sampling profilers, after warm-up; the server runs in this process):
//
//   node bench/profile.mjs <baseline|official|otel-llm> <chat|stream> [cpu|heap] [calls=2000] [top=40] [openai dir]
import { spawn } from 'node:child_process';
import http from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const [mode = 'otel-llm', kind = 'chat', what = 'cpu', calls = '2000', top = '40', openaiDir = ''] = process.argv.slice(2);
const HERE = fileURLToPath(new URL('.', import.meta.url));
const { startServer } = await import('./server.mjs');
const server = await startServer();
const url = `http://127.0.0.1:${server.address().port}/v1`;
const p = spawn(process.execPath, [`${HERE}overhead-child.mjs`, mode, openaiDir, url], {
  stdio: ['pipe', 'pipe', 'inherit'],
  env: { ...process.env, OTEL_LLM_EXPORTER: 'none' },
});
const lines = createInterface({ input: p.stdout })[Symbol.asyncIterator]();
await lines.next();
p.stdin.write(`${what === 'heap' ? 'heapprof' : 'cpuprof'} ${kind} ${calls} ${top}\n`);
const rows = JSON.parse((await lines.next()).value);
p.stdin.end('exit\n');
server.close();
let total = 0;
for (const [, v] of rows) total += v;
console.log(`${mode} ${kind}: self ${what === 'heap' ? 'bytes' : 'us'} per call of the ${rows.length} heaviest functions (sum ${total})`);
for (const [k, v] of rows) console.log(`${String(v).padStart(8)}  ${k}`);
