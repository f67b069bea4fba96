#!/usr/bin/env bash
# The seed's workflow with cube: bash run_mini.sh trace|compile|run|resume   (docs/workflow.md)
#   trace    the model -> $EXP_DIR/model.mlir, trace_log.txt (module tree, after LoRA when USE_LORA=1), config.json,
#            model.safetensors (the random init a run starts from) and with LoRA the initial adapter
#            (adapter_config.json, adapter_model.safetensors), via a forward CPU artifact (artifact-init-cpu)
#   compile  train_step artifact for $DEVICE (recompute, LoRA, autodiff, codegen) + the memory report, and the
#            rewritten IR (final.mlir: the outlined @recompute_* functions and the checkpoint calls)
#   run      train: JSONL log, checkpoints, the LoRA adapter (peft format) in $EXP_DIR, train.png (the loss curve)
#   resume   continue from the last checkpoint for RESUME_STEPS more steps
# Every variable below can be set from the environment.
set -euo pipefail

MODEL=${MODEL:-}                           # a preset (mini-llama, tiny-llama) or an HF config.json (or its directory);
                                           # empty: mini-llama with a GPU, tiny-llama on a CPU-only machine
BATCH=${BATCH:-8}
SEQ=${SEQ:-256}
STEPS=${STEPS:-100}
LR=${LR:-3e-4}
WARMUP=${WARMUP:-0}
SCHEDULE=${SCHEDULE:-constant}             # constant, cosine or linear
SAVE_EVERY=${SAVE_EVERY:-}                 # checkpoint every K steps too (empty: only at the end)
RESUME_STEPS=${RESUME_STEPS:-$STEPS}       # resume: how many more steps
DEVICE=${DEVICE:-auto}                     # auto: cuda when `nvidia-smi -L` finds a GPU, else cpu
NPROC=${NPROC:-1}                          # >1: data parallelism over NPROC processes (GPUs), BATCH rows each
KERNEL_REGISTRY=${KERNEL_REGISTRY:-}       # cuda: a directory of registered kernels (docs/kernel-registry.md)
CHUNK_LOSS=${CHUNK_LOSS:-1}                # >1: the lm_head + loss in that many row chunks (large vocabularies)
RECOMPUTE_MODULE_NAMES=${RECOMPUTE_MODULE_NAMES-LlamaDecoderLayer}   # comma-separated module types; empty = none
USE_LORA=${USE_LORA:-1}
LORA_CONFIG=${LORA_CONFIG:-"--use-lora --lora-rank 8 --lora-alpha 8 --lora-dropout 0.0 --target-modules q_proj,k_proj,v_proj"}
EXP_PATH=${EXP_PATH:-./exp}
DATA=${DATA:-}                             # a token file; empty: the bundled examples/data/cube-notes.txt
PYTHON=${PYTHON:-$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3 )}  # Debian's: matplotlib

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CUBE_BIN=${CUBE_BIN:-$ROOT/build/bin}
export PYTHONPATH="$ROOT/python${PYTHONPATH:+:$PYTHONPATH}"
export CUBE_OPT="$CUBE_BIN/cube-opt" CUBE_RUN="$CUBE_BIN/cube-run"

die() { echo "run_mini.sh: error: $*" >&2; exit 1; }
say() { echo "run_mini.sh: $*"; }

usage() { sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
[ $# -eq 1 ] || { usage >&2; exit 2; }
CMD=$1
case "$CMD" in trace|compile|run|resume) ;; -h|--help) usage; exit 0 ;; *) usage >&2; exit 2 ;; esac

if [ ! -x "$CUBE_OPT" ] || [ ! -x "$CUBE_RUN" ]; then
  say "building cube ($CUBE_BIN missing tools): bash scripts/build.sh"
  bash "$ROOT/scripts/build.sh"
  [ -x "$CUBE_OPT" ] && [ -x "$CUBE_RUN" ] || die "no cube-opt/cube-run in $CUBE_BIN after the build"
fi

if [ "$DEVICE" = auto ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then DEVICE=cuda; else DEVICE=cpu; fi
fi
case "$DEVICE" in cpu|cuda) ;; *) die "DEVICE=$DEVICE: expected auto, cpu or cuda" ;; esac
case "$NPROC" in ''|*[!0-9]*|0) die "NPROC=$NPROC: expected a positive number of processes" ;; esac
COMPILE_EXTRA_ARGS=()
[ "$NPROC" = 1 ] || COMPILE_EXTRA_ARGS=(--data-parallel)
[ -z "$KERNEL_REGISTRY" ] || COMPILE_EXTRA_ARGS+=(--kernel-registry "$KERNEL_REGISTRY")
case "$CHUNK_LOSS" in ''|*[!0-9]*|0) die "CHUNK_LOSS=$CHUNK_LOSS: expected a positive number of chunks" ;; esac
[ "$CHUNK_LOSS" = 1 ] || COMPILE_EXTRA_ARGS+=(--chunk-loss "$CHUNK_LOSS")
if [ -z "$MODEL" ]; then
  if [ "$DEVICE" = cuda ]; then MODEL=mini-llama; else MODEL=tiny-llama; fi
  say "MODEL=$MODEL (the default on $DEVICE; set MODEL=mini-llama to train the seed's model on any device)"
