// The 2-D sin-cos position table of yasa2, as Reka's model (and llama.cpp's converter, which stores it
// as v.vision_pos_embed) builds it: MAE's get_2d_sincos_pos_embed for a 50 x 50 grid, of which only the
// first `rows` rows are used. Row r describes grid position (r / 50, r % 50), so the 16 x 16 map of a
// 512 tile does NOT get its own coordinates: token t = 16 y + x takes row t, i.e. (t / 50, t % 50).
// Within a row the first half of the channels encodes the column (r % 50), the second half the row
// (r / 50) (np.meshgrid(w, h) puts the w coordinate first); each half is [sin(p w_k), cos(p w_k)] with
// w_k = 10000^(-k / (D / 4)) for k < D / 4.

/** rows x dim table (row-major), in f32 as the converter stores it (computed in double, rounded once). */
export function yasa2PositionTable(dim: number, gridSide = 50, rows = 256): Float32Array {
  if (dim % 4 !== 0) throw new RangeError(`yasa2 position table: dim ${dim} must be a multiple of 4`);
  if (rows > gridSide * gridSide) throw new RangeError(`yasa2 position table: ${rows} rows asked of a ${gridSide} x ${gridSide} grid`);
  const quarter = dim / 4;
  const out = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    const col = r % gridSide;
    const row = Math.floor(r / gridSide);
    const o = r * dim;
    for (let k = 0; k < quarter; k++) {
      const omega = 1 / 10000 ** (k / quarter);
      out[o + k] = Math.sin(col * omega);
      out[o + quarter + k] = Math.cos(col * omega);
      out[o + 2 * quarter + k] = Math.sin(row * omega);
      out[o + 3 * quarter + k] = Math.cos(row * omega);
    }
  }
  return out;
}
