#!/usr/bin/env python3
"""Reka Edge's image and video-frame preprocessing, done with Pillow and numpy, for checking
src/vision/yasa2/preprocess.ts. It follows the behaviour of Reka's vLLM plugin (the anyres UHD tiler,
then transformers' ConvNextImageProcessor per tile: a bilinear squash to S x S for S >= 384, rescale by
1/255, ImageNet normalization) written out here with Pillow's own resize; it shares no code with the
TypeScript path.

usage: yasa2_preprocess_oracle.py image|frame RGB.u8 W H S P MAX_TILES OUT_U8 OUT_F32
  RGB.u8: W*H*3 bytes. OUT_U8: the tiles' S*S*3 bytes, concatenated in prompt order.
  OUT_F32: float32 [tiles, 3, S, S]. Prints the tile count as JSON.
Run with Debian's python3 (python3-pil, python3-numpy); exits 3 when Pillow is not importable.
"""
import json
import math
import sys

import numpy as np

try:
    from PIL import Image
except ImportError as e:
    print(f"Pillow unavailable: {e}", file=sys.stderr)
    sys.exit(3)

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def to_multiple(n, p):
    return max(round(n / p) * p, p)


def area_fit(w, h, side, p):
    aspect = w / h
    nh = int(side / math.sqrt(aspect))
    nw = int(nh * aspect)
    return to_multiple(nw, p), to_multiple(nh, p)


def pairs(n):
    return [(c, n // c) for c in range(1, n + 1) if n % c == 0]


def tiles_of(img, side, p, max_tiles):
    w, h = img.size
    n = min(math.ceil(w * h / (side * side)), max_tiles)
    if n <= 1:
        return [img.resize(area_fit(w, h, side, p), Image.BICUBIC)]
    grids = pairs(n) + (pairs(n + 1) if n < max_tiles else [])
    target = math.log(w / h)
    cols, rows = min(grids, key=lambda g: abs(target - math.log(g[0] / g[1])))
    cw, ch = area_fit(to_multiple(w // cols, p), to_multiple(h // rows, p), side, p)
    big = img.resize((cw * cols, ch * rows), Image.BICUBIC)
    cells = [big.crop((c * cw, r * ch, (c + 1) * cw, (r + 1) * ch)) for r in range(rows) for c in range(cols)]
    return [img] + cells


def squash_and_normalize(tile, side):
    t = tile.resize((side, side), Image.BILINEAR)
    u8 = np.asarray(t, dtype=np.uint8)
    x = (u8.astype(np.float64) * (1 / 255)).astype(np.float32)
    x = (x - MEAN) / STD
    return u8, np.ascontiguousarray(x.transpose(2, 0, 1))


def main():
    if len(sys.argv) != 10:
        raise SystemExit(__doc__)
    mode, path, w, h, side, p, max_tiles, out_u8, out_f32 = sys.argv[1:]
    w, h, side, p, max_tiles = int(w), int(h), int(side), int(p), int(max_tiles)
    img = Image.frombytes("RGB", (w, h), open(path, "rb").read())
    tiles = tiles_of(img, side, p, max_tiles) if mode == "image" else [img]
    done = [squash_and_normalize(t, side) for t in tiles]
    with open(out_u8, "wb") as f:
        for u8, _ in done:
            f.write(u8.tobytes())
    with open(out_f32, "wb") as f:
        for _, x in done:
            f.write(x.astype("<f4").tobytes())
    print(json.dumps({"tiles": len(done)}))


if __name__ == "__main__":
    main()