fi

# The model: a preset name or a config.json path.
if [ -d "$MODEL" ] && [ -f "$MODEL/config.json" ]; then
  MODEL_ARGS=(--config "$MODEL"); MODEL_NAME=$(basename "$(cd "$MODEL" && pwd)")
elif [ -f "$MODEL" ]; then
  MODEL_ARGS=(--config "$MODEL"); MODEL_NAME=$(basename "$(cd "$(dirname "$MODEL")" && pwd)")
else
  MODEL_ARGS=(--preset "$MODEL"); MODEL_NAME=$MODEL
fi

# LORA_CONFIG's flags -> the compile flags (as given) and cube-lora's pass options (for the trace log).
RANK=8 ALPHA=8 DROPOUT=0.0 TARGETS=q_proj,v_proj BIAS=none RSLORA=false
LORA_ARGS=()
if [ "$USE_LORA" = 1 ]; then
  read -r -a LORA_ARGS <<<"$LORA_CONFIG"
  set -- "${LORA_ARGS[@]}"
  while [ $# -gt 0 ]; do
    case "$1" in
      --use-lora) ;;
      --use-rslora) RSLORA=true ;;
      --lora-rank) RANK=$2; shift ;;
      --lora-alpha) ALPHA=$2; shift ;;
      --lora-dropout) DROPOUT=$2; shift ;;
      --target-modules) TARGETS=$2; shift ;;
      --lora-bias) BIAS=$2; shift ;;
      *) die "LORA_CONFIG: unknown flag '$1'" ;;
    esac
    shift
  done
  case " ${LORA_ARGS[*]} " in *" --use-lora "*) ;; *) LORA_ARGS=(--use-lora "${LORA_ARGS[@]}") ;; esac
  EXP_NAME="${MODEL_NAME}_tm_${TARGETS//,/_}_rank_${RANK}_alpha_${ALPHA}_dropout_${DROPOUT}_fifo_False_bias_${BIAS}"
  LORA_PASS="cube-lora{rank=$RANK alpha=$ALPHA dropout=$DROPOUT targets=\"$TARGETS\" bias=$BIAS use-rslora=$RSLORA}"
elif [ "$USE_LORA" = 0 ]; then
  EXP_NAME="${MODEL_NAME}_full"
  LORA_PASS=""
else
  die "USE_LORA=$USE_LORA: expected 0 or 1"
fi
EXP_DIR="$EXP_PATH/$EXP_NAME"
RECOMPUTE_ARGS=()
RECOMPUTE_PASS=""
if [ -n "$RECOMPUTE_MODULE_NAMES" ]; then
  RECOMPUTE_ARGS=(--recompute "$RECOMPUTE_MODULE_NAMES")
  RECOMPUTE_PASS="cube-recompute{modules=\"$RECOMPUTE_MODULE_NAMES\"}"
fi
ART="$EXP_DIR/artifact-$DEVICE"

need() { [ -e "$1" ] || die "$1 is missing: run 'bash run_mini.sh $2' first"; }

data_file() {
  if [ -n "$DATA" ]; then echo "$DATA"; return; fi
  local tok="$EXP_PATH/cube-notes.tok"
  [ -f "$tok" ] || "$PYTHON" -m cube data --text "$ROOT/examples/data/cube-notes.txt" -o "$tok" >&2
  echo "$tok"
}

case "$CMD" in
trace)
  mkdir -p "$EXP_DIR"
  "$PYTHON" -m cube trace "${MODEL_ARGS[@]}" --batch "$BATCH" --seq "$SEQ" -o "$EXP_DIR/model.mlir"
  "$PYTHON" - "${MODEL_ARGS[@]}" "$EXP_DIR/config.json" <<'PY'
import json, sys
from cube.config import load_config
from cube.presets import PRESETS
kind, src, out = sys.argv[1:4]
if kind == "--preset":
    cfg = dict(PRESETS[src])
else:
    import os
    cfg = json.load(open(os.path.join(src, "config.json") if os.path.isdir(src) else src))
