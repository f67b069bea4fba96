#!/usr/bin/env python3
"""Loads an adapter that cube-run saved (--save-adapter DIR) with peft's PeftModel.from_pretrained on top of
the base weights, and prints the eval loss on one batch of a cube token file (fp32, TF32 off), to compare
with `cube-run --eval` on the same weights and batch.

    python3 test/gpu/peft_adapter_check.py --preset mini-llama --weights W.safetensors --adapter DIR \
        --data tokens.tok --batch 8 --seq 1024 --index 0
"""
import argparse
import json
import os
import struct
import sys

import torch
from peft import PeftModel
from safetensors.torch import load_file
from transformers import LlamaConfig, LlamaForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
from cube.presets import PRESETS  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="mini-llama")
    ap.add_argument("--weights", required=True)
    ap.add_argument("--adapter", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--index", type=int, default=0)
    a = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    cfg = LlamaConfig(**{k: v for k, v in PRESETS[a.preset].items() if k not in ("architectures", "model_type")})
    cfg._attn_implementation = "eager"
    model = LlamaForCausalLM(cfg)
    state = {k: v for k, v in load_file(a.weights).items() if "lora_" not in k}
    missing, unexpected = model.load_state_dict(state, strict=False)
    model = PeftModel.from_pretrained(model.cuda(), a.adapter).eval()
    with open(a.data, "rb") as f:
        blob = f.read()
    _, vocab, count = struct.unpack("<IIQ", blob[8:24])
    ids = torch.frombuffer(bytearray(blob[24:]), dtype=torch.int32).to(torch.int64)
    n = a.batch * a.seq
    x = ids[a.index * n:(a.index + 1) * n].view(a.batch, a.seq).cuda()
    with torch.no_grad():
        loss = model(input_ids=x, labels=x).loss.item()
    print(json.dumps({"peft_eval_loss": loss, "missing": list(missing), "unexpected": list(unexpected)}))


if __name__ == "__main__":
    main()
