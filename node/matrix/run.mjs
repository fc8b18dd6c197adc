// The Node client matrix: each client library (newest release and the oldest we claim),
// installed in its own cached directory, run under `--import @otel-llm/node/register`
// against the mock LLM over real HTTP; every call is checked against the contract.
// `node matrix/run.mjs [id-filter]` prints a table and exits non-zero on any failure.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { calcPrice } from '@pydantic/genai-prices';
import { MATRIX } from './clients.mjs';
import { install } from './install.mjs';
import { USAGE, startMockLlm } from './mock-llm.mjs';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const REGISTER = pathToFileURL(join(HERE, '..', 'dist', 'esm', 'register-esm.js')).href;
const PRICE_IDS = { openai: 'openai', anthropic: 'anthropic', 'gcp.gemini': 'google' };
const INFERENCE = new Set(['chat', 'generate_content', 'text_completion', 'embeddings']);

function value(v) {
  if (!v) return undefined;
  if ('stringValue' in v) return v.stringValue;
  if ('boolValue' in v) return v.boolValue;
  if ('intValue' in v) return Number(v.intValue);
  if ('doubleValue' in v) return v.doubleValue;
  if ('arrayValue' in v) return (v.arrayValue.values ?? []).map(value);
  return undefined;
}

/** Spans of an OTLP JSON lines file as {name, kind, attributes, status}. */
export function readSpans(path) {
  if (!existsSync(path)) return [];
  const out = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    for (const rs of JSON.parse(line).resourceSpans ?? []) {
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          const attributes = {};
          for (const a of s.attributes ?? []) attributes[a.key] = value(a.value);
          out.push({ name: s.name, kind: s.kind, attributes, status: s.status?.code ?? 0, scope: ss.scope?.name });
        }
      }
    }
  }
  return out;
}

function headerCount(rawHeaders, name) {
  let n = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i].toLowerCase() === name) n++;
  return n;
}

/** Problems of one call against the contract (empty when it passes). */
function check(call, spans, requests) {
  const e = call.expect;
  const problems = [];
  if (!call.ok) return [`call failed: ${String(call.error).split('\n')[0]}`];
  if (call.echoed !== call.rid) problems.push(`response X-Request-ID ${call.echoed}`);
  const mine = spans.filter(s => s.attributes['request.id'] === call.rid);
  const genai = mine.filter(s => INFERENCE.has(s.attributes['gen_ai.operation.name']));
  if (genai.length !== 1) return [...problems, `${genai.length} inference spans (${genai.map(s => s.name).join(', ')})`];
  const [span] = genai;
  const a = span.attributes;
  const want = {
    'gen_ai.operation.name': e.operation,
    'gen_ai.provider.name': e.provider,
    'gen_ai.request.model': e.model,
    'gen_ai.response.model': e.responseModel,
    'gen_ai.usage.input_tokens': USAGE.input,
    'gen_ai.usage.output_tokens': USAGE.output,
    'gen_ai.usage.cache_read.input_tokens': USAGE.cached,
    'gen_ai.usage.cost.source': 'local',
    'server.address': '127.0.0.1',
  };
  if (!e.noReasoning) want['gen_ai.usage.reasoning.output_tokens'] = USAGE.reasoning;
  if (e.stream) want['gen_ai.request.stream'] = true;
  if (span.name !== `${e.operation} ${e.model}`) problems.push(`span name ${span.name}`);
  if (span.kind !== 3) problems.push(`span kind ${span.kind}`);
  for (const [k, v] of Object.entries(want)) if (a[k] !== v) problems.push(`${k}=${JSON.stringify(a[k])} (want ${JSON.stringify(v)})`);
  if (e.stream && !(a['gen_ai.response.time_to_first_chunk'] > 0)) problems.push('no gen_ai.response.time_to_first_chunk');
  const ref = calcPrice(
    {
      input_tokens: USAGE.input,
      cache_read_tokens: USAGE.cached,
      output_tokens: USAGE.output,
      ...(e.noReasoning ? {} : {}),
    },
    a['gen_ai.response.model'] ?? e.model,
    { providerId: PRICE_IDS[e.provider] },
  );
  if (!ref) problems.push('no reference price');
  else if (!(Math.abs((a['gen_ai.usage.cost.amount'] ?? -1) - ref.total_price) <= 1e-9)) {
    problems.push(`cost ${a['gen_ai.usage.cost.amount']} (want ${ref.total_price})`);
  }
  for (const k of Object.keys(a)) {
    if (/^gen_ai\.(input|output)\.messages$|^gen_ai\.system_instructions$|^ai\.prompt|^ai\.response\.text/.test(k)) problems.push(`content recorded: ${k}`);
  }
  // every span of the call carries the request ID; propagation headers once per request
  const llmRequests = requests.filter(r => (r.headers['x-request-id'] ?? '').includes(call.rid));
  if (!llmRequests.length) problems.push('no LLM request carried the X-Request-ID');
  for (const r of llmRequests) {
    for (const h of ['x-request-id', 'traceparent', 'baggage']) {
      const n = headerCount(r.rawHeaders, h);
      if (n !== 1) problems.push(`${n} ${h} headers on ${r.url}`);
    }
    if (r.headers['x-request-id'] !== call.rid) problems.push(`x-request-id ${r.headers['x-request-id']}`);
    if (!/(^|,)\s*request\.id=/.test(r.headers.baggage ?? '')) problems.push('baggage without request.id');
  }
  if (e.aiSdkTelemetry && !mine.some(s => s.attributes['gen_ai.operation.name'] === 'invoke_agent')) {
    problems.push("no AI SDK telemetry span (registerTelemetry had no effect)");
  }
  return problems;
}

