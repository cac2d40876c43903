#!/usr/bin/env python3
"""An independent tile -> embeddings reference for yasa2 mmproj GGUFs (Reka Edge's ConvNeXt V2 encoder),
with torch's own ops in float64: F.conv2d (the 4x4/4 stem, the 2x2/2 downsampling, the 7x7 depthwise
conv as groups=C), F.layer_norm over channels, F.gelu (exact), GRN with torch.norm, F.avg_pool2d and
F.linear. The position table is the one in the file, else built as llama.cpp's Reka converter builds it
(numpy, 50 x 50 grid, first rows). Shares no code with the TypeScript/WGSL path; the GGUF is read by
clip_torch_oracle.read_gguf (numpy).

usage: yasa2_torch_oracle.py MMPROJ.gguf PIXELS.f32 OUT.f32
  PIXELS.f32: float32 [tiles, 3, S, S] (normalized; one tile or several, each encoded on its own),
  OUT.f32: float32 [tiles * 64, projection width] row-major, tile after tile.
Run with Debian's python3 (/usr/bin/python3 + python3-torch); exits 3 when torch is not importable.
"""
import os
import sys

import numpy as np

try:
    import torch
    import torch.nn.functional as F
except ImportError as e:
    print(f"torch unavailable: {e}", file=sys.stderr)
    sys.exit(3)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clip_torch_oracle import read_gguf  # noqa: E402


def sincos_table(dim, side, rows):
    def one(d, pos):
        omega = np.arange(d // 2, dtype=np.float32)
        omega /= d / 2.0
        omega = 1.0 / (10000.0 ** omega)
        out = np.einsum("hw,d->hwd", pos, omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=-1)

    g = np.arange(side, dtype=np.float32)
    grid = np.stack(np.meshgrid(g, g), axis=0)
    pos = np.concatenate([one(dim // 2, grid[0]), one(dim // 2, grid[1])], axis=-1).reshape(side * side, dim)
    return torch.from_numpy(pos[:rows].astype(np.float64))


def ln_channels(x, w, b, eps):
    # channels-first LayerNorm: normalize over C at every pixel
    return F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],), w, b, eps).permute(0, 3, 1, 2)


def encode(meta, T, pixels):
    assert meta["clip.projector_type"] == "yasa2"
    S = meta["clip.vision.image_size"]
    eps = meta["clip.vision.attention.layer_norm_epsilon"]
    p = T["v.patch_embd.weight"].shape[-1]
    x = torch.from_numpy(pixels.astype(np.float64)).reshape(-1, 3, S, S)
    assert x.shape[0] == 1, "one tile at a time"
    x = F.conv2d(x, T["v.patch_embd.weight"], T["v.patch_embd.bias"], stride=p)
    x = ln_channels(x, T["v.patch_ln.weight"], T["v.patch_ln.bias"], eps)
    s = 0
    while f"v.stage.{s}.blk.0.dw.weight" in T:
        if f"v.stage.{s}.down.conv.weight" in T:
            x = ln_channels(x, T[f"v.stage.{s}.down.ln.weight"], T[f"v.stage.{s}.down.ln.bias"], eps)
            x = F.conv2d(x, T[f"v.stage.{s}.down.conv.weight"], T[f"v.stage.{s}.down.conv.bias"], stride=2)
        b = 0
        while f"v.stage.{s}.blk.{b}.dw.weight" in T:
            P = lambda part, wb: T[f"v.stage.{s}.blk.{b}.{part}.{wb}"]  # noqa: E731
            C = x.shape[1]
            h = F.conv2d(x, P("dw", "weight"), P("dw", "bias"), padding=3, groups=C)
            h = F.layer_norm(h.permute(0, 2, 3, 1), (C,), P("ln", "weight"), P("ln", "bias"), eps)  # NHWC from here
            h = F.gelu(F.linear(h, P("pw1", "weight"), P("pw1", "bias")))
            gx = torch.norm(h, p=2, dim=(1, 2), keepdim=True)
            nx = gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)
            h = P("grn", "weight").reshape(-1) * (h * nx) + P("grn", "bias").reshape(-1) + h
            h = F.linear(h, P("pw2", "weight"), P("pw2", "bias"))
            x = x + h.permute(0, 3, 1, 2)
            b += 1
        s += 1
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    tokens = x.flatten(2).transpose(1, 2)  # [1, H*W, C], row-major over the map
    pos = T["v.vision_pos_embed"] if "v.vision_pos_embed" in T else sincos_table(C, 50, H * W)
    tokens = tokens + pos
    x = tokens.transpose(1, 2).reshape(1, C, H, W)
    x = F.avg_pool2d(x, kernel_size=H // 8, stride=H // 8)
    tokens = x.flatten(2).transpose(1, 2)[0]
    h = F.gelu(F.linear(tokens, T["mm.0.weight"], T.get("mm.0.bias")))
    return F.linear(h, T["mm.2.weight"], T.get("mm.2.bias"))


def main():
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    path, pix_path, out_path = sys.argv[1:]
    meta, T = read_gguf(path)
    pixels = np.fromfile(pix_path, dtype="<f4")
    S = meta["clip.vision.image_size"]
    assert pixels.size % (3 * S * S) == 0, f"{pixels.size} values are not whole {S} x {S} tiles"
    tiles = pixels.reshape(-1, 3 * S * S)
    with torch.no_grad():
        out = torch.cat([encode(meta, T, t) for t in tiles], dim=0)
    out.numpy().astype("<f4").tofile(out_path)
    print(f'{{"tokens": {out.shape[0]}, "width": {out.shape[1]}}}')


if __name__ == "__main__":
    main()
