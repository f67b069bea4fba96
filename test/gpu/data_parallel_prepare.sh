#!/usr/bin/env bash
# Part 1 of the data-parallel GPU check (issue 9), here: compiles the artifacts test/gpu/data_parallel_gpu.sh
# runs on the lent GPU machine, into .device/dp (git-ignored; carry it):
#   tiny-{plain,dp}   tiny-llama fp32, LoRA r8 q/k/v + recompute, 2 x 64 tokens; dp: --data-parallel with
#                     --bucket-mb 0.004 (several buckets on a small model)
#   mini-{plain,dp}   mini-llama bf16 with fp32 master weights, LoRA r8 q/k/v + recompute, 8 x 1024 tokens
#                     (the bench's lora-rc-bf16 variant); dp: --data-parallel (25 MiB buckets)
#   mini32-{dp,b16}   mini-llama fp32 LoRA + recompute: 8 x 1024 per rank with --data-parallel, and 16 x 1024
#                     in one plan (the same global batch as 2 ranks)
# plus cube-run and random token files.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-build}
D=.device/dp
W=${WORK:-build-dp-work}
export PYTHONPATH="$ROOT/python" CUBE_OPT="$ROOT/$BUILD/bin/cube-opt"
mkdir -p "$D" "$W"
cp "$BUILD/bin/cube-run" "$D/cube-run"
LORA=(--use-lora --lora-rank 8 --lora-alpha 8 --target-modules q_proj,k_proj,v_proj --recompute LlamaDecoderLayer)
python3 -m cube trace --preset tiny-llama --batch 2 --seq 64 -o "$W/tiny.mlir"
python3 -m cube trace --preset mini-llama --batch 8 --seq 1024 --dtype bf16 -o "$W/mini.mlir"
python3 -m cube compile "$W/tiny.mlir" --target cuda --program train_step "${LORA[@]}" -o "$D/tiny-plain"
python3 -m cube compile "$W/tiny.mlir" --target cuda --program train_step "${LORA[@]}" --data-parallel \
  --bucket-mb 0.004 -o "$D/tiny-dp"
python3 -m cube compile "$W/mini.mlir" --target cuda --program train_step "${LORA[@]}" --master-weights-f32 \
  -o "$D/mini-plain"
python3 -m cube compile "$W/mini.mlir" --target cuda --program train_step "${LORA[@]}" --master-weights-f32 \
  --data-parallel -o "$D/mini-dp"
# For a machine with 2+ GPUs (data_parallel_gpu.sh runs these only there): mini-llama fp32 LoRA + recompute,
# 8 x 1024 per rank with --data-parallel, and the same global batch (16 x 1024) in one plan.
python3 -m cube trace --preset mini-llama --batch 16 --seq 1024 -o "$W/mini16.mlir"
python3 -m cube trace --preset mini-llama --batch 8 --seq 1024 -o "$W/mini8.mlir"
python3 -m cube compile "$W/mini8.mlir" --target cuda --program train_step "${LORA[@]}" --data-parallel \
  -o "$D/mini32-dp"
python3 -m cube compile "$W/mini16.mlir" --target cuda --program train_step "${LORA[@]}" -o "$D/mini32-b16"
python3 - "$D" <<'PY'
import random, sys
from cube import data
from cube.presets import PRESETS
d = sys.argv[1]
for name, n in (("tiny", 2 * 64 * 40), ("mini", 8 * 1024 * 50)):
    vocab = PRESETS[name + "-llama"]["vocab_size"]
    rng = random.Random(1)
    data.write(f"{d}/{name}.tok", [rng.randrange(vocab) for _ in range(n)], vocab)
PY
rm -f "$D"/*/final.mlir
du -sh "$D"
