"""Per-op numerics of the backward and optimizer kernels (docs/dialect.md "Backward and optimizer ops"):
each op compiled alone for target=cpu (cube_cpu.py), run from kernels.so on random inputs, and compared with
torch.autograd / the PyTorch expression of the contract: max|ours - torch| / max|torch| <= 1e-5 in f32.
adamw_update runs in place on a cube.param and two cube.opt_state buffers, against torch.optim.AdamW.

Skipped as a whole while the ops are not in the dialect yet (lib/Dialect/cube.irdl.mlir)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import cube_cpu
from test_ops import MLIR_T, rnd, ttype


def _ops_parse():
    text = ('module {\n  func.func @forward(%a: tensor<4xf32>, %b: tensor<4xf32>) -> tensor<4xf32> {\n'
            '    %0 = "cube.silu_grad"(%a, %b) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>\n'
            '    return %0 : tensor<4xf32>\n  }\n}\n')
    import subprocess
    r = subprocess.run([cube_cpu.cube_opt(), "-", "-o", "/dev/null"], input=text, capture_output=True, text=True)
    return r.returncode == 0


pytestmark = pytest.mark.skipif(not _ops_parse(), reason="the backward ops are not in the cube dialect yet")


def module(op, args, results, attrs=""):
    params = ", ".join(f"%a{i}: {ttype(a.shape, a.dtype)}" for i, a in enumerate(args))
    names = ", ".join(f"%a{i}" for i in range(len(args)))
    types = ", ".join(ttype(a.shape, a.dtype) for a in args)
    rts = [ttype(r.shape, r.dtype) for r in results]
    attr = f" {{{attrs}}}" if attrs else ""
    n = len(results)
    res = "%0" if n == 1 else f"%0:{n}"
    rets = ", ".join("%0" if n == 1 else f"%0#{i}" for i in range(n))
    return (f"module {{\n  func.func @forward({params}) -> ({', '.join(rts)}) {{\n"
            f"    {res} = \"cube.{op}\"({names}){attr} : ({types}) -> ({', '.join(rts)})\n"
            f"    return {rets} : {', '.join(rts)}\n  }}\n}}\n")


def rel_err(ours, ref):
    ref = ref.double()
    scale = max(ref.abs().max().item(), 1e-30)
    return (torch.as_tensor(ours).double() - ref).abs().max().item() / scale


def check(tmp_path, op, args, refs, attrs="", tol=1e-5, before=""):
    r = cube_cpu.compile_mlir(module(op, args, refs, attrs), str(tmp_path / "art"), before=before)
    assert r.returncode == 0, r.stderr
    art = cube_cpu.Artifact(str(tmp_path / "art"))
    for name, a in zip(art.input_names(), args):
        art.set(name, a.numpy())
    art.run()
    for i, ref in enumerate(refs):
        ours = torch.from_numpy(art.output(i))
        assert tuple(ours.shape) == tuple(ref.shape)
        err = rel_err(ours, ref)
        assert err <= tol, f"{op} result {i}: relative error {err:.3g} > {tol:.3g}"


def vjp(fn, inputs, dout):
    xs = [x.clone().requires_grad_(True) for x in inputs]
    y = fn(*xs)
    y.backward(dout)
    return [x.grad for x in xs]


def test_silu_grad(tmp_path):
    x, dy = rnd(3, 5, 7), rnd(3, 5, 7, seed=1)
    check(tmp_path, "silu_grad", [x, dy], vjp(F.silu, [x], dy))


@pytest.mark.parametrize("shape,dim", [((2, 3, 9), -1), ((4, 6, 5), 1)])
def test_softmax_grad(tmp_path, shape, dim):
    x, dy = rnd(*shape), rnd(*shape, seed=1)
    y = torch.softmax(x, dim)
    ref = vjp(lambda t: torch.softmax(t, dim), [x], dy)
    check(tmp_path, "softmax_grad", [y, dy], ref, f"dim = {dim} : i64")


def rope_ref(x, theta):
    b, h, s, d = x.shape
    inv = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
    ang = torch.outer(torch.arange(s).float(), inv)
    emb = torch.cat([ang, ang], -1)
    rot = torch.cat([-x[..., d // 2:], x[..., :d // 2]], -1)
    return x * emb.cos() + rot * emb.sin()


def test_rope_grad(tmp_path):
    dy = rnd(2, 3, 5, 8)
    ref = vjp(lambda t: rope_ref(t, 10000.0), [torch.zeros_like(dy)], dy)
    check(tmp_path, "rope_grad", [dy], ref, "theta = 10000.0 : f64")


@pytest.mark.parametrize("shape,dims", [((2, 3, 4), [0, 1]), ((2, 3, 4), [1]), ((5, 6), [1]), ((3, 4), [0, 1])])
def test_reduce_sum(tmp_path, shape, dims):
    x = rnd(*shape)
    attr = "dims = array<i64: " + ", ".join(map(str, dims)) + ">"
    check(tmp_path, "reduce_sum", [x], [x.sum(dims)], attr)


def test_pad(tmp_path):
    x = rnd(2, 3, 4)
    ref = torch.zeros(3, 5, 6)
    ref[1:3, 2:5, 1:5] = x
    check(tmp_path, "pad", [x], [ref], "offsets = array<i64: 1, 2, 1>")


def test_sumsq(tmp_path):
    x = rnd(4, 33)
    check(tmp_path, "sumsq", [x], [(x.double() ** 2).sum().float()])


@pytest.mark.parametrize("itype", [torch.int64, torch.int32])
def test_embedding_grad(tmp_path, itype):
    v, h = 11, 6
    ids = torch.tensor([[1, 3, 3, 0], [10, 1, 3, 7]], dtype=itype)
    dy = rnd(2, 4, h)
    w = torch.zeros(v, h)
    ref = vjp(lambda t: F.embedding(ids.long(), t), [w], dy)
    check(tmp_path, "embedding_grad", [ids, dy], ref, f"num_embeddings = {v} : i64")


def rmsnorm_ref(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def test_rmsnorm_grad(tmp_path):
    x, w, dy = rnd(2, 5, 16), rnd(16, seed=2, lo=0.5, hi=1.5), rnd(2, 5, 16, seed=3)
    check(tmp_path, "rmsnorm_grad", [x, w, dy], vjp(lambda a, b: rmsnorm_ref(a, b, 1e-6), [x, w], dy),
          "eps = 1.0e-06 : f64")


@pytest.mark.parametrize("ignore", [False, True])
def test_cross_entropy_grad(tmp_path, ignore):
    x = rnd(2, 4, 13)
    labels = torch.tensor([[1, 5, 12, 0], [3, -100 if ignore else 2, 7, 7]], dtype=torch.int64)
    dloss = torch.tensor(0.75)
    ref = vjp(lambda t: F.cross_entropy(t.reshape(-1, 13), labels.reshape(-1), ignore_index=-100), [x], dloss)
    check(tmp_path, "cross_entropy_grad", [x, labels, dloss], ref, "ignore_index = -100 : i64")


def test_adamw_update(tmp_path):
    n = (4, 6)
    p0, g, m0, v0 = rnd(*n), rnd(*n, seed=1), rnd(*n, seed=2) * 0.1, rnd(*n, seed=3, lo=0.0, hi=0.2)
    lr, step, gs, wd = 1e-2, 3, 0.5, 0.1
    t = ttype(n, torch.float32)
    text = (f"module {{\n  func.func @forward(%g: {t}, %lr: tensor<f32>, %step: tensor<i64>, %gs: tensor<f32>) {{\n"
            f"    %p = \"cube.param\"() {{name = \"w\", init = \"zeros\", trainable = true}} : () -> {t}\n"
            f"    %m = \"cube.opt_state\"() {{name = \"w.exp_avg\", init = \"zeros\", param = \"w\"}} : () -> {t}\n"
            f"    %v = \"cube.opt_state\"() {{name = \"w.exp_avg_sq\", init = \"zeros\", param = \"w\"}} : () -> {t}\n"
            f"    \"cube.adamw_update\"(%p, %g, %m, %v, %lr, %step, %gs) {{beta1 = 0.9 : f64, beta2 = 0.999 : f64, "
            f"eps = 1.0e-08 : f64, weight_decay = {wd} : f64}} : ({t}, {t}, {t}, {t}, tensor<f32>, tensor<i64>, "
            f"tensor<f32>) -> ()\n    return\n  }}\n}}\n")
    r = cube_cpu.compile_mlir(text, str(tmp_path / "art"))
    assert r.returncode == 0, r.stderr
    art = cube_cpu.Artifact(str(tmp_path / "art"))
    pbuf = art.plan["params"][0]["buffer"]
    sbuf = {s["name"]: s["buffer"] for s in art.plan["state"]}
    for name, val in [(pbuf, p0), (sbuf["w.exp_avg"], m0), (sbuf["w.exp_avg_sq"], v0)]:
        art.set(name, val.numpy())
    for name, val in zip(art.input_names(), [g, np.float32(lr), np.int64(step), np.float32(gs)]):
        art.set(name, np.asarray(val))
    art.run()

    w = torch.nn.Parameter(p0.clone())
    opt = torch.optim.AdamW([w], lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=wd)
    w.grad = g * gs
    opt.step()  # creates the state at step 1; set it to ours and redo the step at `step`
    st = opt.state[w]
    with torch.no_grad():
        w.copy_(p0)
    st["exp_avg"].copy_(m0)
    st["exp_avg_sq"].copy_(v0)
    st["step"].fill_(step - 1)
    opt.step()
    for name, ref in [(pbuf, w.detach()), (sbuf["w.exp_avg"], st["exp_avg"]), (sbuf["w.exp_avg_sq"], st["exp_avg_sq"])]:
        err = rel_err(torch.from_numpy(art.view(name).copy()), ref)
        assert err <= 1e-5, f"adamw_update {name}: relative error {err:.3g}"


CUDA_CASES = [
    ("silu_grad", [rnd(3, 5), rnd(3, 5)], [rnd(3, 5)], ""),
    ("softmax_grad", [rnd(3, 5), rnd(3, 5)], [rnd(3, 5)], "dim = -1 : i64"),
    ("rope_grad", [rnd(1, 2, 3, 4)], [rnd(1, 2, 3, 4)], "theta = 10000.0 : f64"),
    ("reduce_sum", [rnd(3, 5)], [rnd(5)], "dims = array<i64: 0>"),
    ("pad", [rnd(3, 5)], [rnd(4, 6)], "offsets = array<i64: 1, 0>"),
    ("pad", [rnd(3, 5)], [rnd(4, 6)], "offsets = array<i64: 1, 0>, value = -2.5 : f64"),
    ("pad", [torch.zeros(2, 7, dtype=torch.int64)], [torch.zeros(2, 8, dtype=torch.int64)],
     "offsets = array<i64: 0, 0>, value = -100 : i64"),
    ("sumsq", [rnd(3, 5)], [torch.tensor(0.0)], ""),
    ("embedding_grad", [torch.zeros(2, 3, dtype=torch.int64), rnd(2, 3, 4)], [rnd(7, 4)], "num_embeddings = 7 : i64"),
    ("rmsnorm_grad", [rnd(3, 8), rnd(8), rnd(3, 8)], [rnd(3, 8), rnd(8)], "eps = 1.0e-06 : f64"),
    ("cross_entropy_grad", [rnd(3, 5), torch.zeros(3, dtype=torch.int64), torch.tensor(1.0)], [rnd(3, 5)],
     "ignore_index = -100 : i64"),
    ("attention_grad", [rnd(1, 4, 3, 8), rnd(1, 2, 3, 8), rnd(1, 2, 3, 8), rnd(1, 4, 3, 8)],
     [rnd(1, 4, 3, 8), rnd(1, 2, 3, 8), rnd(1, 2, 3, 8)], "causal = true"),
]


@pytest.mark.parametrize("case", CUDA_CASES, ids=[c[0] for c in CUDA_CASES])
def test_cuda_ptx(tmp_path, case):
    """Every backward kernel lowers to PTX: launch steps over the plan's buffers (needs libdevice)."""
    import json
    import os
    op, args, refs, attrs = case
    r = cube_cpu.compile_mlir(module(op, args, refs, attrs), str(tmp_path / "art"), target="cuda")
    if r.returncode and "libdevice" in r.stderr:
        pytest.skip("no CUDA toolkit with libdevice")
    assert r.returncode == 0, r.stderr
    plan = json.load(open(tmp_path / "art" / "plan.json"))
    launches = [s for s in plan["steps"] if s["op"] == "launch"]
    assert launches and all(s["kernel"] in open(tmp_path / "art" / "kernels.ptx").read() for s in launches)


