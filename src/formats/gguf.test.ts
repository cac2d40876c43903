import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  bytesSource, GGUF_MAGIC, GgufFormatError, ggufSplitName, ggufSplitNames, openGguf, openGgufSplits, parseGgufSplitName,
  readGgufHeader, type Gguf, type GgufProblem, type GgufReadOptions, type GgufValue,
} from './gguf.ts';
import { fileSource, openGgufPath } from './gguf-node.ts';
import { ByteWriter, gv, writeGguf, writeGgufSplits, type GgufWriterTensor } from './gguf-writer.ts';
import { GGML_TYPE, type GgmlTypeName } from './ggml-types.ts';
import { dequantize, quantize } from './quantize.ts';
import { Rng } from '../testing/rng.ts';

const MODELS = resolve(fileURLToPath(new URL('../../', import.meta.url)), '../shared/models');

/** Byte equality without vitest's element-by-element deep equal (slow on 100 KB arrays). */
function expectSameBytes(actual: Uint8Array, expected: Uint8Array, what = 'bytes'): void {
  expect(actual.length, what).toBe(expected.length);
  expect(Buffer.compare(actual, expected), what).toBe(0);
}

const parse = (bytes: Uint8Array, opts?: GgufReadOptions) => readGgufHeader(bytesSource(bytes, 'test.gguf'), opts);

/** Await p and return its GgufFormatError, failing unless it is one about `what`. */
async function formatError(p: Promise<unknown>, what: GgufProblem): Promise<GgufFormatError> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err, `expected GgufFormatError '${what}'`).toBeInstanceOf(GgufFormatError);
  const e = err as GgufFormatError;
  expect(e.what, e.message).toBe(what);
  return e;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

// Hand-built headers for the hostile cases: the writer only writes valid files.
const start = (tensors: number | bigint, kvs: number | bigint, version = 3) => new ByteWriter().u32(GGUF_MAGIC).u32(version).u64(tensors).u64(kvs);
function tensorInfo(w: ByteWriter, name: string, ne: (number | bigint)[], type: number, offset: number | bigint): ByteWriter {
  w.string(name).u32(ne.length);
  for (const d of ne) w.u64(d);
  return w.u32(type).u64(offset);
}
/** Pad the header to 32 and append `dataBytes` of zeros. */
const withData = (w: ByteWriter, dataBytes: number) => concat(w.pad(32).finish(), new Uint8Array(dataBytes));

// ---------------------------------------------------------------- the shared model files

type Facts = (g: Gguf, file: string) => void | Promise<void>;

function typeCounts(g: Gguf): Record<string, number> {
  const c: Record<string, number> = {};
  for (const t of g.tensors) c[t.type] = (c[t.type] ?? 0) + 1;
  return c;
}

function storiesFacts(types: Record<string, number>): Facts {
  return (g) => {
    expect(g.version).toBe(3);
    expect(g.arch).toBe('llama');
    expect(g.getU32(g.archKey('embedding_length'))).toBe(64);
    expect(g.getU32(g.archKey('block_count'))).toBe(5);
    expect(g.getU32(g.archKey('attention.head_count'))).toBe(8);
    expect(g.getU32(g.archKey('attention.head_count_kv'))).toBe(4);
    expect(g.getU32(g.archKey('feed_forward_length'))).toBe(172);
    expect(g.getU32(g.archKey('context_length'))).toBe(2048);
    expect(g.getF32(g.archKey('attention.layer_norm_rms_epsilon'))).toBeCloseTo(1e-5, 10);
    expect(g.getU32('tokenizer.ggml.padding_token_id')).toBe(0xffffffff);
    const tokens = g.getStrings('tokenizer.ggml.tokens');
    expect(tokens.length).toBe(512);
    expect(tokens.slice(0, 3)).toEqual(['<unk>', '<s>', '</s>']);
    expect(g.getArray('tokenizer.ggml.scores', 'f32').items).toBeInstanceOf(Float32Array);
    expect(g.getArray('tokenizer.ggml.token_type', 'i32').items).toBeInstanceOf(Int32Array);
    expect(g.tensors.length).toBe(3 + 5 * 9);
    expect(typeCounts(g)).toEqual(types);
    expect(g.requireTensor('token_embd.weight').shape).toEqual([512, 64]);
    expect(g.requireTensor('blk.4.ffn_down.weight').shape).toEqual([64, 172]);
    expect(g.requireTensor('blk.4.ffn_down.weight').type).toBe('F32'); // rows of 172 are not whole Q blocks
    expect(g.requireTensor('output_norm.weight').shape).toEqual([64]);
    expect(g.headerBytes).toBe(14152);
    expect(g.dataOffset).toBe(14176);
  };
}

