// GGUF v3 writer: test fixtures, random-weight models of a given architecture, split sets. The
// layout is what llama.cpp writes: header, metadata, tensor infos, zero padding to the alignment,
// then each tensor's data padded to the alignment.
//
// JS numbers do not say which GGUF integer or float type they are, so numeric metadata goes through
// the `gv` constructors (`gv.u32(5)`, `gv.f32(1e-5)`, `gv.array('i32', [...])`); strings, booleans,
// string arrays and typed arrays are taken as they are.

import { GGML_BLOCK, GGML_TYPE, type GgmlTypeName } from './ggml-types.ts';
import { quantize } from './quantize.ts';
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_VALUE_TYPES, ggufSplitName, type GgufArray, type GgufValue, type GgufValueType } from './gguf.ts';

// ---------------------------------------------------------------- typed values

type NumericItems = {
  u8: Uint8Array; i8: Int8Array; u16: Uint16Array; i16: Int16Array; u32: Uint32Array; i32: Int32Array;
  f32: Float32Array; f64: Float64Array; u64: BigUint64Array; i64: BigInt64Array;
};
const ARRAY_CTORS = {
  u8: Uint8Array, i8: Int8Array, u16: Uint16Array, i16: Int16Array, u32: Uint32Array, i32: Int32Array,
  f32: Float32Array, f64: Float64Array, u64: BigUint64Array, i64: BigInt64Array,
} as const;

function numericArray<T extends keyof NumericItems>(itemType: T, items: ArrayLike<number> | ArrayLike<bigint>): GgufValue {
  if (itemType === 'u64' || itemType === 'i64') {
    const Ctor = ARRAY_CTORS[itemType as 'u64' | 'i64'];
    const out = new Ctor(items.length);
    for (let i = 0; i < items.length; i++) out[i] = checkInt(itemType, BigInt(items[i])) as bigint;
    return { type: 'array', value: { itemType, items: out } as GgufArray };
  }
  const Ctor = ARRAY_CTORS[itemType as Exclude<keyof NumericItems, 'u64' | 'i64'>];
  const out = new Ctor(items.length);
  for (let i = 0; i < items.length; i++) {
    const v = Number(items[i]);
    out[i] = itemType === 'f32' || itemType === 'f64' ? v : (checkInt(itemType, v) as number);
  }
  return { type: 'array', value: { itemType, items: out } as GgufArray };
}

/** Explicitly typed metadata values. */
export const gv = {
  u8: (value: number): GgufValue => ({ type: 'u8', value: checkInt('u8', value) as number }),
  i8: (value: number): GgufValue => ({ type: 'i8', value: checkInt('i8', value) as number }),
  u16: (value: number): GgufValue => ({ type: 'u16', value: checkInt('u16', value) as number }),
  i16: (value: number): GgufValue => ({ type: 'i16', value: checkInt('i16', value) as number }),
  u32: (value: number): GgufValue => ({ type: 'u32', value: checkInt('u32', value) as number }),
  i32: (value: number): GgufValue => ({ type: 'i32', value: checkInt('i32', value) as number }),
  u64: (value: number | bigint): GgufValue => ({ type: 'u64', value: checkInt('u64', BigInt(value)) as bigint }),
  i64: (value: number | bigint): GgufValue => ({ type: 'i64', value: checkInt('i64', BigInt(value)) as bigint }),
  f32: (value: number): GgufValue => ({ type: 'f32', value }),
  f64: (value: number): GgufValue => ({ type: 'f64', value }),
  bool: (value: boolean): GgufValue => ({ type: 'bool', value }),
  string: (value: string): GgufValue => ({ type: 'string', value }),
  /** A numeric array; values are range-checked for integer types. */
  array: numericArray,
  strings: (items: readonly string[]): GgufValue => ({ type: 'array', value: { itemType: 'string', items: [...items] } }),
  bools: (items: readonly boolean[]): GgufValue => ({ type: 'array', value: { itemType: 'bool', items: [...items] } }),
  /** An array of arrays (GGUF allows nesting): inner arrays as gv.array(...)/gv.strings(...) values or bare GgufArrays. */
  arrays: (items: readonly (GgufArray | GgufValue)[]): GgufValue => {
    const inner = items.map((x) => {
      if ('itemType' in x) return x;
      if (x.type !== 'array') throw new TypeError(`gv.arrays: item of type ${x.type} is not an array`);
      return x.value;
    });
    return { type: 'array', value: { itemType: 'array', items: inner } };
  },
};

