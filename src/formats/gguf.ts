// GGUF reader (versions 2 and 3, little-endian). The file is: magic 'GGUF', u32 version, u64 tensor
// count, u64 metadata count, the metadata key/values, the tensor infos, padding up to
// `general.alignment` (default 32), then the tensor data. v1 (u32 counts) and byte-swapped big-endian
// files are refused.
//
// Only the header is read: a first window (1 MiB by default) and more when the metadata is longer
// (a 260k-token vocabulary is several MiB), never the tensor data. Every count and length in the file
// is checked against the bytes left and against sane caps before anything is allocated, and every
// problem is one typed GgufFormatError carrying what was wrong, where, and the value found.

import { EdgewiseError } from '../errors.ts';
import { GGML_BLOCK, GGML_TYPE, ggmlTypeName, type GgmlTypeName } from './ggml-types.ts';
import { blobSource, urlSource, type ByteSource, type UrlSourceOptions } from './gguf-source.ts';

export { blobSource, bytesSource, GgufSourceError, urlSource, type ByteSource, type UrlSource, type UrlSourceOptions } from './gguf-source.ts';

// ---------------------------------------------------------------- values, tensors, errors

/** GGUF metadata value types, in file order: the index is the type id. */
export const GGUF_VALUE_TYPES = ['u8', 'i8', 'u16', 'i16', 'u32', 'i32', 'f32', 'bool', 'string', 'array', 'u64', 'i64', 'f64'] as const;
export type GgufValueType = (typeof GGUF_VALUE_TYPES)[number];

export type GgufArray =
  | { itemType: 'u8'; items: Uint8Array }
  | { itemType: 'i8'; items: Int8Array }
  | { itemType: 'u16'; items: Uint16Array }
  | { itemType: 'i16'; items: Int16Array }
  | { itemType: 'u32'; items: Uint32Array }
  | { itemType: 'i32'; items: Int32Array }
  | { itemType: 'f32'; items: Float32Array }
  | { itemType: 'u64'; items: BigUint64Array }
  | { itemType: 'i64'; items: BigInt64Array }
  | { itemType: 'f64'; items: Float64Array }
  | { itemType: 'bool'; items: boolean[] }
  | { itemType: 'string'; items: string[] }
  | { itemType: 'array'; items: GgufArray[] };

/** A metadata value with its GGUF type (u64/i64 are BigInt so values beyond 2^53 survive). */
export type GgufValue =
  | { type: 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'f64'; value: number }
  | { type: 'u64' | 'i64'; value: bigint }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'array'; value: GgufArray };

export interface GgufTensorInfo {
  name: string;
  /** Row-major, last dimension contiguous: ggml's ne reversed. */
  shape: number[];
  type: GgmlTypeName;
  numel: number;
  /** Absolute byte offset of the data in its file. */
  offset: number;
  byteLength: number;
  /** Index of the file (split) holding the data, into Gguf.files. */
  split: number;
}

export type GgufProblem =
  | 'magic' | 'version' | 'truncated' | 'header size' | 'kv count' | 'tensor count'
  | 'string length' | 'array length' | 'array nesting' | 'value type' | 'duplicate key' | 'alignment'
  | 'n_dims' | 'tensor shape' | 'tensor type' | 'tensor data' | 'tensor alignment' | 'tensor overlap'
  | 'duplicate tensor' | 'missing key' | 'key type' | 'missing tensor' | 'split';

/** A GGUF file (or set of split files) is malformed, unsupported, or lacks what the caller asked for. */
export class GgufFormatError extends EdgewiseError {
  override name = 'GgufFormatError';
  /** Byte offset in the file where the problem was found, when there is one. */
  readonly offset: number | undefined;
  /** The value found (a number, a BigInt for u64 fields, a name...). */
  readonly value: unknown;
  readonly source: string;
  readonly key: string | undefined;
  constructor(readonly what: GgufProblem, message: string, at: { offset?: number; value?: unknown; source?: string; key?: string } = {}) {
    const where = at.offset !== undefined ? ` (at byte ${at.offset})` : '';
    super(`${at.source ? `${at.source}: ` : ''}GGUF ${what}: ${message}${where}`, { what, offset: at.offset, value: at.value, source: at.source ?? '', key: at.key });
    this.offset = at.offset;
    this.value = at.value;
    this.source = at.source ?? '';
    this.key = at.key;
  }
}

// ---------------------------------------------------------------- limits

export interface GgufReadOptions {
  /** Bytes read first; the window doubles while the header is longer. Default 1 MiB. */
  initialWindow?: number;
  /** Refuse headers (metadata + tensor infos) longer than this. Default 256 MiB. */
  maxHeaderBytes?: number;
  /** Largest element count of any array, and of the tensor and key/value counts. Default 2^28. */
  maxArrayLength?: number;
  /** Longest string in bytes. Default 2^28 (at most 2^32 - 1). */
  maxStringBytes?: number;
  /** Deepest array-of-array nesting. Default 8. */
  maxArrayDepth?: number;
}

