#!/usr/bin/env python3
"""An independent image -> embeddings reference for mmproj GGUFs (clip ViT + gemma3 projector), written
with torch ops in float64: conv2d patch embedding, interpolate for position embeddings, layer_norm,
explicit softmax attention, tanh GELU, avg_pool2d, RMSNorm and the projection. It shares no code with the
TypeScript/WGSL path; it reads the GGUF with its own small numpy parser.

usage: clip_torch_oracle.py MMPROJ.gguf PIXELS.f32 WIDTH HEIGHT OUT.f32
  PIXELS.f32: planar RGB float32 (already normalized), OUT.f32: float32 [tokens, width] row-major.
Prints one JSON line with the token count and width.

Run with Debian's python3 (/usr/bin/python3 + python3-torch); exits 3 when torch is not importable.
"""
import json
import struct
import sys

import numpy as np

try:
    import torch
    import torch.nn.functional as F
except ImportError as e:  # the caller tells "no torch here" from a failure
    print(f"torch unavailable: {e}", file=sys.stderr)
    sys.exit(3)

# ---------------------------------------------------------------- GGUF, read with numpy

SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
STRING, ARRAY = 8, 9
# ggml type id -> (block size, block bytes)
BLOCKS = {0: (1, 4), 1: (1, 2), 2: (32, 18), 8: (32, 34)}


class Reader:
    def __init__(self, buf):
        self.buf, self.pos = buf, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.buf, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return v

    def string(self):
        n = self.take("<Q")
        s = bytes(self.buf[self.pos:self.pos + n]).decode("utf-8", "replace")
        self.pos += n
        return s

    def value(self, t):
        if t == STRING:
            return self.string()
        if t == ARRAY:
            it, n = self.take("<I"), self.take("<Q")
            return [self.value(it) for _ in range(n)]
        return self.take(SCALAR[t])


def dequant(type_id, raw, n):
    if type_id == 0:
        return np.frombuffer(raw, dtype="<f4", count=n).astype(np.float64)
    if type_id == 1:
        return np.frombuffer(raw, dtype="<f2", count=n).astype(np.float64)
    if type_id == 8:  # Q8_0: f16 scale, 32 int8
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 34)
        d = b[:, :2].copy().view("<f2").astype(np.float64)
        q = b[:, 2:].copy().view(np.int8).astype(np.float64)
        return (q * d).reshape(-1)[:n]
    if type_id == 2:  # Q4_0: f16 scale, 16 bytes: low nibbles are elements 0..15, high 16..31; (q - 8) * d
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 18)
        d = b[:, :2].copy().view("<f2").astype(np.float64)
        qs = b[:, 2:]
        q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float64) - 8
        return (q * d).reshape(-1)[:n]
    raise SystemExit(f"ggml type {type_id} not handled by this oracle")


