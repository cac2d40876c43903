// A mutation fuzzer for GGUF files. A valid file is walked once to find where every field sits (counts,
// string and array lengths, value types, tensor dims, types and offsets, metadata scalars); each case
// then corrupts the file in one targeted way (or flips random bytes) and runs it through everything
// that reads an untrusted file before the GPU: the header parser, the vocabulary reader, the language
// model's hyperparameter, tensor and memory checks (or an mmproj's vision checks), the tokenizer (small vocabularies) and a read of
// tensor bytes. The contract under
// test: every file is either accepted or refused with a typed EdgewiseError, promptly, without reading
// outside the file or allocating more than the file's size suggests.
//
// Used by gguf-fuzz.test.ts (a bounded, seeded run in CI) and scripts/fuzz-gguf.ts (as many cases as asked).

import { EdgewiseError } from '../errors.ts';
import { bytesSource, openGguf, GGUF_VALUE_TYPES, type ByteSource, type GgufValueType } from '../formats/gguf.ts';
import { GGML_TYPE } from '../formats/ggml-types.ts';
import { gv, writeGguf, writeGgufSplits } from '../formats/gguf-writer.ts';
import { ARCHITECTURES } from '../models/architectures.ts';
import { checkLanguageModel, planGpuMemory } from '../models/load.ts';
import { loadTokenizer } from '../tokenizer/tokenizer.ts';
import { checkClipTensors, readClipHparams } from '../vision/clip.ts';
import { readGgufVocab } from '../tokenizer/vocab.ts';
import { randomModelSpec, writeRandomModel } from './random-model.ts';
import { Rng } from './rng.ts';

// ---------------------------------------------------------------- where the fields are

export type GgufFieldKind =
  | 'tensor count' | 'kv count' | 'key length' | 'value type' | 'string length' | 'array item type' | 'array length'
  | 'scalar' | 'tensor name length' | 'n_dims' | 'dim' | 'tensor type' | 'tensor offset';

export interface GgufField {
  kind: GgufFieldKind;
  /** Byte offset of the field. */
  at: number;
  /** Its width in bytes. */
  width: 1 | 2 | 4 | 8;
  /** The metadata key or tensor name it belongs to. */
  owner: string;
  /** For scalars: the value type. */
  valueType?: GgufValueType;
}

export interface GgufLayout {
  fields: GgufField[];
  /** Fields grouped by kind (mutations pick a kind first, so a 32000-token vocabulary does not drown the rest). */
  byKind: Map<GgufFieldKind, GgufField[]>;
  headerBytes: number;
  dataOffset: number;
  alignment: number;
  /** Tensor data offsets relative to dataOffset, and byte lengths as the header says. */
  tensors: { name: string; offsetAt: number; relOffset: bigint }[];
}

const SCALAR_WIDTH: Partial<Record<GgufValueType, 1 | 2 | 4 | 8>> = {
  u8: 1, i8: 1, bool: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, u64: 8, i64: 8, f64: 8,
};

/**
 * Where every field of a well-formed little-endian GGUF sits. Only for files known to be valid (the
 * fixtures the fuzzer starts from): it trusts the lengths it reads and throws a plain Error otherwise.
 */
