"""Per-op numerics of the CPU codegen: every op of docs/dialect.md, compiled alone (a module whose @forward
takes the op's operands as arguments) for target=cpu, run from kernels.so on random inputs (cube_cpu.py),
and compared with the PyTorch expression of the op (HF's formulas for rmsnorm, rope, attention).

f32: max|ours - torch| / max|torch| <= 1e-5. bf16/f16: within 2 ulp of the output type (ours computes in f32
and rounds once; PyTorch rounds at each step), measured the same way. Run under Debian's /usr/bin/python3
(python3-torch, python3-numpy, python3-pytest); the lit test test/numerics/ops.test runs this file.
"""
import math
import os

import numpy as np
import pytest

import torch  # Debian's python3-torch (scripts/install-deps.sh); a missing torch is a failure, not a skip
import torch.nn.functional as F  # noqa: E402

import cube_cpu  # noqa: E402

MLIR_T = {torch.float32: "f32", torch.bfloat16: "bf16", torch.float16: "f16", torch.int64: "i64", torch.int32: "i32"}


def ttype(shape, dtype):
    return "tensor<" + "".join(f"{d}x" for d in shape) + MLIR_T[dtype] + ">"


def module(op, args, result, attrs=""):
    """A module whose @forward applies `op` to its arguments (torch tensors giving shapes and dtypes)."""
    params = ", ".join(f"%a{i}: {ttype(a.shape, a.dtype)}" for i, a in enumerate(args))
    names = ", ".join(f"%a{i}" for i in range(len(args)))
    types = ", ".join(ttype(a.shape, a.dtype) for a in args)
    rt = ttype(result.shape, result.dtype)
    attr = f" {{{attrs}}}" if attrs else ""
    return (f"module {{\n  func.func @forward({params}) -> {rt} {{\n"
            f"    %0 = \"cube.{op}\"({names}){attr} : ({types}) -> {rt}\n"
            f"    return %0 : {rt}\n  }}\n}}\n")


def to_np(t):
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(np.uint16)
    return t.numpy()


def from_np(a, dtype):
    if dtype == torch.bfloat16:
        return torch.from_numpy(a.view(np.int16).copy()).view(torch.bfloat16)
    return torch.from_numpy(a.copy())


def run(tmp_path, text, args, out_dtype, before=""):
    r = cube_cpu.compile_mlir(text, str(tmp_path / "art"), before=before)
    assert r.returncode == 0, r.stderr
    art = cube_cpu.Artifact(str(tmp_path / "art"))
    for name, a in zip(art.input_names(), args):
        art.set(name, to_np(a))
    art.run()
    return from_np(art.output(), out_dtype)


def check(tmp_path, op, args, ref, attrs="", before=""):
    ours = run(tmp_path, module(op, args, ref, attrs), args, ref.dtype, before)
    assert ours.shape == ref.shape
    ref32, ours32 = ref.float(), ours.float()
    scale = max(ref32.abs().max().item(), 1e-30) if ref32.numel() else 1.0
    err = (ours32 - ref32).abs().max().item() / scale if ref32.numel() else 0.0
    tol = 1e-5 if ref.dtype == torch.float32 else 2 * torch.finfo(ref.dtype).eps
    assert err <= tol, f"{op}: relative error {err:.3g} > {tol:.3g}"


def rnd(*shape, dtype=torch.float32, lo=-2.0, hi=2.0, seed=0):
    g = torch.Generator().manual_seed(seed + sum(shape))
    return (torch.rand(*shape, generator=g) * (hi - lo) + lo).to(dtype)


# ---- elementwise --------------------------------------------------------------------------------------

@pytest.mark.parametrize("op,fn", [("add", torch.add), ("sub", torch.sub), ("mul", torch.mul), ("div", torch.div)])
def test_binary(tmp_path, op, fn):
    a, b = rnd(3, 5, 7), rnd(3, 5, 7, seed=1, lo=0.5, hi=3.0)
    check(tmp_path, op, [a, b], fn(a, b))


def test_add_rank0(tmp_path):
    a, b = torch.tensor(1.5), torch.tensor(-0.25)
    check(tmp_path, "add", [a, b], a + b)


@pytest.mark.parametrize("op,fn,lo", [("neg", torch.neg, -2.0), ("silu", F.silu, -8.0), ("exp", torch.exp, -4.0),
                                      ("rsqrt", torch.rsqrt, 0.01)])
def test_unary(tmp_path, op, fn, lo):
    a = rnd(4, 33, lo=lo, hi=8.0 if op == "silu" else 4.0)
    check(tmp_path, op, [a], fn(a))


def test_scale(tmp_path):
    a = rnd(2, 9)
    check(tmp_path, "scale", [a], a * 0.37, "factor = 0.37 : f64")