const FACTS: Record<string, Facts> = {
  'stories260K.gguf': storiesFacts({ F32: 48 }),
  'stories260K-q8_0.gguf': storiesFacts({ Q8_0: 32, F32: 16 }),
  'stories260K-q4_0.gguf': storiesFacts({ Q4_0: 32, F32: 16 }),
  'llama-2-tiny-random.gguf': (g) => {
    expect(g.arch).toBe('llama');
    expect(g.getU32('llama.embedding_length')).toBe(8);
    expect(g.getU32('llama.block_count')).toBe(1);
    const tokens = g.getStrings('tokenizer.ggml.tokens');
    expect(tokens.length).toBe(32000);
    expect(tokens.slice(0, 3)).toEqual(['<unk>', '<s>', '</s>']);
    expect(tokens.filter((t) => t.startsWith('\u2581')).length).toBeGreaterThan(10000); // SentencePiece word starts survive decoding
    expect(tokens[13]).toBe('<0x0A>');
    expect(g.getArray('tokenizer.ggml.scores', 'f32').items.length).toBe(32000);
    expect(g.tensors.length).toBe(12);
    expect(typeCounts(g)).toEqual({ F16: 9, F32: 3 });
    expect(g.requireTensor('token_embd.weight')).toMatchObject({ shape: [32000, 8], type: 'F16', byteLength: 512000 });
  },
  'mmproj-tinygemma3.gguf': (g) => {
    expect(g.arch).toBe('clip');
    expect(g.getString('clip.projector_type')).toBe('gemma3');
    expect(g.getBool('clip.has_vision_encoder')).toBe(true);
    expect(g.getU32('clip.vision.image_size')).toBe(32);
    expect(g.getU32('clip.vision.patch_size')).toBe(2);
    expect(g.getU32('clip.vision.embedding_length')).toBe(128);
    expect(g.getU32('clip.vision.block_count')).toBe(4);
    expect(g.getU32('clip.vision.attention.head_count')).toBe(4);
    expect(g.getU32('clip.vision.feed_forward_length')).toBe(512);
    expect(Array.from(g.getArray('clip.vision.image_mean', 'f32').items)).toEqual([0.5, 0.5, 0.5]);
    expect(Array.from(g.getArray('clip.vision.image_std', 'f32').items)).toEqual([0.5, 0.5, 0.5]);
    expect(g.getStrings('general.tags')).toEqual(['trl', 'sft']);
    expect(g.tensors.length).toBe(71);
    expect(typeCounts(g)).toEqual({ F16: 1, F32: 46, Q8_0: 24 });
    expect(g.requireTensor('mm.input_projection.weight')).toMatchObject({ shape: [128, 128], type: 'F16' });
  },
  'ggml-vocab-phi-3.gguf': (g, file) => {
    expect(g.arch).toBe('phi3');
    expect(g.tensors.length).toBe(0);
    expect(g.getStrings('tokenizer.ggml.tokens').length).toBe(32064);
    expect(g.getString('tokenizer.chat_template')).toContain('message');
    expect(g.headerBytes).toBe(statSync(file).size); // no data section at all
  },
};

describe('GGUF reader on the shared model files', () => {
  it(`parses every file in ${MODELS} and matches its known facts`, async () => {
    if (!existsSync(MODELS)) throw new Error(`model folder ${MODELS} is missing: the GGUF tests need ../shared/models next to the repo`);
    const files = readdirSync(MODELS).filter((f) => f.endsWith('.gguf')).sort();
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const facts = FACTS[f];
      if (!facts) throw new Error(`${f} has no known facts in gguf.test.ts: add them`);
      const path = join(MODELS, f);
      const g = await openGgufPath(path);
      try {
        await facts(g, path);
        // Tensor data never leaves the file and every offset is aligned.
        for (const t of g.tensors) {
          expect((t.offset - g.dataOffset) % g.alignment).toBe(0);
          expect(t.offset + t.byteLength).toBeLessThanOrEqual(statSync(path).size);
        }
      } finally {
        await g.close();
      }
    }
    expect(files.filter((f) => !FACTS[f])).toEqual([]);
    expect(Object.keys(FACTS).filter((f) => !files.includes(f))).toEqual([]);
  });

  it('finds the right tensor bytes: Q8_0 token_embd dequantizes to the F32 one', async () => {
    const f32 = await openGgufPath(join(MODELS, 'stories260K.gguf'));
    const q8 = await openGgufPath(join(MODELS, 'stories260K-q8_0.gguf'));
    try {
      for (const name of ['token_embd.weight', 'blk.2.attn_k.weight', 'output.weight']) {
        const a = f32.requireTensor(name), b = q8.requireTensor(name);
        const ref = new Float32Array((await f32.readTensorBytes(a)).buffer);
        const deq = dequantize('Q8_0', await q8.readTensorBytes(b), b.numel);
        let maxAbs = 0, maxErr = 0;
        for (let i = 0; i < ref.length; i++) {
          maxAbs = Math.max(maxAbs, Math.abs(ref[i]));
          maxErr = Math.max(maxErr, Math.abs(ref[i] - deq[i]));
        }
        // Q8_0 rounds to 1/127 of the block's largest magnitude: at most half a step of the largest block.
        expect(maxErr, name).toBeLessThanOrEqual(maxAbs / 127);
        expect(maxAbs).toBeGreaterThan(0);
      }
    } finally {
      await f32.close();
      await q8.close();
    }
  });

  it('reads only the header region, growing a small window as needed, with the same result', async () => {
    const path = join(MODELS, 'llama-2-tiny-random.gguf'); // 724 KB of vocabulary before 1 MB of weights
    const src = await fileSource(path);
    const small = await openGguf(src, { initialWindow: 1024 });
    const full = await openGgufPath(path);
    try {
      expect(small.headerBytes).toBe(724398);
      expect(src.bytesRead).toBe(small.files[0].bytesRead);
      expect(src.bytesRead).toBeGreaterThanOrEqual(small.headerBytes);
      expect(src.bytesRead).toBeLessThan(small.headerBytes * 2); // doubling overshoots by less than the header
      expect(src.bytesRead).toBeLessThan(statSync(path).size);
      expect(small.getStrings('tokenizer.ggml.tokens')).toEqual(full.getStrings('tokenizer.ggml.tokens'));
      expect(small.tensors).toEqual(full.tensors);
      const stories = await fileSource(join(MODELS, 'stories260K.gguf'));
      await readGgufHeader(stories, { initialWindow: 4096 });
      expect(stories.bytesRead).toBeLessThan(2 * 14152);
      await stories.close?.();
    } finally {
      await small.close();
      await full.close();
    }
  });
});