def attention_ref(q, k, v, causal):
    g = q.shape[1] // k.shape[1]
    k2, v2 = k.repeat_interleave(g, 1), v.repeat_interleave(g, 1)
    s = q @ k2.transpose(-1, -2) * q.shape[-1] ** -0.5
    if causal:
        n = q.shape[2]
        s = s.masked_fill(torch.ones(n, n, dtype=torch.bool).triu(1), float("-inf"))
    return torch.softmax(s, -1) @ v2


@pytest.mark.parametrize("causal,hq,hkv", [(True, 4, 2), (False, 2, 2), (True, 3, 1)])
@pytest.mark.parametrize("before", ["", "cube-attention-to-matmul,"])
def test_attention_grad(tmp_path, causal, hq, hkv, before):
    """The fused kernel, and cube-attention-to-matmul's matmuls + scaled causal softmax + softmax_grad."""
    q, k, v = rnd(2, hq, 5, 8), rnd(2, hkv, 5, 8, seed=1), rnd(2, hkv, 5, 8, seed=2)
    dy = rnd(2, hq, 5, 8, seed=3)
    ref = vjp(lambda a, b, c: attention_ref(a, b, c, causal), [q, k, v], dy)
    check(tmp_path, "attention_grad", [q, k, v, dy], ref, f"causal = {'true' if causal else 'false'}", before=before)
