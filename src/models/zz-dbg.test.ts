import { it } from 'vitest';
import { openGgufPath } from '../formats/gguf-node.ts';
import { testGpu } from '../testing/gpu.ts';
import { loadLanguageModel } from './load.ts';

it('dbg', async () => {
  const gpu = await testGpu();
  const seq = [1, 403, 407, 261, 378, 13, 426, 436, 441, 462, 398, 262, 424, 411, 316, 417];
  for (const f of ['stories260K-q8_0.gguf', 'stories260K.gguf']) for (const round of [true, false]) {
    const gguf = await openGgufPath('/work/shared/models/' + f);
    const { model } = await loadLanguageModel(gpu, gguf, { contextLength: 256, maxBatch: 32, llamaCppActivationRounding: round });
    const dec: Float32Array[] = [];
    for (let p = 0; p < seq.length; p++) { const r = gpu.recorder(); model.forward(r, [seq[p]], p); r.submit(); dec.push(await gpu.readF32(model.logits)); }
    const out: string[] = [];
    for (let p = 0; p < seq.length; p++) {
      const r = gpu.recorder(); model.forward(r, seq.slice(0, p + 1), 0); r.submit();
      const o = await gpu.readF32(model.logits); let m = 0; for (let j = 0; j < o.length; j++) m = Math.max(m, Math.abs(o[j] - dec[p][j])); out.push(m.toExponential(1));
    }
    console.log(f, round, out.join(' '));
    model.dispose();
  }
}, 300000);