// ---------------------------------------------------------------- writer -> reader

const EVERY_TYPE: Record<string, GgufValue> = {
  u8: gv.u8(255), i8: gv.i8(-128), u16: gv.u16(65535), i16: gv.i16(-32768),
  u32: gv.u32(0xffffffff), i32: gv.i32(-0x80000000), f32: gv.f32(Math.fround(-1.5e-5)), f64: gv.f64(Math.PI),
  bool_t: gv.bool(true), bool_f: gv.bool(false),
  string: gv.string('héllo ▁wörld 😀 \uFEFF'), empty_string: gv.string(''), bom_first: gv.string('\uFEFFx'),
  u64_max: gv.u64((1n << 64n) - 1n), u64_2p53p1: gv.u64(2n ** 53n + 1n), i64_min: gv.i64(-(1n << 63n)), i64_small: gv.i64(-7),
  a_u8: gv.array('u8', [0, 7, 255]), a_i8: gv.array('i8', [-128, 0, 127]),
  a_u16: gv.array('u16', [0, 65535]), a_i16: gv.array('i16', [-32768, 32767]),
  a_u32: gv.array('u32', [0, 0xffffffff]), a_i32: gv.array('i32', [-0x80000000, 0x7fffffff, 3]),
  a_f32: gv.array('f32', [0.5, -2, 1e-30]), a_f64: gv.array('f64', [Math.E, -0, 1e300]),
  a_u64: gv.array('u64', [0n, (1n << 64n) - 1n, 2n ** 53n + 1n]), a_i64: gv.array('i64', [-(1n << 63n), (1n << 63n) - 1n]),
  a_bool: gv.bools([true, false, true]), a_string: gv.strings(['\uFEFF', '', 'a', '▁the', '😀', '\uFEFFbom']),
  a_empty: gv.array('f32', []),
  a_nested: gv.arrays([
    gv.array('i32', [1, 2, 3]),
    gv.strings(['x', 'y']),
    { itemType: 'array', items: [{ itemType: 'u8', items: new Uint8Array([9]) }, { itemType: 'bool', items: [] }] },
  ]),
};