export function ggufLayout(bytes: Uint8Array): GgufLayout {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fields: GgufField[] = [];
  let p = 0;
  const field = (kind: GgufFieldKind, width: 1 | 2 | 4 | 8, owner: string, valueType?: GgufValueType) => {
    if (p + width > bytes.length) throw new Error(`ggufLayout: ${kind} of '${owner}' runs past the end at ${p}`);
    fields.push({ kind, at: p, width, owner, valueType });
    p += width;
  };
  const u32 = () => dv.getUint32(p, true);
  const u64 = () => Number(dv.getBigUint64(p, true));
  const string = (kind: GgufFieldKind, owner: string): string => {
    const n = u64();
    field(kind, 8, owner);
    const s = new TextDecoder().decode(bytes.subarray(p, p + n));
    p += n;
    return s;
  };
  const value = (type: GgufValueType, owner: string): void => {
    if (type === 'string') { string('string length', owner); return; }
    if (type === 'array') {
      const item = GGUF_VALUE_TYPES[u32()];
      field('array item type', 4, owner);
      const n = u64();
      field('array length', 8, owner);
      const w = SCALAR_WIDTH[item];
      if (w !== undefined) p += n * w; // element values are not fields: a flip there is a value change
      else for (let i = 0; i < n; i++) value(item, owner);
      return;
    }
    field('scalar', SCALAR_WIDTH[type]!, owner, type);
  };

  if (u32() !== 0x46554747) throw new Error('ggufLayout: not a GGUF file');
  p = 8;
  const nTensors = u64();
  field('tensor count', 8, '');
  const nKv = u64();
  field('kv count', 8, '');
  let alignment = 32;
  for (let k = 0; k < nKv; k++) {
    const key = string('key length', '');
    fields[fields.length - 1].owner = key;
    const type = GGUF_VALUE_TYPES[u32()];
    field('value type', 4, key);
    if (key === 'general.alignment' && type === 'u32') alignment = u32();
    value(type, key);
  }
  const tensors: GgufLayout['tensors'] = [];
  for (let t = 0; t < nTensors; t++) {
    const name = string('tensor name length', '');
    fields[fields.length - 1].owner = name;
    const nDims = u32();
    field('n_dims', 4, name);
    for (let d = 0; d < nDims; d++) field('dim', 8, name);
    field('tensor type', 4, name);
    const relOffset = dv.getBigUint64(p, true);
    tensors.push({ name, offsetAt: p, relOffset });
    field('tensor offset', 8, name);
  }
  const byKind = new Map<GgufFieldKind, GgufField[]>();
  for (const f of fields) {
    let list = byKind.get(f.kind);
    if (!list) byKind.set(f.kind, (list = []));
    list.push(f);
  }
  return { fields, byKind, headerBytes: p, dataOffset: Math.ceil(p / alignment) * alignment, alignment, tensors };
}

// ---------------------------------------------------------------- mutations

export type MutationKind =
  | 'truncate' | 'huge count' | 'string length' | 'array length' | 'value type' | 'array item type' | 'n_dims' | 'dim'
  | 'tensor type' | 'tensor offset' | 'overlap' | 'scalar' | 'architecture' | 'metadata string' | 'byte flips' | 'splice';

export const MUTATION_KINDS: readonly MutationKind[] = [
  'truncate', 'huge count', 'string length', 'array length', 'value type', 'array item type', 'n_dims', 'dim',
  'tensor type', 'tensor offset', 'overlap', 'scalar', 'architecture', 'metadata string', 'byte flips', 'splice',
];

export interface Mutation {
  kind: MutationKind;
  /** What was done, for a failure report: enough to rebuild the case by hand. */
  note: string;
  bytes: Uint8Array;
}

/** Values that break length and offset arithmetic: powers of two around 2^31/2^32/2^53/2^60/2^64, the file size. */
function hugeValue(rng: Rng, fileSize: number): bigint {
  return rng.pick([
    (1n << 60n), (1n << 64n) - 1n, (1n << 63n), (1n << 53n), (1n << 53n) + 1n, (1n << 32n), (1n << 32n) - 1n, (1n << 31n),
    BigInt(fileSize), BigInt(fileSize) + 1n, BigInt(fileSize) * 2n, BigInt(rng.int(0, 1 << 30)),
    (BigInt(rng.int(0, 1 << 30)) << 32n) | BigInt(rng.int(0, 1 << 30)),
  ]);
}

function writeUint(bytes: Uint8Array, at: number, width: 1 | 2 | 4 | 8, v: bigint): void {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const mask = (1n << BigInt(8 * width)) - 1n;
  const x = v & mask;
  if (width === 8) dv.setBigUint64(at, x, true);
  else if (width === 4) dv.setUint32(at, Number(x), true);
  else if (width === 2) dv.setUint16(at, Number(x), true);
  else dv.setUint8(at, Number(x));
}

function readUint(bytes: Uint8Array, at: number, width: 1 | 2 | 4 | 8): bigint {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (width === 8) return dv.getBigUint64(at, true);
  if (width === 4) return BigInt(dv.getUint32(at, true));
  if (width === 2) return BigInt(dv.getUint16(at, true));
  return BigInt(dv.getUint8(at));
}

