/**
 * The client libraries we support, with the version ranges the client matrix tests
 * (docs/node.md has the same table). A client installed at a version outside its range is
 * logged once at start-up, never skipped in silence.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

export interface ClientRange {
  name: string;
  /** Oldest supported version (inclusive). */
  min: string;
  /** First unsupported major version, if any. */
  belowMajor?: number;
  how: string;
}

export const SUPPORTED_CLIENTS: readonly ClientRange[] = [
  { name: 'openai', min: '4.19.0', how: 'wire layer (fetch) for 5+, official instrumentation for 4.19 - 6' },
  { name: '@anthropic-ai/sdk', min: '1.0.0', how: "wire layer plus the SDK's own tracing" },
  { name: '@google/genai', min: '1.0.0', how: 'wire layer' },
  { name: 'ai', min: '7.0.0', how: "wire layer; @ai-sdk/otel's spans when the app registers them" },
  { name: '@ai-sdk/openai', min: '4.0.0', how: 'wire layer' },
  { name: '@ai-sdk/anthropic', min: '4.0.0', how: 'wire layer' },
  { name: '@langchain/openai', min: '1.0.0', how: 'wire layer (through openai)' },
];

function parse(v: string): number[] {
  return v.split(/[.+-]/).slice(0, 3).map(n => Number.parseInt(n, 10) || 0);
}

export function versionAtLeast(version: string, min: string): boolean {
  const a = parse(version);
  const b = parse(min);
  for (let i = 0; i < 3; i++) {
    if (a[i]! !== b[i]!) return a[i]! > b[i]!;
  }
  return true;
}

/** Version of `name` as the application would load it (from `from`), or undefined. */
export function installedVersion(name: string, from = process.cwd()): string | undefined {
  try {
    const req = createRequire(join(from, 'noop.js'));
    const pkg = req.resolve(`${name}/package.json`);
    return JSON.parse(readFileSync(pkg, 'utf8')).version;
  } catch {
    return undefined;
  }
}

/** One line per client installed (as seen from `from`) at a version outside its range. */
export function unsupportedClients(from = process.cwd()): string[] {
  const lines: string[] = [];
  for (const c of SUPPORTED_CLIENTS) {
    const v = installedVersion(c.name, from);
    if (v === undefined) continue;
    if (!versionAtLeast(v, c.min) || (c.belowMajor !== undefined && parse(v)[0]! >= c.belowMajor)) {
      lines.push(`otel-llm: ${c.name} ${v} is not supported (supported: >= ${c.min}); its calls may be traced partly or not at all`);
    }
  }
  return lines;
}

let logged = false;

/** Write {@link unsupportedClients} once per process (at start-up), on stderr by default. */
export function logUnsupportedClients(write: (line: string) => void = l => process.stderr.write(l + '\n')): string[] {
  if (logged) return [];
  logged = true;
  let lines: string[] = [];
  try {
    lines = unsupportedClients();
    for (const line of lines) write(line);
  } catch {
    // logging is best effort
  }
  return lines;
}