describe('GGUF writer -> reader round trip', () => {
  it('keeps every value type, nested arrays and u64/i64 beyond 2^53', async () => {
    const g = await openGguf(bytesSource(writeGguf({ metadata: { 'general.architecture': 'test', ...EVERY_TYPE } })));
    expect([...g.metadata.keys()]).toEqual(['general.architecture', ...Object.keys(EVERY_TYPE)]);
    for (const [k, v] of Object.entries(EVERY_TYPE)) expect(g.get(k), k).toEqual(v);
    expect(g.get('u64_max')!.value).toBe(18446744073709551615n);
    expect(g.get('u64_2p53p1')!.value).toBe(9007199254740993n);
    expect(g.getArray('a_u64', 'u64').items).toBeInstanceOf(BigUint64Array);
    expect(g.getArray('a_f64', 'f64').items).toBeInstanceOf(Float64Array);
    expect(Object.is(g.getArray('a_f64', 'f64').items[1], -0)).toBe(true);
    expect(g.getStrings('a_string')[5]).toBe('\uFEFFbom'); // a leading BOM is data, not stripped
    expect(g.getString('bom_first')).toBe('\uFEFFx');
    expect(g.tensors).toEqual([]);
  });

  it('accepts unambiguous JS values and refuses ambiguous or out-of-range ones', async () => {
    const g = await openGguf(bytesSource(writeGguf({
      metadata: { s: 'x', b: true, strs: ['a', 'b'], f: new Float32Array([1, 2]), i: new Int32Array([-1]), big: new BigInt64Array([-5n]) },
    })));
    expect(g.get('s')).toEqual({ type: 'string', value: 'x' });
    expect(g.get('b')).toEqual({ type: 'bool', value: true });
    expect(g.getStrings('strs')).toEqual(['a', 'b']);
    expect(g.getArray('f', 'f32').items).toEqual(new Float32Array([1, 2]));
    expect(g.getArray('i', 'i32').items).toEqual(new Int32Array([-1]));
    expect(g.getArray('big', 'i64').items).toEqual(new BigInt64Array([-5n]));
    expect(() => writeGguf({ metadata: { n: 5 as never } })).toThrow(/no unambiguous GGUF type.*gv\.u32/);
    expect(() => writeGguf({ metadata: { n: [1, 2] as never } })).toThrow(/gv\.array/);
    expect(() => gv.u8(256)).toThrow(RangeError);
    expect(() => gv.i32(1.5)).toThrow(/not an integer/);
    expect(() => gv.u64(-1)).toThrow(RangeError);
    expect(() => gv.array('u16', [70000])).toThrow(RangeError);
  });

  it('writes tensors of every codec with correct shapes, offsets, alignment and bytes', async () => {
    const rng = new Rng(7);
    const specs: [GgmlTypeName, number[]][] = [
      ['F32', [3, 5]], ['F16', [7]], ['Q8_0', [2, 64]], ['Q4_0', [3, 32]], ['Q4_1', [1, 96]],
      ['Q4_K', [2, 256]], ['Q5_K', [1, 512]], ['Q6_K', [2, 1, 256]], ['F32', [2, 3, 4, 5]], ['F32', [1]],
    ];
    const tensors: GgufWriterTensor[] = specs.map(([type, shape], i) => ({
      name: `t${i}.${type}`, type, shape, values: rng.f32(shape.reduce((a, b) => a * b, 1)),
    }));
    for (const alignment of [32, 64, 256]) {
      for (const version of [2, 3] as const) {
        const bytes = writeGguf({ metadata: { 'general.architecture': 'test' }, tensors, alignment, version });
        const g = await openGguf(bytesSource(bytes));
        expect(g.version).toBe(version);
        expect(g.alignment).toBe(alignment);
        expect(g.has('general.alignment')).toBe(alignment !== 32);
        expect(g.dataOffset % alignment).toBe(0);
        expect(bytes.length % alignment).toBe(0);
        for (const [i, t] of g.tensors.entries()) {
          expect(t).toMatchObject({ name: tensors[i].name, shape: tensors[i].shape, type: tensors[i].type, split: 0 });
          expect((t.offset - g.dataOffset) % alignment).toBe(0);
          const want = quantize(tensors[i].type, tensors[i].values!);
          expectSameBytes(await g.readTensorBytes(t), want, t.name);
          expect(t.byteLength).toBe(want.length);
        }
      }
    }
  });

  it('refuses bad tensors and alignments in the writer', () => {
    const t = (over: Partial<GgufWriterTensor>): GgufWriterTensor => ({ name: 'w', shape: [2, 32], type: 'F32', data: new Uint8Array(256), ...over });
    expect(() => writeGguf({ tensors: [t({ data: new Uint8Array(255) })] })).toThrow(/255 bytes of data, F32\[2,32\] takes 256/);
    expect(() => writeGguf({ tensors: [t({}), t({})] })).toThrow(/given twice/);
    expect(() => writeGguf({ tensors: [t({ type: 'Q8_0', shape: [2, 33], data: undefined, values: new Float32Array(66) })] })).toThrow(/not a whole number of Q8_0 blocks/);
    expect(() => writeGguf({ tensors: [t({ shape: [1, 1, 1, 1, 64] })] })).toThrow(/1\.\.4/);
    expect(() => writeGguf({ alignment: 48 })).toThrow(/power of two/);
  });

  it('decodes a 260k-token vocabulary in bulk, exactly', async () => {
    const n = 260_000;
    const tokens = Array.from({ length: n }, (_, i) => (i % 3 ? '\u2581' : i % 5 ? 'Ġ' : '') + i.toString(36) + (i % 11 === 0 ? '😀é' : ''));
    const bytes = writeGguf({
      metadata: { 'tokenizer.ggml.tokens': tokens, 'tokenizer.ggml.scores': new Float32Array(n).fill(-1), 'tokenizer.ggml.token_type': new Int32Array(n).fill(1) },
    });
    const t0 = performance.now();
    const g = await openGguf(bytesSource(bytes));
    const ms = performance.now() - t0;
    const got = g.getStrings('tokenizer.ggml.tokens');
    expect(got.length).toBe(n);
    const wrong = tokens.filter((t, i) => got[i] !== t);
    expect(wrong.slice(0, 5)).toEqual([]);
    expect(g.getArray('tokenizer.ggml.scores', 'f32').items.length).toBe(n);
    // 30-130 ms here (2 busy cores); a generous bound that still catches quadratic re-parsing.
    expect(ms).toBeLessThan(3000);
  });

  it('decodes invalid UTF-8 per string, never merging bytes across tokens', async () => {
    // '▁' is E2 96 81: split over two tokens it must not come back as one character.
    const w = start(0, 1).string('tokens').u32(9).u32(8).u64(4);
    for (const s of [[0x61], [0xe2, 0x96], [0x81, 0x62], [0xe2, 0x96, 0x81]]) w.u64(s.length).bytes(new Uint8Array(s));
    const g = await openGguf(bytesSource(w.finish()));
    expect(g.getStrings('tokens')).toEqual(['a', '\uFFFD', '\uFFFDb', '\u2581']);
  });
});