function pickField(rng: Rng, layout: GgufLayout, ...kinds: GgufFieldKind[]): GgufField | undefined {
  const lists = kinds.map((k) => layout.byKind.get(k) ?? []).filter((l) => l.length);
  if (!lists.length) return undefined;
  return rng.pick(rng.pick(lists));
}

/** A field's value changed: huge, nudged by a little, zero, or random. */
function setField(rng: Rng, bytes: Uint8Array, f: GgufField, fileSize: number): string {
  const old = readUint(bytes, f.at, f.width);
  const v = rng.pick([
    () => hugeValue(rng, fileSize),
    () => old + BigInt(rng.int(1, 9)),
    () => (old > 0n ? old - BigInt(rng.int(1, Math.min(9, Number(old)) + 1)) : 0n),
    () => 0n,
    () => BigInt(rng.int(0, 0x7fffffff)),
  ])();
  writeUint(bytes, f.at, f.width, v);
  return `${f.kind} of '${f.owner}' at ${f.at}: ${old} -> ${v & ((1n << BigInt(8 * f.width)) - 1n)}`;
}

/**
 * One mutated copy of `base`. Returns undefined when the file has no field of the kind drawn, or when
 * the draw happened to leave the file as it was (a field set to the value it had).
 */
export function mutate(rng: Rng, base: Uint8Array, layout: GgufLayout, kind: MutationKind): Mutation | undefined {
  const m = mutateOnce(rng, base, layout, kind);
  if (m && m.bytes.length === base.length && m.bytes.every((b, i) => b === base[i])) return undefined;
  return m;
}

