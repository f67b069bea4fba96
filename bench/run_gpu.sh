#!/usr/bin/env bash
# bench/run_gpu.sh -- part 2 of the benchmark, run on the GPU machine (torch, transformers, peft; no MLIR)
# from the repository root, in ONE device call, after bench/prepare.sh has filled .device/bench here:
#
#   device tool: command "bash bench/run_gpu.sh", carry [".device/bench"], timeout_s 600
#
# (i)   the HF + peft anchors (bench/hf_anchor.py), one process per row: each variant eager, and
#       torch.compile for the variants in HF_COMPILE; fp32 rows with TF32 off;
# (ii)  cube: .device/bench/cube-run on each variant's artifact (--steps N --lr 1e-4 --schedule constant
#       --log); step ms = median of the steps after the first CUBE_SKIP;
# (iii) one markdown table (bench/table.py) on stdout and in $OUT/table.md.
# Every process runs with nvidia-smi sampling the GPU's memory.used every 100 ms (peak minus the idle
# baseline before it started: the "nvidia-smi GiB" column).
#
# Everything is written under $OUT (the device tool's folder) or /tmp/bench-out: hf.jsonl, cube.jsonl,
# smi.jsonl, env.json, compile_times.json (copied), logs/, table.md.
#
# Switches (environment):
#   PART           all (default) | hf | cube | table (table: only re-render from the files in $OUT)
#   VARIANTS       default: the variants of .device/bench/bench.json
#   HF_COMPILE     variants also run under torch.compile (default lora-rc-bf16)
#   TF32           1: fp32 matmuls may use TF32 on both sides (torch allow_tf32, cube-run's CUBE_TF32=1)
#   HF_WARMUP, HF_STEPS      default 5, 20
#   CUBE_STEPS, CUBE_SKIP    default 25, 5 (20 measured)
#   HF_TIMEOUT, CUBE_TIMEOUT per-process limits in seconds (default 300, 240)
#   DEADLINE       seconds after which no new run starts (default 540: the device call's limit is 600)
#   CUBE_DEVICE, HF_DEVICE   cuda (default); cpu only for a smoke test of this script (a cpu-target bench dir)
#   BENCH_DIR      default .device/bench;  PYTHON default python3;  GPU nvidia-smi index (default 0)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

BENCH_DIR=${BENCH_DIR:-.device/bench}
OUT_DIR=${OUT:-/tmp/bench-out}
PART=${PART:-all}
PYTHON=${PYTHON:-python3}
HF_COMPILE=${HF_COMPILE:-lora-rc-bf16}
HF_WARMUP=${HF_WARMUP:-5}
HF_STEPS=${HF_STEPS:-20}
CUBE_STEPS=${CUBE_STEPS:-25}
CUBE_SKIP=${CUBE_SKIP:-5}
HF_TIMEOUT=${HF_TIMEOUT:-300}
CUBE_TIMEOUT=${CUBE_TIMEOUT:-240}
DEADLINE=${DEADLINE:-540}
CUBE_DEVICE=${CUBE_DEVICE:-cuda}
HF_DEVICE=${HF_DEVICE:-cuda}
GPU=${GPU:-0}
TABLE="$ROOT/bench/table.py"

mkdir -p "$OUT_DIR/logs"
log() { printf '[%4ds] %s\n' "$SECONDS" "$*"; }

if [ ! -f "$BENCH_DIR/compile_times.json" ] || [ ! -f "$BENCH_DIR/bench.json" ]; then
  echo "bench/run_gpu.sh: $BENCH_DIR/compile_times.json or bench.json is missing: run bench/prepare.sh on the" \
       "development machine first, and carry .device/bench" >&2
  exit 1
fi
cp "$BENCH_DIR/compile_times.json" "$OUT_DIR/compile_times.json"
if [ -z "${VARIANTS:-}" ]; then
  VARIANTS=$("$PYTHON" -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["variants"]))' \
    "$BENCH_DIR/bench.json")
fi
read -r BATCH SEQ < <("$PYTHON" -c 'import json,sys; b=json.load(open(sys.argv[1])); print(b["batch"], b["seq"])' \
  "$BENCH_DIR/bench.json")