const INT_RANGE: Record<string, [bigint, bigint]> = {
  u8: [0n, 0xffn], i8: [-0x80n, 0x7fn], u16: [0n, 0xffffn], i16: [-0x8000n, 0x7fffn],
  u32: [0n, 0xffffffffn], i32: [-0x80000000n, 0x7fffffffn],
  u64: [0n, (1n << 64n) - 1n], i64: [-(1n << 63n), (1n << 63n) - 1n],
};

function checkInt(type: string, v: number | bigint): number | bigint {
  if (typeof v === 'number' && !Number.isInteger(v)) throw new RangeError(`GGUF ${type} value ${v} is not an integer`);
  const [lo, hi] = INT_RANGE[type];
  const b = BigInt(v);
  if (b < lo || b > hi) throw new RangeError(`GGUF ${type} value ${v} is outside [${lo}, ${hi}]`);
  return v;
}

/** Metadata as accepted by the writer: typed values, or JS values whose GGUF type is unambiguous. */
export type GgufWriterValue =
  | GgufValue | string | boolean | readonly string[]
  | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array | BigUint64Array | BigInt64Array;

function toValue(key: string, v: GgufWriterValue): GgufValue {
  if (typeof v === 'string') return { type: 'string', value: v };
  if (typeof v === 'boolean') return { type: 'bool', value: v };
  if (Array.isArray(v)) {
    if (!v.every((s) => typeof s === 'string')) throw new TypeError(`metadata '${key}': plain arrays must hold strings; use gv.array(type, items) for numbers`);
    return { type: 'array', value: { itemType: 'string', items: [...v] } };
  }
  if (ArrayBuffer.isView(v)) {
    for (const [t, Ctor] of Object.entries(ARRAY_CTORS)) {
      if (v instanceof Ctor) return { type: 'array', value: { itemType: t, items: v } as GgufArray };
    }
  }
  if (typeof v === 'object' && v !== null && 'type' in v && GGUF_VALUE_TYPES.includes((v as GgufValue).type)) return v as GgufValue;
  throw new TypeError(`metadata '${key}': ${typeof v} ${String(v)} has no unambiguous GGUF type; use gv.u32(...), gv.f32(...) etc.`);
}

// ---------------------------------------------------------------- bytes

const utf8 = new TextEncoder();

/** A growable little-endian byte buffer. */
export class ByteWriter {
  private buf = new Uint8Array(1 << 16);
  private dv = new DataView(this.buf.buffer);
  length = 0;

  private room(n: number): number {
    if (this.length + n > this.buf.length) {
      let cap = this.buf.length * 2;
      while (cap < this.length + n) cap *= 2;
      const next = new Uint8Array(cap);
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
      this.dv = new DataView(next.buffer);
    }
    const at = this.length;
    this.length += n;
    return at;
  }

  // room() may replace buf and dv, so it runs before either is read.
  u8(v: number): this { const at = this.room(1); this.dv.setUint8(at, v); return this; }
  i8(v: number): this { const at = this.room(1); this.dv.setInt8(at, v); return this; }
  u16(v: number): this { const at = this.room(2); this.dv.setUint16(at, v, true); return this; }
  i16(v: number): this { const at = this.room(2); this.dv.setInt16(at, v, true); return this; }
  u32(v: number): this { const at = this.room(4); this.dv.setUint32(at, v, true); return this; }
  i32(v: number): this { const at = this.room(4); this.dv.setInt32(at, v, true); return this; }
  f32(v: number): this { const at = this.room(4); this.dv.setFloat32(at, v, true); return this; }
  f64(v: number): this { const at = this.room(8); this.dv.setFloat64(at, v, true); return this; }
  u64(v: number | bigint): this { const at = this.room(8); this.dv.setBigUint64(at, BigInt(v), true); return this; }
  i64(v: number | bigint): this { const at = this.room(8); this.dv.setBigInt64(at, BigInt(v), true); return this; }

  bytes(b: Uint8Array): this {
    const at = this.room(b.length);
    this.buf.set(b, at);
    return this;
  }

  /** u64 byte length, then UTF-8 bytes. */
  string(s: string): this {
    const max = 3 * s.length; // UTF-8 bytes per UTF-16 unit, at most
    const at = this.room(8 + max);
    const { written } = utf8.encodeInto(s, this.buf.subarray(at + 8, at + 8 + max));
    this.dv.setBigUint64(at, BigInt(written), true);
    this.length = at + 8 + written;
    return this;
  }

  /** Zero bytes up to a multiple of `alignment` (counting from `origin`). */
  pad(alignment: number, origin = 0): this {
    const n = (alignment - ((this.length - origin) % alignment)) % alignment;
    const at = this.room(n);
    this.buf.fill(0, at, at + n);
    return this;
  }

