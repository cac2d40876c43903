// Activations as ggml's CPU backend computes them in float (Math.fround after each C operation, in C's
// evaluation order), including the f16-table GELU that llama.cpp's CPU build uses (GGML_GELU_FP16).

import { f16BitsToF32, f32ToF16Bits } from '../formats/f16.ts';

const f = Math.fround;
const GELU_COEF_A = f(0.044715);
const SQRT_2_OVER_PI = f(0.79788456080286535587989211986876);
const SQRT_2_INV = f(0.70710678118654752440084436210484);

/** ggml_silu_f32: x / (1 + expf(-x)). */
export function siluF32(x: number): number {
  return f(x / f(1 + f(Math.exp(-x))));
}

/** ggml_gelu_f32: 0.5f*x*(1.0f + tanhf(SQRT_2_OVER_PI*x*(1.0f + GELU_COEF_A*x*x))). */
export function geluTanhF32(x: number): number {
  const u = f(f(SQRT_2_OVER_PI * x) * f(1 + f(f(GELU_COEF_A * x) * x)));
  return f(f(0.5 * x) * f(1 + f(Math.tanh(u))));
}

/** ggml_vec_gelu_erf_f32: 0.5f*x*(1.0f + erff(x*SQRT_2_INV)). */
export function geluErfF32(x: number): number {
  return f(f(0.5 * x) * f(1 + f(erf(f(x * SQRT_2_INV)))));
}

const GELU_QUICK_COEF = f(-1.702);
/** ggml_gelu_quick_f32: x * (1.0f / (1.0f + expf(GELU_QUICK_COEF * x))). */
export function geluQuickF32(x: number): number {
  return f(x * f(1 / f(1 + f(Math.exp(f(GELU_QUICK_COEF * x))))));
}

/** llama.cpp's CPU GELU (GGML_GELU_FP16): table lookup at the f16 rounding of x inside (-10, 10). */
export function geluTableF32(x: number): number {
  if (x <= -10) return 0;
  if (x >= 10) return x;
  return f16BitsToF32(f32ToF16Bits(geluTanhF32(f16BitsToF32(f32ToF16Bits(x)))));
}

let table: Uint16Array | null = null;
/** ggml_table_gelu_f16: for every f16 bit pattern h, the f16 rounding of ggml_gelu_f32(h as float). */
export function geluF16Table(): Uint16Array {
  if (!table) {
    table = new Uint16Array(65536);
    for (let h = 0; h < 65536; h++) table[h] = f32ToF16Bits(geluTanhF32(f16BitsToF32(h)));
  }
  return table;
}

export type GeluKind = 'tanh' | 'erf' | 'quick' | 'table';
const GELU: Record<GeluKind, (x: number) => number> = { tanh: geluTanhF32, erf: geluErfF32, quick: geluQuickF32, table: geluTableF32 };

export function siluRef(x: Float32Array): Float32Array {
  return x.map(siluF32);
}

export function geluRef(x: Float32Array, kind: GeluKind = 'tanh'): Float32Array {
  return x.map(GELU[kind]);
}

/** Split gate/up: two arrays of rows*n, or (up === null) one array of rows*2n with the gate half first. */
function gatedRef(gate: Float32Array, up: Float32Array | null, n: number, act: (x: number) => number, zeroBelowMinus10: boolean): Float32Array {
  const rows = up ? gate.length / n : gate.length / (2 * n);
  const out = new Float32Array(rows * n);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < n; c++) {
      const g = up ? gate[r * n + c] : gate[r * 2 * n + c];
      const u = up ? up[r * n + c] : gate[r * 2 * n + n + c];
      // ggml_vec_geglu_f32 with the table stores 0.0f for x <= -10, not 0 * up
      out[r * n + c] = zeroBelowMinus10 && g <= -10 ? 0 : f(act(g) * u);
    }
  }
  return out;
}

export function swigluRef(gate: Float32Array, up: Float32Array | null, n: number): Float32Array {
  return gatedRef(gate, up, n, siluF32, false);
}

export function gegluRef(gate: Float32Array, up: Float32Array | null, n: number, kind: GeluKind = 'tanh'): Float32Array {
  return gatedRef(gate, up, n, GELU[kind], kind === 'table');
}

// ---- erf in double precision (JavaScript has none) ----------------------------------------------

/** erf(x) to ~1e-15: Maclaurin series for |x| < 2.5, the erfc continued fraction beyond. */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const a = Math.abs(x);
  if (a < 2.5) {
    // erf(x) = 2/sqrt(pi) * sum_k (-1)^k x^(2k+1) / (k! (2k+1))
    let term = x, sum = x;
    for (let k = 1; k < 100; k++) {
      term *= (-x * x) / k;
      const add = term / (2 * k + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  if (a > 6) return Math.sign(x); // erfc(6) = 2e-17: below double resolution of 1
  // erfc(a) = exp(-a^2)/sqrt(pi) * 1/(a + (1/2)/(a + 1/(a + (3/2)/(a + 2/(a + ...))))), evaluated from the tail
  let cf = a;
  for (let k = 120; k >= 1; k--) cf = a + k / 2 / cf;
  const erfc = Math.exp(-a * a) / Math.sqrt(Math.PI) / cf;
  return Math.sign(x) * (1 - erfc);
}