TOKENS_PER_STEP=$((BATCH * SEQ))
if [ -f "$BENCH_DIR/cube-run" ] && [ ! -x "$BENCH_DIR/cube-run" ]; then chmod +x "$BENCH_DIR/cube-run" || true; fi

HAVE_SMI=0
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -i "$GPU" --query-gpu=memory.used \
     --format=csv,noheader,nounits >/dev/null 2>&1; then
  HAVE_SMI=1
fi

# --- the environment, once ------------------------------------------------------------------------------
if [ "$PART" != table ]; then
  {
    gpu_name=""; driver=""
    if [ "$HAVE_SMI" = 1 ]; then
      gpu_name=$(nvidia-smi -i "$GPU" --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 || true)
      driver=$(nvidia-smi -i "$GPU" --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1 || true)
    fi
    vers=$("$PYTHON" - 2>/dev/null <<'EOF' || true
import importlib
out = []
for m in ("torch", "transformers", "peft"):
    try:
        out.append(f"{m} {importlib.import_module(m).__version__}")
    except Exception:
        out.append(f"{m} missing")
print(", ".join(out))
EOF
)
    "$PYTHON" -c 'import json,sys; print(json.dumps({"gpu": sys.argv[1], "driver": sys.argv[2], "software": sys.argv[3], "batch x seq": sys.argv[4]}))' \
      "$gpu_name" "$driver" "$vers" "${BATCH}x${SEQ}" >"$OUT_DIR/env.json"
  }
  log "device: $(cat "$OUT_DIR/env.json")"
fi

# --- nvidia-smi sampling around one process ---------------------------------------------------------------
SMI_PID=""
SMI_BASE=""
smi_start() {  # $1: samples file
  SMI_PID=""; SMI_BASE=""
  : >"$1"
  [ "$HAVE_SMI" = 1 ] || return 0
  sleep 1  # let the previous process's memory go back
  SMI_BASE=$(nvidia-smi -i "$GPU" --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -1 | tr -d ' ' || true)
  nvidia-smi -i "$GPU" --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 >"$1" 2>/dev/null &
  SMI_PID=$!
}
smi_stop() {  # $1: samples file, $2 variant, $3 impl
  if [ -n "$SMI_PID" ]; then
    kill "$SMI_PID" 2>/dev/null || true
    wait "$SMI_PID" 2>/dev/null || true
    SMI_PID=""
  fi
  "$PYTHON" "$TABLE" smi-peak --file "$1" --baseline "${SMI_BASE:-}" --variant "$2" --impl "$3" \
    --out "$OUT_DIR/smi.jsonl" || true
}
trap 'if [ -n "$SMI_PID" ]; then kill "$SMI_PID" 2>/dev/null || true; fi' EXIT

limit_for() {  # $1: the per-process limit; prints min(limit, time left before DEADLINE), 0 if none left
  local left=$((DEADLINE - SECONDS))
  if [ "$left" -le 0 ]; then echo 0; elif [ "$left" -lt "$1" ]; then echo "$left"; else echo "$1"; fi
}