@pytest.mark.parametrize("src,dst", [(torch.float32, torch.bfloat16), (torch.float32, torch.float16),
                                     (torch.bfloat16, torch.float32), (torch.float16, torch.float32),
                                     (torch.bfloat16, torch.float16)])
def test_cast(tmp_path, src, dst):
    a = rnd(5, 6, lo=-100, hi=100).to(src)
    ours = run(tmp_path, module("cast", [a], a.to(dst)), [a], dst)
    assert torch.equal(ours, a.to(dst)), "cast must round to nearest even, exactly as PyTorch"


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_binary_low_precision(tmp_path, dtype):
    a, b = rnd(4, 8, dtype=dtype), rnd(4, 8, dtype=dtype, seed=3)
    check(tmp_path, "mul", [a, b], a * b)
    check(tmp_path / "silu", "silu", [a], F.silu(a.float()).to(dtype))


# ---- layout -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape,perm", [((2, 3, 4, 5), (0, 2, 1, 3)), ((2, 3, 4), (2, 0, 1)), ((6,), (0,)),
                                        ((1, 4, 1, 3), (3, 1, 2, 0))])
def test_transpose(tmp_path, shape, perm):
    a = rnd(*shape)
    check(tmp_path, "transpose", [a], a.permute(*perm).contiguous(),
          f"permutation = array<i64: {', '.join(map(str, perm))}>")


def test_slice(tmp_path):
    a = rnd(4, 6, 8)
    check(tmp_path, "slice", [a], a[1:3, 2:5, 3:8].contiguous(), "offsets = array<i64: 1, 2, 3>")


def test_slice_labels(tmp_path):
    a = torch.arange(2 * 16, dtype=torch.int64).reshape(2, 16)
    text = module("slice", [a], a[:, 1:], "offsets = array<i64: 0, 1>")
    assert torch.equal(run(tmp_path, text, [a], torch.int64), a[:, 1:])


@pytest.mark.parametrize("dtype,value,attr", [(torch.float32, -1.5, "-1.5 : f64"),
                                              (torch.float32, None, None),
                                              (torch.bfloat16, 3.25, "3.25 : f64")])
def test_pad_value(tmp_path, dtype, value, attr):
    a = rnd(2, 3, 4, dtype=dtype)
    ref = torch.full((3, 5, 7), 0.0 if value is None else value, dtype=dtype)
    ref[1:3, 0:3, 2:6] = a
    attrs = "offsets = array<i64: 1, 0, 2>" + (f", value = {attr}" if attr else "")
    ours = run(tmp_path, module("pad", [a], ref, attrs), [a], dtype)
    assert torch.equal(ours, ref), "pad copies its input and writes value elsewhere, exactly"


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32])
def test_pad_labels(tmp_path, dtype):
    """The causal-LM label shift of the traced loss (HF's ForCausalLMLoss): pad(labels[:, 1:], value=-100)."""
    labels = torch.arange(2 * 16, dtype=dtype).reshape(2, 16) * 1000003 - 7
    shifted = labels[:, 1:].contiguous()
    ref = F.pad(labels, (0, 1), value=-100)[:, 1:]
    text = module("pad", [shifted], ref, "offsets = array<i64: 0, 0>, value = -100 : i64")
    assert torch.equal(run(tmp_path, text, [shifted], dtype), ref)
    # away from the end, and a value beyond int32 for i64 labels
    value = -(2 ** 40) if dtype == torch.int64 else -(2 ** 31)
    ref = torch.full((4, 17), value, dtype=dtype)
    ref[1:3, 1:] = labels
    text = module("pad", [labels], ref, f"offsets = array<i64: 1, 1>, value = {value} : i64")
    assert torch.equal(run(tmp_path / "mid", text, [labels], dtype), ref)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_concat(tmp_path, dim):
    a = rnd(2, 3, 4)
    shape = list(a.shape)
    shape[dim] = 5
    b = rnd(*shape, seed=7)
    check(tmp_path, "concat", [a, b], torch.cat([a, b], dim), f"dim = {dim} : i64")


@pytest.mark.parametrize("idt", [torch.int64, torch.int32])
def test_embedding(tmp_path, idt):
    ids = torch.tensor([[0, 3, 10, 7, 3], [1, 2, 9, 0, 5]], dtype=idt)
    w = rnd(11, 6)
    check(tmp_path, "embedding", [ids, w], F.embedding(ids.long(), w))


# ---- row-wise ------------------------------------------------------------------------------------------

