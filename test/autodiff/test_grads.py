"""Numeric checks of cube-autodiff: a small PyTorch interpreter of cube ops (forward and backward) runs the
IR cube-opt writes; gradients are compared with torch.autograd on the interpreted @forward."""
import os
import re
import subprocess
import tempfile

import torch
import torch.nn.functional as F

torch.manual_seed(0)
DT = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16, "i64": torch.int64, "i32": torch.int32}
OP = re.compile(r'^\s*(?:(%\w+)(?::(\d+))? = )?(?:"cube\.(\w+)"|call @(\w+))\(([^)]*)\)(?: \{(.*)\})? : \((.*)\) -> (.*)$')
HDR = re.compile(r'^\s*func\.func (?:private )?@(\w+)\((.*?)\)(?: ->|\s*(?:attributes)?.*\{)')


def ttype(text):
    text = text.strip()
    if text.startswith("tensor<"):
        text = text[len("tensor<"):-1]
    *dims, elem = text.split("x")
    return [int(d) for d in dims], DT[elem]


def attr(attrs, key):
    m = re.search(r"(?:^|, )" + re.escape(key) + r' = ("(?:[^"\\]|\\.)*"|array<i64[^>]*>|[^,]+)', attrs or "")
    if not m:
        return None
    v = m.group(1)
    if v.startswith('"'):
        return v[1:-1]
    if v.startswith("array<"):
        body = v[len("array<i64"):-1].lstrip(":").strip()
        return [int(x) for x in body.split(",")] if body else []
    v = v.split(" : ")[0]
    if v in ("true", "false"):
        return v == "true"
    return float(v) if ("." in v or "E" in v or "e" in v) else int(v)


def parse(text):
    funcs, cur = {}, None
    for line in text.splitlines():
        h = HDR.match(line)
        if h:
            args = [a.split(":")[0].strip() for a in h.group(2).split(", ") if a]
            cur = funcs[h.group(1)] = {"args": args, "ops": []}
            continue
        if cur is None:
            continue
        s = line.strip()
        if s.startswith("return"):
            names = s[len("return"):].split(":")[0]
            cur["ret"] = [a.strip() for a in names.split(",") if a.strip()]
            cur = None
            continue
        m = OP.match(line)
        assert m or not s or s == "}", line
        if m:
            cur["ops"].append(m.groups())
    return funcs


def rope(x, theta):
    d, s = x.shape[-1], x.shape[-2]
    inv = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
    ang = torch.arange(s).float()[:, None] * inv[None, :]
    emb = torch.cat((ang, ang), dim=-1)
    return emb.cos().to(x.dtype), emb.sin().to(x.dtype)


def attention(q, k, v, causal, scale):
    rep = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
    s = (q @ k.transpose(-1, -2)) * (scale if scale is not None else q.shape[-1] ** -0.5)
    if causal:
        n = q.shape[2]
        s = s.masked_fill(torch.ones(n, n, dtype=torch.bool).triu(1), float("-inf"))
    return torch.softmax(s.float(), -1).to(q.dtype) @ v


