// The client matrix (matrix/run.mjs) as part of `npm test`: every supported client library
// at its newest release and the oldest we claim, installed once into
// ~/.cache/otel-llm/node-matrix/ (npm install there, keyed by version), run under
// `--import @otel-llm/node/register` against the mock LLM over real HTTP.
// OTEL_LLM_NODE_MATRIX=0 turns it off, and says so.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MATRIX } from '../matrix/clients.mjs';
import { runMatrix, table } from '../matrix/run.mjs';

const off = ['0', 'false', 'no', 'off'].includes((process.env.OTEL_LLM_NODE_MATRIX ?? '').toLowerCase());

describe('client matrix', { timeout: 600_000 }, () => {
  if (off) {
    it('is turned off by OTEL_LLM_NODE_MATRIX=0', { skip: 'OTEL_LLM_NODE_MATRIX=0: client matrix not run' }, () => {});
    return;
  }
  let rows;
  it('runs every entry', async () => {
    rows = await runMatrix('');
    process.stderr.write(`${table(rows)}\n`);
    assert.equal(rows.length, MATRIX.length);
  });
  for (const entry of MATRIX) {
    it(`${entry.id}: ${Object.entries(entry.packages).map(([n, v]) => `${n}@${v}`).join(' ')}`, () => {
      const row = rows?.find(r => r.id === entry.id);
      assert.ok(row, 'ran');
      assert.ok(row.calls > 0, 'made calls');
      assert.deepEqual(row.failures, [], row.failures.join('\n'));
    });
  }
});
