#!/usr/bin/env bash
# Part 1 of the GPU-kernels-vs-CPU check (issue 7), here: after any change to a GPU kernel, the same training
# runs on the GPU kernels and on the CPU kernels must agree. Compiles into .device/kern (git-ignored; carry it):
#   t64-lora, t64-full, t100-lora, t100-full   tiny-llama f32, 2 x 64 and 2 x 100 tokens (100: rows that are
#       not whole vectors, a causal length that is not a multiple of 64), LoRA r8 q/k/v + recompute and full
#       fine-tune (cuda), with the CPU's 10-step logs cpu-<name>.jsonl
#   t64b-lora, t64b-lora-nofuse   the same in bf16, with and without fusion (cube-fuse and the row patterns)
#   t100-lora-chunk, t100-full-chunk   t100-lora/full with the loss in 3 uneven row chunks (--chunk-loss 3:
#       cross-entropy kernels normalised by the whole batch's labels), against the same CPU logs
#   d64b-lora, d64b-lora-nofuse   tiny-llama widened to head dim 64 (hidden 128, 2 query heads, 1 kv head),
#       2 x 128 tokens, bf16, LoRA + recompute, with and without fusion: the tensor-core attention kernels (the
#       flash forward, the dS kernel of the gradient) take head dim 64 only; cpu-d64-lora.jsonl the f32 CPU run
# then test/gpu/kernels_gpu.sh runs them on the GPU machine.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-build}
D=.device/kern
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
export PYTHONPATH="$ROOT/python" CUBE_OPT="$ROOT/$BUILD/bin/cube-opt"
rm -rf "$D" && mkdir -p "$D"
cp "$BUILD/bin/cube-run" "$D/cube-run"
python3 -m cube data --text examples/data/cube-notes.txt -o "$D/notes.tok" >/dev/null
LORA=(--use-lora --recompute LlamaDecoderLayer)
for s in 64 100; do python3 -m cube trace --preset tiny-llama --batch 2 --seq $s -o "$W/t$s.mlir" >/dev/null; done
python3 -m cube trace --preset tiny-llama --batch 2 --seq 64 --dtype bf16 -o "$W/t64b.mlir" >/dev/null
for s in 64 100; do
  for v in lora full; do
    args=(); [ $v = lora ] && args=("${LORA[@]}")
    python3 -m cube compile "$W/t$s.mlir" --target cuda --program train_step "${args[@]}" -o "$D/t$s-$v" >/dev/null
    python3 -m cube compile "$W/t$s.mlir" --target cpu --program train_step "${args[@]}" -o "$W/cpu-t$s-$v" >/dev/null
    CUBE_PROGRESS=plain "$BUILD/bin/cube-run" "$W/cpu-t$s-$v" --data "$D/notes.tok" --steps 10 --lr 1e-3 \
      --log "$D/cpu-t$s-$v.jsonl" >/dev/null
  done
done
python3 -m cube compile "$W/t100.mlir" --target cuda --program train_step "${LORA[@]}" --chunk-loss 3 \
  -o "$D/t100-lora-chunk" >/dev/null
python3 -m cube compile "$W/t100.mlir" --target cuda --program train_step --chunk-loss 3 -o "$D/t100-full-chunk" >/dev/null
python3 -m cube compile "$W/t64b.mlir" --target cuda --program train_step "${LORA[@]}" -o "$D/t64b-lora" >/dev/null
python3 -m cube compile "$W/t64b.mlir" --target cuda --program train_step "${LORA[@]}" --no-fuse \
  -o "$D/t64b-lora-nofuse" >/dev/null
python3 - "$W/d64.json" <<'PY'
import json, sys
from cube.presets import PRESETS
c = dict(PRESETS["tiny-llama"], hidden_size=128, num_attention_heads=2, num_key_value_heads=1, intermediate_size=256)
json.dump(c, open(sys.argv[1], "w"))
PY
python3 -m cube trace --config "$W/d64.json" --batch 2 --seq 128 --dtype bf16 -o "$W/d64b.mlir" >/dev/null
python3 -m cube trace --config "$W/d64.json" --batch 2 --seq 128 -o "$W/d64.mlir" >/dev/null
python3 -m cube compile "$W/d64b.mlir" --target cuda --program train_step "${LORA[@]}" -o "$D/d64b-lora" >/dev/null
python3 -m cube compile "$W/d64b.mlir" --target cuda --program train_step "${LORA[@]}" --no-fuse \
  -o "$D/d64b-lora-nofuse" >/dev/null
python3 -m cube compile "$W/d64.mlir" --target cpu --program train_step "${LORA[@]}" -o "$W/cpu-d64-lora" >/dev/null
CUBE_PROGRESS=plain "$BUILD/bin/cube-run" "$W/cpu-d64-lora" --data "$D/notes.tok" --steps 10 --lr 1e-3 \
  --log "$D/cpu-d64-lora.jsonl" >/dev/null
rm -f "$D"/*/final.mlir
du -sh "$D"
