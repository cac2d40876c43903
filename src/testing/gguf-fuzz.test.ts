// The GGUF mutation fuzzer, bounded for CI: 1,500 seeded mutations over the shared model files and
// generated ones, through the parser, the vocabulary reader, the model checks and the tokenizer. Every
// case must be accepted or refused with a typed EdgewiseError, within its time bound, reading nothing
// outside the file. The CI run is in process (a runaway case fails it by timing out or crashing the test
// worker); scripts/fuzz-gguf.ts runs as many more as asked, each case in a heap-limited child process
// that turns those into a HANG or an OOM naming the case, which the last test here checks.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { bytesSource, GgufFormatError, openGguf } from '../formats/gguf.ts';
import { ByteWriter, gv, writeGguf, type GgufWriterValue } from '../formats/gguf-writer.ts';
import { UnsupportedProjectorError, VisionConfigError } from '../vision/clip.ts';
import { GGUF_MAGIC } from '../formats/gguf.ts';
import { EdgewiseError } from '../errors.ts';
import { formatFuzzReport, fuzzGguf, generatedFuzzSeeds, ggufLayout, MUTATION_KINDS, mutate, runFuzzCase, type FuzzSeed } from './gguf-fuzz.ts';
import { fuzzGgufIsolated, isolatedSelfTest } from './gguf-fuzz-isolated.ts';
import { Rng } from './rng.ts';

const MODELS = resolve(fileURLToPath(new URL('../../', import.meta.url)), '../shared/models');

function seeds(): FuzzSeed[] {
  if (!existsSync(MODELS)) throw new Error(`model fixtures missing: ${MODELS} (../shared/models must sit beside the repo)`);
  const files = readdirSync(MODELS).filter((f) => f.endsWith('.gguf')).sort();
  expect(files.length).toBeGreaterThanOrEqual(6);
  return [...files.map((f) => ({ name: f, bytes: new Uint8Array(readFileSync(join(MODELS, f))) })), ...generatedFuzzSeeds()];
}