  /** A GGUF value body (no type id). */
  value(v: GgufValue): this {
    switch (v.type) {
      case 'u8': return this.u8(v.value);
      case 'i8': return this.i8(v.value);
      case 'u16': return this.u16(v.value);
      case 'i16': return this.i16(v.value);
      case 'u32': return this.u32(v.value);
      case 'i32': return this.i32(v.value);
      case 'f32': return this.f32(v.value);
      case 'f64': return this.f64(v.value);
      case 'u64': return this.u64(v.value);
      case 'i64': return this.i64(v.value);
      case 'bool': return this.u8(v.value ? 1 : 0);
      case 'string': return this.string(v.value);
      case 'array': return this.array(v.value);
    }
  }

  array(a: GgufArray): this {
    this.u32(typeId(a.itemType)).u64(a.items.length);
    switch (a.itemType) {
      case 'string': for (const s of a.items) this.string(s); return this;
      case 'bool': for (const b of a.items) this.u8(b ? 1 : 0); return this;
      case 'array': for (const x of a.items) this.array(x); return this;
      default: {
        const items = a.items;
        const step = items.BYTES_PER_ELEMENT;
        const at = this.room(items.length * step);
        for (let i = 0; i < items.length; i++) {
          switch (a.itemType) {
            case 'u8': this.dv.setUint8(at + i, a.items[i]); break;
            case 'i8': this.dv.setInt8(at + i, a.items[i]); break;
            case 'u16': this.dv.setUint16(at + 2 * i, a.items[i], true); break;
            case 'i16': this.dv.setInt16(at + 2 * i, a.items[i], true); break;
            case 'u32': this.dv.setUint32(at + 4 * i, a.items[i], true); break;
            case 'i32': this.dv.setInt32(at + 4 * i, a.items[i], true); break;
            case 'f32': this.dv.setFloat32(at + 4 * i, a.items[i], true); break;
            case 'f64': this.dv.setFloat64(at + 8 * i, a.items[i], true); break;
            case 'u64': this.dv.setBigUint64(at + 8 * i, a.items[i], true); break;
            case 'i64': this.dv.setBigInt64(at + 8 * i, a.items[i], true); break;
          }
        }
        return this;
      }
    }
  }

  /** A copy of the bytes written. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

export function typeId(t: GgufValueType): number {
  return GGUF_VALUE_TYPES.indexOf(t);
}

// ---------------------------------------------------------------- files

export interface GgufWriterTensor {
  name: string;
  /** Row-major (our order); written to the file reversed as ggml's ne. */
  shape: readonly number[];
  type: GgmlTypeName;
  /** Raw bytes in `type`'s layout... */
  data?: Uint8Array;
  /** ...or values to encode with quantize(type, values). */
  values?: Float32Array;
}

export interface GgufWriteSpec {
  metadata?: Record<string, GgufWriterValue> | Map<string, GgufWriterValue>;
  tensors?: readonly GgufWriterTensor[];
  /** Data alignment; anything but 32 is also written as general.alignment. */
  alignment?: number;
  /** 3 (default) or 2: the layouts are the same. */
  version?: 2 | 3;
}

/** Bytes of a tensor's data in its type's layout; throws on a shape the layout cannot hold. */
function layoutBytes(t: GgufTensorLayout): number {
  const b = GGML_BLOCK[t.type];
  if (!b) throw new TypeError(`tensor '${t.name}': no block layout for ${t.type}`);
  if (t.shape.length < 1 || t.shape.length > 4 || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new RangeError(`tensor '${t.name}': shape [${t.shape}] must have 1..4 non-negative integer dimensions`);
  }
  const row = t.shape[t.shape.length - 1];
  if (row % b.blockSize !== 0) throw new RangeError(`tensor '${t.name}': row of ${row} is not a whole number of ${t.type} blocks of ${b.blockSize}`);
  const numel = t.shape.reduce((a, d) => a * d, 1);
  return (numel / b.blockSize) * b.blockBytes;
}

function tensorBytes(t: GgufWriterTensor): Uint8Array {
  const expected = layoutBytes(t);
  const numel = t.shape.reduce((a, d) => a * d, 1);
  let data: Uint8Array;
  if (t.data) data = t.data;
  else if (t.values) {
    if (t.values.length !== numel) throw new RangeError(`tensor '${t.name}': ${t.values.length} values for shape [${t.shape}] (${numel})`);
    data = quantize(t.type, t.values);
  } else throw new TypeError(`tensor '${t.name}': give data (raw bytes) or values (to quantize)`);
  if (data.length !== expected) {
    throw new RangeError(`tensor '${t.name}': ${data.length} bytes of data, ${t.type}[${t.shape}] takes ${expected}`);
  }
  return data;
}