def rmsnorm(x, w, eps):
    x32 = x.float()
    return w * (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


def vjp(fn, inputs, dout):
    inputs = [i.detach().requires_grad_(True) for i in inputs]
    return torch.autograd.grad(fn(*inputs), inputs, dout)


class State:
    def __init__(self, weights):
        self.weights = weights  # name -> tensor (params and optimizer states)


def run(funcs, name, args, st):
    f = funcs[name]
    env = dict(zip(f["args"], args))
    for res, nres, op, callee, opnds, attrs, _, rtypes in f["ops"]:
        xs = [env[a.strip()] for a in opnds.split(",") if a.strip()]
        rts = [t for t in re.findall(r"tensor<[^>]*>", rtypes)]
        shape, dtype = ttype(rts[0]) if rts else (None, None)
        a = lambda k: attr(attrs, k)  # noqa: E731
        if callee:
            y = run(funcs, callee, xs, st)
            y = y if nres else y[0]
        elif op == "param":
            y = st.weights[a("name")]
        elif op == "opt_state":
            y = st.weights.setdefault(a("name"), torch.zeros(shape, dtype=dtype))
        elif op == "embedding":
            y = F.embedding(xs[0], xs[1])
        elif op == "linear":
            y = F.linear(*xs)
        elif op == "matmul":
            l, r = xs
            if a("transpose_lhs"):
                l = l.transpose(-1, -2)
            if a("transpose_rhs"):
                r = r.transpose(-1, -2)
            y = l @ r
        elif op in ("add", "sub", "mul", "div", "minimum"):
            y = getattr(torch, op)(xs[0], xs[1])
        elif op in ("neg", "exp", "rsqrt"):
            y = getattr(torch, op)(xs[0])
        elif op == "silu":
            y = F.silu(xs[0])
        elif op == "scale":
            y = xs[0] * a("factor")
        elif op == "cast":
            y = xs[0].to(dtype)
        elif op == "rmsnorm":
            y = rmsnorm(xs[0], xs[1], a("eps"))
        elif op == "rope":
            cos, sin = rope(xs[0], a("theta"))
            d = xs[0].shape[-1]
            y = xs[0] * cos + torch.cat((-xs[0][..., d // 2:], xs[0][..., :d // 2]), -1) * sin
        elif op == "softmax":
            y = torch.softmax(xs[0].float(), a("dim")).to(xs[0].dtype)
        elif op == "attention":
            y = attention(*xs, a("causal"), a("scale"))
        elif op == "cross_entropy":
            y = F.cross_entropy(xs[0].float().reshape(-1, xs[0].shape[-1]), xs[1].reshape(-1),
                                ignore_index=a("ignore_index"))
        elif op == "reshape":
            y = xs[0].reshape(shape)
        elif op == "transpose":
            y = xs[0].permute(a("permutation"))
        elif op == "slice":
            y = xs[0][tuple(slice(o, o + n) for o, n in zip(a("offsets"), shape))]
        elif op == "concat":
            y = torch.cat(xs, a("dim"))
        # ---- backward and optimizer ops (docs/dialect.md) ----
        elif op == "fill":
            y = torch.full(shape, a("value"), dtype=dtype)
        elif op == "embedding_grad":
            h = xs[1].shape[-1]
            y = torch.zeros(a("num_embeddings"), h, dtype=xs[1].dtype).index_add_(0, xs[0].reshape(-1),
                                                                                  xs[1].reshape(-1, h))
        elif op == "rmsnorm_grad":
            y = vjp(lambda x, w: rmsnorm(x, w, a("eps")), xs[:2], xs[2])
        elif op == "rope_grad":
            cos, sin = rope(xs[0], a("theta"))
            g, d = xs[0], xs[0].shape[-1]
            y = g * cos + torch.cat((g[..., d // 2:], -g[..., :d // 2]), -1) * sin
        elif op == "softmax_grad":
            o, g = xs
            y = o * (g - (g * o).sum(a("dim"), keepdim=True))
        elif op == "attention_grad":
            y = vjp(lambda q, k, v: attention(q, k, v, a("causal"), a("scale")), xs[:3], xs[3])
        elif op == "cross_entropy_grad":
            lg, lb, dl = xs
            ii = a("ignore_index")
            keep = lb != ii
            oh = F.one_hot(lb.clamp(min=0) * keep, lg.shape[-1]).to(lg.dtype)
            y = (torch.softmax(lg.float(), -1) - oh) * keep[..., None] * dl / keep.sum()
        elif op == "silu_grad":
            x, g = xs
            s = torch.sigmoid(x)
            y = g * s * (1 + x * (1 - s))
        elif op == "reduce_sum":
            y = xs[0].sum(a("dims")) if a("dims") else xs[0]
        elif op == "pad":
            y = torch.full(shape, 0 if a("value") is None else a("value"), dtype=dtype)
            y[tuple(slice(o, o + n) for o, n in zip(a("offsets"), xs[0].shape))] = xs[0]
        elif op == "sumsq":
            y = (xs[0].float() ** 2).sum()
        elif op == "adamw_update":
            p, g, m, v, lr, step, gs = xs
            b1, b2, eps, wd = a("beta1"), a("beta2"), a("eps"), a("weight_decay")
            t = int(step)
            g = g * gs
            p.mul_(1 - lr * wd)
            m.mul_(b1).add_((1 - b1) * g)
            v.mul_(b2).add_((1 - b2) * g * g)
            p.sub_(lr * (m / (1 - b1 ** t)) / ((v / (1 - b2 ** t)).sqrt() + eps))
            continue
        else:
            raise AssertionError(f"no interpretation for cube.{op or callee}")
        if nres:
            for i in range(int(nres)):
                env[f"{res}#{i}"] = y[i]
        else:
            env[res] = y
    return [env[r] for r in f["ret"]]


def cube_opt(text, *passes):
    with tempfile.NamedTemporaryFile("w", suffix=".mlir", delete=False) as fh:
        fh.write(text)
    try:
        return subprocess.run(["cube-opt", fh.name, *passes], check=True, capture_output=True, text=True).stdout
    finally:
        os.unlink(fh.name)


def trace():
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "t.mlir")
        subprocess.run([os.environ.get("PYTHON", "python3"), "-m", "cube", "trace", "--preset", "tiny-llama",
                        "--batch", "2", "--seq", "8", "-o", out], check=True)
        return open(out).read()


TRACED = None


def traced():
    global TRACED
    if TRACED is None:
        TRACED = trace()
    return TRACED


def params_of(text):
    """name -> (shape, dtype, trainable), in cube.param order of @forward."""
    out = {}
    for m in re.finditer(r'"cube\.param"\(\) \{(.*)\} : \(\) -> (tensor<[^>]*>)', text):
        out.setdefault(attr(m.group(1), "name"), (ttype(m.group(2))[0], attr(m.group(1), "trainable")))
    return out


def random_weights(ps):
    g = torch.Generator().manual_seed(1)
    return {n: torch.randn(s, generator=g) * 0.1 + (1.0 if n.endswith("norm.weight") else 0.0) for n, (s, _) in ps.items()}


def inputs():
    g = torch.Generator().manual_seed(2)
    ids = torch.randint(0, 256, (2, 8), generator=g)
    labels = torch.randint(0, 256, (2, 8), generator=g)
    labels[0, 3] = -100
    return ids, labels


def grads_both(text):
    funcs = parse(cube_opt(text, "--cube-autodiff=optimizer=none"))
    ps = params_of(text)
    w = random_weights(ps)
    ids, labels = inputs()
    trainable = [n for n, (_, t) in ps.items() if t]
    out = run(funcs, "grad_step", [ids, labels], State(w))
    leaves = {n: t.clone().requires_grad_(n in trainable) for n, t in w.items()}
    loss = run(funcs, "forward", [ids, labels], State(leaves))[0]
    ref = torch.autograd.grad(loss, [leaves[n] for n in trainable])
    assert torch.allclose(out[0], loss.detach())
    return trainable, out[1:], ref


def check(trainable, got, ref, tol):
    assert len(got) == len(ref) == len(trainable)
    for n, g, r in zip(trainable, got, ref):
        err = ((g - r).abs().max() / r.abs().max().clamp(min=1e-30)).item()
        assert err <= tol, f"{n}: rel. error {err}"


def test_full_model():
    check(*grads_both(traced()), 1e-4)


def test_lora():
    text = cube_opt(traced(), "--cube-lora=rank=4 alpha=8")
    trainable, got, ref = grads_both(text)
    assert all("lora_" in n for n in trainable) and trainable
    check(trainable, got, ref, 1e-4)


def test_recompute_equals_plain():
    plain = cube_opt(traced(), "--cube-lora=rank=4 alpha=8")
    rec = cube_opt(traced(), "--cube-recompute=modules=LlamaDecoderLayer", "--cube-lora=rank=4 alpha=8")
    t1, g1, r1 = grads_both(plain)
    t2, g2, r2 = grads_both(rec)
    check(t2, g2, r2, 1e-4)
    assert t1 == t2
    for n, a, b in zip(t1, g1, g2):
        assert ((a - b).abs().max() / b.abs().max()).item() <= 1e-6, n


def test_recompute_full_model():
    rec = cube_opt(traced(), "--cube-recompute=modules=LlamaDecoderLayer")
    check(*grads_both(rec), 1e-4)


def test_adamw_three_steps():
    text = cube_opt(traced(), "--cube-lora=rank=4 alpha=8")
    funcs = parse(cube_opt(text, "--cube-autodiff=optimizer=adamw weight-decay=0.01 clip-norm=0.05"))
    ps = params_of(text)
    w = random_weights(ps)
    trainable = [n for n, (_, t) in ps.items() if t]
    leaves = {n: t.clone().requires_grad_(n in trainable) for n, t in w.items()}
    opt = torch.optim.AdamW([leaves[n] for n in trainable], lr=1e-2, weight_decay=0.01)
    st = State({n: t.clone() for n, t in w.items()})
    for step in range(1, 4):
        ids, labels = inputs()
        loss, norm = run(funcs, "train_step", [ids, labels, torch.tensor(1e-2), torch.tensor(step)], st)
        opt.zero_grad()
        ref = run(funcs, "forward", [ids, labels], State(leaves))[0]
        ref.backward()
        ref_norm = torch.nn.utils.clip_grad_norm_([leaves[n] for n in trainable], 0.05)
        opt.step()
        assert abs(loss.item() - ref.item()) <= 1e-5 * abs(ref.item())
        assert abs(norm.item() - ref_norm.item()) <= 1e-4 * ref_norm.item()
    for n in trainable:
        a, b = st.weights[n], leaves[n].detach()
        assert ((a - b).abs().max() / b.abs().max()).item() <= 1e-5, n


PAD_MODULE = """module {
  func.func @forward(%ids: tensor<3xi64>, %labels: tensor<3xi64>) -> tensor<f32> {
    %w = "cube.param"() {name = "w", init = "zeros", trainable = true} : () -> tensor<2x3xf32>
    %p = "cube.pad"(%w) {offsets = array<i64: 1, 1>, value = 0.5 : f64} : (tensor<2x3xf32>) -> tensor<3x5xf32>
    %s = "cube.slice"(%labels) {offsets = array<i64: 1>} : (tensor<3xi64>) -> tensor<2xi64>
    %t = "cube.pad"(%s) {offsets = array<i64: 0>, value = -100 : i64} : (tensor<2xi64>) -> tensor<3xi64>
    %loss = "cube.cross_entropy"(%p, %t) {ignore_index = -100 : i64} : (tensor<3x5xf32>, tensor<3xi64>) -> tensor<f32>
    return %loss : tensor<f32>
  }
}
"""


def test_pad_value_and_label_shift():
    """A float pad (with a value) on the path to the loss gets the slice of its gradient; the labels' integer
    slice and pad (the causal-LM shift of the traced loss) get no gradient."""
    text = cube_opt(PAD_MODULE, "--cube-autodiff=optimizer=none")
    body = text[text.index("@grad_step"):]
    assert body.count('"cube.slice"') == 2 and body.count('"cube.pad"') == 2, body  # forward copy + dW's slice
    funcs = parse(text)
    w = torch.randn(2, 3)
    ids, labels = torch.zeros(3, dtype=torch.int64), torch.tensor([7, 1, 4])
    loss, dw = run(funcs, "grad_step", [ids, labels], State({"w": w}))
    leaf = w.clone().requires_grad_(True)
    p = F.pad(leaf, (1, 1, 1, 0), value=0.5)
    ref_loss = F.cross_entropy(p, F.pad(labels, (0, 1), value=-100)[1:], ignore_index=-100)
    (ref,) = torch.autograd.grad(ref_loss, [leaf])
    assert abs(loss.item() - ref_loss.item()) <= 1e-6 * abs(ref_loss.item())
    assert ((dw - ref).abs().max() / ref.abs().max()).item() <= 1e-6
