// Regenerates src/testing/fixtures/tokenizer-<vocab>.json from llama.cpp (node-llama-cpp):
//   npx tsx scripts/gen-tokenizer-fixtures.ts
// Run it after changing the corpus in src/testing/tokenizer-fixtures.ts or upgrading node-llama-cpp.

import { mkdirSync, writeFileSync } from 'node:fs';
import { openOracle } from '../src/testing/llama-oracle.ts';
import {
  buildTokenizerFixture,
  FIXTURES_DIR,
  fixturePath,
  formatTokenizerFixture,
  modelPath,
  TOKENIZER_VOCABS,
} from '../src/testing/tokenizer-fixtures.ts';

const t0 = performance.now();
// Open all at once: the oracles share one llama.cpp instance, whose start-up dominates the run time.
const oracles = await Promise.all(TOKENIZER_VOCABS.map((v) => openOracle(modelPath(v.file), { vocabOnly: true })));
const t1 = performance.now();
console.log(`loaded ${oracles.length} vocabularies in ${(t1 - t0).toFixed(0)} ms (${oracles[0].version})`);
try {
  mkdirSync(FIXTURES_DIR, { recursive: true });
  TOKENIZER_VOCABS.forEach((vocab, i) => {
    const t = performance.now();
    const fixture = buildTokenizerFixture(oracles[i], vocab);
    writeFileSync(fixturePath(vocab.name), formatTokenizerFixture(fixture));
    const nIds = fixture.cases.reduce((s, c) => s + c.ids.length, 0);
    console.log(`${vocab.name}: ${fixture.cases.length} strings, ${nIds} tokens, vocab ${fixture.vocabSize}, ${(performance.now() - t).toFixed(0)} ms -> ${fixturePath(vocab.name)}`);
  });
} finally {
  await Promise.all(oracles.map((o) => o.close()));
}