function mutateOnce(rng: Rng, base: Uint8Array, layout: GgufLayout, kind: MutationKind): Mutation | undefined {
  const size = base.length;
  const bytes = base.slice();
  const done = (note: string, out = bytes): Mutation => ({ kind, note, bytes: out });
  switch (kind) {
    case 'truncate': {
      const cut = rng.next() < 0.6 ? rng.int(0, Math.max(1, layout.headerBytes)) : rng.int(0, size);
      return done(`cut to ${cut} of ${size} bytes`, base.slice(0, cut));
    }
    case 'huge count': {
      const f = pickField(rng, layout, 'tensor count', 'kv count')!;
      return done(setField(rng, bytes, f, size));
    }
    case 'string length': {
      const f = pickField(rng, layout, 'key length', 'string length', 'tensor name length');
      return f && done(setField(rng, bytes, f, size));
    }
    case 'array length': {
      const f = pickField(rng, layout, 'array length');
      return f && done(setField(rng, bytes, f, size));
    }
    case 'value type':
    case 'array item type': {
      const f = pickField(rng, layout, kind);
      if (!f) return undefined;
      const v = rng.pick([13, 14, 255, 0xffffffff, rng.int(0, 13), rng.int(0, 1 << 30)]);
      const old = readUint(bytes, f.at, 4);
      writeUint(bytes, f.at, 4, BigInt(v));
      return done(`${kind} of '${f.owner}' at ${f.at}: ${old} -> ${v}`);
    }
    case 'n_dims':
    case 'dim': {
      const f = pickField(rng, layout, kind);
      if (!f) return undefined;
      if (kind === 'n_dims') {
        const v = rng.pick([0, 5, 0xffffffff, rng.int(1, 5)]);
        const old = readUint(bytes, f.at, 4);
        writeUint(bytes, f.at, 4, BigInt(v));
        return done(`n_dims of '${f.owner}' at ${f.at}: ${old} -> ${v}`);
      }
      return done(setField(rng, bytes, f, size));
    }
    case 'tensor type': {
      const f = pickField(rng, layout, 'tensor type');
      if (!f) return undefined;
      const ids = Object.values(GGML_TYPE);
      const v = rng.pick([rng.pick(ids), rng.pick(ids), 4, 5, 31, 39, 40, 0xffffffff, rng.int(0, 1 << 20)]);
      const old = readUint(bytes, f.at, 4);
      writeUint(bytes, f.at, 4, BigInt(v));
      return done(`tensor type of '${f.owner}' at ${f.at}: ${old} -> ${v}`);
    }
    case 'tensor offset': {
      const f = pickField(rng, layout, 'tensor offset');
      if (!f) return undefined;
      const old = readUint(bytes, f.at, 8);
      const al = BigInt(layout.alignment);
      const v = rng.pick([
        old + 1n, old + al, old > al ? old - al : old + 4n, BigInt(size), BigInt(size - layout.dataOffset), (1n << 63n),
        (1n << 64n) - al, BigInt(rng.int(0, size)) * al,
      ]);
      writeUint(bytes, f.at, 8, v);
      return done(`tensor offset of '${f.owner}' at ${f.at}: ${old} -> ${v & ((1n << 64n) - 1n)}`);
    }
    case 'overlap': {
      if (layout.tensors.length < 2) return undefined;
      const a = rng.pick(layout.tensors);
      const b = rng.pick(layout.tensors.filter((t) => t !== a));
      const v = rng.next() < 0.5 ? b.relOffset : b.relOffset + BigInt(layout.alignment);
      writeUint(bytes, a.offsetAt, 8, v);
      return done(`tensor '${a.name}' moved onto '${b.name}' (offset ${a.relOffset} -> ${v})`);
    }
    case 'scalar': {
      const f = pickField(rng, layout, 'scalar');
      if (!f) return undefined;
      if (f.valueType === 'f32' || f.valueType === 'f64') {
        const v = rng.pick([NaN, Infinity, -Infinity, 0, -1, 1e30, -0]);
        const dv = new DataView(bytes.buffer);
        if (f.width === 4) dv.setFloat32(f.at, v, true);
        else dv.setFloat64(f.at, v, true);
        return done(`${f.valueType} '${f.owner}' at ${f.at} -> ${v}`);
      }
      return done(setField(rng, bytes, f, size));
    }
    case 'architecture': {
      // Another name of the same byte length where one exists (the layout stays valid), else garbage.
      const f = (layout.byKind.get('string length') ?? []).find((x) => x.owner === 'general.architecture');
      if (!f) return undefined;
      const n = Number(readUint(bytes, f.at, 8));
      const names = [...Object.keys(ARCHITECTURES), 'clip', 'mamba', 'bert', 'constructor', 'toString', '__proto__', 'hasOwnProperty'];
      const same = names.filter((x) => x.length === n);
      const name = same.length && rng.next() < 0.8 ? rng.pick(same) : Array.from({ length: n }, () => String.fromCharCode(rng.int(32, 127))).join('');
      bytes.set(new TextEncoder().encode(name).subarray(0, n), f.at + 8);
      return done(`general.architecture -> '${name}'`);
    }
    case 'metadata string': {
      // A short string value (a type name, a tokenizer model, a projector) replaced by another of the
      // same length: names of Object.prototype's members, other known names, or noise.
      const short = (layout.byKind.get('string length') ?? []).filter((f) => {
        const n = Number(readUint(bytes, f.at, 8));
        return n > 0 && n <= 24;
      });
      if (!short.length) return undefined;
      const f = rng.pick(short);
      const n = Number(readUint(bytes, f.at, 8));
      const names = ['constructor', 'toString', '__proto__', 'valueOf', 'hasOwnProperty', 'llama', 'gpt2', 'gemma3', 'mlp', 'clip', 'linear', 'yarn', 'none', 'bert'];
      const same = names.filter((x) => x.length === n);
      const name = same.length && rng.next() < 0.7 ? rng.pick(same) : Array.from({ length: n }, () => String.fromCharCode(rng.int(32, 127))).join('');
      bytes.set(new TextEncoder().encode(name).subarray(0, n), f.at + 8);
      return done(`string '${f.owner}' -> '${name}'`);
    }
    case 'byte flips': {
      const n = rng.int(1, 9);
      const inHeader = rng.next() < 0.8;
      const at: number[] = [];
      for (let k = 0; k < n; k++) {
        const i = inHeader ? rng.int(0, Math.max(1, layout.headerBytes)) : rng.int(0, size);
        bytes[i] = rng.pick([0, 0xff, 0x7f, 0x80, bytes[i] ^ (1 << rng.int(0, 8)), rng.int(0, 256)]);
        at.push(i);
      }
      return done(`${n} bytes changed at ${at.join(', ')}`);
    }
    case 'splice': {
      // Insert or delete a few bytes inside the header: everything after shifts.
      const at = rng.int(0, Math.max(1, layout.headerBytes));
      const n = rng.int(1, 17);
      if (rng.next() < 0.5) {
        const out = new Uint8Array(size + n);
        out.set(base.subarray(0, at));
        for (let i = 0; i < n; i++) out[at + i] = rng.int(0, 256);
        out.set(base.subarray(at), at + n);
        return done(`${n} bytes inserted at ${at}`, out);
      }
      const out = new Uint8Array(Math.max(0, size - n));
      out.set(base.subarray(0, at));
      out.set(base.subarray(Math.min(size, at + n)), at);
      return done(`${n} bytes deleted at ${at}`, out);
    }
  }
}

