"""Training plans on the CPU (docs/plan-format.md "Training plans", docs/codegen.md): the hand-written
@train_step of test/Conversion/train-linear.mlir compiled with func=train_step and run for 3 steps through
cube_cpu.py against torch.optim.AdamW (rel. error <= 1e-5); tiny-llama's @grad_step (cube-autodiff
optimizer=none) against torch.autograd of an independent PyTorch Llama (rel. error <= 1e-4 per gradient);
memory planning: tiny-llama's forward arena shrinks with plan-memory on, no two live buffers overlap
(plan_liveness.py), for forward, train_step and grad_step plans; the `lora` object of a LoRA model."""
import json
import os
import subprocess

import numpy as np
import pytest
import torch

import cube_cpu
import plan_liveness

SRC = cube_cpu.SRC
LINEAR = os.path.join(SRC, "test", "Conversion", "train-linear.mlir")
TINY = os.path.join(SRC, "examples", "models", "tiny-llama.mlir")


def compile_program(text, out, func, before="", extra=""):
    pipe = (f"builtin.module({before}cube-prepare-forward{{func={func}}},cube-group-kernels{{target=cpu func={func}}},"
            f"cube-lower-to-linalg,cube-emit{{out={out}{extra}}})")
    r = subprocess.run([cube_cpu.cube_opt(), "-", f"--pass-pipeline={pipe}", "-o", os.devnull], input=text,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return cube_cpu.Artifact(out)


def has_autodiff():
    r = subprocess.run([cube_cpu.cube_opt(), "--list-passes"], capture_output=True, text=True)
    return "cube-autodiff" in r.stdout


def rel(a, b):
    b = np.asarray(b, dtype=np.float64)
    return float(np.abs(np.asarray(a, dtype=np.float64) - b).max() / max(np.abs(b).max(), 1e-30))


def test_linear_train_step_matches_torch_adamw(tmp_path):
    with open(LINEAR) as f:
        art = compile_program(f.read(), str(tmp_path / "art"), "train_step")
    plan = art.plan
    assert plan["program"] == "train_step"
    assert [i["name"] for i in plan["inputs"]] == ["input_ids", "labels", "lr", "step"]
    assert [o["name"] for o in plan["outputs"]] == ["loss", "grad_norm"]
    plan_liveness.check_no_live_overlap(plan)
    g = torch.Generator().manual_seed(0)
    emb = torch.randn(16, 8, generator=g) * 0.5
    head = torch.randn(16, 8, generator=g) * 0.5
    pbuf = {p["name"]: p["buffer"] for p in plan["params"]}
    art.set(pbuf["model.embed_tokens.weight"], emb.numpy())
    art.set(pbuf["lm_head.weight"], head.numpy())
    for s in plan["state"]:
        art.set(s["buffer"], np.zeros(s["shape"], np.float32))
    te, th = emb.clone().requires_grad_(), head.clone().requires_grad_()
    opt = torch.optim.AdamW([te, th], lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    for step, lr in enumerate([1e-2, 5e-3, 2e-2], start=1):
        ids = torch.randint(0, 16, (2, 4), generator=g)
        labels = torch.randint(0, 16, (2, 4), generator=g)
        for name, v in (("input_ids", ids.numpy()), ("labels", labels.numpy()), ("lr", np.float32(lr)),
                        ("step", np.int64(step))):
            art.set(name, v)
        art.run()
        for grp in opt.param_groups:
            grp["lr"] = lr
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy((te[ids] @ th.T).reshape(8, 16), labels.reshape(8))
        loss.backward()
        norm = torch.sqrt(te.grad.pow(2).sum() + th.grad.pow(2).sum())
        opt.step()
        assert rel(art.output(0), loss.item()) <= 1e-5
        assert rel(art.output(1), norm.item()) <= 1e-5
        assert rel(art.view(pbuf["model.embed_tokens.weight"]), te.detach().numpy()) <= 1e-5, f"step {step}"
        assert rel(art.view(pbuf["lm_head.weight"]), th.detach().numpy()) <= 1e-5, f"step {step}"


def llama_loss(w, cfg, ids):
    """LlamaForCausalLM(...)(input_ids=ids, labels=ids).loss in PyTorch (from test_cube_run.py), a tensor."""
    h, nh, nkv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    d = h // nh
    eps, theta = cfg["rms_norm_eps"], cfg["rope_theta"]
    B, S = ids.shape

    def rmsnorm(x, weight):
        return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))

    def rotate_half(x):
        return torch.cat((-x[..., d // 2:], x[..., :d // 2]), dim=-1)

    inv_freq = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
    emb = torch.cat((torch.outer(torch.arange(S).float(), inv_freq),) * 2, dim=-1)
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
        x = x + (att @ v).transpose(1, 2).reshape(B, S, h) @ w[p + "self_attn.o_proj.weight"].T
        y = rmsnorm(x, w[p + "post_attention_layernorm.weight"])
        x = x + (torch.nn.functional.silu(y @ w[p + "mlp.gate_proj.weight"].T) * (y @ w[p + "mlp.up_proj.weight"].T)) \
            @ w[p + "mlp.down_proj.weight"].T
    logits = rmsnorm(x, w["model.norm.weight"]) @ w["lm_head.weight"].T
    return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))


@pytest.mark.skipif(not has_autodiff(), reason="cube-autodiff is not in this build")
@pytest.mark.parametrize("before,after", [("", ""), ("cube-recompute,", ""),
                                          # the lm_head + loss in 5 uneven row chunks (7, 7, 7, 7, 4 of 32 rows)
                                          ("", "cube-chunk-loss{func=grad_step chunks=5},")])
def test_tiny_llama_grad_step_matches_autograd(tmp_path, before, after):
    import sys
    sys.path.insert(0, os.path.join(SRC, "python"))
    from cube.presets import PRESETS
    from test_cube_run import HF_WEIGHTS, load_safetensors, sharpened
    cfg = PRESETS["tiny-llama"]
    w = sharpened(load_safetensors(HF_WEIGHTS))
    with open(TINY) as f:
        art = compile_program(f.read(), str(tmp_path / "art"), "grad_step",
                              before=before + "cube-autodiff{optimizer=none}," + after)
    plan = art.plan
    assert plan["program"] == "grad_step"
    plan_liveness.check_no_live_overlap(plan)
    for p in plan["params"]:
        art.set(p["buffer"], w[p["name"]].numpy())
    ids = torch.randint(0, cfg["vocab_size"], (2, 16), generator=torch.Generator().manual_seed(5))
    art.set("input_ids", ids.numpy())
    art.set("labels", ids.numpy())
    art.run()
    tw = {k: v.clone().requires_grad_() for k, v in w.items()}
    loss = llama_loss(tw, cfg, ids)
    loss.backward()
    assert rel(art.output(0), loss.item()) <= 1e-5
    outs = plan["outputs"][1:]
    assert len(outs) == len(plan["params"])
    for i, o in enumerate(outs, start=1):
        name = o["name"][len("grad:"):]
        err = rel(art.output(i), tw[name].grad.numpy())
        assert err <= 1e-4, f"{o['name']}: relative error {err:.3g}"


def test_tiny_llama_forward_arena_shrinks(tmp_path):
    with open(TINY) as f:
        text = f.read()
    on = compile_program(text, str(tmp_path / "on"), "forward").plan
    off = compile_program(text, str(tmp_path / "off"), "forward", extra=" plan-memory=false").plan
    assert on["memory"]["planned"] and not off["memory"]["planned"]
    assert on["arena_bytes"] < off["arena_bytes"]
    assert on["arena_bytes"] == on["memory"]["arena"]
    assert plan_liveness.check_no_live_overlap(on) > 0  # some memory is reused
    assert plan_liveness.check_no_live_overlap(off) == 0
    for k in ("params", "scratch_peak", "inputs_outputs"):
        assert on["memory"][k] == off["memory"][k]
    # in-place outputs (elementwise ops, softmax, ...) take their input's bytes only with planning on
    assert on["memory"]["activations_peak"] <= off["memory"]["activations_peak"]


@pytest.mark.skipif(not has_autodiff(), reason="cube-autodiff is not in this build")
def test_lora_object_and_train_step_plan(tmp_path):
    with open(TINY) as f:
        art = compile_program(f.read(), str(tmp_path / "art"), "train_step",
                              before="cube-lora{rank=4 alpha=16},cube-recompute,cube-autodiff,")
    plan = art.plan
    assert plan["lora"] == {"r": 4, "alpha": 16.0, "dropout": 0.0, "targets": plan["lora"]["targets"],
                            "bias": "none", "use_rslora": False}
    assert plan["lora"]["targets"] and all("." not in t for t in plan["lora"]["targets"])
    plan_liveness.check_no_live_overlap(plan)
    trainable = {p["name"] for p in plan["params"] if p["trainable"]}
    assert trainable and all(".lora_" in n for n in trainable)
    assert {s["param"] for s in plan["state"]} == trainable
    kinds = {b["kind"] for b in plan["buffers"]}
    assert "grad" in kinds and "optimizer-state" in kinds