const DEFAULTS: Required<GgufReadOptions> = {
  initialWindow: 1 << 20,
  maxHeaderBytes: 256 << 20,
  maxArrayLength: 1 << 28,
  maxStringBytes: 1 << 28,
  maxArrayDepth: 8,
};

export const GGUF_MAGIC = 0x46554747; // 'GGUF' read as a little-endian u32
export const GGUF_DEFAULT_ALIGNMENT = 32;
const MAX_DIMS = 4;

/** Fixed byte size of a scalar type; the fewest bytes one element can take for string and array. */
const MIN_BYTES: Record<GgufValueType, number> = {
  u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, bool: 1, u64: 8, i64: 8, f64: 8, string: 8, array: 12,
};
const KV_MIN_BYTES = 8 + 4 + 1; // empty key, type id, one byte value
const TENSOR_INFO_MIN_BYTES = 8 + 4 + 8 + 4 + 8; // empty name, n_dims, one ne, type, offset

const LITTLE_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const lenientUtf8 = new TextDecoder('utf-8', { ignoreBOM: true });
const strictUtf8 = new TextDecoder('utf-8', { ignoreBOM: true, fatal: true });

// ---------------------------------------------------------------- the growing window

/** Thrown inside a synchronous parse step when the window ends before `end`; the step is retried. */
class NeedMore {
  constructor(readonly end: number) {}
}

/**
 * A cursor over a window of the file. Parse steps are synchronous and either finish or throw
 * NeedMore; `step` then grows the window (keeping the bytes from the step's start) and reruns the
 * step. Each byte of the header is fetched from the source once.
 */
class Cursor {
  buf: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  dv = new DataView(this.buf.buffer);
  /** Absolute offset of buf[0]. */
  base = 0;
  pos = 0;
  bytesRead = 0;
  constructor(readonly src: ByteSource, readonly lim: Required<GgufReadOptions>) {}

  get size(): number {
    return this.src.size;
  }

  fail(what: GgufProblem, message: string, offset: number | undefined, value: unknown, key?: string): GgufFormatError {
    return new GgufFormatError(what, message, { offset, value, source: this.src.name, key });
  }

  /** Index into buf of the next n bytes (advancing past them), or throw 'truncated' / NeedMore. */
  take(n: number): number {
    const p = this.pos;
    if (p + n > this.size) {
      throw this.fail('truncated', `the file is ${this.size} bytes but ${n} more are needed here`, p, { need: n, fileSize: this.size });
    }
    if (p + n > this.base + this.buf.length) throw new NeedMore(p + n);
    this.pos = p + n;
    return p - this.base;
  }

  u8(): number { return this.buf[this.take(1)]; }
  i8(): number { return this.dv.getInt8(this.take(1)); }
  u16(): number { return this.dv.getUint16(this.take(2), true); }
  i16(): number { return this.dv.getInt16(this.take(2), true); }
  u32(): number { return this.dv.getUint32(this.take(4), true); }
  i32(): number { return this.dv.getInt32(this.take(4), true); }
  f32(): number { return this.dv.getFloat32(this.take(4), true); }
  f64(): number { return this.dv.getFloat64(this.take(8), true); }
  u64(): bigint { return this.dv.getBigUint64(this.take(8), true); }
  i64(): bigint { return this.dv.getBigInt64(this.take(8), true); }

  /** A u64 count of items of at least `unitBytes` each, refused if above `cap` or if the rest of the file cannot hold them. */
  count(what: GgufProblem, label: string, unitBytes: number, cap: number): number {
    const at = this.pos;
    const i = this.take(8);
    const lo = this.dv.getUint32(i, true), hi = this.dv.getUint32(i + 4, true);
    const left = this.size - this.pos;
    // Fast path without BigInt: this runs once per vocabulary token.
    if (hi === 0 && lo <= cap && lo * unitBytes <= left) return lo;
    const v = (BigInt(hi) << 32n) | BigInt(lo);
    if (v > BigInt(cap)) throw this.fail(what, `${label} ${v} is above the limit of ${cap}`, at, v);
    if (Number(v) * unitBytes > left) {
      throw this.fail(what, `${label} ${v} needs at least ${Number(v) * unitBytes} bytes but only ${left} remain in the file (truncated or corrupt)`, at, v);
    }
    return Number(v);
  }

  /** Bytes of a u64-length-prefixed string, checked before they are read. Returns the index into buf. */
  stringBytes(): { i: number; n: number } {
    const n = this.count('string length', 'string length', 1, this.lim.maxStringBytes);
    return { i: this.take(n), n };
  }