// ---------------------------------------------------------------- running a case

/** A source that counts what is read: a reader must never ask for more than the file holds. */
export interface CountingSource extends ByteSource {
  readonly stats: { reads: number; bytes: number; maxRead: number };
}

export function countingSource(inner: ByteSource): CountingSource {
  const stats = { reads: 0, bytes: 0, maxRead: 0 };
  return {
    name: inner.name,
    size: inner.size,
    stats,
    async read(offset, length) {
      stats.reads++;
      stats.bytes += length;
      stats.maxRead = Math.max(stats.maxRead, length);
      return inner.read(offset, length);
    },
  };
}

/** 'accepted' or 'refused: <ErrorName> <what>', or a failure of the contract: 'CRASH ...' / 'HANG'. */
export interface FuzzResult {
  outcome: string;
  /** True when the contract failed (a non-typed error, a timeout, a read beyond the file). */
  failed: boolean;
  error?: unknown;
  ms: number;
  /** Bytes the case read from its source. */
  bytesRead: number;
}

export interface FuzzCaseOptions {
  /** A case taking longer than this is a hang (default 5000 ms). */
  timeoutMs?: number;
  /** Wraps the case's byte source (tests of the harness itself: a source that throws or stalls). */
  wrapSource?: (s: ByteSource) => ByteSource;
  /** Header window of the parser (small windows exercise the growing path). */
  initialWindow?: number;
}

// The device the memory plan is checked against: a small integrated GPU's limits.
const FUZZ_LIMITS = { maxStorageBufferBindingSize: 128 << 20, maxBufferSize: 256 << 20 };
const FUZZ_BUDGET = 1 << 30;

const MAX_TOKENIZER_VOCAB = 1024;

/** Everything that reads an untrusted file before the GPU, on one file. */
async function readUntrusted(src: ByteSource, initialWindow: number | undefined): Promise<string> {
  const gguf = await openGguf(src, { initialWindow });
  try {
    const vocab = gguf.has('tokenizer.ggml.model') ? readGgufVocab(gguf) : null;
    const arch = gguf.getString('general.architecture', '');
    let what = 'accepted (header)';
    if (gguf.tensor('token_embd.weight') || Object.hasOwn(ARCHITECTURES, arch)) {
      const hp = checkLanguageModel(gguf);
      planGpuMemory(gguf, hp, { contextLength: Math.min(hp.nCtxTrain, 4096), maxBatch: 64 }, FUZZ_LIMITS, FUZZ_BUDGET);
      what = 'accepted (model)';
    } else if (arch === 'clip') {
      checkClipTensors(gguf, readClipHparams(gguf));
      what = 'accepted (mmproj)';
    }
    // The whole tokenizer (built through @huggingface/tokenizers), last and for small vocabularies
    // only: a 32000-token one takes longer to build than a hundred parses.
    if (vocab && vocab.tokens.length <= MAX_TOKENIZER_VOCAB) {
      const tok = loadTokenizer(gguf);
      tok.decode(tok.encode('Once upon a time, 12 cats \u00e9t\u00e9 \ud83d\ude00 <s>', { addSpecial: true, parseSpecial: true }));
    }
    // The data of the first and the last tensor (in file order) must be readable where the header says.
    const byOffset = [...gguf.tensors].sort((a, b) => a.offset - b.offset);
    for (const t of [byOffset[0], byOffset[byOffset.length - 1]]) {
      if (t) await gguf.readTensorRange(t, 0, Math.min(t.byteLength, 4096));
    }
    return what;
  } finally {
    await gguf.close();
  }
}

