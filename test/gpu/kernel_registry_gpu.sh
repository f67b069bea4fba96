#!/usr/bin/env bash
# Part 2 of the kernel-registry GPU check, on the GPU machine after test/gpu/kernel_registry_prepare.sh:
#   device tool: command "bash test/gpu/kernel_registry_gpu.sh", carry [".device/reg"]
# Evaluates tiny-llama with cube's own kernels and with each registry, and trains 10 steps with and without
# the registered add + rmsnorm; prints the losses next to the CPU's and fails when any differs by more than
# 1e-5 (relative). Writes the logs under $OUT.
set -euo pipefail
D=.device/reg
OUT=${OUT:-/tmp/reg-out}
mkdir -p "$OUT"
for a in fwd-builtin fwd-ptx fwd-mlir fwd-swiglu; do
  "$D/cube-run" "$D/$a" --device cuda --data "$D/notes.tok" --eval --batches 4 > "$OUT/$a.txt"
done
for a in train-builtin train-ptx; do
  CUBE_PROGRESS=plain "$D/cube-run" "$D/$a" --device cuda --data "$D/notes.tok" --steps 10 --lr 1e-3 \
    --log "$OUT/$a.jsonl" > "$OUT/$a.out"
done
cp "$D/cpu-eval.txt" "$D/cpu-train.jsonl" "$OUT/"
python3 - "$OUT" <<'PY'
import json, re, sys
o = sys.argv[1]
def loss(path):
    return float(re.search(r"loss[ =:]+([0-9.]+)", open(path).read()).group(1))
ref = loss(f"{o}/cpu-eval.txt")
bad = 0
print(f"eval (4 batches of notes.tok): cpu {ref:.6f}")
for a in ("fwd-builtin", "fwd-ptx", "fwd-mlir", "fwd-swiglu"):
    v = loss(f"{o}/{a}.txt")
    rel = abs(v - ref) / ref
    bad += rel > 1e-5
    print(f"  {a:12s} {v:.6f}  rel. diff {rel:.1e}")
rows = lambda p: [json.loads(l) for l in open(p)]
c = rows(f"{o}/cpu-train.jsonl")
for a in ("train-builtin", "train-ptx"):
    g = rows(f"{o}/{a}.jsonl")
    dl = max(abs(x["loss"] - y["loss"]) / abs(y["loss"]) for x, y in zip(g, c))
    dg = max(abs(x["grad_norm"] - y["grad_norm"]) / abs(y["grad_norm"]) for x, y in zip(g, c))
    bad += dl > 1e-5 or dg > 1e-5 or len(g) != len(c)
    print(f"train {a:14s} vs cpu over {len(g)} steps: loss {dl:.1e}, grad_norm {dg:.1e} (last loss {g[-1]['loss']:.6f})")
sys.exit(1 if bad else 0)
PY
