#!/usr/bin/env python3
"""An independent image -> embeddings reference for mmproj GGUFs (clip ViT + gemma3, LLaVA mlp or idefics3
projector), written with torch ops in float64 the way the Hugging Face models compute them: conv2d patch
embedding, a class token prepended at position 0 (CLIP), interpolate for position embeddings, layer_norm,
explicit softmax attention, tanh or quick GELU, then the projector: gemma3 avg_pool2d + RMSNorm +
projection; LLaVA's linear_1 -> GELU -> linear_2 on the patch rows (class row dropped); idefics3's
pixel_shuffle (view/permute/reshape as Idefics3Connector) + the modality projection. It shares no code
with the TypeScript/WGSL path; it reads the GGUF with its own small numpy parser.

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
    proj = meta.get("clip.projector_type", "mlp")
    assert meta["general.architecture"] == "clip" and proj in ("gemma3", "mlp", "idefics3"), proj
    p = meta["clip.vision.patch_size"]
    D = meta["clip.vision.embedding_length"]
    n_head = meta["clip.vision.attention.head_count"]
    n_layer = meta["clip.vision.block_count"]
    eps = meta["clip.vision.attention.layer_norm_epsilon"]
    merge = meta.get("clip.vision.projector.scale_factor", 4)
    # clip.use_gelu: tanh GELU; otherwise CLIP's quick_gelu, x * sigmoid(1.702 x)
    if meta.get("clip.use_gelu", False):
        act = lambda v: F.gelu(v, approximate="tanh")
    else:
        act = lambda v: v * torch.sigmoid(1.702 * v)
    hd = D // n_head
    # older converters store fc1 as ffn_down and fc2 as ffn_up; tell them apart by shape
    up_name, down_name = "ffn_up", "ffn_down"
    if T["v.blk.0.ffn_down.weight"].shape[1] == D:
        up_name, down_name = "ffn_down", "ffn_up"

    img = torch.from_numpy(pixels.astype(np.float64)).reshape(1, 3, height, width)
    x = F.conv2d(img, T["v.patch_embd.weight"], T.get("v.patch_embd.bias"), stride=p)  # [1, D, gy, gx]
    gy, gx = x.shape[2], x.shape[3]
    x = x.flatten(2).transpose(1, 2)[0]  # [gy*gx, D], patches row-major

    pos = T["v.position_embd.weight"]
    has_cls = "v.class_embd" in T
    if has_cls:  # CLIPVisionEmbeddings: [CLS] + patches, position ids 0..n
        x = torch.cat([T["v.class_embd"].reshape(1, D), x], dim=0)
        assert pos.shape[0] == x.shape[0], (pos.shape, x.shape)
    side = int(round((pos.shape[0] - has_cls) ** 0.5))
    if not has_cls and (gy, gx) != (side, side):
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
        x = x + lin(act(lin(h, up_name)), down_name)
    if "v.post_ln.weight" in T:
        x = ln(x, "v.post_ln")
    if has_cls:
        x = x[1:]  # LLaVA's "patch" feature select: drop the class token

    if proj == "mlp":  # LlavaMultiModalProjector: linear_1, GELU, linear_2 (nn.Linear weights are [out, in])
        hcur = F.gelu(x @ T["mm.0.weight"].T + T["mm.0.bias"], approximate="tanh")
        return hcur @ T["mm.2.weight"].T + T["mm.2.bias"]

    if proj == "idefics3":  # Idefics3Connector: pixel_shuffle, then modality_projection (no bias)
        s = merge
        seq = x.shape[0]
        hh = ww = int(seq ** 0.5)
        y = x[None].view(1, hh, ww, D)
        y = y.view(1, hh, ww // s, D * s)
        y = y.permute(0, 2, 1, 3)
        y = y.reshape(1, ww // s, hh // s, D * s * s)
        y = y.permute(0, 2, 1, 3)
        y = y.reshape(1, seq // (s * s), D * s * s)[0]
        return y @ T["mm.model.fc.weight"].T

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