describe('GGUF mutation fuzzer', () => {
  it('1,500 seeded mutations: every file accepted or refused with a typed error, bounded in time and reads', { timeout: 120_000 }, async () => {
    const all = seeds();
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const report = await fuzzGguf(all, {
      cases: 1500, seed: 20261123, timeoutMs: 5000,
      onCase: (i) => { if (i % 100 === 0) rssPeak = Math.max(rssPeak, process.memoryUsage().rss); },
    });
    console.log(formatFuzzReport(report));
    console.log(`  resident memory: ${(rssBefore / 2 ** 20).toFixed(0)} MiB before, peak ${(rssPeak / 2 ** 20).toFixed(0)} MiB sampled every 100 cases`);
    for (const f of report.failures.slice(0, 3)) console.error(f.error);
    expect(report.failures.map((f) => `${f.seed} [${f.kind}] ${f.note}: ${f.outcome}`)).toEqual([]);
    expect(report.cases).toBe(1500);
    // Every kind of mutation ran, and the run saw both sides: files still accepted and many refusals.
    expect([...report.kinds.keys()].sort()).toEqual([...MUTATION_KINDS].sort());
    const count = (prefix: string) => [...report.outcomes].filter(([o]) => o.startsWith(prefix)).reduce((n, [, c]) => n + c, 0);
    expect(count('accepted')).toBeGreaterThan(50);
    expect(count('refused: GgufFormatError')).toBeGreaterThan(500);
    expect(count('refused: ModelConfigError')).toBeGreaterThan(20);
    // Nothing near a 2^60-byte allocation happened: the whole run stays within a few hundred MiB.
    expect(rssPeak - rssBefore).toBeLessThan(512 * 2 ** 20);
  });

  it('claims of 2^60 elements or bytes are refused before anything is allocated or read', async () => {
    const start = () => new ByteWriter().u32(GGUF_MAGIC).u32(3);
    const cases: [string, Uint8Array, string][] = [
      ['2^60 metadata entries', start().u64(0).u64(1n << 60n).finish(), 'kv count'],
      ['2^60 tensors', start().u64(1n << 60n).u64(0).finish(), 'tensor count'],
      ['a 2^60-byte string', start().u64(0).u64(1).string('k').u32(8).u64(1n << 60n).finish(), 'string length'],
      ['a 2^60-element u8 array', start().u64(0).u64(1).string('k').u32(9).u32(0).u64(1n << 60n).finish(), 'array length'],
      ['a 2^60-element array of arrays', start().u64(0).u64(1).string('k').u32(9).u32(9).u64(1n << 60n).finish(), 'array length'],
      // F32 [2^29, 2^29]: 2^60 bytes, beyond what a JS number counts exactly; F32 [2^20, 2^20]: 4 TiB past the end.
      ['a 2^60-byte tensor', start().u64(1).u64(0).string('t').u32(2).u64(1n << 29n).u64(1n << 29n).u32(0).u64(0).pad(32).finish(), 'tensor shape'],
      ['a 4 TiB tensor', start().u64(1).u64(0).string('t').u32(2).u64(1n << 20n).u64(1n << 20n).u32(0).u64(0).pad(32).finish(), 'tensor data'],
    ];
    for (const [what, bytes, problem] of cases) {
      const r = await runFuzzCase(bytes, { timeoutMs: 1000 });
      expect(r.failed, `${what}: ${r.outcome}`).toBe(false);
      expect(r.error, what).toBeInstanceOf(GgufFormatError);
      expect((r.error as GgufFormatError).what, what).toBe(problem);
      expect(r.bytesRead, what).toBeLessThanOrEqual(bytes.length);
      expect(r.ms, what).toBeLessThan(100);
    }
  });

  it('the layout walker finds every field of a file, and each mutation is reproducible from its seed', () => {
    const s = generatedFuzzSeeds().find((x) => x.name === 'every value type')!;
    const layout = ggufLayout(s.bytes);
    expect(layout.byKind.get('tensor offset')!.map((f) => f.owner)).toEqual(['a', 'b', 'c']);
    expect(layout.byKind.get('scalar')!.map((f) => f.owner)).toEqual(['u8', 'i8', 'u16', 'i16', 'u32', 'i32', 'f32', 'f64', 'u64', 'i64', 'bool']);
    expect(layout.byKind.get('array length')!.length).toBe(8); // strings, bools, ints, nested + its 3 inner arrays + the innermost
    expect(layout.dataOffset % 32).toBe(0);
    for (const kind of MUTATION_KINDS) {
      let made = 0;
      for (let seed = 0; seed < 20; seed++) {
        const a = mutate(new Rng(seed), s.bytes, layout, kind);
        const b = mutate(new Rng(seed), s.bytes, layout, kind);
        expect(b?.note, kind).toBe(a?.note);
        if (!a || !b) continue;
        made++;
        expect(Buffer.compare(a.bytes, b.bytes), kind).toBe(0);
        expect(Buffer.compare(a.bytes, s.bytes), `${kind}: ${a.note}`).not.toBe(0);
      }
      expect(made, kind).toBeGreaterThan(10);
    }
  });

  it('the harness can fail: a plain Error is a crash, a stalled read is a hang', async () => {
    const good = generatedFuzzSeeds()[0].bytes;
    const ok = await runFuzzCase(good);
    expect(ok).toMatchObject({ outcome: 'accepted (model)', failed: false });
    const crash = await runFuzzCase(good, {
      wrapSource: (src) => ({ ...src, read: async () => { throw new TypeError('boom'); } }),
    });
    expect(crash.failed).toBe(true);
    expect(crash.outcome).toBe('CRASH TypeError: boom');
    expect(crash.error).not.toBeInstanceOf(EdgewiseError);
    const hang = await runFuzzCase(good, { timeoutMs: 200, wrapSource: (src) => ({ ...src, read: () => new Promise<Uint8Array>(() => {}) }) });
    expect(hang).toMatchObject({ outcome: 'HANG', failed: true });
  });

  it('isolated runs: a synchronous spin is a HANG, a runaway allocation an OOM, and cases match the in-process run', { timeout: 180_000 }, async () => {
    expect(await isolatedSelfTest('spin', { boundMs: 500, heapMb: 64 })).toBe('HANG');
    expect(await isolatedSelfTest('allocate', { boundMs: 60_000, heapMb: 64 })).toBe('OOM');
    const gen = generatedFuzzSeeds();
    const opts = { cases: 60, seed: 99, timeoutMs: 5000, initialWindow: 4096 };
    const inProcess = await fuzzGguf(gen, opts);
    const isolated = await fuzzGgufIsolated(gen, { ...opts, heapMb: 256 });
    expect(isolated.failures).toEqual([]);
    expect(new Map([...isolated.outcomes].sort())).toEqual(new Map([...inProcess.outcomes].sort()));
  });

  it('found by the fuzzer in the mmproj checks: an absurd block_count, a projector named after an Object member', { timeout: 60_000 }, async () => {
    // Rewrite the fixture with one metadata value changed (the writer keeps the tensors as they are).
    const g = await openGguf(bytesSource(new Uint8Array(readFileSync(join(MODELS, 'mmproj-tinygemma3.gguf')))));
    const tensors = await Promise.all(g.tensors.map(async (t) => ({ name: t.name, shape: t.shape, type: t.type, data: await g.readTensorBytes(t) })));
    const withValue = (key: string, value: GgufWriterValue) => {
      const metadata = new Map<string, GgufWriterValue>([...g.metadata].filter(([k]) => k !== 'general.alignment'));
      metadata.set(key, value);
      return writeGguf({ metadata, tensors, alignment: g.alignment });
    };
    expect((await runFuzzCase(withValue('clip.vision.block_count', gv.u32(4)))).outcome).toBe('accepted (mmproj)');
    const layers = await runFuzzCase(withValue('clip.vision.block_count', gv.u32(954211246)), { timeoutMs: 3000 });
    expect(layers.error).toBeInstanceOf(VisionConfigError);
    expect((layers.error as Error).message).toBe('clip.vision.block_count is 954211246 but the file holds only 71 tensors');
    const proj = await runFuzzCase(withValue('clip.projector_type', 'constructor'));
    expect(proj.error).toBeInstanceOf(UnsupportedProjectorError);
  });
});