describe('typed metadata accessors', () => {
  const bytes = writeGguf({
    metadata: {
      'general.architecture': 'llama', 'llama.block_count': gv.u32(5), 'llama.context_length': gv.u64(4096),
      'llama.too_big': gv.u64(1n << 40n), 'llama.neg': gv.i32(-1), 'llama.eps': gv.f32(1e-5), name: 'n', flag: gv.bool(false),
      list: gv.strings(['a']),
    },
  });

  it('returns values, converts integer widths that fit, and uses fallbacks only for missing keys', async () => {
    const g = await openGguf(bytesSource(bytes));
    expect(g.arch).toBe('llama');
    expect(g.getU32(g.archKey('block_count'))).toBe(5);
    expect(g.getU32('llama.context_length')).toBe(4096);
    expect(g.getI32('llama.neg')).toBe(-1);
    expect(g.getF32('llama.eps')).toBeCloseTo(1e-5, 10);
    expect(g.getBool('flag')).toBe(false);
    expect(g.getString('name')).toBe('n');
    expect(g.getU32('llama.missing', 42)).toBe(42);
    expect(g.getString('missing', undefined)).toBeUndefined();
    expect(g.getU32('llama.block_count', 42)).toBe(5);
  });

  it('names the missing or mistyped key in a GgufFormatError', async () => {
    const g = await openGguf(bytesSource(bytes));
    let e = await formatError((async () => g.getU32('llama.head_count'))(), 'missing key');
    expect(e.key).toBe('llama.head_count');
    expect(e.message).toContain("'llama.head_count' is missing");
    e = await formatError((async () => g.getU32('name'))(), 'key type');
    expect(e).toMatchObject({ key: 'name', value: 'n' });
    expect(e.offset).toBeGreaterThan(0);
    expect(e.message).toContain('is string, expected u32');
    e = await formatError((async () => g.getU32('llama.too_big'))(), 'key type');
    expect(e.value).toBe(1n << 40n);
    await formatError((async () => g.getU32('llama.neg'))(), 'key type');
    await formatError((async () => g.getF32('llama.block_count'))(), 'key type');
    e = await formatError((async () => g.getArray('list', 'f32'))(), 'key type');
    expect(e.message).toContain('array of string, expected array of f32');
    await formatError((async () => g.requireTensor('nope'))(), 'missing tensor');
  });
});

// ---------------------------------------------------------------- splits

function splitModel(nTensors: number) {
  const rng = new Rng(3);
  const tensors: GgufWriterTensor[] = Array.from({ length: nTensors }, (_, i) => ({ name: `blk.${i}.w`, shape: [2, 8], type: 'F32', values: rng.f32(16) }));
  return { tensors, spec: { metadata: { 'general.architecture': 'llama', 'llama.block_count': gv.u32(nTensors) }, tensors } };
}

