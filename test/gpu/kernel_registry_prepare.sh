#!/usr/bin/env bash
# Part 1 of the kernel-registry GPU check (issue 7, docs/kernel-registry.md), here: compiles tiny-llama
# (examples/models/tiny-llama.mlir, 2 x 16 tokens, f32, the shapes the example kernels are written for) into
# .device/reg (git-ignored; carry it) with and without the registered kernels, and the CPU references:
#   fwd-builtin, fwd-ptx, fwd-mlir, fwd-swiglu   eval artifacts (cuda): cube's own kernels; the CUDA C
#       add + rmsnorm of examples/kernels/registry-ptx; the MLIR rmsnorm of examples/kernels/registry; the MLIR
#       silu * mul pattern of test/Conversion/Inputs/registry-swiglu
#   train-builtin, train-ptx   LoRA r8 q/k/v + recompute train_step (cuda), without and with registry-ptx
#   cpu-eval.txt, cpu-train.jsonl   the same eval and 10 training steps on the CPU kernels
# then test/gpu/kernel_registry_gpu.sh runs them on the GPU machine.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-build}
D=.device/reg
export PYTHONPATH="$ROOT/python" CUBE_OPT="$ROOT/$BUILD/bin/cube-opt"
M=examples/models/tiny-llama.mlir
rm -rf "$D" && mkdir -p "$D"
cp "$BUILD/bin/cube-run" "$D/cube-run"
python3 -m cube data --text examples/data/cube-notes.txt -o "$D/notes.tok" >/dev/null
TRAIN=(--program train_step --use-lora --recompute LlamaDecoderLayer)
python3 -m cube compile "$M" --target cuda -o "$D/fwd-builtin"
python3 -m cube compile "$M" --target cuda --kernel-registry examples/kernels/registry-ptx -o "$D/fwd-ptx"
python3 -m cube compile "$M" --target cuda --kernel-registry examples/kernels/registry -o "$D/fwd-mlir"
python3 -m cube compile "$M" --target cuda --kernel-registry test/Conversion/Inputs/registry-swiglu -o "$D/fwd-swiglu"
python3 -m cube compile "$M" --target cuda "${TRAIN[@]}" -o "$D/train-builtin"
python3 -m cube compile "$M" --target cuda "${TRAIN[@]}" --kernel-registry examples/kernels/registry-ptx -o "$D/train-ptx"
python3 -m cube compile "$M" --target cpu -o "$D/fwd-cpu"
python3 -m cube compile "$M" --target cpu "${TRAIN[@]}" -o "$D/train-cpu"
"$BUILD/bin/cube-run" "$D/fwd-cpu" --data "$D/notes.tok" --eval --batches 4 > "$D/cpu-eval.txt"
CUBE_PROGRESS=plain "$BUILD/bin/cube-run" "$D/train-cpu" --data "$D/notes.tok" --steps 10 --lr 1e-3 \
  --log "$D/cpu-train.jsonl" >/dev/null
rm -rf "$D/fwd-cpu" "$D/train-cpu" "$D"/*/final.mlir
du -sh "$D"