function runChild(entry, dir, mock, spansFile) {
  return new Promise(resolve => {
    const child = spawn(process.execPath, ['--import', REGISTER, join(HERE, 'child.mjs'), entry.scenario], {
      cwd: dir,
      env: {
        ...process.env,
        OTEL_LLM_EXPORTER: 'file',
        OTEL_LLM_TRACES_FILE: spansFile,
        OTEL_SERVICE_NAME: `matrix-${entry.id}`,
        OTEL_LLM_LOG_LEVEL: 'WARNING',
        MATRIX_LLM_URL: mock.url,
        OTEL_LLM_PROVIDER_HOSTS: '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', d => (out += d));
    child.stderr.on('data', d => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('close', code => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

function versions(entry) {
  return Object.entries(entry.packages)
    .map(([n, v]) => `${n}@${v}`)
    .join(' ');
}

/** Run the matrix (entries whose id contains `filter`); returns rows {id, versions, calls, failures}. */
export async function runMatrix(filter = '', log = m => process.stderr.write(`${m}\n`)) {
  const mock = await startMockLlm();
  const rows = [];
  try {
    for (const entry of MATRIX.filter(e => e.id.includes(filter))) {
      const started = Date.now();
      let dir;
      try {
        dir = install(entry, log);
      } catch (err) {
        rows.push({ id: entry.id, versions: versions(entry), calls: 0, failures: [`install failed: ${err.message}`], seconds: 0 });
        continue;
      }
      const tmp = mkdtempSync(join(tmpdir(), 'otel-llm-matrix-'));
      const spansFile = join(tmp, 'spans.jsonl');
      const before = mock.requests.length;
      const { code, out, err } = await runChild(entry, dir, mock, spansFile);
      const calls = out.split('\n').filter(Boolean).map(l => JSON.parse(l));
      const spans = readSpans(spansFile);
      const requests = mock.requests.slice(before);
      const failures = [];
      if (code !== 0) failures.push(`exit ${code}: ${err.split('\n').slice(-5).join(' | ')}`);
      if (!calls.length) failures.push('no call ran');
      for (const call of calls) for (const p of check(call, spans, requests)) failures.push(`${call.call}: ${p}`);
      rows.push({ id: entry.id, versions: versions(entry), calls: calls.length, failures, seconds: (Date.now() - started) / 1000, stderr: err });
      rmSync(tmp, { recursive: true, force: true });
    }
  } finally {
    mock.server.close();
  }
  return rows;
}

export function table(rows) {
  const lines = ['| entry | versions | calls | result |', '|---|---|---|---|'];
  for (const r of rows) lines.push(`| ${r.id} | ${r.versions} | ${r.calls} | ${r.failures.length ? `FAIL (${r.failures.length})` : 'pass'} (${r.seconds.toFixed(1)} s) |`);
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  // the package must be built: the entries load it as users do
  if (!existsSync(fileURLToPath(REGISTER))) execFileSync('npm', ['run', 'build'], { cwd: join(HERE, '..'), stdio: 'inherit' });
  const rows = await runMatrix(process.argv[2] ?? '');
  console.log(table(rows));
  for (const r of rows) for (const f of r.failures) console.log(`  ${r.id}: ${f}`);
  process.exitCode = rows.some(r => r.failures.length) ? 1 : 0;
}