describe('GGUF split files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gguf-split-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('derives sibling names from any split name, path or URL', () => {
    expect(parseGgufSplitName('/m/qwen-00002-of-00003.gguf')).toEqual({ prefix: '/m/qwen', no: 2, count: 3, suffix: '' });
    expect(ggufSplitName('a/b', 1, 12)).toBe('a/b-00001-of-00012.gguf');
    expect(ggufSplitNames('https://h/x-00001-of-00002.gguf?download=true')).toEqual([
      'https://h/x-00001-of-00002.gguf?download=true', 'https://h/x-00002-of-00002.gguf?download=true',
    ]);
    expect(ggufSplitNames('model.gguf')).toEqual(['model.gguf']);
    expect(parseGgufSplitName('x-00004-of-00003.gguf')).toBeUndefined();
  });

  it('merges splits given in any order; tensors carry their split and read from it', async () => {
    const { tensors, spec } = splitModel(7);
    const files = writeGgufSplits(spec, 3, 'm');
    expect(files.map((f) => f.name)).toEqual(['m-00001-of-00003.gguf', 'm-00002-of-00003.gguf', 'm-00003-of-00003.gguf']);
    const g = await openGgufSplits([files[2], files[0], files[1]].map((f) => bytesSource(f.bytes, f.name)));
    expect(g.files.map((f) => f.source.name)).toEqual(files.map((f) => f.name));
    expect(g.getU32('llama.block_count')).toBe(7);
    expect(g.getU32('split.count')).toBe(3);
    expect(g.tensors.map((t) => t.name)).toEqual(tensors.map((t) => t.name));
    expect(g.tensors.map((t) => t.split)).toEqual([0, 0, 0, 1, 1, 1, 2]);
    for (const [i, t] of g.tensors.entries()) expectSameBytes(await g.readTensorBytes(t), quantize('F32', tensors[i].values!));
    // From disk: any one of the names opens all siblings.
    for (const f of files) writeFileSync(join(dir, f.name), f.bytes);
    const fromDisk = await openGgufPath(join(dir, 'm-00002-of-00003.gguf'));
    expect(fromDisk.tensors.map((t) => [t.name, t.split, t.offset])).toEqual(g.tensors.map((t) => [t.name, t.split, t.offset]));
    await fromDisk.close();
  });

  it('refuses missing, repeated, inconsistent or miscounted splits', async () => {
    const { spec } = splitModel(7);
    const files = writeGgufSplits(spec, 3, 'm');
    const src = (i: number) => bytesSource(files[i].bytes, files[i].name);

    let e = await formatError(openGgufSplits([src(0), src(2)]), 'split');
    expect(e.value).toEqual([1]);
    expect(e.message).toContain('missing split number(s) 2 of 3');
    e = await formatError(openGguf(src(0)), 'split'); // one split alone is not a model
    expect(e.value).toEqual([1, 2]);
    e = await formatError(openGgufSplits([src(0), src(1), src(1)]), 'split');
    expect(e.message).toContain('given twice');
    const other = writeGgufSplits(splitModel(4).spec, 2, 'm'); // split.count 2
    e = await formatError(openGgufSplits([src(0), src(1), bytesSource(other[1].bytes, 'other')]), 'split');
    expect(e.key).toBe('split.count');
    // Right count of files, wrong tensor total.
    const bad = writeGguf({ ...spec, metadata: { ...spec.metadata, 'split.no': gv.u16(0), 'split.count': gv.u16(2), 'split.tensors.count': gv.i32(99) }, tensors: spec.tensors.slice(0, 2) });
    const second = writeGguf({ metadata: { 'split.no': gv.u16(1), 'split.count': gv.u16(2), 'split.tensors.count': gv.i32(99) }, tensors: spec.tensors.slice(2, 3) });
    e = await formatError(openGgufSplits([bytesSource(bad), bytesSource(second)]), 'split');
    expect(e).toMatchObject({ key: 'split.tensors.count', value: 3 });
    // A tensor in two splits.
    const dup = writeGguf({ metadata: { 'split.no': gv.u16(1), 'split.count': gv.u16(2), 'split.tensors.count': gv.i32(3) }, tensors: spec.tensors.slice(0, 1) });
    e = await formatError(openGgufSplits([bytesSource(bad), bytesSource(dup)]), 'duplicate tensor');
    expect(e.value).toBe('blk.0.w');
    // Several files but one is not a split at all.
    await formatError(openGgufSplits([src(0), bytesSource(writeGguf({}))]), 'split');
    // On disk, a missing sibling is named.
    writeFileSync(join(dir, 'q-00001-of-00002.gguf'), files[0].bytes);
    e = await formatError(openGgufPath(join(dir, 'q-00001-of-00002.gguf')), 'split');
    expect(e.value).toBe(join(dir, 'q-00002-of-00002.gguf'));
  });
});

// ---------------------------------------------------------------- hostile files

