// GGUF mutation fuzzer, as many cases as asked, over the shared model files and generated ones:
//   npx tsx scripts/fuzz-gguf.ts [COUNT=10000] [--seed N] [--timeout MS] [--models DIR] [--only NAME]
//                                [--heap MB (default 512)] [--in-process]
// Each case runs in a worker thread with a heap limit (unless --in-process), so a runaway allocation
// is reported as an OOM and a synchronous loop as a HANG instead of taking the run down. Prints the
// case counts per outcome and every contract failure (a non-typed error, a hang, an OOM, a read past
// the end of the file) with the case seed that reproduces it; exits 1 if there was any.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatFuzzReport, fuzzGguf, generatedFuzzSeeds, type FuzzSeed } from '../src/testing/gguf-fuzz.ts';
import { fuzzGgufIsolated } from '../src/testing/gguf-fuzz-isolated.ts';

const args = process.argv.slice(2);
const flag = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const count = Number(args.find((a, i) => /^\d+$/.test(a) && !args[i - 1]?.startsWith('--')) ?? 10000);
const seed = Number(flag('--seed') ?? Date.now() % 1e6);
const timeoutMs = Number(flag('--timeout') ?? 5000);
const dir = flag('--models') ?? join(import.meta.dirname, '../../shared/models');
const only = flag('--only');
const heapMb = Number(flag('--heap') ?? 512);
const inProcess = args.includes('--in-process');

const seeds: FuzzSeed[] = [];
if (existsSync(dir)) {
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.gguf')).sort()) seeds.push({ name: f, bytes: new Uint8Array(readFileSync(join(dir, f))) });
} else {
  console.warn(`no model directory at ${dir}: generated seeds only`);
}
seeds.push(...generatedFuzzSeeds());
const chosen = only ? seeds.filter((s) => s.name.includes(only)) : seeds;

console.log(`fuzzing ${count} cases, seed ${seed}, ${inProcess ? 'in process' : `each in a worker with a ${heapMb} MiB heap`}, over ${chosen.length} files: ${chosen.map((s) => s.name).join(', ')}`);
let last = Date.now();
const report = await (inProcess ? fuzzGguf : fuzzGgufIsolated)(chosen, {
  cases: count, seed, timeoutMs, heapMb,
  onCase: (i) => {
    if (Date.now() - last > 10_000) {
      last = Date.now();
      console.log(`  ${i} cases...`);
    }
  },
});
console.log(formatFuzzReport(report));
for (const f of report.failures.slice(0, 5)) console.error(f.error);
process.exit(report.failures.length ? 1 : 0);
