import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  dequantizeQ4_K, dequantizeQ5_K, dequantizeQ6_K, quantizeQ4_K, quantizeQ5_K, quantizeQ6_K,
} from './quants-k.ts';
import { Rng } from '../testing/rng.ts';

const CODECS = {
  Q4_K: { quantize: quantizeQ4_K, dequantize: dequantizeQ4_K, bytes: 144 },
  Q5_K: { quantize: quantizeQ5_K, dequantize: dequantizeQ5_K, bytes: 176 },
  Q6_K: { quantize: quantizeQ6_K, dequantize: dequantizeQ6_K, bytes: 210 },
} as const;
type KType = keyof typeof CODECS;
const TYPES = Object.keys(CODECS) as KType[];

const sha256 = (a: ArrayBufferView) => createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex');

// ---- hand-built blocks --------------------------------------------------------------------------

// Q4_K/Q5_K test block: d = 0.5, dmin = 0.125 (powers of two, so every decoded value is exact).
// Per sub-block 6-bit scales and mins, chosen so sub-blocks 4-7 have non-zero top bits:
const SC = [1, 2, 3, 63, 17, 33, 48, 62];
const MN = [0, 5, 10, 63, 31, 40, 16, 47];
// ...packed by hand per ggml's get_scale_min_k4: bytes 0-3 = sc[0-3] | top2(sc[4-7]) << 6,
// bytes 4-7 = m[0-3] | top2(m[4-7]) << 6, bytes 8-11 = low4(sc[4-7]) | low4(m[4-7]) << 4.
const SCALES_K4 = [0x41, 0x82, 0xc3, 0xff, 0x40, 0x85, 0x4a, 0xbf, 0xf1, 0x81, 0x00, 0xfe];

function q4kBlock(): Uint8Array {
  const b = new Uint8Array(144);
  b.set([0x00, 0x38, 0x00, 0x30], 0); // d = 0.5 (f16 0x3800), dmin = 0.125 (f16 0x3000)
  b.set(SCALES_K4, 4);
  for (let i = 0; i < 128; i++) b[16 + i] = (i * 7 + 3) & 0xff;
  return b;
}

function q5kBlock(): Uint8Array {
  const b = new Uint8Array(176);
  b.set([0x00, 0x38, 0x00, 0x30], 0);
  b.set(SCALES_K4, 4);
  for (let i = 0; i < 32; i++) b[16 + i] = (i * 37 + 11) & 0xff; // qh
  for (let i = 0; i < 128; i++) b[48 + i] = (i * 7 + 3) & 0xff; // qs
  return b;
}

// Q6_K test block: d = 0.25 (f16 0x3400), int8 scales over the whole range including -128 and 127.
const SC6 = [1, -1, 2, -128, 127, 5, -7, 9, 11, -13, 15, 0, 64, -64, 3, 33];
function q6kBlock(): Uint8Array {
  const b = new Uint8Array(210);
  for (let i = 0; i < 128; i++) b[i] = (i * 29 + 5) & 0xff; // ql
  for (let i = 0; i < 64; i++) b[128 + i] = (i * 53 + 17) & 0xff; // qh
  for (let i = 0; i < 16; i++) b[192 + i] = SC6[i] & 0xff;
  b.set([0x00, 0x34], 208);
  return b;
}

/** Element e of a Q4_K/Q5_K super-block, written from the layout rather than from the decoder's loops:
 *  value e lives in sub-block e/32; within each 64 values the first 32 take the low nibbles of 32 bytes
 *  and the next 32 the high nibbles of the same bytes; Q5_K's fifth bit of e is bit (e/32) of qh[e%32]. */
function specK4(b: Uint8Array, qsAt: number, qhAt: number | null, e: number): number {
  const j = e >> 5;
  const byte = b[qsAt + 32 * (e >> 6) + (e & 31)];
  let q = j % 2 === 0 ? byte & 15 : byte >> 4;
  if (qhAt !== null) q += ((b[qhAt + (e & 31)] >> j) & 1) * 16;
  return 0.5 * SC[j] * q - 0.125 * MN[j];
}

/** Element e of the Q6_K block: halves of 128; in a half, quarter q = (e%128)/32 takes the low (q<2) or
 *  high nibble of ql[64*half + 32*(q%2) + l] and bits 2q..2q+1 of qh[32*half + l]; scale index is
 *  8*half + 2q + l/16. */
function specQ6(b: Uint8Array, e: number): number {
  const h = e >> 7, q = (e & 127) >> 5, l = e & 31;
  const qlByte = b[64 * h + 32 * (q & 1) + l];
  const lo = q < 2 ? qlByte & 15 : qlByte >> 4;
  const hi = (b[128 + 32 * h + l] >> (2 * q)) & 3;
  return 0.25 * SC6[8 * h + 2 * q + (l >> 4)] * ((lo | (hi << 4)) - 32);
}

