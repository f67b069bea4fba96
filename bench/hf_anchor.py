#!/usr/bin/env python3
"""The HF transformers + peft anchor of the benchmark: one variant's training step, timed on the GPU.

The logic of the project's reference anchor (shared/reference/hf_llama_step.py), for one variant per process
(so that bench/run_gpu.sh can watch each process's GPU memory with nvidia-smi):

- the model of bench.json (written by bench/prepare.sh: the preset's HF config, batch, seq), built with
  LlamaForCausalLM(config) from seed 0, default attention implementation, fp32 weights;
- the variant MODE-DTYPE: MODE lora-rc | lora | full-rc | full (lora: peft LoRA r8, alpha 8, dropout 0,
  q_proj,k_proj,v_proj, bias none; rc: gradient checkpointing, use_reentrant False), DTYPE fp32 (TF32 off)
  or bf16 (torch.autocast bf16, fp32 weights); --compile wraps the model in torch.compile;
- one step = forward (labels = input_ids), backward, fused AdamW (lr 1e-4, no weight decay as in cube),
  zero_grad; the batch is the
  first batch x seq ids of the bench's token file (the ids cube trains on);
- WARMUP steps, then STEPS steps timed with CUDA events; step ms is their median; peak is
  torch.cuda.max_memory_allocated over the timed steps (reset after the warm-up).

Prints one JSON line (and appends it to --out): variant, impl (hf-eager / hf-compile), step_ms, min_ms,
tokens_per_s, peak_bytes, reserved_bytes, loss_first (first warm-up step), loss_last, warmup_s, ... or
{variant, impl, error} when the run fails (an out-of-memory, say).

    python3 bench/hf_anchor.py --bench-dir .device/bench --variant lora-rc-bf16 --compile --out hf.jsonl
"""
import argparse
import json
import os
import statistics
import struct
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))


def load_bench(a):
    """(HF config dict, batch, seq, token ids or None) from bench.json + tokens.tok, else --preset."""
    cfg_json = os.path.join(a.bench_dir, "bench.json") if a.bench_dir else None
    bench = {}
    if cfg_json and os.path.exists(cfg_json):
        with open(cfg_json, encoding="utf-8") as f:
            bench = json.load(f)
    model_cfg = bench.get("model_config")
    if not model_cfg:
        sys.path.insert(0, os.path.join(HERE, "..", "python"))
        from cube.presets import PRESETS
        model_cfg = PRESETS[a.preset or bench.get("preset", "mini-llama")]
    batch = a.batch or bench.get("batch", 8)
    seq = a.seq or bench.get("seq", 1024)
    ids = None
    tok = a.tokens or (os.path.join(a.bench_dir, bench.get("tokens", "tokens.tok")) if a.bench_dir else None)
    if tok and os.path.exists(tok):
        with open(tok, "rb") as f:
            blob = f.read()
        if blob[:8] != b"CUBETOK\0":
            raise SystemExit(f"{tok}: not a cube token file")
        _, vocab, count = struct.unpack("<IIQ", blob[8:24])
        if count < batch * seq:
            raise SystemExit(f"{tok}: {count} tokens is less than one batch of {batch}x{seq}")
        ids = list(struct.unpack(f"<{batch * seq}i", blob[24:24 + 4 * batch * seq]))
    return model_cfg, batch, seq, ids