  string(): string {
    const { i, n } = this.stringBytes();
    return lenientUtf8.decode(this.buf.subarray(i, i + n));
  }

  async grow(keepFrom: number, needEnd: number): Promise<void> {
    if (needEnd > this.lim.maxHeaderBytes) {
      throw this.fail('header size', `the header runs past ${this.lim.maxHeaderBytes} bytes (maxHeaderBytes)`, keepFrom, needEnd);
    }
    const end = this.base + this.buf.length;
    const step = Math.max(this.buf.length, this.lim.initialWindow);
    const newEnd = Math.min(this.size, Math.max(needEnd, Math.min(end + step, this.lim.maxHeaderBytes)));
    const fresh = await this.src.read(end, newEnd - end);
    this.bytesRead += fresh.length;
    const kept = this.buf.subarray(keepFrom - this.base);
    const buf = new Uint8Array(kept.length + fresh.length);
    buf.set(kept);
    buf.set(fresh, kept.length);
    this.buf = buf;
    this.dv = new DataView(buf.buffer);
    this.base = keepFrom;
  }

  /** Run a synchronous parse step, growing the window and retrying until it has the bytes it needs. */
  async step<T>(parse: () => T): Promise<T> {
    for (;;) {
      const mark = this.pos;
      try {
        return parse();
      } catch (e) {
        if (!(e instanceof NeedMore)) throw e;
        this.pos = mark;
        await this.grow(mark, e.end);
      }
    }
  }
}

// ---------------------------------------------------------------- metadata values

function valueType(c: Cursor, id: number, at: number): GgufValueType {
  const t = GGUF_VALUE_TYPES[id];
  if (t === undefined) {
    throw c.fail('value type', `unknown value type id ${id} (known: 0..${GGUF_VALUE_TYPES.length - 1} = ${GGUF_VALUE_TYPES.join(', ')})`, at, id);
  }
  return t;
}

function readValue(c: Cursor, type: GgufValueType): GgufValue {
  switch (type) {
    case 'u8': return { type, value: c.u8() };
    case 'i8': return { type, value: c.i8() };
    case 'u16': return { type, value: c.u16() };
    case 'i16': return { type, value: c.i16() };
    case 'u32': return { type, value: c.u32() };
    case 'i32': return { type, value: c.i32() };
    case 'f32': return { type, value: c.f32() };
    case 'f64': return { type, value: c.f64() };
    case 'u64': return { type, value: c.u64() };
    case 'i64': return { type, value: c.i64() };
    case 'bool': return { type, value: c.u8() !== 0 };
    case 'string': return { type, value: c.string() };
    case 'array': return { type, value: readArray(c, 1) };
  }
}

/** Copy n elements of a fixed-size type out of the window into a fresh, aligned buffer. */
function copyOut(c: Cursor, n: number, elemBytes: number): ArrayBuffer {
  const i = c.take(n * elemBytes);
  const bytes = c.buf.slice(i, i + n * elemBytes);
  if (!LITTLE_HOST && elemBytes > 1) {
    for (let j = 0; j < bytes.length; j += elemBytes) bytes.subarray(j, j + elemBytes).reverse();
  }
  return bytes.buffer;
}

function readArray(c: Cursor, depth: number): GgufArray {
  const at = c.pos;
  const itemType = valueType(c, c.u32(), at);
  const n = c.count('array length', `array of ${itemType} length`, MIN_BYTES[itemType], c.lim.maxArrayLength);
  switch (itemType) {
    case 'u8': return { itemType, items: new Uint8Array(copyOut(c, n, 1)) };
    case 'i8': return { itemType, items: new Int8Array(copyOut(c, n, 1)) };
    case 'u16': return { itemType, items: new Uint16Array(copyOut(c, n, 2)) };
    case 'i16': return { itemType, items: new Int16Array(copyOut(c, n, 2)) };
    case 'u32': return { itemType, items: new Uint32Array(copyOut(c, n, 4)) };
    case 'i32': return { itemType, items: new Int32Array(copyOut(c, n, 4)) };
    case 'f32': return { itemType, items: new Float32Array(copyOut(c, n, 4)) };
    case 'u64': return { itemType, items: new BigUint64Array(copyOut(c, n, 8)) };
    case 'i64': return { itemType, items: new BigInt64Array(copyOut(c, n, 8)) };
    case 'f64': return { itemType, items: new Float64Array(copyOut(c, n, 8)) };
    case 'bool': {
      const i = c.take(n);
      return { itemType, items: Array.from(c.buf.subarray(i, i + n), (b) => b !== 0) };
    }
    case 'string': return { itemType, items: readStrings(c, n) };
    case 'array': {
      if (depth + 1 > c.lim.maxArrayDepth) {
        throw c.fail('array nesting', `arrays nested deeper than ${c.lim.maxArrayDepth}`, at, depth + 1);
      }
      const items: GgufArray[] = [];
      for (let k = 0; k < n; k++) items.push(readArray(c, depth + 1));
      return { itemType, items };
    }
  }
}

