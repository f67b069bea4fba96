#!/usr/bin/env bash
# The main job on the embedded default, on a fresh Debian 12 machine: installs what is missing, builds
# cube, checks the bundled example model (tiny-llama, traced from the cube dialect's Python front end),
# prints its summary, and lowers the bundled elementwise kernel to PTX for sm_90.
# Artifacts go to OUT_DIR (default: out/).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh >/dev/null
OUT_DIR=${OUT_DIR:-out}
mkdir -p "$OUT_DIR"
CUBE_OPT=${BUILD_DIR:-build}/bin/cube-opt
MODEL=examples/models/tiny-llama.mlir
KERNEL=examples/kernels/add.mlir
CHIP=${CHIP:-sm_90}

echo "== 1. verify the bundled model $MODEL (parse + IRDL + cube-verify)"
"$CUBE_OPT" "$MODEL" --cube-verify -o "$OUT_DIR/tiny-llama.verified.mlir"
"$CUBE_OPT" "$MODEL" --cube-summary > "$OUT_DIR/tiny-llama.summary.json"
python3 - "$OUT_DIR/tiny-llama.summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(f"   {s['params']} params, {s['param_elements']:,} elements ({s['trainable_elements']:,} trainable), "
      f"{sum(v for k, v in s['ops'].items() if k.startswith('cube.'))} cube ops, "
      f"{s['modules'].get('LlamaDecoderLayer', 0)} LlamaDecoderLayer, {s['functions']} function(s)")
PY

echo "== 2. lower the bundled elementwise kernel $KERNEL to PTX ($CHIP)"
PIPELINE="builtin.module(one-shot-bufferize{bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map},func.func(convert-linalg-to-parallel-loops,scf-parallel-loop-tiling{parallel-loop-tile-sizes=256},gpu-map-parallel-loops,convert-parallel-loops-to-gpu),gpu-kernel-outlining,gpu-lower-to-nvvm-pipeline{cubin-chip=$CHIP cubin-features=+ptx80 cubin-format=isa opt-level=3})"
"$CUBE_OPT" "$KERNEL" --pass-pipeline="$PIPELINE" --cube-dump-ptx -o "$OUT_DIR/add.ptx"
echo "   $(grep -c '^\.visible \.entry' "$OUT_DIR/add.ptx") kernel entry, $(grep '^\.target' "$OUT_DIR/add.ptx"), $(wc -l < "$OUT_DIR/add.ptx") lines of PTX"

echo "== done; artifacts in $OUT_DIR/:"
ls -1 "$OUT_DIR" | sed 's/^/   /'
