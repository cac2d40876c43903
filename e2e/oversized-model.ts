// A GGUF whose feed-forward matrices are larger than a GPU allows, written as a sparse file (header
// real, tensor data a hole) so a test can check the chat page refuses it without gigabytes on disk:
//   tsx e2e/oversized-model.ts <out.gguf> <bytes one tensor must exceed>
// prints one JSON line { fileBytes, tensor, tensorBytes }.

import { open } from 'node:fs/promises';
import { ggufHeader } from '../src/formats/gguf-writer.ts';
import { randomModelPlan } from '../src/testing/random-model.ts';

const [out, over] = process.argv.slice(2);
if (!out || !over) {
  process.stderr.write('usage: tsx e2e/oversized-model.ts <out.gguf> <bytes>\n');
  process.exit(2);
}
const D = 64;
// F32 rows of D floats: enough rows that one ffn matrix is bigger than `over` bytes.
const nFf = Math.ceil((Number(over) + 1) / (D * 4));
const plan = randomModelPlan({ arch: 'llama', nEmbd: D, nLayer: 1, nHead: 4, nFf, vocab: 300, ctx: 256, weightType: 'F32', seed: 1 });
const { header, dataBytes, padding } = ggufHeader({ metadata: plan.metadata, tensors: plan.tensors.map(({ name, shape, type }) => ({ name, shape, type })) });
const fileBytes = header.length + dataBytes.reduce((s, n, i) => s + n + padding[i], 0);
const f = await open(out, 'w');
try {
  await f.write(header, 0, header.length, 0);
  await f.truncate(fileBytes);
} finally {
  await f.close();
}
const big = dataBytes.indexOf(Math.max(...dataBytes));
process.stdout.write(`${JSON.stringify({ fileBytes, tensor: plan.tensors[big].name, tensorBytes: dataBytes[big] })}\n`);
