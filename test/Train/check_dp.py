"""Checks of test/Train/data-parallel.test: a data-parallel run (N ranks, B rows each) against one process
on the same global batch (N*B rows).

  logs A.jsonl B.jsonl STEPS       losses and gradient norms of every step agree (1e-5 relative)
  grads A_DIR B_DIR BETA1          after ONE AdamW step, exp_avg = (1 - beta1) * grad: the gradients that
                                   reached the optimizer (averaged over the ranks in A) equal B's
  params A.safetensors B.safetensors BOUND   every parameter agrees to BOUND (absolute): AdamW moves an
                                   element by about lr per step whatever its gradient's size, so an element
                                   whose gradient is ~0 follows rounding; the test passes 1% of lr * steps
"""
import json
import struct
import sys

import numpy as np

TOL = 1e-5


def tensors(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    head = json.loads(b[8:8 + n])
    out = {}
    for k, v in head.items():
        if k == "__metadata__":
            continue
        assert v["dtype"] == "F32", (path, k, v["dtype"])
        s, e = v["data_offsets"]
        out[k] = np.frombuffer(b[8 + n + s:8 + n + e], dtype=np.float32).reshape(v["shape"])
    return out


def close(a, b, what):
    scale = max(float(np.abs(b).max()), 1e-12)
    err = float(np.abs(a - b).max()) / scale
    assert err <= TOL, f"{what}: max difference {err:.3g} of the largest value (tolerance {TOL})"
    return err


def main():
    what = sys.argv[1]
    if what == "logs":
        a = [json.loads(l) for l in open(sys.argv[2])]
        b = [json.loads(l) for l in open(sys.argv[3])]
        steps = int(sys.argv[4])
        assert len(a) == len(b) == steps, (len(a), len(b), steps)
        worst = 0.0
        for x, y in zip(a, b):
            for k in ("loss", "grad_norm"):
                err = abs(x[k] - y[k]) / max(abs(y[k]), 1e-12)
                assert err <= TOL, (x["step"], k, x[k], y[k])
                worst = max(worst, err)
        print(f"OK: {steps} steps agree (largest relative difference {worst:.1e})")
    elif what == "grads":
        a = tensors(sys.argv[2] + "/optimizer.safetensors")
        b = tensors(sys.argv[3] + "/optimizer.safetensors")
        beta1 = float(sys.argv[4])
        keys = sorted(k for k in b if k.endswith(".exp_avg"))
        assert keys and sorted(k for k in a if k.endswith(".exp_avg")) == keys
        nonzero = 0
        for k in keys:
            ga, gb = a[k] / (1 - beta1), b[k] / (1 - beta1)
            close(ga, gb, k)
            nonzero += bool(np.abs(gb).max() > 0)
        assert nonzero > 0, "every gradient is zero"
        print(f"OK: {len(keys)} averaged gradients ({nonzero} non-zero) equal the single-process gradients")
    elif what == "params":
        a, b, bound = tensors(sys.argv[2]), tensors(sys.argv[3]), float(sys.argv[4])
        assert sorted(a) == sorted(b)
        worst = max(float(np.abs(a[k] - b[k]).max()) for k in a)
        assert worst <= bound, f"parameters differ by {worst:.3g} (bound {bound:g})"
        print(f"OK: {len(a)} parameters agree (largest difference {worst:.1e})")
    else:
        sys.exit(f"unknown check {what}")


if __name__ == "__main__":
    main()
