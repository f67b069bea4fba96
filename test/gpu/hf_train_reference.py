#!/usr/bin/env python3
"""HF + peft reference for LoRA training, run on the lent GPU machine (torch, transformers, peft there).

Builds LlamaForCausalLM from a preset of python/cube/presets.py (seed 0), wraps it with peft's LoRA
(r, alpha, dropout 0, target q_proj,k_proj,v_proj, bias none), and writes OUT/weights.safetensors holding the
base weights under HF names plus peft's initial lora_A (kaiming) and lora_B (zeros) under cube's names
(`<module>.lora_A.weight`), so that cube starts from the same point. Writes random token ids (seed 1) as a
cube token file, then trains STEPS steps of AdamW (constant lr, betas 0.9/0.999, eps 1e-8, no weight decay)
on consecutive batch x seq windows (labels = input_ids), fp32 with TF32 off, gradient checkpointing on, and
records each step's loss and time and the peak memory. Writes OUT/hf_train.json.

    python3 test/gpu/hf_train_reference.py --preset mini-llama --batch 8 --seq 1024 --steps 20 --lr 1e-3 OUT
"""
import argparse
import json
import os
import struct
import sys
import time

import torch
from peft import LoraConfig, get_peft_model
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
from cube.presets import PRESETS  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="mini-llama")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--alpha", type=float, default=8)
    ap.add_argument("--no-checkpointing", action="store_true")
    ap.add_argument("out")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    cfg = LlamaConfig(**{k: v for k, v in PRESETS[a.preset].items() if k not in ("architectures", "model_type")})
    cfg._attn_implementation = "eager"
    base = LlamaForCausalLM(cfg).cuda()
    weights = {k: v.detach().clone().contiguous().cpu() for k, v in base.state_dict().items()}
    model = get_peft_model(base, LoraConfig(r=a.rank, lora_alpha=a.alpha, lora_dropout=0.0, bias="none",
                                            target_modules=["q_proj", "k_proj", "v_proj"], task_type="CAUSAL_LM"))
    for name, p in model.named_parameters():
        if "lora_" in name:  # base_model.model.X.lora_A.default.weight -> X.lora_A.weight
            weights[name.replace("base_model.model.", "", 1).replace(".default", "")] = p.detach().cpu().contiguous()
    save_file(weights, os.path.join(a.out, "weights.safetensors"))
    if not a.no_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model.train()
    g = torch.Generator().manual_seed(1)
    n = a.batch * a.seq * a.steps
    ids = torch.randint(0, cfg.vocab_size, (n,), generator=g, dtype=torch.int64)
    with open(os.path.join(a.out, "tokens.tok"), "wb") as f:
        f.write(b"CUBETOK\0" + struct.pack("<IIQ", 1, cfg.vocab_size, n))
        f.write(ids.to(torch.int32).numpy().tobytes())
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=a.lr, betas=(0.9, 0.999),
                            eps=1e-8, weight_decay=0.0)
    torch.cuda.reset_peak_memory_stats()
    losses, times = [], []
    for s in range(a.steps):
        x = ids[s * a.batch * a.seq:(s + 1) * a.batch * a.seq].view(a.batch, a.seq).cuda()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        loss = model(input_ids=x, labels=x).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1000)
        losses.append(loss.item())
    model.save_pretrained(os.path.join(a.out, "hf_adapter"))
    res = {"preset": a.preset, "batch": a.batch, "seq": a.seq, "steps": a.steps, "lr": a.lr, "losses": losses,
           "step_ms": times, "median_step_ms": sorted(times[3:])[len(times[3:]) // 2] if len(times) > 3 else None,
           "peak_gib": torch.cuda.max_memory_allocated() / 2**30,
           "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad)}
    with open(os.path.join(a.out, "hf_train.json"), "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