describe('GGUF reader refuses malformed files with typed errors', () => {
  const valid = writeGguf({
    metadata: { 'general.architecture': 'llama', 'llama.block_count': gv.u32(1), toks: gv.strings(['a', 'bc']), nest: EVERY_TYPE.a_nested },
    tensors: [
      { name: 'a', shape: [2, 32], type: 'Q8_0', values: new Float32Array(64).fill(1) },
      { name: 'b', shape: [3], type: 'F32', data: new Uint8Array(12) },
    ],
  });

  it('wrong magic', async () => {
    const bytes = valid.slice();
    bytes.set([0x47, 0x47, 0x4d, 0x4c]); // 'GGML'
    const e = await formatError(parse(bytes), 'magic');
    expect(e).toMatchObject({ offset: 0, value: 0x4c4d4747, source: 'test.gguf' });
    expect(e.message).toContain("'GGML'");
  });

  it('v1, unknown versions and byte-swapped (big-endian) files', async () => {
    let e = await formatError(parse(withData(start(0, 0, 1), 0)), 'version');
    expect(e).toMatchObject({ offset: 4, value: 1 });
    expect(e.message).toContain('v1');
    e = await formatError(parse(withData(start(0, 0, 4), 0)), 'version');
    expect(e.value).toBe(4);
    e = await formatError(parse(withData(start(0, 0, 0x03000000), 0)), 'version');
    expect(e.message).toContain('big-endian GGUF (version 3 byte-swapped)');
    // v2 has the v3 layout and is accepted.
    const v2 = valid.slice();
    v2[4] = 2;
    expect((await parse(v2)).version).toBe(2);
  });

  it('truncated anywhere in the header, or in the tensor data', async () => {
    const { headerBytes, tensors } = await parse(valid);
    const dataEnd = Math.max(...tensors.map((t) => t.offset + t.byteLength));
    // A cut inside a fixed-size field is 'truncated'; a cut inside a string or array makes its
    // length (or a count) claim more bytes than remain, which is reported on that length.
    const asLength = new Set<GgufProblem>(['string length', 'array length', 'tensor count', 'kv count']);
    const seen = new Set<GgufProblem>();
    for (let cut = 0; cut < headerBytes; cut++) {
      let err: unknown;
      await parse(valid.subarray(0, cut), { initialWindow: 64 }).catch((e) => (err = e));
      expect(err, `cut at ${cut}`).toBeInstanceOf(GgufFormatError);
      const e = err as GgufFormatError;
      seen.add(e.what);
      expect(e.offset!, e.message).toBeLessThanOrEqual(cut);
      if (e.what === 'truncated') expect(e.value).toMatchObject({ fileSize: cut });
      else {
        expect(asLength.has(e.what), e.message).toBe(true);
        expect(e.message).toContain(`remain in the file (truncated or corrupt)`);
      }
    }
    expect([...seen].sort()).toEqual(['array length', 'string length', 'tensor count', 'truncated']);
    expect((await parse(valid.subarray(0, dataEnd))).tensors).toEqual(tensors); // the trailing padding is optional
    for (const cut of [headerBytes + 1, dataEnd - 1]) {
      const e = await formatError(parse(valid.subarray(0, cut)), 'tensor data');
      expect(e.message).toContain(`outside the ${cut}-byte file`);
    }
  });

  it('string lengths beyond the file or the cap', async () => {
    let e = await formatError(parse(withData(start(0, 1).u64(1n << 40n), 64)), 'string length');
    expect(e).toMatchObject({ offset: 24, value: 1n << 40n });
    e = await formatError(parse(withData(start(0, 1).string('k').u32(8).u64(0xffffffffffffffffn), 64)), 'string length');
    expect(e.value).toBe(0xffffffffffffffffn);
    const long = writeGguf({ metadata: { k: 'x'.repeat(100) } });
    e = await formatError(parse(long, { maxStringBytes: 99 }), 'string length');
    expect(e.value).toBe(100n);
  });

  it('array lengths beyond the file or the cap, without allocating them', async () => {
    for (const [type, n] of [[0, 1n << 62n], [8, 1n << 40n], [9, 1000n], [6, 0xffffffffffffffffn]] as const) {
      const e = await formatError(parse(start(0, 1).string('k').u32(9).u32(type).u64(n).finish()), 'array length');
      expect(e).toMatchObject({ value: n });
    }
    const e = await formatError(parse(writeGguf({ metadata: { k: gv.array('u8', new Array(101).fill(1)) } }), { maxArrayLength: 100 }), 'array length');
    expect(e.value).toBe(101n);
  });

  it('tensor and key/value counts the file cannot hold', async () => {
    let e = await formatError(parse(start(1n << 40n, 0).finish()), 'tensor count');
    expect(e).toMatchObject({ offset: 8, value: 1n << 40n });
    e = await formatError(parse(start(0, 1n << 60n).finish()), 'kv count');
    expect(e).toMatchObject({ offset: 16, value: 1n << 60n });
  });

  it('unknown value types, in a key or an array', async () => {
    let e = await formatError(parse(start(0, 1).string('k').u32(13).u32(0).finish()), 'value type');
    expect(e).toMatchObject({ value: 13, offset: 24 + 9 });
    expect(e.message).toContain('0..12');
    e = await formatError(parse(start(0, 1).string('k').u32(9).u32(0xffffffff).u64(1).finish()), 'value type');
    expect(e.value).toBe(0xffffffff);
  });

  it('arrays nested deeper than the limit', async () => {
    const w = start(0, 1).string('k').u32(9);
    for (let d = 0; d < 20; d++) w.u32(9).u64(1);
    w.u32(0).u64(0);
    const e = await formatError(parse(w.finish()), 'array nesting');
    expect(e.value).toBe(9);
  });

  it('duplicate metadata keys', async () => {
    const w = start(0, 2).string('k').u32(4).u32(1).string('k').u32(4).u32(2);
    const e = await formatError(parse(w.finish()), 'duplicate key');
    expect(e).toMatchObject({ value: 'k', key: 'k', offset: 24 + 9 + 4 + 4 });
  });

  it('bad general.alignment', async () => {
    let e = await formatError(parse(withData(start(0, 1).string('general.alignment').u32(4).u32(48), 0)), 'alignment');
    expect(e).toMatchObject({ value: 48, key: 'general.alignment', offset: 24 });
    e = await formatError(parse(withData(start(0, 1).string('general.alignment').u32(10).u64(32), 0)), 'alignment');
    expect(e.message).toContain('must be a u32, found u64');
  });

  it('unknown tensor types, naming the id and the supported ones', async () => {
    let e = await formatError(parse(withData(tensorInfo(start(1, 0), 't', [32], 99, 0), 128)), 'tensor type');
    expect(e.value).toBe(99);
    expect(e.message).toContain('unknown ggml type id 99');
    expect(e.message).toContain('Q4_K(12)');
    e = await formatError(parse(withData(tensorInfo(start(1, 0), 't', [256], GGML_TYPE.IQ2_XXS, 0), 128)), 'tensor type');
    expect(e.message).toContain('IQ2_XXS (16) has no supported block layout');
  });

  it('zero or more than four dimensions', async () => {
    for (const ne of [[], [1, 1, 1, 1, 1]]) {
      const e = await formatError(parse(withData(tensorInfo(start(1, 0), 't', ne, 0, 0), 64)), 'n_dims');
      expect(e).toMatchObject({ value: ne.length, offset: 24 + 9 });
    }
  });

  it('element counts that overflow, and rows that are not whole blocks', async () => {
    let e = await formatError(parse(withData(tensorInfo(start(1, 0), 't', [1n << 32n, 1n << 32n], 0, 0), 64)), 'tensor shape');
    expect(e.value).toEqual([1n << 32n, 1n << 32n]);
    e = await formatError(parse(withData(tensorInfo(start(1, 0), 't', [0xffffffffffffffffn], 0, 0), 64)), 'tensor shape');
    e = await formatError(parse(withData(tensorInfo(start(1, 0), 't', [33, 2], GGML_TYPE.Q8_0, 0), 128)), 'tensor shape');
    expect(e.message).toContain('row of 33 is not a whole number of Q8_0 blocks of 32');
  });

  it('tensor data outside the file', async () => {
    let e = await formatError(parse(withData(tensorInfo(start(1, 0), 't', [8], 0, 0), 31)), 'tensor data');
    expect(e).toMatchObject({ value: 0n, offset: 24 });
    e = await formatError(parse(withData(tensorInfo(start(1, 0), 't', [8], 0, 1n << 63n), 64)), 'tensor data');
    expect(e.value).toBe(1n << 63n);
  });

  it('tensor offsets that are not aligned', async () => {
    const e = await formatError(parse(withData(tensorInfo(start(1, 0), 't', [8], 0, 4), 64)), 'tensor alignment');
    expect(e).toMatchObject({ value: 4n, offset: 24 });
  });

  it('overlapping tensors', async () => {
    const w = tensorInfo(tensorInfo(start(2, 0), 'a', [16], 0, 0), 'b', [8], 0, 32); // a is [0, 64)
    let e = await formatError(parse(withData(w, 128)), 'tensor overlap');
    expect(e.value).toBe('b');
    expect(e.message).toContain("overlaps 'a' [");
    // An empty tensor between them must not hide the overlap; empty tensors themselves overlap nothing.
    const z = tensorInfo(tensorInfo(tensorInfo(start(3, 0), 'a', [16], 0, 0), 'z', [0], 0, 32), 'b', [8], 0, 32);
    e = await formatError(parse(withData(z, 128)), 'tensor overlap');
    expect(e.value).toBe('b');
    const ok = tensorInfo(tensorInfo(tensorInfo(start(3, 0), 'a', [16], 0, 0), 'z', [0], 0, 32), 'b', [8], 0, 64);
    expect((await parse(withData(ok, 128))).tensors.map((t) => t.byteLength)).toEqual([64, 0, 32]);
  });

  it('duplicate tensor names', async () => {
    const w = tensorInfo(tensorInfo(start(2, 0), 'a', [8], 0, 0), 'a', [8], 0, 32);
    const e = await formatError(parse(withData(w, 64)), 'duplicate tensor');
    expect(e).toMatchObject({ value: 'a' });
  });

  it('headers longer than maxHeaderBytes', async () => {
    const e = await formatError(parse(valid, { maxHeaderBytes: 100, initialWindow: 64 }), 'header size');
    expect(e.value).toBeGreaterThan(100);
  });

  it('random corruption: a GgufFormatError or a valid parse, never another error or a hang', async () => {
    const rng = new Rng(11);
    const { headerBytes } = await parse(valid);
    let refused = 0;
    for (let trial = 0; trial < 400; trial++) {
      const bytes = valid.slice();
      for (let k = rng.int(1, 4); k > 0; k--) bytes[rng.int(0, headerBytes)] = rng.pick([0, 0xff, 0x7f, 0x80, rng.int(0, 256)]);
      try {
        const h = await parse(bytes, { initialWindow: rng.pick([16, 256, 1 << 20]) });
        for (const t of h.tensors) expect(t.offset + t.byteLength).toBeLessThanOrEqual(bytes.length);
      } catch (e) {
        if (!(e instanceof GgufFormatError)) throw new Error(`trial ${trial}: ${(e as Error).stack}`);
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(100);
  });
});

// The real files through the same path the app uses for dropped files.
describe('GGUF from a Blob', () => {
  it('reads the header and tensors of stories260K from a Blob', async () => {
    const bytes = readFileSync(join(MODELS, 'stories260K.gguf'));
    const g = await openGguf(bytesSource(new Uint8Array(bytes)));
    const { openGgufBlobs } = await import('./gguf.ts');
    const b = await openGgufBlobs([new Blob([bytes])]);
    expect(b.tensors).toEqual(g.tensors);
    const t = b.requireTensor('blk.0.attn_q.weight');
    expectSameBytes(await b.readTensorBytes(t), new Uint8Array(bytes.subarray(t.offset, t.offset + t.byteLength)));
  });
});