/**
 * n length-prefixed strings, decoded in bulk: vocabularies hold 100k-260k of them and one
 * TextDecoder call per token costs several times more than the whole parse. First the lengths are
 * walked (so everything is known to be in the window before anything is allocated), then the string
 * bytes are packed into one buffer while counting the UTF-16 units each will decode to, decoded
 * once, and sliced. The packing is only exact when every string is well-formed UTF-8 by itself, so
 * a strict decode of the pack plus "no string starts with a continuation byte" guards it; otherwise
 * each string is decoded alone (invalid bytes become U+FFFD, as in any single-string decode).
 */
function readStrings(c: Cursor, n: number): string[] {
  const start = c.pos;
  for (let k = 0; k < n; k++) c.stringBytes();
  const buf = c.buf, dv = c.dv;
  const total = c.pos - start - 8 * n;
  const packed = new Uint8Array(total);
  const units = new Uint32Array(n);
  let p = start - c.base, w = 0, bulk = true;
  for (let k = 0; k < n; k++) {
    const len = dv.getUint32(p, true); // stringBytes() bounded the length well below 2^32
    p += 8;
    if (len > 0 && (buf[p] & 0xc0) === 0x80) bulk = false;
    let u = 0;
    for (let e = p + len; p < e; p++) {
      const b = buf[p];
      packed[w++] = b;
      if ((b & 0xc0) !== 0x80) u += b >= 0xf0 ? 2 : 1; // lead bytes: a 4-byte sequence is a surrogate pair
    }
    units[k] = u;
  }
  const out = new Array<string>(n);
  if (bulk) {
    let text: string | undefined;
    try {
      text = strictUtf8.decode(packed);
    } catch {
      text = undefined;
    }
    if (text !== undefined) {
      let q = 0;
      for (let k = 0; k < n; k++) {
        out[k] = text.slice(q, q + units[k]);
        q += units[k];
      }
      if (q === text.length) return out;
    }
  }
  let q = 0;
  for (let k = 0; k < n; k++) {
    const len = dv.getUint32(start - c.base + q, true);
    const i = start - c.base + q + 8;
    out[k] = lenientUtf8.decode(buf.subarray(i, i + len));
    q += 8 + len;
  }
  return out;
}

// ---------------------------------------------------------------- header

/** One parsed file: its own metadata and tensors (offsets absolute in this file). */
export interface GgufHeader {
  source: ByteSource;
  version: 2 | 3;
  metadata: Map<string, GgufValue>;
  /** Where each key/value starts in the file, for error messages. */
  keyOffsets: Map<string, number>;
  tensors: GgufTensorInfo[];
  alignment: number;
  /** Start of the tensor data: the end of the header aligned up. */
  dataOffset: number;
  /** Bytes of magic + counts + metadata + tensor infos. */
  headerBytes: number;
  /** Bytes fetched from the source to parse the header. */
  bytesRead: number;
}

interface RawTensor {
  name: string;
  at: number;
  shape: number[];
  type: GgmlTypeName;
  numel: number;
  byteLength: number;
  relOffset: bigint;
}

const SUPPORTED_TENSOR_TYPES = (Object.keys(GGML_BLOCK) as GgmlTypeName[]).map((t) => `${t}(${GGML_TYPE[t]})`).join(', ');
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function readTensorInfo(c: Cursor): RawTensor {
  const at = c.pos;
  const name = c.string();
  const nAt = c.pos;
  const nDims = c.u32();
  if (nDims === 0 || nDims > MAX_DIMS) {
    throw c.fail('n_dims', `tensor '${name}' has ${nDims} dimensions (1..${MAX_DIMS} allowed)`, nAt, nDims);
  }
  const ne: bigint[] = [];
  for (let d = 0; d < nDims; d++) ne.push(c.u64());
  const tAt = c.pos;
  const typeId = c.u32();
  const relOffset = c.u64();

  let numel = 1n;
  for (const d of ne) {
    numel *= d;
    if (numel > MAX_SAFE) {
      throw c.fail('tensor shape', `tensor '${name}' ne [${ne.join(', ')}] has more than 2^53 elements`, nAt, ne);
    }
  }
  const type = ggmlTypeName(typeId);
  const block = type && GGML_BLOCK[type];
  if (!type || !block) {
    const what = type ? `${type} (${typeId}) has no supported block layout` : `unknown ggml type id ${typeId}`;
    throw c.fail('tensor type', `tensor '${name}': ${what}; supported: ${SUPPORTED_TENSOR_TYPES}`, tAt, typeId);
  }
  if (ne[0] % BigInt(block.blockSize) !== 0n) {
    throw c.fail('tensor shape', `tensor '${name}' row of ${ne[0]} is not a whole number of ${type} blocks of ${block.blockSize}`, nAt, ne);
  }
  const byteLength = (numel / BigInt(block.blockSize)) * BigInt(block.blockBytes);
  if (byteLength > MAX_SAFE) throw c.fail('tensor shape', `tensor '${name}' is ${byteLength} bytes`, nAt, ne);
  return {
    name, at, type, relOffset,
    shape: ne.map(Number).reverse(),
    numel: Number(numel),
    byteLength: Number(byteLength),
  };
}

