// Install each matrix entry into ~/.cache/otel-llm/node-matrix/<pkg>-<version>... once
// (a marker file records a complete install); prints the directory of each entry.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { MATRIX } from './clients.mjs';

export const CACHE = process.env.OTEL_LLM_NODE_MATRIX_CACHE || join(homedir(), '.cache', 'otel-llm', 'node-matrix');

export function dirOf(entry) {
  const key = Object.entries(entry.packages)
    .map(([name, version]) => `${name.replace('@', '').replace('/', '+')}-${version}`)
    .join('_');
  return join(CACHE, key);
}

/** Install one entry (no-op when its marker exists); returns its directory. */
export function install(entry, log = () => {}) {
  const dir = dirOf(entry);
  const marker = join(dir, '.installed');
  if (existsSync(marker)) return dir;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'matrix-entry', private: true, version: '0.0.0' }));
  const specs = Object.entries(entry.packages).map(([n, v]) => `${n}@${v}`);
  log(`installing ${specs.join(' ')} into ${dir}`);
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--save-exact', ...specs], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  writeFileSync(marker, new Date().toISOString());
  return dir;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const entry of MATRIX) console.log(entry.id, install(entry, m => console.error(m)));
}
