"""Checks that traced modules compute HF's loss: interprets the cube IR that `cube trace` emits with
PyTorch ops (following docs/dialect.md's semantics), feeds it HF's own weights by parameter name, and
compares the loss with LlamaForCausalLM(...)(input_ids, labels=labels).loss.

Needs torch and transformers (the lent GPU machine has them); not part of CI. Run from the repository
root:

    python3 test/python/data/check_trace_numerics.py [OUT.json]

It prints one line per case and exits 1 if any case is off by more than its tolerance.
"""
import json
import math
import os
import re
import sys
import tempfile

import torch
import torch.nn.functional as F
from transformers import AutoConfig, LlamaForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "python"))
from cube import trace  # noqa: E402
from cube.config import parse_config  # noqa: E402
from cube.presets import PRESETS  # noqa: E402

DT = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16, "i64": torch.int64}
LINE = re.compile(r'^\s*(%\w+) = "cube\.(\w+)"\(([^)]*)\) \{(.*)\} : \((.*)\) -> tensor<([^>]*)>$')


def ttype(text):
    *dims, elem = text.split("x")
    return [int(d) for d in dims], DT[elem]


def attr(attrs, key):
    m = re.search(r"(?:^|, )" + re.escape(key) + r' = ("(?:[^"\\]|\\.)*"|array<i64: [^>]*>|[^,]+)', attrs)
    if not m:
        return None
    v = m.group(1)
    if v.startswith('"'):
        return v[1:-1]
    if v.startswith("array<"):
        return [int(x) for x in v[len("array<i64: "):-1].split(",")]
    v = v.split(" : ")[0]
    if v in ("true", "false"):
        return v == "true"
    return float(v) if "." in v else int(v)


def rope(x, theta):
    d, s = x.shape[-1], x.shape[-2]
    inv = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.int64, device=x.device).float() / d))
    ang = torch.arange(s, device=x.device).float()[:, None] * inv[None, :]
    emb = torch.cat((ang, ang), dim=-1)
    cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
    rot = torch.cat((-x[..., d // 2:], x[..., : d // 2]), dim=-1)
    return x * cos + rot * sin


def run_ir(text, weights, input_ids, labels):
    env = {"%input_ids": input_ids, "%labels": labels}
    for line in text.splitlines():
        if line.strip().startswith("return"):
            return env[line.split()[1]]
        m = LINE.match(line)
        if not m:
            continue
        res, op, args, attrs, _, rtype = m.groups()
        xs = [env[a.strip()] for a in args.split(",") if a.strip()]
        shape, dtype = ttype(rtype) if rtype != "f32" else ([], torch.float32)
        if op == "param":
            y = weights[attr(attrs, "name")].to(dtype)
        elif op == "embedding":
            y = F.embedding(xs[0], xs[1])
        elif op == "linear":
            y = F.linear(*xs)
        elif op == "rmsnorm":
            x32 = xs[0].float()
            y = xs[1] * (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + attr(attrs, "eps"))).to(xs[0].dtype)
        elif op == "reshape":
            y = xs[0].reshape(shape)
        elif op == "transpose":
            y = xs[0].permute(attr(attrs, "permutation"))
        elif op == "rope":
            y = rope(xs[0], attr(attrs, "theta"))
        elif op == "attention":
            q, k, v = xs
            rep = q.shape[1] // k.shape[1]
            k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=bool(attr(attrs, "causal")))
        elif op in ("add", "mul"):
            y = getattr(torch, op)(xs[0], xs[1])
        elif op == "silu":
            y = F.silu(xs[0])
        elif op == "slice":
            y = xs[0][tuple(slice(o, o + n) for o, n in zip(attr(attrs, "offsets"), shape))]
        elif op == "pad":
            value = attr(attrs, "value")
            y = torch.full(shape, 0 if value is None else value, dtype=dtype, device=xs[0].device)
            y[tuple(slice(o, o + n) for o, n in zip(attr(attrs, "offsets"), xs[0].shape))] = xs[0]
        elif op == "cross_entropy":
            y = F.cross_entropy(xs[0].float(), xs[1], ignore_index=attr(attrs, "ignore_index"))
        else:
            raise SystemExit(f"no interpretation for cube.{op}")
        assert list(y.shape) == shape, (line, list(y.shape))
        assert y.dtype == dtype, (line, y.dtype)
        env[res] = y
    raise SystemExit("no return")


def hf_model(cfg_dict, dtype, device):
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump(cfg_dict, f)
        cfg = AutoConfig.from_pretrained(tmp)
    cfg._attn_implementation = "sdpa"
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).to(device)
    with torch.no_grad():  # make biases and norm weights non-trivial, so that a wrong wiring shows
        for name, p in model.named_parameters():
            if not name.endswith("proj.weight") and "embed" not in name and "lm_head" not in name:
                p.add_(torch.randn_like(p) * 0.1)
    return model.to(DT[dtype])


def case(name, cfg_dict, batch, seq, dtype, device, tol):
    model = hf_model(cfg_dict, dtype, device)
    model.train()  # dropout is 0: train() only matters for what it would change
    cfg = parse_config(cfg_dict, name)
    text = trace.trace(cfg, batch, seq, dtype)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, cfg.vocab_size, (batch, seq), generator=g).to(device)
    labels = ids.clone()
    labels[0, 3] = -100
    labels[-1, -1] = -100
    with torch.no_grad():
        ref = model(input_ids=ids, labels=labels).loss.float().item()
        got = run_ir(text, dict(model.state_dict()), ids, labels).item()
    err = abs(got - ref) / max(abs(ref), 1e-6)
    ok = err <= tol and math.isfinite(got)
    print(f"{'ok  ' if ok else 'FAIL'} {name} {dtype} B={batch} S={seq}: HF {ref:.6f}, cube IR {got:.6f}, rel err {err:.2e}")
    return {"case": name, "dtype": dtype, "batch": batch, "seq": seq, "hf": ref, "cube": got, "rel_err": err, "ok": ok}


def main():
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = "cuda" if torch.cuda.is_available() else "cpu"
    configs = dict(PRESETS)
    for f in sorted(os.listdir(os.path.join(HERE, "configs"))):
        with open(os.path.join(HERE, "configs", f)) as fh:
            configs["configs/" + f] = json.load(fh)
    results = []
    for name, d in configs.items():
        seq = 64 if name == "mini-llama" else 16
        results.append(case(name, d, 2, seq, "f32", device, 1e-5))
        results.append(case(name, d, 2, seq, "bf16", device, 2e-2))
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as f:
            json.dump(results, f, indent=1)
    sys.exit(0 if all(r["ok"] for r in results) else 1)


if __name__ == "__main__":
    main()