in_list() { case " $2 " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# --- (i) the HF anchors ---------------------------------------------------------------------------------
run_hf() {  # $1 variant, $2 eager|compile
  local v=$1 kind=$2 impl flag=() lim rc
  impl="hf-$kind"
  [ "$kind" = compile ] && flag=(--compile)
  [ "${TF32:-0}" = 1 ] && flag+=(--tf32)
  lim=$(limit_for "$HF_TIMEOUT")
  if [ "$lim" -le 0 ]; then
    "$PYTHON" -c 'import json,sys; print(json.dumps({"variant": sys.argv[1], "impl": sys.argv[2], "error": "skipped: the run reached DEADLINE=" + sys.argv[3] + " s"}))' \
      "$v" "$impl" "$DEADLINE" >>"$OUT_DIR/hf.jsonl"
    log "HF $v $kind: skipped (deadline)"
    return 0
  fi
  log "HF $v $kind (limit ${lim} s)"
  smi_start "$OUT_DIR/logs/smi-$v-$impl.txt"
  if timeout -k 10 "$lim" "$PYTHON" bench/hf_anchor.py --bench-dir "$BENCH_DIR" --variant "$v" "${flag[@]}" \
       --warmup "$HF_WARMUP" --steps "$HF_STEPS" --device "$HF_DEVICE" --out "$OUT_DIR/hf.jsonl" \
       >"$OUT_DIR/logs/hf-$v-$kind.out" 2>"$OUT_DIR/logs/hf-$v-$kind.err"; then
    rc=0
  else
    rc=$?
  fi
  smi_stop "$OUT_DIR/logs/smi-$v-$impl.txt" "$v" "$impl"
  "$PYTHON" "$TABLE" ensure-row --file "$OUT_DIR/hf.jsonl" --variant "$v" --impl "$impl" --rc "$rc" \
    --stderr-file "$OUT_DIR/logs/hf-$v-$kind.err" --timeout-s "$lim" || true
  log "  -> rc $rc: $(tail -n 1 "$OUT_DIR/hf.jsonl" | cut -c1-400)"
}

# --- (ii) cube ------------------------------------------------------------------------------------------
run_cube() {  # $1 variant
  local v=$1 art="$BENCH_DIR/$1" lim rc t0 t1 wall skipped
  local runlog="$OUT_DIR/logs/cube-$v.jsonl" out="$OUT_DIR/logs/cube-$v.out" err="$OUT_DIR/logs/cube-$v.err"
  rm -f "$runlog"
  : >"$out"; : >"$err"
  lim=$(limit_for "$CUBE_TIMEOUT")
  rc=0
  wall=""
  skipped=""
  if [ ! -f "$art/plan.json" ]; then
    log "cube $v: no artifact (see compile_times.json)"
  elif [ "$lim" -le 0 ]; then
    skipped="the run reached DEADLINE=$DEADLINE s"
    log "cube $v: skipped (deadline)"
  else
    log "cube $v (limit ${lim} s): cube-run --steps $CUBE_STEPS"
    smi_start "$OUT_DIR/logs/smi-$v-cube.txt"
    t0=$(date +%s.%N)
    if CUBE_TF32=${TF32:-0} CUBE_PROGRESS=plain timeout -k 10 "$lim" "$BENCH_DIR/cube-run" "$art" --device "$CUBE_DEVICE" \
         --data "$BENCH_DIR/tokens.tok" --steps "$CUBE_STEPS" --lr 1e-4 --schedule constant --log "$runlog" -v \
         >"$out" 2>"$err"; then
      rc=0
    else
      rc=$?
    fi
    t1=$(date +%s.%N)
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    smi_stop "$OUT_DIR/logs/smi-$v-cube.txt" "$v" cube
  fi
  "$PYTHON" "$TABLE" cube-result --variant "$v" --artifact "$art" --log "$runlog" --rc "$rc" \
    --stderr-file "$err" --tokens-per-step "$TOKENS_PER_STEP" --skip "$CUBE_SKIP" \
    ${wall:+--wall-s "$wall"} ${skipped:+--skipped "$skipped"} --timeout-s "$lim" \
    --compile-json "$BENCH_DIR/compile_times.json" \
    --out "$OUT_DIR/cube.jsonl" || true
  log "  -> rc $rc: $(tail -n 1 "$OUT_DIR/cube.jsonl" | cut -c1-400)"
}

[ "$PART" = all ] && rm -f "$OUT_DIR/smi.jsonl"
if [ "$PART" = all ] || [ "$PART" = hf ]; then
  rm -f "$OUT_DIR/hf.jsonl"
  for v in $VARIANTS; do
    run_hf "$v" eager
    if in_list "$v" "$HF_COMPILE"; then run_hf "$v" compile; fi
  done
fi
if [ "$PART" = all ] || [ "$PART" = cube ]; then
  rm -f "$OUT_DIR/cube.jsonl"
  for v in $VARIANTS; do run_cube "$v"; done
fi

# --- (iii) the table --------------------------------------------------------------------------------------
echo
# shellcheck disable=SC2086  # $VARIANTS is a list
"$PYTHON" "$TABLE" table --hf "$OUT_DIR/hf.jsonl" --cube "$OUT_DIR/cube.jsonl" --smi "$OUT_DIR/smi.jsonl" \
  --compile "$OUT_DIR/compile_times.json" --env "$OUT_DIR/env.json" --out "$OUT_DIR/table.md" --variants $VARIANTS
log "done: $OUT_DIR (table.md, hf.jsonl, cube.jsonl, smi.jsonl, logs/)"
