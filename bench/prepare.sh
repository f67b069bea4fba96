#!/usr/bin/env bash
# bench/prepare.sh -- part 1 of the benchmark, run HERE (the development machine: LLVM/MLIR, cube-opt).
#
# Traces the model, builds one CUDA train_step artifact per variant into .device/bench/<variant>/, times
# each compile (trace -> artifact, wall seconds, pinned to COMPILE_CORES cores), writes a token file, the
# bench config and compile_times.json, and copies cube-run next to them. A variant that does not compile
# is recorded (its error messages, deduplicated) and the table of part 2 shows "n/a: <reason>" for it.
# Part 2 is bench/run_gpu.sh on the GPU machine (bench/README.md).
#
#   bash bench/prepare.sh
#   VARIANTS="lora-rc-fp32" BUILD=build-bench bash bench/prepare.sh
#
# Switches (environment):
#   VARIANTS       variants to build (default "lora-rc-fp32 lora-rc-bf16 full-bf16"); a name is
#                  MODE-DTYPE with MODE lora-rc | lora | full-rc | full (rc = recompute LlamaDecoderLayer,
#                  lora = LoRA r8 alpha 8 dropout 0 on q_proj,k_proj,v_proj) and DTYPE fp32 | bf16
#   PRESET, BATCH, SEQ   model preset and shape (default mini-llama, 8, 1024)
#   TARGET, CHIP   cuda (default) or cpu; CHIP passed as --chip (default: compile's default, sm_90)
#   BUILD          build directory holding bin/cube-opt and bin/cube-run (default build)
#   NO_BUILD=1     do not run `cmake --build $BUILD` first (by default it does, so the binaries are current)
#   COMPILE_CORES  cores the timed compile is pinned to with taskset (default 2; the issue's bar is on 2 cores)
#   BENCH_DIR      output folder (default .device/bench; must stay small: the device tool carries it)
#   PYTHON         interpreter for `python3 -m cube` (default python3)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

VARIANTS=${VARIANTS:-"lora-rc-fp32 lora-rc-bf16 full-bf16"}
PRESET=${PRESET:-mini-llama}
BATCH=${BATCH:-8}
SEQ=${SEQ:-1024}
TARGET=${TARGET:-cuda}
CHIP=${CHIP:-}
BUILD=${BUILD:-build}
COMPILE_CORES=${COMPILE_CORES:-2}
BENCH_DIR=${BENCH_DIR:-.device/bench}
PYTHON=${PYTHON:-python3}
LORA_OPTS='rank=8 alpha=8 dropout=0.0 targets=q_proj,k_proj,v_proj'
WORK=${WORK:-build-bench-work}    # intermediates (traced/rewritten .mlir, final.mlir): git-ignored, not carried

say() { printf '== %s\n' "$*"; }
die() { printf 'bench/prepare.sh: error: %s\n' "$*" >&2; exit 1; }

# --- the binaries -------------------------------------------------------------------------------------
mkdir -p "$WORK"
if [ "${NO_BUILD:-0}" != 1 ]; then
  if [ ! -f "$BUILD/build.ninja" ] && [ ! -f "$BUILD/Makefile" ]; then
    say "configuring $BUILD"
    cmake -S . -B "$BUILD" -G Ninja >"$WORK/configure.log" 2>&1 || { tail -30 "$WORK/configure.log"; die "cmake -S . -B $BUILD failed"; }
  fi
  say "building $BUILD (cube-opt, cube-run)"
  cmake --build "$BUILD" --target cube-opt cube-run >"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log"; die "cmake --build $BUILD failed"; }