/** Parse one GGUF file's header: metadata and tensor infos, validated against the file's size. */
export async function readGgufHeader(source: ByteSource, opts: GgufReadOptions = {}): Promise<GgufHeader> {
  // An option given as undefined keeps its default (a plain spread would let it erase the default).
  const lim = { ...DEFAULTS };
  for (const [k, v] of Object.entries(opts) as [keyof GgufReadOptions, number | undefined][]) {
    if (v === undefined || !(k in DEFAULTS)) continue; // openGgufUrl passes its source options along too
    if (!(Number.isSafeInteger(v) && v > 0)) throw new RangeError(`GGUF read option ${k} must be a positive integer, got ${v}`);
    lim[k] = v;
  }
  lim.maxStringBytes = Math.min(lim.maxStringBytes, 0xffffffff); // readStrings reads lengths as u32
  const c = new Cursor(source, lim);

  const { version, tensorCount, kvCount } = await c.step(() => {
    const magic = c.u32();
    if (magic !== GGUF_MAGIC) {
      const text = String.fromCharCode(magic & 0xff, (magic >>> 8) & 0xff, (magic >>> 16) & 0xff, magic >>> 24).replace(/[^\x20-\x7e]/g, '?');
      throw c.fail('magic', `not a GGUF file: starts with 0x${magic.toString(16).padStart(8, '0')} ('${text}'), expected 'GGUF'`, 0, magic);
    }
    const v = c.u32();
    if (v === 1) throw c.fail('version', 'GGUF v1 (32-bit counts) is not supported; convert the model again with a current llama.cpp', 4, v);
    if ((v & 0xffff) === 0 && v !== 0) {
      const swapped = ((v >>> 24) | ((v >>> 8) & 0xff00)) >>> 0;
      throw c.fail('version', `big-endian GGUF (version ${swapped} byte-swapped) is not supported; use a little-endian file`, 4, v);
    }
    if (v !== 2 && v !== 3) throw c.fail('version', `version ${v} is not supported (2 and 3 are)`, 4, v);
    const tensorCount = c.count('tensor count', 'tensor count', TENSOR_INFO_MIN_BYTES, c.lim.maxArrayLength);
    const kvCount = c.count('kv count', 'metadata key/value count', KV_MIN_BYTES, c.lim.maxArrayLength);
    return { version: v as 2 | 3, tensorCount, kvCount };
  });

  const metadata = new Map<string, GgufValue>();
  const keyOffsets = new Map<string, number>();
  for (let k = 0; k < kvCount; k++) {
    const { key, at, value } = await c.step(() => {
      const at = c.pos;
      const key = c.string();
      const tAt = c.pos;
      return { key, at, value: readValue(c, valueType(c, c.u32(), tAt)) };
    });
    if (metadata.has(key)) throw c.fail('duplicate key', `metadata key '${key}' appears twice (first at byte ${keyOffsets.get(key)})`, at, key, key);
    metadata.set(key, value);
    keyOffsets.set(key, at);
  }

  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const al = metadata.get('general.alignment');
  if (al) {
    const at = keyOffsets.get('general.alignment');
    if (al.type !== 'u32') throw c.fail('alignment', `general.alignment must be a u32, found ${al.type}`, at, al.value, 'general.alignment');
    if (al.value === 0 || (al.value & (al.value - 1)) !== 0) {
      throw c.fail('alignment', `general.alignment ${al.value} is not a power of two`, at, al.value, 'general.alignment');
    }
    alignment = al.value;
  }

  const raw: RawTensor[] = [];
  const names = new Map<string, number>();
  for (let k = 0; k < tensorCount; k++) {
    const t = await c.step(() => readTensorInfo(c));
    if (names.has(t.name)) throw c.fail('duplicate tensor', `tensor '${t.name}' appears twice (first at byte ${names.get(t.name)})`, t.at, t.name);
    names.set(t.name, t.at);
    raw.push(t);
  }

  const headerBytes = c.pos;
  const dataOffset = Math.ceil(headerBytes / alignment) * alignment;
  const tensors: GgufTensorInfo[] = raw.map((t) => {
    if (t.relOffset % BigInt(alignment) !== 0n) {
      throw c.fail('tensor alignment', `tensor '${t.name}' data offset ${t.relOffset} is not a multiple of the alignment ${alignment}`, t.at, t.relOffset);
    }
    const offset = BigInt(dataOffset) + t.relOffset;
    if (offset + BigInt(t.byteLength) > BigInt(source.size)) {
      throw c.fail(
        'tensor data',
        `tensor '${t.name}' data [${offset}, ${offset + BigInt(t.byteLength)}) lies outside the ${source.size}-byte file`,
        t.at, t.relOffset,
      );
    }
    return { name: t.name, shape: t.shape, type: t.type, numel: t.numel, offset: Number(offset), byteLength: t.byteLength, split: 0 };
  });
  // Sorted by start, each non-empty tensor must begin at or after the furthest end seen so far.
  const byOffset = tensors.map((t, i) => ({ t, at: raw[i].at })).sort((a, b) => a.t.offset - b.t.offset);
  let furthest: GgufTensorInfo | undefined;
  for (const { t, at } of byOffset) {
    if (t.byteLength === 0) continue;
    if (furthest && furthest.offset + furthest.byteLength > t.offset) {
      throw c.fail('tensor overlap', `tensor '${t.name}' at ${t.offset} overlaps '${furthest.name}' [${furthest.offset}, ${furthest.offset + furthest.byteLength})`, at, t.name);
    }
    if (!furthest || t.offset + t.byteLength > furthest.offset + furthest.byteLength) furthest = t;
  }

  return { source, version, metadata, keyOffsets, tensors, alignment, dataOffset, headerBytes, bytesRead: c.bytesRead };
}

