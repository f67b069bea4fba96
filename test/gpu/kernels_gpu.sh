#!/usr/bin/env bash
# Part 2 of the GPU-kernels-vs-CPU check, on the GPU machine after test/gpu/kernels_prepare.sh:
#   device tool: command "bash test/gpu/kernels_gpu.sh", carry [".device/kern"]
# 10 training steps of each artifact; f32: losses and gradient norms within 1e-5 (relative) of the CPU's;
# bf16: fused and unfused bitwise equal, and within 1e-3 of the f32 GPU run; head dim 64 in bf16 (the
# tensor-core kernels): fused within 1e-3 (loss) of unfused and 2e-3 of the f32 CPU. Exit 1 on any failure.
set -euo pipefail
D=.device/kern
OUT=${OUT:-/tmp/kern-out}
mkdir -p "$OUT"
for a in t64-lora t64-full t100-lora t100-full t100-lora-chunk t100-full-chunk t64b-lora t64b-lora-nofuse d64b-lora d64b-lora-nofuse; do
  CUBE_GEMM_TUNE=0 CUBE_PROGRESS=plain "$D/cube-run" "$D/$a" --device cuda --data "$D/notes.tok" --steps 10 \
    --lr 1e-3 --log "$OUT/gpu-$a.jsonl" > "$OUT/$a.out"
done
python3 - "$OUT" "$D" <<'PY'
import json, sys
o, d = sys.argv[1:]
rows = lambda p: [json.loads(l) for l in open(p)]
rel = lambda a, b, k: max(abs(x[k] - y[k]) / abs(y[k]) for x, y in zip(a, b))
bad = 0
for a in ("t64-lora", "t64-full", "t100-lora", "t100-full", "t100-lora-chunk", "t100-full-chunk"):
    g, c = rows(f"{o}/gpu-{a}.jsonl"), rows(f"{d}/cpu-{a.replace('-chunk', '')}.jsonl")
    dl, dg = rel(g, c, "loss"), rel(g, c, "grad_norm")
    bad += dl > 1e-5 or dg > 1e-5 or len(g) != 10
    print(f"{a:16s} gpu vs cpu, 10 steps: loss {dl:.1e}, grad_norm {dg:.1e}")
b, n, f = rows(f"{o}/gpu-t64b-lora.jsonl"), rows(f"{o}/gpu-t64b-lora-nofuse.jsonl"), rows(f"{o}/gpu-t64-lora.jsonl")
same = all(x["loss"] == y["loss"] and x["grad_norm"] == y["grad_norm"] for x, y in zip(b, n)) and len(b) == 10
db = rel(b, f, "loss")
bad += not same or db > 1e-3
print(f"t64 bf16 fused vs unfused: {'bitwise equal' if same else 'DIFFERENT'}; bf16 vs f32 loss {db:.1e}")
# head dim 64 in bf16: the tensor-core kernels (flash forward, dS) against the unfused kernels and the f32 CPU
b, n, c = rows(f"{o}/gpu-d64b-lora.jsonl"), rows(f"{o}/gpu-d64b-lora-nofuse.jsonl"), rows(f"{d}/cpu-d64-lora.jsonl")
dl, dg, dc = rel(b, n, "loss"), rel(b, n, "grad_norm"), rel(b, c, "loss")
bad += dl > 1e-3 or dg > 2e-2 or dc > 2e-3
print(f"d64 bf16 fused vs unfused: loss {dl:.1e}, grad_norm {dg:.1e}; vs the f32 CPU: loss {dc:.1e} (nofuse {rel(n, c, 'loss'):.1e})")
sys.exit(1 if bad else 0)
PY