export async function runFuzzCase(bytes: Uint8Array, opts: FuzzCaseOptions = {}): Promise<FuzzResult> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const src = countingSource(bytesSource(bytes, 'fuzz.gguf'));
  const t0 = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<'hang'>((ok) => { timer = setTimeout(() => ok('hang'), timeoutMs); });
  let outcome: string;
  let failed = false;
  let error: unknown;
  try {
    const r = await Promise.race([readUntrusted(opts.wrapSource ? opts.wrapSource(src) : src, opts.initialWindow), hang]);
    if (r === 'hang') {
      outcome = 'HANG';
      failed = true;
    } else {
      outcome = r;
    }
  } catch (e) {
    error = e;
    if (e instanceof EdgewiseError) {
      const what = (e as { what?: unknown }).what;
      outcome = `refused: ${e.name}${typeof what === 'string' ? ` ${what}` : ''}`;
    } else {
      outcome = `CRASH ${(e as Error)?.name ?? typeof e}: ${String((e as Error)?.message ?? e).slice(0, 200)}`;
      failed = true;
    }
  } finally {
    clearTimeout(timer);
  }
  const ms = performance.now() - t0;
  if (!failed && ms > timeoutMs) {
    outcome = 'HANG';
    failed = true;
  }
  if (src.stats.maxRead > bytes.length) {
    outcome = `CRASH read of ${src.stats.maxRead} bytes from a ${bytes.length}-byte file`;
    failed = true;
  }
  return { outcome, failed, error, ms, bytesRead: src.stats.bytes };
}

// ---------------------------------------------------------------- a campaign

export interface FuzzSeed {
  name: string;
  bytes: Uint8Array;
}

export interface FuzzReport {
  cases: number;
  /** Case count per outcome ('accepted (model)', 'refused: GgufFormatError truncated', ...). */
  outcomes: Map<string, number>;
  /** Case count per mutation kind. */
  kinds: Map<MutationKind, number>;
  failures: { seed: string; kind: MutationKind; note: string; outcome: string; error?: unknown; caseSeed: number }[];
  slowestMs: number;
  totalMs: number;
}

export interface FuzzOptions extends FuzzCaseOptions {
  cases: number;
  seed: number;
  /** Called after every case (progress for long runs). */
  onCase?: (i: number, r: FuzzResult) => void;
}

/**
 * `cases` mutations spread round-robin over the seeds and the mutation kinds, each from its own
 * seeded Rng (case i of seed s is reproducible alone: new Rng(s * 1_000_003 + i)).
 */
export async function fuzzGguf(seeds: readonly FuzzSeed[], opts: FuzzOptions): Promise<FuzzReport> {
  const layouts = seeds.map((s) => ggufLayout(s.bytes));
  const report: FuzzReport = { cases: 0, outcomes: new Map(), kinds: new Map(), failures: [], slowestMs: 0, totalMs: 0 };
  const t0 = performance.now();
  for (let i = 0; report.cases < opts.cases; i++) {
    const caseSeed = opts.seed * 1_000_003 + i;
    const rng = new Rng(caseSeed);
    const s = i % seeds.length;
    const kind = MUTATION_KINDS[Math.floor(i / seeds.length) % MUTATION_KINDS.length];
    const m = mutate(rng, seeds[s].bytes, layouts[s], kind);
    if (!m) continue;
    const r = await runFuzzCase(m.bytes, { timeoutMs: opts.timeoutMs, initialWindow: opts.initialWindow ?? rng.pick([64, 4096, 1 << 20]) });
    report.cases++;
    report.kinds.set(kind, (report.kinds.get(kind) ?? 0) + 1);
    report.outcomes.set(r.outcome, (report.outcomes.get(r.outcome) ?? 0) + 1);
    report.slowestMs = Math.max(report.slowestMs, r.ms);
    if (r.failed) report.failures.push({ seed: seeds[s].name, kind, note: m.note, outcome: r.outcome, error: r.error, caseSeed });
    opts.onCase?.(report.cases, r);
  }
  report.totalMs = performance.now() - t0;
  return report;
}