/** A tensor as the header describes it: name, row-major shape, type (its data comes later). */
export interface GgufTensorLayout {
  name: string;
  shape: readonly number[];
  type: GgmlTypeName;
}

export interface GgufWriterHeader {
  /** Magic through the padding before the first tensor's data. */
  header: Uint8Array;
  alignment: number;
  /** Each tensor's data bytes (without padding), in order. */
  dataBytes: number[];
  /** Zero bytes written after each tensor's data to reach the alignment. */
  padding: number[];
}

/**
 * The header of a GGUF whose tensors are only described, not given: a writer can stream the data
 * after it (tensor i's bytes then padding[i] zero bytes), so a multi-gigabyte file never has to be in
 * memory at once.
 */
export function ggufHeader(spec: Omit<GgufWriteSpec, 'tensors'> & { tensors?: readonly GgufTensorLayout[] }): GgufWriterHeader {
  const alignment = spec.alignment ?? GGUF_DEFAULT_ALIGNMENT;
  if (!(Number.isInteger(alignment) && alignment > 0 && (alignment & (alignment - 1)) === 0)) {
    throw new RangeError(`alignment ${alignment} is not a power of two`);
  }
  const entries = spec.metadata instanceof Map ? [...spec.metadata] : Object.entries(spec.metadata ?? {});
  const kvs = entries.map(([k, v]) => [k, toValue(k, v)] as const);
  if (alignment !== GGUF_DEFAULT_ALIGNMENT && !kvs.some(([k]) => k === 'general.alignment')) {
    kvs.push(['general.alignment', { type: 'u32', value: alignment }]);
  }
  const tensors = spec.tensors ?? [];
  const names = new Set<string>();
  for (const t of tensors) {
    if (names.has(t.name)) throw new RangeError(`tensor '${t.name}' given twice`);
    names.add(t.name);
  }
  const dataBytes = tensors.map(layoutBytes);
  const padding = dataBytes.map((n) => (alignment - (n % alignment)) % alignment);

  const w = new ByteWriter();
  w.u32(GGUF_MAGIC).u32(spec.version ?? 3).u64(tensors.length).u64(kvs.length);
  for (const [k, v] of kvs) w.string(k).u32(typeId(v.type)).value(v);
  let offset = 0;
  tensors.forEach((t, i) => {
    w.string(t.name).u32(t.shape.length);
    for (let d = t.shape.length - 1; d >= 0; d--) w.u64(t.shape[d]);
    w.u32(GGML_TYPE[t.type]).u64(offset);
    offset += dataBytes[i] + padding[i];
  });
  w.pad(alignment);
  return { header: w.finish(), alignment, dataBytes, padding };
}

/**
 * The file as chunks: the header (through the padding before the data), then each tensor's bytes
 * and its padding. Concatenated they are the file; written one by one they stream it.
 */
export function ggufChunks(spec: GgufWriteSpec): Uint8Array[] {
  const tensors = spec.tensors ?? [];
  const { header, padding } = ggufHeader(spec);
  const chunks = [header];
  tensors.forEach((t, i) => {
    chunks.push(tensorBytes(t));
    if (padding[i]) chunks.push(new Uint8Array(padding[i]));
  });
  return chunks;
}

/** The whole file in one array. */
export function writeGguf(spec: GgufWriteSpec): Uint8Array {
  const chunks = ggufChunks(spec);
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * Split a model as llama.cpp's gguf-split does: at most `maxTensors` tensors per file, all metadata
 * in the first file, split.no (u16, from 0) / split.count (u16) / split.tensors.count (i32) in every
 * file. Returns the files with their names (`${prefix}-00001-of-0000N.gguf`).
 */
export function writeGgufSplits(spec: GgufWriteSpec, maxTensors: number, prefix = 'model'): { name: string; bytes: Uint8Array }[] {
  const tensors = spec.tensors ?? [];
  const count = Math.max(1, Math.ceil(tensors.length / maxTensors));
  const entries = spec.metadata instanceof Map ? [...spec.metadata] : Object.entries(spec.metadata ?? {});
  return Array.from({ length: count }, (_, i) => {
    const split: [string, GgufWriterValue][] = [
      ['split.no', gv.u16(i)], ['split.count', gv.u16(count)], ['split.tensors.count', gv.i32(tensors.length)],
    ];
    const metadata = new Map<string, GgufWriterValue>(i === 0 ? [...entries, ...split] : split);
    const bytes = writeGguf({ ...spec, metadata, tensors: tensors.slice(i * maxTensors, (i + 1) * maxTensors) });
    return { name: ggufSplitName(prefix, i + 1, count), bytes };
  });
}
