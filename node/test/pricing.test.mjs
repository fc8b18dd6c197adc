// Pricing: our per-(provider, model) compiled rates against @pydantic/genai-prices' own
// calcPrice across the bundled models, strict matching, and the hot-path timing.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { calcPrice } from '@pydantic/genai-prices';
import { PriceBook, bundledReady, strictMatch, usage, normalizeUsage } from '@otel-llm/node';

const providers = await bundledReady;
const book = PriceBook.load();

function libraryPrice(provider, model, u, when) {
  const r = calcPrice(
    { input_tokens: u.input, output_tokens: u.output, cache_read_tokens: u.cacheRead, cache_write_tokens: u.cacheCreation },
    model,
    { providerId: provider, timestamp: when },
  );
  return r?.total_price;
}

describe('PriceBook equals calcPrice on the bundled data', () => {
  const when = new Date('2026-06-01T12:00:00Z');
  const usages = [
    usage({ input: 1000, output: 500 }),
    usage({ input: 5000, output: 400, cacheRead: 3000, cacheCreation: 1500 }),
    usage({ input: 250000, output: 1000, cacheRead: 1000 }), // above 200k tiers
  ];
  let compared = 0;
  it('every bundled model id, three usages', () => {
    const mismatches = [];
    for (const prov of providers) {
      for (const model of prov.models) {
        if (!strictMatch(model, model.id)) continue;
        for (const u of usages) {
          let want;
          try {
            want = libraryPrice(prov.id, model.id, u, when);
          } catch {
            continue; // usage the model's units refuse (e.g. cache parts it cannot split)
          }
          if (want === undefined) continue;
          const got = book.cost(prov.id, model.id, u, when.getTime());
          compared++;
          if (got === undefined || Math.abs(got - want) > 1e-9 * Math.max(1, want)) {
            mismatches.push(`${prov.id}/${model.id} ${JSON.stringify(u)}: ${got} vs ${want}`);
          }
        }
      }
    }
    assert.ok(compared > 1000, `compared ${compared}`);
    assert.deepEqual(mismatches, []);
  });
});

describe('strict matching', () => {
  it('prices version-tagged names, refuses made-up ones', () => {
    assert.ok(book.cost('openai', 'gpt-4o-mini-2024-07-18', usage({ input: 10 })) > 0);
    assert.equal(book.cost('openai', 'gpt-4o-mini-foo-unknown', usage({ input: 10 })), undefined);
    assert.equal(book.cost('anthropic', 'claude-sonnet-4-5-foo', usage({ input: 10 })), undefined);
    assert.ok(book.cost('anthropic', 'claude-sonnet-4-5-20250929', usage({ input: 10 })) > 0);
    assert.equal(book.cost('ollama', 'gpt-4o-mini', usage({ input: 10 })), undefined, 'unknown provider: unpriced');
    assert.equal(book.cost('openai', 'mock-model', usage({ input: 10 })), undefined);
  });
  it('normalises raw provider usage (cache parts larger than input)', () => {
    assert.deepEqual(normalizeUsage(usage({ input: 50, cacheRead: 4000, cacheCreation: 1000, output: 3 })).input, 5050);
  });
});

describe('hot path', () => {
  it('resolves a model once, then prices from its cache (equal to calcPrice)', () => {
    const fresh = PriceBook.load();
    const u = usage({ input: 1000, output: 500, cacheRead: 200 });
    const first = fresh.cost('openai', 'gpt-4o-mini', u);
    const resolved = fresh.cache.get([...fresh.cache.keys()].find(k => k.includes('gpt-4o-mini')));
    assert.ok(resolved, 'the resolution is cached per (provider, model)');
    const size = fresh.cache.size;
    for (let i = 0; i < 100; i++) assert.equal(fresh.cost('openai', 'gpt-4o-mini', u), first);
    assert.equal(fresh.cache.size, size, 'no new resolution per call');
    const lib = calcPrice({ input_tokens: 1000, output_tokens: 500, cache_read_tokens: 200 }, 'gpt-4o-mini', { providerId: 'openai' });
    assert.ok(Math.abs(first - lib.total_price) < 1e-12, `${first} vs ${lib.total_price}`);
  });
});
