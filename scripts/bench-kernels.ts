// Kernel benchmark: per op and shape, GPU time (timestamp queries when the device has them, else wall
// clock around onSubmittedWorkDone), GB/s, GFLOP/s and the fraction of a copy bandwidth measured in the
// same run. A benchmark, not a test: it prints numbers. `--json` prints one JSON object instead.
//   npm run bench:kernels [-- --json] [-- --filter matmul] [-- --reps 20]

import { Gpu } from '../src/gpu/gpu.ts';
import { BENCH_CASES, type BenchCase } from './bench-cases.ts';
import { copyBandwidth, gpuTimes } from './bench-rates.ts';

const args = process.argv.slice(2);
const json = args.includes('--json');
const filter = args.includes('--filter') ? args[args.indexOf('--filter') + 1] : '';
const reps = args.includes('--reps') ? Number(args[args.indexOf('--reps') + 1]) : 10;

async function main() {
  const gpu = await Gpu.create({ label: 'bench' });
  const copyGBs = await copyBandwidth(gpu);
  const rows: Record<string, unknown>[] = [];
  const cases = BENCH_CASES.filter((c: BenchCase) => !filter || c.name.includes(filter));
  if (!json) {
    console.log(`adapter: ${gpu.info.vendor} ${gpu.info.architecture} ${gpu.info.description} (${gpu.info.backend}); timing: ${gpu.info.features.timestampQuery ? 'GPU timestamps' : 'wall clock'}`);
    console.log(`copy bandwidth (read+write): ${copyGBs.toFixed(2)} GB/s\n`);
    console.log(`${'op'.padEnd(44)} ${'median ms'.padStart(10)} ${'min ms'.padStart(9)} ${'GB/s'.padStart(8)} ${'GFLOP/s'.padStart(9)} ${'of copy'.padStart(8)}`);
  }
  for (const c of cases) {
    const inst = await c.setup(gpu);
    try {
      const t = await gpuTimes(gpu, c.name, inst.record, reps);
      const med = t[Math.floor(t.length / 2)];
      const gbs = inst.bytes / (med / 1e3) / 1e9;
      const gflops = inst.flops / (med / 1e3) / 1e9;
      const row = { op: c.name, median_ms: med, min_ms: t[0], bytes: inst.bytes, flops: inst.flops, gb_per_s: gbs, gflop_per_s: gflops, fraction_of_copy: gbs / copyGBs };
      rows.push(row);
      if (!json) {
        console.log(`${c.name.padEnd(44)} ${med.toFixed(3).padStart(10)} ${t[0].toFixed(3).padStart(9)} ${gbs.toFixed(2).padStart(8)} ${gflops.toFixed(2).padStart(9)} ${(100 * gbs / copyGBs).toFixed(1).padStart(7)}%`);
      }
    } finally {
      inst.dispose();
    }
  }
  if (json) console.log(JSON.stringify({ adapter: gpu.info, copy_gb_per_s: copyGBs, reps, results: rows }));
  gpu.destroy();
}

main().then(() => process.exit(0), (e) => {
  console.error(e);
  process.exit(1);
});