// ---------------------------------------------------------------- typed access

const INTEGER_TYPES: ReadonlySet<GgufValueType> = new Set(['u8', 'i8', 'u16', 'i16', 'u32', 'i32', 'u64', 'i64']);

/** A model: the metadata of its first file and the tensors of all its files (one unless split). */
export class Gguf {
  constructor(readonly files: readonly GgufHeader[], readonly metadata: Map<string, GgufValue>, readonly tensors: readonly GgufTensorInfo[]) {}

  get version(): 2 | 3 { return this.files[0].version; }
  get alignment(): number { return this.files[0].alignment; }
  get dataOffset(): number { return this.files[0].dataOffset; }
  get headerBytes(): number { return this.files[0].headerBytes; }

  /** general.architecture, e.g. 'llama', 'gemma3', 'clip'. */
  get arch(): string { return this.getString('general.architecture'); }

  /** `${arch}.${name}`: llama.cpp prefixes hyperparameters with the architecture. */
  archKey(name: string): string { return `${this.arch}.${name}`; }

  has(key: string): boolean { return this.metadata.has(key); }
  get(key: string): GgufValue | undefined { return this.metadata.get(key); }

  private fail(what: GgufProblem, key: string, message: string, value?: unknown): GgufFormatError {
    return new GgufFormatError(what, `'${key}' ${message}`, {
      key, value, offset: this.files[0].keyOffsets.get(key), source: this.files[0].source.name,
    });
  }

  private entry(key: string, expected: string): GgufValue {
    const v = this.metadata.get(key);
    if (!v) throw this.fail('missing key', key, `is missing (expected ${expected})`);
    return v;
  }

  getString(key: string): string;
  getString<T>(key: string, fallback: T): string | T;
  getString(key: string, ...fallback: unknown[]): unknown {
    if (fallback.length && !this.metadata.has(key)) return fallback[0];
    const v = this.entry(key, 'string');
    if (v.type !== 'string') throw this.fail('key type', key, `is ${v.type}, expected string`, v.value);
    return v.value;
  }

  getBool(key: string): boolean;
  getBool<T>(key: string, fallback: T): boolean | T;
  getBool(key: string, ...fallback: unknown[]): unknown {
    if (fallback.length && !this.metadata.has(key)) return fallback[0];
    const v = this.entry(key, 'bool');
    if (v.type !== 'bool') throw this.fail('key type', key, `is ${v.type}, expected bool`, v.value);
    return v.value;
  }

  /** Any integer type whose value fits in [lo, hi]. */
  private int(key: string, lo: number, hi: number, expected: string): number {
    const v = this.entry(key, expected);
    if (!INTEGER_TYPES.has(v.type)) throw this.fail('key type', key, `is ${v.type}, expected ${expected}`, v.value);
    const n = Number(v.value);
    if (!(n >= lo && n <= hi)) throw this.fail('key type', key, `is ${v.type} ${v.value}, outside the ${expected} range`, v.value);
    return n;
  }