/** The report as lines for a test log: outcome counts, then kind counts. */
export function formatFuzzReport(r: FuzzReport): string {
  const lines = [`${r.cases} GGUF mutations in ${(r.totalMs / 1000).toFixed(1)} s (slowest case ${r.slowestMs.toFixed(0)} ms), ${r.failures.length} contract failures`];
  const sorted = [...r.outcomes].sort((a, b) => b[1] - a[1]);
  for (const [o, n] of sorted) lines.push(`  ${String(n).padStart(6)}  ${o}`);
  lines.push('  by mutation: ' + [...r.kinds].map(([k, n]) => `${k} ${n}`).join(', '));
  for (const f of r.failures.slice(0, 20)) lines.push(`  FAIL ${f.seed} [${f.kind}] ${f.note}: ${f.outcome} (case seed ${f.caseSeed})`);
  return lines.join('\n');
}

// ---------------------------------------------------------------- seeds

/**
 * Small generated files, one per architecture and a range of weight types, plus what the fixtures lack:
 * a split part, a non-default alignment, every metadata value type including nested arrays.
 */
export function generatedFuzzSeeds(): FuzzSeed[] {
  const small = { nEmbd: 32, nLayer: 1, nHead: 2, nFf: 32, vocab: 260, ctx: 64 };
  const seeds: FuzzSeed[] = [
    { name: 'random llama F32', bytes: writeRandomModel({ ...small, arch: 'llama', weightType: 'F32', seed: 1 }) },
    { name: 'random qwen2 Q8_0 tied', bytes: writeRandomModel({ ...small, arch: 'qwen2', weightType: 'Q8_0', seed: 2, tied: true }) },
    { name: 'random qwen3 Q4_0', bytes: writeRandomModel({ ...small, arch: 'qwen3', weightType: 'Q4_0', seed: 3, nHeadKv: 1, headDim: 32 }) },
    { name: 'random gemma3 F16', bytes: writeRandomModel({ ...small, arch: 'gemma3', weightType: 'F16', seed: 4, headDim: 32, nLayer: 2 }) },
    { name: 'random phi3 Q8_0', bytes: writeRandomModel({ ...small, arch: 'phi3', weightType: 'Q8_0', seed: 5 }) },
  ];
  const spec = randomModelSpec({ ...small, arch: 'llama', weightType: 'Q4_0', seed: 6 });
  seeds.push({ name: 'random llama Q4_0 split 1 of 3', bytes: writeGgufSplits(spec, 4)[0].bytes });
  seeds.push({ name: 'random llama Q4_0 split 2 of 3', bytes: writeGgufSplits(spec, 4)[1].bytes });
  seeds.push({ name: 'random llama Q4_0 alignment 64', bytes: writeGguf({ ...spec, alignment: 64 }) });
  seeds.push({
    name: 'every value type',
    bytes: writeGguf({
      metadata: {
        'general.architecture': 'clip', u8: gv.u8(7), i8: gv.i8(-7), u16: gv.u16(700), i16: gv.i16(-700), u32: gv.u32(7e6), i32: gv.i32(-7e6),
        f32: gv.f32(0.5), f64: gv.f64(-0.25), u64: gv.u64(1n << 60n), i64: gv.i64(-(1n << 60n)), bool: gv.bool(true), s: 'text',
        strings: ['a', 'bc', ''], bools: gv.bools([true, false]), ints: gv.array('i32', [1, -2, 3]),
        nested: gv.arrays([gv.strings(['x', 'y']), gv.array('u8', [1, 2]), gv.arrays([gv.array('f64', [1.5])])]),
      },
      tensors: [
        { name: 'a', shape: [2, 32], type: 'Q8_0', values: new Float32Array(64).fill(1) },
        { name: 'b', shape: [3], type: 'F32', values: new Float32Array(3) },
        { name: 'c', shape: [2, 256], type: 'Q6_K', values: new Float32Array(512).fill(-1) },
      ],
    }),
  });
  return seeds;
}