json.dump(cfg, open(out, "w"), indent=2)
PY
  PIPE="$(IFS=,; echo "${RECOMPUTE_PASS:+$RECOMPUTE_PASS}${RECOMPUTE_PASS:+${LORA_PASS:+,}}$LORA_PASS")"
  {
    echo "# model $MODEL ($MODEL_NAME), batch $BATCH, seq $SEQ; USE_LORA=$USE_LORA${LORA_PASS:+ ($LORA_PASS)}"
    if [ -n "$LORA_PASS" ]; then
      "$CUBE_OPT" "$EXP_DIR/model.mlir" "--pass-pipeline=builtin.module($LORA_PASS)" --cube-print-module-tree
    else
      "$CUBE_OPT" "$EXP_DIR/model.mlir" --cube-print-module-tree
    fi
    echo "# summary after ${PIPE:-no rewrites}"
    if [ -n "$PIPE" ]; then
      "$CUBE_OPT" "$EXP_DIR/model.mlir" "--pass-pipeline=builtin.module($PIPE)" --cube-summary
    else
      "$CUBE_OPT" "$EXP_DIR/model.mlir" --cube-summary
    fi
  } > "$EXP_DIR/trace_log.txt"
  # The initial weights (seed 0, as `run` starts): a forward artifact of the (LoRA'd) model for the CPU.
  "$PYTHON" -m cube compile "$EXP_DIR/model.mlir" --target cpu --program forward -o "$EXP_DIR/artifact-init-cpu" \
    ${LORA_ARGS[@]+"${LORA_ARGS[@]}"} >/dev/null || die "compile of the forward artifact failed"
  "$CUBE_RUN" "$EXP_DIR/artifact-init-cpu" --save-init "$EXP_DIR" --overwrite
  say "traced $MODEL_NAME -> $EXP_DIR/model.mlir; module tree in $EXP_DIR/trace_log.txt; initial weights in $EXP_DIR/model.safetensors${LORA_PASS:+ (+ the initial adapter)}"
  ;;
compile)
  need "$EXP_DIR/model.mlir" trace
  "$PYTHON" -m cube compile "$EXP_DIR/model.mlir" --target "$DEVICE" --program train_step -o "$ART" \
    ${RECOMPUTE_ARGS[@]+"${RECOMPUTE_ARGS[@]}"} ${LORA_ARGS[@]+"${LORA_ARGS[@]}"} ${COMPILE_EXTRA_ARGS[@]+"${COMPILE_EXTRA_ARGS[@]}"} \
    --memory-report 2>&1 |
    tee "$EXP_DIR/memory_report.txt"
  [ "${PIPESTATUS[0]}" -eq 0 ] || die "compile failed"
  PIPE="$(echo "${RECOMPUTE_PASS:+$RECOMPUTE_PASS,}${LORA_PASS:+$LORA_PASS,}cube-autodiff{optimizer=adamw},cube-verify")"
  "$CUBE_OPT" "$EXP_DIR/model.mlir" "--pass-pipeline=builtin.module($PIPE)" -o "$EXP_DIR/final.mlir"
  say "compiled for $DEVICE -> $ART; rewritten IR (before codegen) in $EXP_DIR/final.mlir"
  ;;
run|resume)
  need "$ART/plan.json" compile
  TOK=$(data_file)
  if [ "$CMD" = run ]; then
    LOG="$EXP_DIR/train.jsonl" TOTAL=$STEPS FROM=()
    rm -rf "$EXP_DIR/checkpoints"
  else
    need "$EXP_DIR/checkpoints" run
    LAST=$(ls -d "$EXP_DIR"/checkpoints/checkpoint-* 2>/dev/null | sed 's/.*checkpoint-//' | sort -n | tail -1)
    [ -n "$LAST" ] || die "no checkpoint in $EXP_DIR/checkpoints"
    LOG="$EXP_DIR/resume.jsonl" TOTAL=$((LAST + RESUME_STEPS)) FROM=(--resume "$EXP_DIR/checkpoints/checkpoint-$LAST")
    say "resuming from step $LAST to step $TOTAL"
  fi
  ARGS=(--device "$DEVICE" --data "$TOK" --steps "$TOTAL" --lr "$LR" --warmup "$WARMUP" --schedule "$SCHEDULE"
        --log "$LOG" --save "$EXP_DIR/checkpoints")
  [ -z "$SAVE_EVERY" ] || ARGS+=(--save-every "$SAVE_EVERY")
  [ "$NPROC" = 1 ] || ARGS+=(--nproc "$NPROC")
  [ "$USE_LORA" != 1 ] || ARGS+=(--save-adapter "$EXP_DIR" --overwrite)
  "$CUBE_RUN" "$ART" "${ARGS[@]}" ${FROM[@]+"${FROM[@]}"}
  "$PYTHON" -m cube plot "$LOG" -o "${LOG%.jsonl}.png" --title "$EXP_NAME ($CMD)"
  say "done: log $LOG, plot ${LOG%.jsonl}.png, checkpoints $EXP_DIR/checkpoints${LORA_PASS:+, adapter $EXP_DIR/adapter_model.safetensors}"
  ;;
esac
