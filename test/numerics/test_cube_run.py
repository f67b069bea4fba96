"""End to end on the CPU: `python3 -m cube compile` + `cube-run --eval` on HF's own tiny-llama weights
(test/python/data/tiny-llama.safetensors, written by transformers' save_pretrained; sharpened so that the
loss depends on every part of the forward) against an independent
PyTorch implementation of HF's LlamaForCausalLM forward and loss (labels = input_ids, shifted; fp32).

The reference below is written from transformers' modeling_llama.py (RMSNorm in fp32, rotate_half RoPE with
inv_freq = theta^(-2i/D), repeat_kv for GQA, causal softmax attention with 1/sqrt(D), SiLU-gated MLP,
cross_entropy over the shifted logits); it shares no code with cube.
"""
import json
import os
import re
import struct
import subprocess
import sys

import numpy as np
import torch  # Debian's python3-torch (scripts/install-deps.sh)

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRC, "python"))
from cube import data  # noqa: E402
from cube.presets import PRESETS  # noqa: E402

HF_WEIGHTS = os.path.join(SRC, "test", "python", "data", "tiny-llama.safetensors")
MODEL = os.path.join(SRC, "examples", "models", "tiny-llama.mlir")  # batch 2, seq 16, f32
BATCH, SEQ, BATCHES = 2, 16, 3


def load_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32"
        b, e = t["data_offsets"]
        arr = np.frombuffer(blob[8 + n + b:8 + n + e], dtype=np.float32).reshape(t["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


def save_safetensors(path, tensors):
    header, offset, chunks = {}, 0, []
    for name, t in tensors.items():
        raw = t.contiguous().numpy().astype(np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        chunks.append(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def sharpened(w):
    """HF's init gives near-uniform logits (loss ~ ln V whatever the math does); scaled-up weights and
    random norm gains make every part of the forward matter for the loss."""
    g = torch.Generator().manual_seed(3)
    out = {}
    for name, t in w.items():
        if name.endswith("norm.weight"):
            out[name] = 0.5 + torch.rand(t.shape, generator=g)
        else:
            out[name] = t * 12.0
    return out


def hf_llama_loss(w, cfg, ids):
    """LlamaForCausalLM(...)(input_ids=ids, labels=ids).loss, written out in PyTorch."""
    h, nh, nkv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    d = h // nh
    eps, theta = cfg["rms_norm_eps"], cfg["rope_theta"]
    B, S = ids.shape

    def rmsnorm(x, weight):
        var = x.pow(2).mean(-1, keepdim=True)
        return weight * (x * torch.rsqrt(var + eps))

    def rotate_half(x):
        return torch.cat((-x[..., d // 2:], x[..., :d // 2]), dim=-1)

    inv_freq = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
    freqs = torch.outer(torch.arange(S).float(), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    mask = torch.full((S, S), float("-inf")).triu(1)

    x = w["model.embed_tokens.weight"][ids]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        y = rmsnorm(x, w[p + "input_layernorm.weight"])
        q = (y @ w[p + "self_attn.q_proj.weight"].T).view(B, S, nh, d).transpose(1, 2)
        k = (y @ w[p + "self_attn.k_proj.weight"].T).view(B, S, nkv, d).transpose(1, 2)
        v = (y @ w[p + "self_attn.v_proj.weight"].T).view(B, S, nkv, d).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k, v = k.repeat_interleave(nh // nkv, dim=1), v.repeat_interleave(nh // nkv, dim=1)
        att = torch.softmax(q @ k.transpose(2, 3) / d ** 0.5 + mask, dim=-1, dtype=torch.float32)
        o = (att @ v).transpose(1, 2).reshape(B, S, h)
        x = x + o @ w[p + "self_attn.o_proj.weight"].T
        y = rmsnorm(x, w[p + "post_attention_layernorm.weight"])
        g = y @ w[p + "mlp.gate_proj.weight"].T
        u = y @ w[p + "mlp.up_proj.weight"].T
        x = x + (torch.nn.functional.silu(g) * u) @ w[p + "mlp.down_proj.weight"].T
    x = rmsnorm(x, w["model.norm.weight"])
    logits = x @ w["lm_head.weight"].T
    return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]),
                                             ids[:, 1:].reshape(-1), ignore_index=-100).item()


def test_cube_run_eval_matches_pytorch(tmp_path):
    cfg = PRESETS["tiny-llama"]
    w = sharpened(load_safetensors(HF_WEIGHTS))
    weights = tmp_path / "weights.safetensors"
    save_safetensors(str(weights), w)
    g = torch.Generator().manual_seed(7)
    ids = torch.randint(0, cfg["vocab_size"], (BATCHES * BATCH * SEQ,), generator=g)
    tok = tmp_path / "tokens.tok"
    data.write(str(tok), ids.tolist(), cfg["vocab_size"])
    art = tmp_path / "art"
    env = dict(os.environ, PYTHONPATH=os.path.join(SRC, "python"))
    r = subprocess.run([sys.executable, "-m", "cube", "compile", MODEL, "--target", "cpu", "-o", str(art)],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    cube_run = os.path.join(os.path.dirname(os.environ.get("CUBE_OPT", os.path.join(SRC, "build", "bin", "x"))),
                            "cube-run")
    r = subprocess.run([cube_run, str(art), "--device", "cpu", "--weights", str(weights), "--strict", "--data", str(tok),
                        "--eval", "--batches", str(BATCHES), "-v"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    got = [float(m) for m in re.findall(r"batch \d+: loss ([0-9.eE+-]+)", r.stdout)]
    assert len(got) == BATCHES, r.stdout

    for b in range(BATCHES):
        window = ids[b * BATCH * SEQ:(b + 1) * BATCH * SEQ].view(BATCH, SEQ)
        want = hf_llama_loss(w, cfg, window)
        assert abs(got[b] - want) <= 1e-5 * abs(want), f"batch {b}: cube-run {got[b]} vs PyTorch {want}"
        assert abs(want - 5.545) > 0.5, f"the sharpened model's loss {want} should be far from ln(256)"
    mean = float(re.search(r"mean loss ([0-9.eE+-]+)", r.stdout).group(1))
    assert abs(mean - sum(got) / BATCHES) <= 1e-5 * mean