fi
CUBE_OPT="$ROOT/$BUILD/bin/cube-opt"
CUBE_RUN="$ROOT/$BUILD/bin/cube-run"
case "$BUILD" in /*) CUBE_OPT="$BUILD/bin/cube-opt"; CUBE_RUN="$BUILD/bin/cube-run" ;; esac
[ -x "$CUBE_OPT" ] || die "$CUBE_OPT is missing (build it, or set BUILD=DIR)"
[ -x "$CUBE_RUN" ] || die "$CUBE_RUN is missing (build it, or set BUILD=DIR)"
export CUBE_OPT
export PYTHONPATH="$ROOT/python${PYTHONPATH:+:$PYTHONPATH}"

# --- pinning: the compile is timed on COMPILE_CORES cores ---------------------------------------------
HOST_CORES=$(nproc 2>/dev/null || echo 1)
PIN=()
PIN_DESC="none (taskset missing)"
if command -v taskset >/dev/null 2>&1; then
  n=$COMPILE_CORES
  [ "$n" -gt "$HOST_CORES" ] && n=$HOST_CORES
  PIN=(taskset -c "0-$((n - 1))")
  PIN_DESC="taskset -c 0-$((n - 1))"
  COMPILE_CORES=$n
else
  COMPILE_CORES=$HOST_CORES
fi

mkdir -p "$BENCH_DIR/logs" "$WORK"
rm -f "$BENCH_DIR/compile_times.json" "$BENCH_DIR/bench.json" "$BENCH_DIR"/logs/*.json

# --- tokens (random ids, seed 1, one batch is enough: cube-run wraps around; HF reads the same batch) --
say "token file $BENCH_DIR/tokens.tok"
"$PYTHON" - "$PRESET" "$BATCH" "$SEQ" "$BENCH_DIR/tokens.tok" <<'EOF'
import random, sys
from cube import data
from cube.presets import PRESETS
preset, batch, seq, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
vocab = PRESETS[preset]["vocab_size"]
rng = random.Random(1)
data.write(path, [rng.randrange(vocab) for _ in range(batch * seq)], vocab)
EOF

cp "$CUBE_RUN" "$BENCH_DIR/cube-run"

# --- the variants -------------------------------------------------------------------------------------
now() { date +%s.%N; }
for v in $VARIANTS; do
  dtype=${v##*-}
  mode=${v%-*}
  case "$dtype" in fp32) tdtype=f32 ;; bf16) tdtype=bf16 ;; *) die "variant $v: dtype '$dtype' is not fp32 or bf16" ;; esac
  case "$mode" in
    lora-rc) passes="cube-recompute{modules=LlamaDecoderLayer},cube-lora{$LORA_OPTS}," ;;
    lora)    passes="cube-lora{$LORA_OPTS}," ;;
    full-rc) passes="cube-recompute{modules=LlamaDecoderLayer}," ;;
    full)    passes="" ;;
    *) die "variant $v: mode '$mode' is not lora-rc, lora, full-rc or full" ;;
  esac
  # bf16: fp32 master weights for the trainable parameters (cube-mixed-precision), as autocast keeps them
  [ "$dtype" = bf16 ] && passes="${passes}cube-mixed-precision,"
  pipeline="builtin.module(${passes}cube-autodiff{optimizer=adamw},cube-verify)"
  art="$BENCH_DIR/$v"
  log="$BENCH_DIR/logs/$v.compile.log"
  rm -rf "$art"
  chip=()
  [ -n "$CHIP" ] && chip=(--chip "$CHIP")
  say "variant $v: trace --dtype $tdtype | cube-opt --pass-pipeline='$pipeline' | compile --target $TARGET ($PIN_DESC)"
  : >"$log"
  stage=trace t1=- t2=- t3=-
  t0=$(now)
  if "${PIN[@]}" "$PYTHON" -m cube trace --preset "$PRESET" --batch "$BATCH" --seq "$SEQ" --dtype "$tdtype" \
       -o "$WORK/$v.traced.mlir" >>"$log" 2>&1; then
    t1=$(now) stage=rewrite
    if "${PIN[@]}" "$CUBE_OPT" "$WORK/$v.traced.mlir" -o "$WORK/$v.train.mlir" --pass-pipeline="$pipeline" \
         >>"$log" 2>&1; then
      t2=$(now) stage=codegen
      if "${PIN[@]}" "$PYTHON" -m cube compile "$WORK/$v.train.mlir" --program train_step --target "$TARGET" \
           "${chip[@]}" -o "$art" --memory-report >>"$log" 2>&1; then
        t3=$(now) stage="done"
      fi
    fi
  fi
  t_end=$(now)
  if [ "$stage" = "done" ]; then
    # final.mlir (2 MB) is not needed by cube-run: keep it out of the carried folder
    if [ -f "$art/final.mlir" ]; then mv "$art/final.mlir" "$WORK/$v.final.mlir"; fi
  else
    rm -rf "$art"
  fi
  "$PYTHON" "$ROOT/bench/table.py" compile-record --out "$BENCH_DIR/logs/$v.json" --variant "$v" \
    --stage "$stage" --stamps "$t0" "$t1" "$t2" "$t3" "$t_end" --pipeline "$pipeline" --log "$log" \
    --artifact "$art"
done

# shellcheck disable=SC2086  # $VARIANTS is a list
"$PYTHON" "$ROOT/bench/table.py" compile-merge --out "$BENCH_DIR/compile_times.json" --config-out "$BENCH_DIR/bench.json" \
  --preset "$PRESET" --batch "$BATCH" --seq "$SEQ" --target "$TARGET" --cores "$COMPILE_CORES" \
  --host-cores "$HOST_CORES" --pinned "$PIN_DESC" --variants $VARIANTS -- "$BENCH_DIR"/logs/*.json

say "wrote $BENCH_DIR ($(du -sh "$BENCH_DIR" | cut -f1)): $(cd "$BENCH_DIR" && ls | tr '\n' ' ')"
say "next, on the GPU machine (device tool, carry .device/bench): bash bench/run_gpu.sh"
