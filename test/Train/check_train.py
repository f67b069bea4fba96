#!/usr/bin/env python3
"""Checks for the end-to-end training test (tiny-llama.test), reading cube-run's JSONL logs and plan.json."""
import json
import sys


def log(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    what = sys.argv[1]
    if what == "halves":  # the loss of the last step is at most half the first
        rows = log(sys.argv[2])
        first, last = rows[0]["loss"], rows[-1]["loss"]
        print(f"first {first:.4f} last {last:.4f}")
        assert last <= first / 2, (first, last)
        print("OK: the loss halved")
    elif what == "same":  # two runs' losses and grad norms agree to 1e-6 relative
        a, b = log(sys.argv[2]), log(sys.argv[3])
        assert len(a) == len(b) and len(a) > 0
        for x, y in zip(a, b):
            for k in ("loss", "grad_norm"):
                assert abs(x[k] - y[k]) <= 1e-6 * max(abs(x[k]), 1e-12), (x["step"], k, x[k], y[k])
        print(f"OK: {len(a)} steps agree")
    elif what == "tail":  # run b's steps equal the last steps of run a (resume)
        a, b = log(sys.argv[2]), log(sys.argv[3])
        tail = a[len(a) - len(b):]
        for x, y in zip(tail, b):
            assert x["step"] == y["step"], (x["step"], y["step"])
            for k in ("loss", "grad_norm"):
                assert x[k] == y[k], (x["step"], k, x[k], y[k])
        print(f"OK: resumed steps {b[0]['step']}..{b[-1]['step']} equal the uninterrupted run")
    elif what == "smaller-activations":  # plan a (recompute) keeps fewer activation bytes than plan b
        ma = json.load(open(sys.argv[2]))["memory"]
        mb = json.load(open(sys.argv[3]))["memory"]
        print(f"activations peak: recompute {ma['activations_peak']} vs keep-all {mb['activations_peak']}")
        assert ma["activations_peak"] < mb["activations_peak"]
        print("OK: recompute keeps fewer activations")
    elif what == "ce-in-place":  # the cross-entropy gradient takes the logits' bytes (memory planning on)
        plan = json.load(open(sys.argv[2]))
        bufs = {b["name"]: b for b in plan["buffers"]}
        root = lambda n: bufs[n].get("alias_of", n)  # noqa: E731
        # The logits are lm_head's output itself: the loss only reshapes them (an alias), the labels are
        # shifted instead (HF's ForCausalLMLoss), so no [B, S-1, V] copy of the logits exists.
        lm = [s for s in plan["steps"] if s.get("cube_op") == "cube.linear" and s.get("scope") == "lm_head"]
        assert len(lm) == 1, "expected one lm_head step"
        lm_out = lm[0]["c"]["buffer"] if lm[0]["op"] == "gemm" else lm[0]["args"][-1]["buffer"]
        steps = [s for s in plan["steps"] if s.get("cube_op") == "cube.cross_entropy_grad"]
        assert steps, "no cross_entropy_grad step"
        for s in steps:
            args = [a["buffer"] for a in s["args"]]
            logits, out = args[0], args[-1]
            assert root(logits) == root(lm_out), (logits, lm_out)
            assert root(out) == root(logits), (out, logits)
            assert bufs[out]["offset"] == bufs[logits]["offset"]
        assert not [s for s in plan["steps"] if s.get("cube_op") == "cube.slice" and s.get("scope") == ""
                    and root(s["args"][0]["buffer"]) == root(lm_out)], "the logits are sliced (copied)"
        print(f"OK: {len(steps)} cross_entropy_grad step(s) write in place over lm_head's output")
    else:
        raise SystemExit("unknown check " + what)


if __name__ == "__main__":
    main()
