#!/usr/bin/env bash
# The main job on the embedded default, on a fresh Debian 12 machine: installs what is missing, builds
# cube, traces the bundled tiny-llama, checks it, compiles it (CPU, and CUDA when a GPU is present), turns
# the bundled text into tokens, evaluates the model on them, then trains it with the seed's switches
# (recompute of LlamaDecoderLayer + LoRA r8 on q/k/v) and saves the adapter and a loss curve; also lowers the
# bundled elementwise kernel to PTX. Artifacts go to OUT_DIR (default: out/).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh >/dev/null 2>&1 || bash scripts/build.sh
OUT_DIR=${OUT_DIR:-out}
mkdir -p "$OUT_DIR"
BIN=${BUILD_DIR:-build}/bin
export CUBE_OPT=$BIN/cube-opt PYTHONPATH=python
# Debian's interpreter holds the packages install-deps.sh installed (matplotlib for the loss curve).
PY=python3; [ -x /usr/bin/python3 ] && PY=/usr/bin/python3
MODEL=$OUT_DIR/tiny-llama.mlir
KERNEL=examples/kernels/add.mlir
CHIP=${CHIP:-sm_90}

echo "== 1. trace tiny-llama (2 layers, hidden 64, GQA 4/2 heads, vocab 256) -> $MODEL"
"$PY" -m cube trace --preset tiny-llama --batch 2 --seq 16 -o "$MODEL"

echo "== 2. verify it (IRDL + cube-verify) and summarise"
"$CUBE_OPT" "$MODEL" --cube-verify --cube-summary > "$OUT_DIR/tiny-llama.summary.json"
"$PY" - "$OUT_DIR/tiny-llama.summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(f"   {s['params']} params, {s['param_elements']:,} elements ({s['trainable_elements']:,} trainable), "
      f"{sum(v for k, v in s['ops'].items() if k.startswith('cube.'))} cube ops, "
      f"{s['modules'].get('LlamaDecoderLayer', 0)} LlamaDecoderLayer, {s['functions']} function(s)")
PY

echo "== 3. compile for the CPU -> $OUT_DIR/tiny-llama-cpu/"
"$PY" -m cube compile "$MODEL" --target cpu -o "$OUT_DIR/tiny-llama-cpu"

echo "== 4. tokens from the bundled text (byte-level) -> $OUT_DIR/cube-notes.tok"
"$PY" -m cube data --text examples/data/cube-notes.txt -o "$OUT_DIR/cube-notes.tok" | sed 's/^/   /'

echo "== 5. evaluate (random init, seed 0: the loss of an untrained model is about ln 256 = 5.545)"
"$BIN/cube-run" "$OUT_DIR/tiny-llama-cpu" --device cpu --data "$OUT_DIR/cube-notes.tok" --eval --batches 8 \
  | sed 's/^/   /'
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  echo "== 5b. a GPU is present: compile for CUDA ($CHIP) and evaluate there"
  "$PY" -m cube compile "$MODEL" --target cuda --chip "$CHIP" -o "$OUT_DIR/tiny-llama-cuda"
  "$BIN/cube-run" "$OUT_DIR/tiny-llama-cuda" --device cuda --data "$OUT_DIR/cube-notes.tok" --eval --batches 8 \
    | sed 's/^/   /'
fi

DEVICE=cpu
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then DEVICE=cuda; fi
echo "== 6. train with the seed's switches on $DEVICE: recompute LlamaDecoderLayer, LoRA r8 alpha 8 on q,k,v"
"$PY" -m cube compile "$MODEL" --target "$DEVICE" --program train_step -o "$OUT_DIR/tiny-llama-train" \
  --recompute LlamaDecoderLayer --use-lora --lora-rank 8 --lora-alpha 8 --lora-dropout 0.0 \
  --target-modules q_proj,k_proj,v_proj --memory-report 2>&1 | sed 's/^/   /'
CUBE_PROGRESS=plain "$BIN/cube-run" "$OUT_DIR/tiny-llama-train" --device "$DEVICE" --data "$OUT_DIR/cube-notes.tok" \
  --steps 200 --lr 3e-3 --warmup 20 --schedule cosine --log "$OUT_DIR/train.jsonl" \
  --save-adapter "$OUT_DIR/adapter" --overwrite | grep -E '^(step (1|50|100|150|200)/|train:|saved)' | sed 's/^/   /'
"$PY" -m cube plot "$OUT_DIR/train.jsonl" -o "$OUT_DIR/train.png" | sed 's/^/   /'

echo "== 7. lower the bundled elementwise kernel $KERNEL to PTX ($CHIP)"
PIPELINE="builtin.module(one-shot-bufferize{bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map},func.func(convert-linalg-to-parallel-loops,scf-parallel-loop-tiling{parallel-loop-tile-sizes=256},gpu-map-parallel-loops,convert-parallel-loops-to-gpu),gpu-kernel-outlining,gpu-lower-to-nvvm-pipeline{cubin-chip=$CHIP cubin-features=+ptx80 cubin-format=isa opt-level=3})"
"$CUBE_OPT" "$KERNEL" --pass-pipeline="$PIPELINE" --cube-dump-ptx -o "$OUT_DIR/add.ptx"
echo "   $(grep -c '^\.visible \.entry' "$OUT_DIR/add.ptx") kernel entry, $(grep '^\.target' "$OUT_DIR/add.ptx"), $(wc -l < "$OUT_DIR/add.ptx") lines of PTX"

echo "== done; artifacts in $OUT_DIR/:"
ls -1 "$OUT_DIR" | sed 's/^/   /'