def run(a):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    mode, _, dtype = a.variant.rpartition("-")
    if mode not in ("lora-rc", "lora", "full-rc", "full") or dtype not in ("fp32", "bf16"):
        raise SystemExit(f"--variant {a.variant}: expected MODE-DTYPE, MODE lora-rc|lora|full-rc|full, DTYPE fp32|bf16")
    lora, ckpt = mode.startswith("lora"), mode.endswith("-rc")
    dev = a.device
    cuda = dev == "cuda"
    # fp32 rows: TF32 off (the reference scripts' switches), or on with --tf32; bf16 rows run under autocast.
    torch.backends.cuda.matmul.allow_tf32 = a.tf32
    torch.backends.cudnn.allow_tf32 = a.tf32

    model_cfg, batch, seq, ids_list = load_bench(a)
    torch.manual_seed(0)
    cfg = LlamaConfig(**{k: v for k, v in model_cfg.items() if k not in ("architectures", "model_type")})
    model = LlamaForCausalLM(cfg).to(dev)
    if ckpt:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    if lora:
        from peft import LoraConfig, get_peft_model
        model = get_peft_model(model, LoraConfig(r=8, lora_alpha=8, lora_dropout=0.0,
                                                 target_modules=["q_proj", "k_proj", "v_proj"], bias="none"))
        if ckpt:
            model.enable_input_require_grads()
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    ntrain = sum(p.numel() for p in params)
    # cube-autodiff's AdamW: betas 0.9/0.999, eps 1e-8, no weight decay (torch's default would be 0.01;
    # the reference anchor kept it, which changes no timing)
    opt = torch.optim.AdamW(params, lr=a.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, fused=cuda)
    fwd = torch.compile(model) if a.compile else model
    if ids_list is not None:
        ids = torch.tensor(ids_list, dtype=torch.long).view(batch, seq).to(dev)
    else:
        ids = torch.randint(0, cfg.vocab_size, (batch, seq), device=dev)

    def step():
        with torch.autocast(dev, dtype=torch.bfloat16, enabled=(dtype == "bf16")):
            loss = fwd(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    t0 = time.perf_counter()
    loss_first = None
    for i in range(a.warmup):
        loss = step()
        if i == 0:
            loss_first = float(loss.detach())
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    warmup_s = time.perf_counter() - t0
    times = []
    for _ in range(a.steps):
        if cuda:
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            loss = step()
            e.record()
            torch.cuda.synchronize()
            times.append(s.elapsed_time(e))
        else:
            t = time.perf_counter()
            loss = step()
            times.append((time.perf_counter() - t) * 1000.0)
    med = statistics.median(times)
    loss_last = float(loss.detach())
    if loss_first is None:
        loss_first = loss_last
    attn = getattr(getattr(model, "config", None), "_attn_implementation", None)
    if attn is None:
        attn = getattr(cfg, "_attn_implementation", None)
    row = dict(variant=a.variant, impl="hf-compile" if a.compile else "hf-eager", batch=batch, seq=seq,
               dtype=dtype, lora=lora, checkpointing=ckpt, compile=a.compile, trainable=ntrain,
               step_ms=round(med, 3), min_ms=round(min(times), 3), steps_measured=len(times), warmup=a.warmup,
               warmup_s=round(warmup_s, 2), tokens_per_s=round(batch * seq / med * 1e3),
               loss_first=round(loss_first, 6), loss_last=round(loss_last, 6), attn_implementation=attn,
               param_dtype=str(next(model.parameters()).dtype).replace("torch.", ""),
               data="tokens.tok" if ids_list is not None else "random")
    if cuda:
        row.update(peak_bytes=int(torch.cuda.max_memory_allocated()),
                   reserved_bytes=int(torch.cuda.max_memory_reserved()))
    return row


def versions(device):
    out = {}
    try:
        import torch
        out["torch"] = torch.__version__
        if device == "cuda" and torch.cuda.is_available():
            out["device"] = torch.cuda.get_device_name()
    except Exception:  # noqa: BLE001
        pass
    for mod in ("transformers", "peft"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001
            pass
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variant", required=True, help="MODE-DTYPE, e.g. lora-rc-bf16")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model")
    ap.add_argument("--tf32", action="store_true", help="allow TF32 tensor cores for fp32 matmuls (default off)")
    ap.add_argument("--bench-dir", default=".device/bench", help="bench.json and tokens.tok (bench/prepare.sh)")
    ap.add_argument("--preset", help="without bench.json: a preset of python/cube/presets.py")
    ap.add_argument("--batch", type=int)
    ap.add_argument("--seq", type=int)
    ap.add_argument("--tokens", help="a cube token file (default: BENCH_DIR/tokens.tok; else random ids)")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--device", default="cuda", help="cuda (default); cpu only for a smoke test")
    ap.add_argument("--out", help="append the JSON line to this file too")
    a = ap.parse_args()
    try:
        row = run(a)
    except SystemExit:
        raise
    except BaseException as ex:  # noqa: BLE001 (an OOM, a compile error: the row says so)
        traceback.print_exc()
        row = {"variant": a.variant, "impl": "hf-compile" if a.compile else "hf-eager",
               "error": f"{type(ex).__name__}: {ex}"[:400]}
    row.update(versions(a.device))
    line = json.dumps(row, sort_keys=True)
    print(line, flush=True)
    if a.out:
        with open(a.out, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    return 0 if "error" not in row else 1


if __name__ == "__main__":
    sys.exit(main())