def read_gguf(path):
    buf = memoryview(open(path, "rb").read())
    r = Reader(buf)
    if r.take("<I") != 0x46554747:
        raise SystemExit("not a GGUF file")
    version = r.take("<I")
    if version not in (2, 3):
        raise SystemExit(f"GGUF version {version}")
    n_tensors, n_kv = r.take("<Q"), r.take("<Q")
    meta = {}
    for _ in range(n_kv):
        key = r.string()
        meta[key] = r.value(r.take("<I"))
    infos = []
    for _ in range(n_tensors):
        name = r.string()
        nd = r.take("<I")
        ne = [r.take("<Q") for _ in range(nd)]
        infos.append((name, ne, r.take("<I"), r.take("<Q")))
    align = meta.get("general.alignment", 32)
    base = (r.pos + align - 1) // align * align
    tensors = {}
    for name, ne, t, off in infos:
        n = int(np.prod(ne))
        bs, bb = BLOCKS[t]
        raw = buf[base + off: base + off + n // bs * bb]
        # ggml ne[0] is contiguous: numpy shape is ne reversed
        tensors[name] = torch.from_numpy(dequant(t, raw, n).reshape(list(reversed(ne))).copy())
    return meta, tensors


# ---------------------------------------------------------------- the encoder

def encode(meta, T, pixels, width, height):
    assert meta["general.architecture"] == "clip" and meta["clip.projector_type"] == "gemma3"
    p = meta["clip.vision.patch_size"]
    D = meta["clip.vision.embedding_length"]
    n_head = meta["clip.vision.attention.head_count"]
    n_layer = meta["clip.vision.block_count"]
    eps = meta["clip.vision.attention.layer_norm_epsilon"]
    merge = meta.get("clip.vision.projector.scale_factor", 4)
    assert meta.get("clip.use_gelu", False)
    hd = D // n_head

    img = torch.from_numpy(pixels.astype(np.float64)).reshape(1, 3, height, width)
    x = F.conv2d(img, T["v.patch_embd.weight"], T.get("v.patch_embd.bias"), stride=p)  # [1, D, gy, gx]
    gy, gx = x.shape[2], x.shape[3]
    x = x.flatten(2).transpose(1, 2)[0]  # [gy*gx, D], patches row-major

    pos = T["v.position_embd.weight"]
    side = int(round(pos.shape[0] ** 0.5))
    if (gy, gx) != (side, side):
        grid = pos.reshape(1, side, side, D).permute(0, 3, 1, 2)
        pos = F.interpolate(grid, size=(gy, gx), mode="bilinear", align_corners=False).permute(0, 2, 3, 1).reshape(gy * gx, D)
    x = x + pos

    def ln(v, name):
        return F.layer_norm(v, (D,), T[name + ".weight"], T[name + ".bias"], eps)

    if "v.pre_ln.weight" in T:
        x = ln(x, "v.pre_ln")
    n = x.shape[0]
    for l in range(n_layer):
        b = f"v.blk.{l}."
        lin = lambda v, name: F.linear(v, T[b + name + ".weight"], T[b + name + ".bias"])
        h = ln(x, b + "ln1")
        q = lin(h, "attn_q").reshape(n, n_head, hd).transpose(0, 1)
        k = lin(h, "attn_k").reshape(n, n_head, hd).transpose(0, 1)
        v = lin(h, "attn_v").reshape(n, n_head, hd).transpose(0, 1)
        a = torch.softmax(q @ k.transpose(1, 2) / hd ** 0.5, dim=-1) @ v  # no mask: bidirectional
        x = x + lin(a.transpose(0, 1).reshape(n, D), "attn_out")
        h = ln(x, b + "ln2")
        x = x + lin(F.gelu(lin(h, "ffn_up"), approximate="tanh"), "ffn_down")
    if "v.post_ln.weight" in T:
        x = ln(x, "v.post_ln")

    # gemma3 projector: pool the patch grid, RMSNorm with soft_emb_norm, project with input_projection
    grid = x.reshape(gy, gx, D).permute(2, 0, 1)[None]
    pooled = F.avg_pool2d(grid, kernel_size=merge, stride=merge)[0].flatten(1).transpose(0, 1)
    normed = pooled / torch.sqrt(pooled.pow(2).mean(-1, keepdim=True) + eps) * T["mm.soft_emb_norm.weight"]
    return normed @ T["mm.input_projection.weight"]  # stored [vision, text]


def main():
    if len(sys.argv) != 6:
        raise SystemExit(__doc__)
    path, pix_path, width, height, out_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    meta, tensors = read_gguf(path)
    pixels = np.fromfile(pix_path, dtype="<f4")
    if pixels.size != 3 * width * height:
        raise SystemExit(f"{pix_path}: {pixels.size} floats, expected {3 * width * height}")
    with torch.no_grad():
        y = encode(meta, tensors, pixels, width, height)
    y.numpy().astype("<f4").tofile(out_path)
    print(json.dumps({"tokens": y.shape[0], "width": y.shape[1], "torch": torch.__version__}))


if __name__ == "__main__":
    main()