  /** An unsigned 32-bit integer; u8/u16/u64 and signed types are accepted when the value fits. */
  getU32(key: string): number;
  getU32<T>(key: string, fallback: T): number | T;
  getU32(key: string, ...fallback: unknown[]): unknown {
    if (fallback.length && !this.metadata.has(key)) return fallback[0];
    return this.int(key, 0, 0xffffffff, 'u32');
  }

  getI32(key: string): number;
  getI32<T>(key: string, fallback: T): number | T;
  getI32(key: string, ...fallback: unknown[]): unknown {
    if (fallback.length && !this.metadata.has(key)) return fallback[0];
    return this.int(key, -0x80000000, 0x7fffffff, 'i32');
  }

  /** A float (f32 or f64). */
  getF32(key: string): number;
  getF32<T>(key: string, fallback: T): number | T;
  getF32(key: string, ...fallback: unknown[]): unknown {
    if (fallback.length && !this.metadata.has(key)) return fallback[0];
    const v = this.entry(key, 'f32');
    if (v.type !== 'f32' && v.type !== 'f64') throw this.fail('key type', key, `is ${v.type}, expected f32`, v.value);
    return v.value;
  }

  /** An array, optionally of a given item type (then typed: getArray(k, 'f32').items is a Float32Array). */
  getArray<T extends GgufValueType>(key: string, itemType: T): Extract<GgufArray, { itemType: T }>;
  getArray(key: string): GgufArray;
  getArray(key: string, itemType?: GgufValueType): GgufArray {
    const v = this.entry(key, itemType ? `array of ${itemType}` : 'array');
    if (v.type !== 'array') throw this.fail('key type', key, `is ${v.type}, expected array`, v.value);
    if (itemType && v.value.itemType !== itemType) {
      throw this.fail('key type', key, `is an array of ${v.value.itemType}, expected array of ${itemType}`, v.value.itemType);
    }
    return v.value;
  }

  getStrings(key: string): string[] {
    return this.getArray(key, 'string').items;
  }

  private byName?: Map<string, GgufTensorInfo>;

  tensor(name: string): GgufTensorInfo | undefined {
    this.byName ??= new Map(this.tensors.map((t) => [t.name, t]));
    return this.byName.get(name);
  }

  requireTensor(name: string): GgufTensorInfo {
    const t = this.tensor(name);
    if (!t) throw new GgufFormatError('missing tensor', `tensor '${name}' is not in the file`, { value: name, source: this.files[0].source.name });
    return t;
  }

  /** The raw bytes of a tensor, read from the file that holds it. */
  readTensorBytes(t: GgufTensorInfo): Promise<Uint8Array> {
    return this.files[t.split].source.read(t.offset, t.byteLength);
  }

  /** `length` bytes of a tensor's data from byte `start` of it (the loader streams large tensors in pieces). */
  readTensorRange(t: GgufTensorInfo, start: number, length: number): Promise<Uint8Array> {
    if (!(Number.isSafeInteger(start) && Number.isSafeInteger(length) && start >= 0 && length >= 0 && start + length <= t.byteLength)) {
      throw new RangeError(`tensor '${t.name}': bytes [${start}, ${start + length}) are outside its ${t.byteLength} bytes`);
    }
    return this.files[t.split].source.read(t.offset + start, length);
  }

  async close(): Promise<void> {
    await Promise.all(this.files.map((f) => f.source.close?.()));
  }
}

// ---------------------------------------------------------------- splits

// llama.cpp's gguf-split writes `<prefix>-00001-of-00003.gguf` (numbered from 1); the first file holds
// all the metadata, every file holds split.no (from 0), split.count and split.tensors.count.

