#!/usr/bin/env python3
"""HF reference for the forward loss, run on the lent GPU machine (torch + transformers there).

Builds LlamaForCausalLM from a preset of python/cube/presets.py with seed 0, saves its weights as
safetensors (HF names), writes a cube token file of random ids (seed 1), and computes HF's causal-LM loss
(labels = input_ids) on the first BATCHES windows of batch x seq tokens, in fp32 with TF32 off, timing the
forward. Writes OUT/model.safetensors, OUT/tokens.tok and OUT/hf_forward.json.

    python3 test/gpu/hf_forward_reference.py --preset mini-llama --batch 8 --seq 1024 --batches 2 OUT
"""
import argparse
import json
import os
import struct
import sys
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
from cube.presets import PRESETS  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="mini-llama")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--batches", type=int, default=2)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("out")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    cfg = LlamaConfig(**{k: v for k, v in PRESETS[a.preset].items() if k not in ("architectures", "model_type")})
    cfg._attn_implementation = "eager"
    model = LlamaForCausalLM(cfg).to(a.device).eval()
    model.save_pretrained(a.out, safe_serialization=True)
    g = torch.Generator().manual_seed(1)
    n = a.batch * a.seq * a.batches
    ids = torch.randint(0, cfg.vocab_size, (n,), generator=g, dtype=torch.int64)
    with open(os.path.join(a.out, "tokens.tok"), "wb") as f:
        f.write(b"CUBETOK\0" + struct.pack("<IIQ", 1, cfg.vocab_size, n))
        f.write(ids.to(torch.int32).numpy().tobytes())
    losses, times = [], []
    with torch.no_grad():
        for b in range(a.batches):
            x = ids[b * a.batch * a.seq:(b + 1) * a.batch * a.seq].view(a.batch, a.seq).to(a.device)
            for _ in range(2 if b == 0 else 1):  # warm-up on the first batch
                if a.device == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                loss = model(input_ids=x, labels=x).loss
                if a.device == "cuda":
                    torch.cuda.synchronize()
                dt = time.perf_counter() - t0
            losses.append(loss.item())
            times.append(dt * 1000)
    result = {"preset": a.preset, "batch": a.batch, "seq": a.seq, "losses": losses,
              "mean_loss": sum(losses) / len(losses), "forward_ms": times,
              "torch": torch.__version__, "device": torch.cuda.get_device_name() if a.device == "cuda" else "cpu"}
    with open(os.path.join(a.out, "hf_forward.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