def hf_rmsnorm(x, w, eps):
    h = x.float()
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return w * h.to(x.dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_rmsnorm(tmp_path, dtype):
    x, w = rnd(2, 3, 16, dtype=dtype), rnd(16, dtype=dtype, lo=0.5, hi=1.5, seed=2)
    check(tmp_path, "rmsnorm", [x, w], hf_rmsnorm(x, w, 1e-6), "eps = 1.0e-06 : f64")


@pytest.mark.parametrize("dim", [-1, 1, 0])
def test_softmax(tmp_path, dim):
    x = rnd(3, 5, 7, lo=-30, hi=30)
    check(tmp_path, "softmax", [x], torch.softmax(x, dim), f"dim = {dim} : i64")


def hf_rope(x, theta):
    b, h, s, d = x.shape
    inv_freq = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
    pos = torch.arange(s).float()
    freqs = (inv_freq[None, :, None] @ pos[None, None, :]).transpose(1, 2)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
    rot = torch.cat((-x[..., d // 2:], x[..., : d // 2]), dim=-1)
    return x * cos[:, None] + rot * sin[:, None]


@pytest.mark.parametrize("theta", [10000.0, 500000.0])
def test_rope(tmp_path, theta):
    x = rnd(2, 3, 40, 8)
    check(tmp_path, "rope", [x], hf_rope(x, theta), f"theta = {theta} : f64")


def hf_attention(q, k, v, causal, scale):
    g = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(g, dim=1), v.repeat_interleave(g, dim=1)
    w = torch.matmul(q.float(), k.float().transpose(2, 3)) * scale
    if causal:
        s = q.shape[2]
        w = w + torch.triu(torch.full((s, s), torch.finfo(torch.float32).min), diagonal=1)
    p = torch.softmax(w, dim=-1, dtype=torch.float32)
    return torch.matmul(p, v.float()).to(q.dtype)


@pytest.mark.parametrize("causal,hkv,scale", [(True, 2, None), (True, 4, None), (False, 1, 0.3), (True, 1, 0.125)])
@pytest.mark.parametrize("before", ["", "cube-attention-to-matmul,"])
def test_attention(tmp_path, causal, hkv, scale, before):
    """The fused kernel, and cube-attention-to-matmul's matmuls around a scaled causal softmax."""
    q, k, v = rnd(2, 4, 6, 8), rnd(2, hkv, 6, 8, seed=1), rnd(2, hkv, 6, 8, seed=2)
    attrs = f"causal = {'true' if causal else 'false'}" + (f", scale = {scale} : f64" if scale else "")
    ref = hf_attention(q, k, v, causal, scale if scale else 8 ** -0.5)
    check(tmp_path, "attention", [q, k, v], ref, attrs, before)


def test_attention_bf16(tmp_path):
    q, k, v = (rnd(1, 4, 5, 8, dtype=torch.bfloat16, seed=i) for i in range(3))
    check(tmp_path, "attention", [q, k, v], hf_attention(q, k, v, True, 8 ** -0.5), "causal = true")


@pytest.mark.parametrize("period,scale", [(6, 0.25), (3, None), (None, 0.5)])
def test_softmax_scale_causal(tmp_path, period, scale):
    """softmax's optional scale and causal_period: element j of row r is masked when j > r mod period."""
    x = rnd(2, 12, 6, lo=-4, hi=4)
    w = x * (scale if scale else 1.0)
    if period:
        r = torch.arange(12).remainder(period)[:, None]
        w = w.masked_fill(torch.arange(6)[None, :] > r, float("-inf"))
    attrs = "dim = 2" + (f", scale = {scale} : f64" if scale else "") + (f", causal_period = {period}" if period else "")
    check(tmp_path, "softmax", [x], torch.softmax(w, -1), attrs)


@pytest.mark.parametrize("ldt", [torch.int64, torch.int32])
def test_cross_entropy(tmp_path, ldt):
    x = rnd(7, 13, lo=-20, hi=20)
    labels = torch.tensor([3, -100, 12, 0, 5, -100, 7], dtype=ldt)
    ref = F.cross_entropy(x, labels.long(), ignore_index=-100)
    check(tmp_path, "cross_entropy", [x, labels], ref, "ignore_index = -100 : i64")


def test_cross_entropy_3d(tmp_path):
    x = rnd(2, 3, 9, lo=-5, hi=5)
    labels = torch.tensor([[1, 2, -1], [8, -1, 0]], dtype=torch.int64)
    ref = F.cross_entropy(x.reshape(-1, 9), labels.reshape(-1), ignore_index=-1)
    check(tmp_path, "cross_entropy", [x, labels], ref, "ignore_index = -1 : i64")


# ---- GEMMs (kernels on the CPU; cuBLASLt steps on CUDA) -------------------------------------------------------

@pytest.mark.parametrize("bias,dtype", [(False, torch.float32), (True, torch.float32), (True, torch.bfloat16)])
def test_linear(tmp_path, bias, dtype):
    x, w = rnd(2, 5, 24, dtype=dtype), rnd(10, 24, seed=4, dtype=dtype)
    args = [x, w] + ([rnd(10, seed=5, dtype=dtype)] if bias else [])
    ref = F.linear(x.float(), w.float(), args[2].float() if bias else None).to(dtype)
    check(tmp_path, "linear", args, ref)


@pytest.mark.parametrize("tl,tr", [(False, False), (True, False), (False, True), (True, True)])
def test_matmul(tmp_path, tl, tr):
    a = rnd(2, 3, 7, 5) if tl else rnd(2, 3, 5, 7)
    b = rnd(2, 3, 4, 7, seed=9) if tr else rnd(2, 3, 7, 4, seed=9)
    ref = torch.matmul(a.transpose(-1, -2) if tl else a, b.transpose(-1, -2) if tr else b)
    attrs = ", ".join(x for x in [("transpose_lhs = true" if tl else ""), ("transpose_rhs = true" if tr else "")] if x)
    check(tmp_path, "matmul", [a, b], ref, attrs)


# ---- ops without kernels -----------------------------------------------------------------------------------

def test_reshape_output_is_copied(tmp_path):
    a = rnd(4, 6)
    check(tmp_path, "reshape", [a], a.reshape(2, 12))


def test_dropout_is_identity_in_eval(tmp_path):
    a = rnd(3, 4)
    check(tmp_path, "dropout", [a], a, "p = 0.5 : f64, seed = 7 : i64")


# ---- a whole model ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("before", ["", "cube-recompute,", "cube-lora{rank=4 dropout=0.1},cube-recompute,"])
def test_tiny_llama_loss_matches_hf(tmp_path, before):
    """The traced tiny-llama on HF's own weights and ids gives HF's loss (test/python/data); so does the model
    with checkpoints (inlined for the forward pass) and with LoRA adapters (B = 0 at init: the same loss)."""
    import json
    data = os.path.join(cube_cpu.SRC, "test", "python", "data")
    with open(os.path.join(cube_cpu.SRC, "examples", "models", "tiny-llama.mlir")) as f:
        text = f.read()
    r = cube_cpu.compile_mlir(text, str(tmp_path / "art"), before=before)
    assert r.returncode == 0, r.stderr
    art = cube_cpu.Artifact(str(tmp_path / "art"))
    weights = cube_cpu.read_safetensors(os.path.join(data, "tiny-llama.safetensors"))
    for p in art.plan["params"]:
        if p["name"] in weights:
            art.set(p["buffer"], weights[p["name"]])
        else:  # a LoRA adapter: A random, B zeros (peft's init), so the output is the base model's
            assert "lora_" in p["name"] and (p["init"] == "zeros" or "kaiming" in p["init"]), p
            art.set(p["buffer"], np.full(p["shape"], 0.0 if p["init"] == "zeros" else 0.1, np.float32))
    with open(os.path.join(data, "hf_reference.json")) as f:
        ref = json.load(f)["models"]["tiny-llama"]["loss_check"]
    art.set("input_ids", ref["input_ids"])
    art.set("labels", ref["labels"])
    art.run()
    loss = float(art.output())
    assert math.isfinite(loss)
    assert abs(loss - ref["loss"]) / ref["loss"] <= 1e-5, (loss, ref["loss"])


def test_tiny_llama_bf16_close_to_f32(tmp_path):
    """The bf16 model (HF's weights rounded to bf16) runs and lands near HF's f32 loss (bf16 rounding only)."""
    import json
    import subprocess
    import sys
    data = os.path.join(cube_cpu.SRC, "test", "python", "data")
    env = dict(os.environ, PYTHONPATH=os.path.join(cube_cpu.SRC, "python"))
    traced = tmp_path / "bf16.mlir"
    r = subprocess.run([sys.executable, "-m", "cube", "trace", "--preset", "tiny-llama", "--batch", "2", "--seq", "16",
                        "--dtype", "bf16", "-o", str(traced)], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    r = cube_cpu.compile_mlir(traced.read_text(), str(tmp_path / "art"))
    assert r.returncode == 0, r.stderr
    art = cube_cpu.Artifact(str(tmp_path / "art"))
    weights = cube_cpu.read_safetensors(os.path.join(data, "tiny-llama.safetensors"))
    for p in art.plan["params"]:
        art.set(p["buffer"], to_np(torch.from_numpy(weights[p["name"]].copy()).to(torch.bfloat16)))
    with open(os.path.join(data, "hf_reference.json")) as f:
        ref = json.load(f)["models"]["tiny-llama"]["loss_check"]
    art.set("input_ids", ref["input_ids"])
    art.set("labels", ref["labels"])
    art.run()
    loss = float(art.output())
    assert abs(loss - ref["loss"]) / ref["loss"] <= 2e-2, (loss, ref["loss"])
