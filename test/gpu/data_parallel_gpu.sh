#!/usr/bin/env bash
# Part 2 of the data-parallel GPU check (issue 9), on the GPU machine after test/gpu/data_parallel_prepare.sh
# (device tool: command "bash test/gpu/data_parallel_gpu.sh", carry [".device/dp"]). Results under $OUT.
#  1. NCCL with one rank: the tiny data-parallel plan under `--nproc 1` (a real NCCL communicator, all_reduce
#     on the comm stream, CUDA graph on and off) gives the plain plan's losses and gradient norms;
#  2. the cost of the buckets on mini-llama bf16 with one rank: step time of the plain vs the dp plan;
#  3. --nproc 2 on a machine with one GPU is refused with a message;
#  4. with 2+ GPUs instead: fp32 losses of 2 ranks x 8 x 1024 against one GPU x 16 x 1024 over 20 steps, and
#     the bf16 tokens/s of 2 ranks against one GPU (8 x 1024 per GPU).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
D=.device/dp
O=${OUT:-/tmp/dp-out}
mkdir -p "$O"
nvidia-smi -L | tee "$O/gpus.txt"
if [ -z "${CUBE_NCCL_LIBRARY:-}" ]; then
  CUBE_NCCL_LIBRARY=$(python3 -c "import glob, site, os; c=[p for s in site.getsitepackages() for p in glob.glob(os.path.join(s, 'nvidia', 'nccl*', 'lib', 'libnccl.so.2'))]; print(c[0] if c else '')")
fi
export CUBE_NCCL_LIBRARY
echo "NCCL: $CUBE_NCCL_LIBRARY" | tee -a "$O/gpus.txt"
export CUBE_GEMM_TUNE=0 CUBE_PROGRESS=plain
R=$D/cube-run
run() { local name=$1; shift; echo "== $name: $*"; "$@" >"$O/$name.out" 2>&1 || { echo "   failed:"; tail -5 "$O/$name.out"; }; tail -1 "$O/$name.out"; }
run tiny-plain $R $D/tiny-plain --device cuda --data $D/tiny.tok --steps 20 --lr 1e-3 --log "$O/tiny-plain.jsonl"
run tiny-dp1 $R $D/tiny-dp --device cuda --data $D/tiny.tok --steps 20 --lr 1e-3 --nproc 1 --log "$O/tiny-dp1.jsonl"
CUBE_CUDA_GRAPH=0 run tiny-dp1-nograph $R $D/tiny-dp --device cuda --data $D/tiny.tok --steps 20 --lr 1e-3 --nproc 1 \
  --log "$O/tiny-dp1-nograph.jsonl"
NCCL_DEBUG=INFO run tiny-dp1-ncclinfo $R $D/tiny-dp --device cuda --data $D/tiny.tok --steps 2 --lr 1e-3 --nproc 1
grep -m3 "NCCL INFO" "$O/tiny-dp1-ncclinfo.out" || true
run mini-plain $R $D/mini-plain --device cuda --data $D/mini.tok --steps 25 --lr 1e-4 --log "$O/mini-plain.jsonl"
run mini-dp1 $R $D/mini-dp --device cuda --data $D/mini.tok --steps 25 --lr 1e-4 --nproc 1 --log "$O/mini-dp1.jsonl"
run mini-dp1-profile $R $D/mini-dp --device cuda --data $D/mini.tok --steps 4 --lr 1e-4 --nproc 1 --profile
grep -E "all_reduce|wait" "$O/mini-dp1-profile.out" | head -5 || true
NGPU=$(nvidia-smi -L | wc -l)
if [ "$NGPU" -ge 2 ]; then
  # 4. 2 ranks on 2 GPUs: fp32 losses against one GPU on the same global batch (16 x 1024), 20 steps; the
  #    bf16 speed-up: 2 ranks of 8 x 1024 against the plain plan of 8 x 1024 on one GPU (tokens/s).
  run mini32-2gpu $R $D/mini32-dp --device cuda --data $D/mini.tok --steps 20 --lr 1e-4 --nproc 2 --log "$O/mini32-2gpu.jsonl"
  run mini32-b16 $R $D/mini32-b16 --device cuda --data $D/mini.tok --steps 20 --lr 1e-4 --log "$O/mini32-b16.jsonl"
  run mini-2gpu $R $D/mini-dp --device cuda --data $D/mini.tok --steps 25 --lr 1e-4 --nproc 2 --log "$O/mini-2gpu.jsonl"
else
  echo "== --nproc 2 on $NGPU GPU(s):"
  $R $D/tiny-dp --device cuda --data $D/tiny.tok --steps 2 --nproc 2 2>&1 | tail -3 || true
fi
python3 - "$O" <<'PY'
import json, statistics, sys
o = sys.argv[1]
def rows(n):
    try:
        return [json.loads(l) for l in open(f"{o}/{n}.jsonl")]
    except OSError:
        return []
base = rows("tiny-plain")
for n in ("tiny-dp1", "tiny-dp1-nograph"):
    r = rows(n)
    if len(r) != len(base) or not r:
        print(f"{n}: {len(r)} steps vs {len(base)}"); continue
    dl = max(abs(a["loss"] - b["loss"]) / abs(b["loss"]) for a, b in zip(r, base))
    dg = max(abs(a["grad_norm"] - b["grad_norm"]) / max(abs(b["grad_norm"]), 1e-30) for a, b in zip(r, base))
    print(f"{n} vs tiny-plain over {len(r)} steps: max rel. loss diff {dl:.2e}, grad_norm {dg:.2e}")
tps = {}
for n in ("mini-plain", "mini-dp1", "mini-2gpu"):
    r = rows(n)[5:]
    if r:
        tps[n] = statistics.median(x["tokens_per_s"] for x in r)
        print(f"{n}: median {tps[n]:.0f} tokens/s over {len(r)} steps, final loss {rows(n)[-1]['loss']:.6f}")
if "mini-2gpu" in tps and "mini-plain" in tps:
    print(f"2 GPUs vs 1 GPU (bf16, 8 x 1024 per GPU): {tps['mini-2gpu'] / tps['mini-plain']:.2f}x tokens/s (bar 1.8x)")
a, b = rows("mini32-2gpu"), rows("mini32-b16")
if a and len(a) == len(b):
    d = max(abs(x["loss"] - y["loss"]) / abs(y["loss"]) for x, y in zip(a, b))
    print(f"2 GPUs x 8 vs 1 GPU x 16, fp32, {len(a)} steps: max rel. loss difference {d:.2e} (bar 1e-4)")
PY