describe('K-quant decoders on hand-built blocks', () => {
  it('Q4_K decodes known values, including sub-blocks 4-7 whose scale bits are split', () => {
    const y = dequantizeQ4_K(q4kBlock(), 256);
    // Worked by hand: qs[i] = (7i + 3) & 255.
    expect(y[0]).toBe(1.5); //       qs[0]=0x03 low 3,   j0: 0.5*1*3 - 0
    expect(y[33]).toBe(-0.625); //    qs[1]=0x0a high 0,  j1: 0 - 0.125*5
    expect(y[127]).toBe(338.625); //  qs[63]=0xbc high 11, j3: 0.5*63*11 - 0.125*63
    expect(y[133]).toBe(47.125); //   qs[69]=0xe6 low 6,  j4: 0.5*17*6 - 0.125*31
    expect(y[162]).toBe(209.5); //    qs[66]=0xd1 high 13, j5: 0.5*33*13 - 0.125*40
    expect(y[202]).toBe(214); //      qs[106]=0xe9 low 9, j6: 0.5*48*9 - 0.125*16
    expect(y[255]).toBe(211.125); //  qs[127]=0x7c high 7, j7: 0.5*62*7 - 0.125*47
    const b = q4kBlock();
    for (let e = 0; e < 256; e++) expect(y[e], `element ${e}`).toBe(specK4(b, 16, null, e));
  });

  it('Q5_K decodes known values with the fifth bit from qh', () => {
    const y = dequantizeQ5_K(q5kBlock(), 256);
    // qh[l] = (37l + 11) & 255; the fifth bit of element e is bit e/32 of qh[e%32].
    expect(y[0]).toBe(9.5); //       3 + 16 (qh[0]=0x0b bit 0),  j0: 0.5*1*19
    expect(y[33]).toBe(-0.625); //    0 (qh[1]=0x30 bit 1 clear),  j1: -0.125*5
    expect(y[127]).toBe(338.625); //  11 (qh[31]=0x86 bit 3 clear), j3: 0.5*63*11 - 0.125*63
    expect(y[202]).toBe(598); //      9 + 16 (qh[10]=0x7d bit 6),  j6: 0.5*48*25 - 0.125*16
    expect(y[255]).toBe(707.125); //  7 + 16 (qh[31]=0x86 bit 7),  j7: 0.5*62*23 - 0.125*47
    const b = q5kBlock();
    for (let e = 0; e < 256; e++) expect(y[e], `element ${e}`).toBe(specK4(b, 48, 16, e));
  });

  it('Q6_K decodes known values with signed scales and 2 high bits', () => {
    const y = dequantizeQ6_K(q6kBlock(), 256);
    // ql[i] = (29i + 5) & 255, qh[i] = (53i + 17) & 255.
    expect(y[0]).toBe(-2.75); //   ql[0] low 5 | qh[0] bits 0-1 = 1 -> 21 - 32,    scale 1:    0.25*1*-11
    expect(y[48]).toBe(864); //    ql[48] low 5 | qh[16] bits 2-3 = 0 -> -27,      scale -128: 0.25*-128*-27
    expect(y[64]).toBe(-508); //   ql[0] high 0 | qh[0] bits 4-5 = 1 -> 16 - 32,   scale 127:  0.25*127*-16
    expect(y[255]).toBe(-214.5); // ql[127] high 6 | qh[63] bits 6-7 = 0 -> -26,   scale 33:   0.25*33*-26
    const b = q6kBlock();
    for (let e = 0; e < 256; e++) expect(y[e], `element ${e}`).toBe(specQ6(b, e));
  });
});

// ---- quantizers against ggml's own output ------------------------------------------------------

/** 48 super-blocks of twelve kinds: plain, cubed (heavy-tailed), all positive, all negative and offset,
 *  half-zero sub-blocks, one constant sub-block, an outlier, all zeros, tiny (below ggml's epsilon),
 *  coarse steps, growing sub-block magnitudes, positive offset; each block at its own power-of-two scale.
 *  Built from the seeded integer generator and exact float operations so it is the same everywhere. */
function fixtureInput(blocks: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const x = new Float32Array(blocks * 256);
  for (let b = 0; b < blocks; b++) {
    const kind = b % 12;
    const scale = 2 ** rng.int(-12, 8);
    for (let i = 0; i < 256; i++) {
      const u = rng.next() * 2 - 1;
      const v = [
        u, u * u * u, Math.abs(u), -Math.abs(u) - 0.5, i % 32 < 16 ? 0 : u, i >> 5 === 3 ? 0.25 : u,
        i === 77 ? 50 : u, 0, u * 1e-17, Math.round(u * 8) / 8, u * u * u * (1 + (i >> 4)), u + 3,
      ][kind];
      x[b * 256 + i] = v * scale;
    }
  }
  return x;
}