const SPLIT_NAME = /^(.*)-(\d{5})-of-(\d{5})\.gguf((?:[?#].*)?)$/;

/** `{prefix, no (1-based), count, suffix}` for a split file name, path or URL, else undefined. */
export function parseGgufSplitName(name: string): { prefix: string; no: number; count: number; suffix: string } | undefined {
  const m = SPLIT_NAME.exec(name);
  if (!m) return undefined;
  const no = Number(m[2]), count = Number(m[3]);
  if (no < 1 || count < 1 || no > count) return undefined;
  return { prefix: m[1], no, count, suffix: m[4] };
}

/** The name of split `no` (1-based) of `count`. */
export function ggufSplitName(prefix: string, no: number, count: number, suffix = ''): string {
  const pad = (n: number) => String(n).padStart(5, '0');
  return `${prefix}-${pad(no)}-of-${pad(count)}.gguf${suffix}`;
}

/** All file names of the model `name` belongs to: itself if it is not a split name. */
export function ggufSplitNames(name: string): string[] {
  const s = parseGgufSplitName(name);
  if (!s) return [name];
  return Array.from({ length: s.count }, (_, i) => ggufSplitName(s.prefix, i + 1, s.count, s.suffix));
}

function splitInt(h: GgufHeader, key: string): number | undefined {
  const v = h.metadata.get(key);
  if (!v) return undefined;
  if (!INTEGER_TYPES.has(v.type) || !(Number(v.value) >= 0 && Number(v.value) <= 0xffffffff)) {
    throw new GgufFormatError('split', `'${key}' is ${v.type} ${String(v.value)}, expected a non-negative integer`, {
      key, value: v.value, offset: h.keyOffsets.get(key), source: h.source.name,
    });
  }
  return Number(v.value);
}

/**
 * Open a model from all of its files, in any order: one source for an unsplit model, or every
 * split. Checks that the splits agree on the count, that none is missing or repeated, and that the
 * tensor total matches split.tensors.count.
 */
export async function openGgufSplits(sources: readonly ByteSource[], opts: GgufReadOptions = {}): Promise<Gguf> {
  if (sources.length === 0) throw new GgufFormatError('split', 'no files given', { value: 0 });
  const headers = await Promise.all(sources.map((s) => readGgufHeader(s, opts)));
  const infos = headers.map((h) => ({ h, no: splitInt(h, 'split.no'), count: splitInt(h, 'split.count'), total: splitInt(h, 'split.tensors.count') }));

  if (infos.length === 1 && (infos[0].count === undefined || infos[0].count === 1)) {
    const h = headers[0];
    return new Gguf(headers, h.metadata, h.tensors);
  }
  const names = sources.map((s) => s.name).join(', ');
  for (const { h, no, count } of infos) {
    if (no === undefined || count === undefined) {
      throw new GgufFormatError('split', `${sources.length} files given but this one has no split.no / split.count`, { source: h.source.name, value: names });
    }
  }
  const count = infos[0].count!;
  for (const { h, count: c } of infos) {
    if (c !== count) throw new GgufFormatError('split', `split.count ${c} differs from ${count} in ${infos[0].h.source.name}`, { source: h.source.name, value: c, key: 'split.count' });
  }
  const seen = new Map<number, string>();
  for (const { h, no } of infos) {
    if (no! >= count) throw new GgufFormatError('split', `split.no ${no} is not below split.count ${count}`, { source: h.source.name, value: no, key: 'split.no' });
    if (seen.has(no!)) throw new GgufFormatError('split', `split.no ${no} given twice (also ${seen.get(no!)})`, { source: h.source.name, value: no, key: 'split.no' });
    seen.set(no!, h.source.name);
  }
  if (seen.size !== count) {
    const missing = Array.from({ length: count }, (_, i) => i).filter((i) => !seen.has(i));
    throw new GgufFormatError(
      'split',
      `split.count is ${count} but ${seen.size} file(s) given (${names}); missing split number(s) ${missing.map((i) => i + 1).join(', ')} of ${count}`,
      { value: missing, key: 'split.count', source: infos[0].h.source.name },
    );
  }
  infos.sort((a, b) => a.no! - b.no!);
  const first = infos[0];
  const tensors: GgufTensorInfo[] = [];
  const owner = new Map<string, string>();
  infos.forEach(({ h }, split) => {
    for (const t of h.tensors) {
      if (owner.has(t.name)) {
        throw new GgufFormatError('duplicate tensor', `tensor '${t.name}' is in both ${owner.get(t.name)} and ${h.source.name}`, { source: h.source.name, value: t.name });
      }
      owner.set(t.name, h.source.name);
      tensors.push({ ...t, split });
    }
  });
  if (first.total !== undefined && first.total !== tensors.length) {
    throw new GgufFormatError('split', `split.tensors.count is ${first.total} but the ${count} files hold ${tensors.length} tensors`, {
      source: first.h.source.name, value: tensors.length, key: 'split.tensors.count',
    });
  }
  return new Gguf(infos.map((i) => i.h), first.h.metadata, tensors);
}

/** Open one file; a split file is refused with a message naming the missing siblings. */
export function openGguf(source: ByteSource, opts: GgufReadOptions = {}): Promise<Gguf> {
  return openGgufSplits([source], opts);
}

/** Open a model over HTTP; a split URL (`...-00001-of-00003.gguf`) opens all its siblings. */
export async function openGgufUrl(url: string, opts: GgufReadOptions & UrlSourceOptions = {}): Promise<Gguf> {
  const sources = await Promise.all(ggufSplitNames(url).map((u) => urlSource(u, opts)));
  return openGgufSplits(sources, opts);
}

/** Open a model from Blobs/Files (every split of it, in any order). */
export function openGgufBlobs(blobs: readonly Blob[], opts: GgufReadOptions = {}): Promise<Gguf> {
  return openGgufSplits(blobs.map((b) => blobSource(b)), opts);
}
