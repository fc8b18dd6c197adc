// One matrix entry, run as a user runs it: `node --import @otel-llm/node/register` with the
// client library installed in the entry's own directory (the working directory). An
// unchanged node:http service makes the LLM calls of the scenario, one incoming request
// (with its own X-Request-ID) per call; spans go to OTLP JSON lines (OTEL_LLM_EXPORTER=file).
// Prints one JSON line per call: {call, rid, ok, error?}.
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const scenarioName = process.argv[2];
const cwd = process.cwd();
// a module in the entry directory resolves the client packages installed there
writeFileSync(join(cwd, 'load.mjs'), 'export const load = name => import(name);\n');
const { load } = await import(pathToFileURL(join(cwd, 'load.mjs')).href);
const scenario = await import(new URL(`./scenarios/${scenarioName}.mjs`, import.meta.url).href);
const calls = await scenario.calls({ load, baseUrl: process.env.MATRIX_LLM_URL });

const server = http.createServer(async (req, res) => {
  const name = decodeURIComponent(req.url.slice(1));
  const call = calls.find(c => c.name === name);
  try {
    const text = await call.run();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, text }));
  } catch (err) {
    res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: false, error: String(err?.stack ?? err) }));
  }
});
await new Promise(r => server.listen(0, '127.0.0.1', r));
const { port } = server.address();
let i = 0;
for (const call of calls) {
  const rid = `${scenarioName}-${++i}-${call.name}`.replace(/[^A-Za-z0-9._~:@/+=-]/g, '-');
  const res = await new Promise((resolve, reject) => {
    const r = http.request({ host: '127.0.0.1', port, path: `/${encodeURIComponent(call.name)}`, headers: { 'x-request-id': rid } }, resp => {
      let body = '';
      resp.on('data', c => (body += c));
      resp.on('end', () => resolve({ echoed: resp.headers['x-request-id'], ...JSON.parse(body) }));
    });
    r.on('error', reject);
    r.end();
  });
  process.stdout.write(`${JSON.stringify({ call: call.name, rid, expect: call.expect, ...res })}\n`);
}
server.close();