// SHA-256 of what ggml itself produces for fixtureInput(48, 7): quantize_row_q*_K_ref and
// dequantize_row_q*_K from libggml-base.so as shipped in the npm package @node-llama-cpp/linux-x64
// 3.22.1 (x86-64 build without FMA), called from a small C program over the same 12,288 floats.
const GGML_FIXTURE = {
  input: 'd98d5701aa1282df548c685ef78737dc42679d95c1732dafccff457fc4485696',
  Q4_K: { bytes: 'bf927a22a061885fd703055e1d976f49e4af022b189f440538495fbff7cd9f1f', values: 'dbcc17e59f9bbda95792686d5bc65afa5ea10932e7e6495edb7045de7fe0d505' },
  Q5_K: { bytes: '27344b3843f2098d85de0a58cad388ada18d653d1e306e73603010981c414075', values: '191cc81e9921475fc9b4e0709d5c2c1fa05cf87eb53a283f3c0083d9af5e47aa' },
  Q6_K: { bytes: '970bf738a52519648b41151794dd61c2b5ad8b795c872e145c42f8d8ffee7f90', values: 'bb285875de8b1a27bc55fcb9ec23d7bbf1ed8eaf2647731134621602c50b087b' },
};

describe('K-quant quantizers', () => {
  it('produce the same bytes as ggml\'s reference quantizers, and decode to ggml\'s values', () => {
    const x = fixtureInput(48, 7);
    expect(sha256(x), 'fixture input drifted').toBe(GGML_FIXTURE.input);
    for (const t of TYPES) {
      const q = CODECS[t].quantize(x);
      expect(q.length).toBe(48 * CODECS[t].bytes);
      expect(sha256(q), `${t} bytes`).toBe(GGML_FIXTURE[t].bytes);
      expect(sha256(CODECS[t].dequantize(q, x.length)), `${t} values`).toBe(GGML_FIXTURE[t].values);
    }
  });

  it('meet ggml\'s own error bound on its test signal, and a per-type bound on Gaussian data', () => {
    // ggml's test-quantize-fns: x[i] = 0.1 + 2 cos(i), 4096 values, sqrt(sum of squared errors) / n
    // must stay below 0.002 for these types.
    const n = 4096;
    const wave = new Float32Array(n);
    for (let i = 0; i < n; i++) wave[i] = 0.1 + 2 * Math.fround(Math.cos(i));
    // Relative RMS error on N(0,1) data, measured 0.071 / 0.036 / 0.018: about 4.3, 5.3, 6.3 effective bits.
    const relRms: Record<KType, number> = { Q4_K: 0.08, Q5_K: 0.04, Q6_K: 0.02 };
    const gauss = new Rng(3).f32(256 * 64);
    for (const t of TYPES) {
      const { quantize, dequantize } = CODECS[t];
      const yw = dequantize(quantize(wave), n);
      let se = 0;
      for (let i = 0; i < n; i++) se += (yw[i] - wave[i]) ** 2;
      expect(Math.sqrt(se) / n, `${t} on ggml's wave`).toBeLessThan(0.002);
      const yg = dequantize(quantize(gauss), gauss.length);
      let e2 = 0, x2 = 0;
      for (let i = 0; i < gauss.length; i++) {
        e2 += (yg[i] - gauss[i]) ** 2;
        x2 += gauss[i] ** 2;
      }
      expect(Math.sqrt(e2 / x2), `${t} relative RMS error on N(0,1)`).toBeLessThan(relRms[t]);
    }
  });

  it('are deterministic, treat rows independently, and keep zeros exact', () => {
    const a = new Rng(11).f32(512, 3);
    const b = new Rng(12).f32(256, 0.01);
    const ab = new Float32Array([...a, ...b]);
    for (const t of TYPES) {
      const { quantize, dequantize, bytes } = CODECS[t];
      const qa = quantize(a);
      expect(quantize(a), `${t} repeat`).toEqual(qa);
      const qab = quantize(ab);
      expect(qab.subarray(0, 2 * bytes), `${t} rows concatenate`).toEqual(qa);
      expect(qab.subarray(2 * bytes), `${t} rows concatenate`).toEqual(quantize(b));
      const zeros = dequantize(quantize(new Float32Array(256)), 256);
      expect(zeros.every((v) => v === 0), `${t} zeros`).toBe(true);
    }
  });

  it('reject lengths that are not whole super-blocks', () => {
    for (const t of TYPES) {
      const { quantize, dequantize, bytes } = CODECS[t];
      expect(() => quantize(new Float32Array(300)), t).toThrow(/300 values is not a whole number of 256/);
      expect(() => dequantize(new Uint8Array(bytes), 128), t).toThrow(/128 values/);
      expect(() => dequantize(new Uint8Array(bytes), 512), t).toThrow(new RegExp(`${bytes} bytes given, 512 values need ${2 * bytes}`));
    }
  });
});
