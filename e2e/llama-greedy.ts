// llama.cpp's greedy continuation of a text, for the browser tests to compare the chat page with:
//   tsx e2e/llama-greedy.ts <model.gguf> <prompt> <n>
// prints one JSON line { promptTokens, tokens, text } where text is what the continuation adds to the
// detokenized prompt (so SentencePiece's leading-space rule is applied as it is to the whole text).

import { openOracle } from '../src/testing/llama-oracle.ts';

const [model, prompt, n] = process.argv.slice(2);
if (!model || prompt === undefined || !n) {
  process.stderr.write('usage: tsx e2e/llama-greedy.ts <model.gguf> <prompt> <n>\n');
  process.exit(2);
}
const oracle = await openOracle(model, { contextSize: 512 });
try {
  const promptTokens = oracle.tokenize(prompt, { addBos: oracle.bos !== null });
  const tokens = await oracle.greedy(promptTokens, Number(n));
  const before = oracle.detokenize(promptTokens);
  const all = oracle.detokenize([...promptTokens, ...tokens]);
  if (!all.startsWith(before)) throw new Error(`detokenized prompt ${JSON.stringify(before)} is not a prefix of ${JSON.stringify(all)}`);
  process.stdout.write(`${JSON.stringify({ promptTokens, tokens, text: all.slice(before.length), version: oracle.version })}\n`);
} finally {
  await oracle.close();
}
